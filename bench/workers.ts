/**
 * workers.ts - fasthttp with 1 vs N workers under wrk, and what each request costs in CPU.
 *
 * For each server layout and load shape: a fresh server process, a 2 s warm-up, then `--runs`
 * runs of `--duration` s; reports the median req/s, and the CPU the server and wrk used per
 * request (utime+stime from /proc, all threads), which is what the scaling model needs.
 * Layouts: `1` (no workers), `2` (workers: 2, one shared socket), `2-reuseport` (two workers
 * with their own SO_REUSEPORT sockets). `--pin` runs the server on CPU 0 and wrk on CPU 1
 * (the one-core figure); without it they share every core, as on a machine that is both.
 *
 * @example
 * bun bench/workers.ts                                  # shared cores: 1, 2, 2-reuseport
 * bun bench/workers.ts --pin --layouts 1                # the one-core figure
 * bun bench/workers.ts --duration 5 --runs 3 --threads 2
 */
import { join } from "node:path";
import { cpuSeconds } from "./lib/proc.ts";
import { freePort } from "./lib/server-process.ts";

const args = process.argv.slice(2);
function opt(name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
}
const duration = Number(opt("duration", "5"));
const runs = Number(opt("runs", "3"));
const threads = Number(opt("threads", "2"));
const pin = args.includes("--pin");
const layouts = opt("layouts", "1,2,2-reuseport").split(",");
const shapes = opt("shapes", "c50,pipelined").split(",");

const BENCH = import.meta.dir;
const SHAPES: Record<string, { connections: number; script: string; extra: string[] }> = {
  c50: { connections: 50, script: "report.lua", extra: [] },
  pipelined: { connections: 256, script: "pipeline.lua", extra: ["--", "16"] },
};

function taskset(cpu: number | null, cmd: string[]): string[] {
  return cpu === null ? cmd : ["taskset", "-c", String(cpu), ...cmd];
}

async function startServer(layout: string, port: number) {
  const [workers, mode] = layout === "2-reuseport" ? ["2", "reuseport"] : [layout, "shared"];
  const proc = Bun.spawn(taskset(pin ? 0 : null, [process.execPath, join(BENCH, "servers/fasthttp-workers.ts"), String(port)]), {
    env: { ...process.env, WORKERS: workers, MODE: mode },
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = proc.stdout.getReader();
  let out = "";
  const deadline = Date.now() + 20_000;
  while (!out.includes("ready")) {
    if (Date.now() > deadline) throw new Error(`${layout}: no ready line`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`${layout}: exited before ready`);
    out += new TextDecoder().decode(value);
  }
  return proc;
}

async function wrk(port: number, shape: string, seconds: number) {
  const s = SHAPES[shape]!;
  const cmd = taskset(pin ? 1 : null, [
    "wrk", `-t${pin ? 1 : threads}`, `-c${s.connections}`, `-d${seconds}s`, "--timeout", "10s",
    "-s", join(BENCH, s.script), `http://127.0.0.1:${port}/`, ...s.extra,
  ]);
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const text = await new Response(proc.stdout).text();
  await proc.exited;
  const line = text.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (!line) throw new Error(`wrk printed no result: ${text.slice(-400)}`);
  const j = JSON.parse(line.slice(9));
  const errors = Object.values(j.errors as Record<string, number>).reduce((a, b) => a + b, 0);
  const usage = proc.resourceUsage();
  return { requests: j.requests as number, seconds: j.durationUs / 1e6, errors, wrkCpu: usage ? Number(usage.cpuTime.total) / 1e6 : NaN };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`# ${pin ? "server on CPU 0, wrk on CPU 1" : `server and wrk (-t${threads}) sharing all ${navigator.hardwareConcurrency} CPUs`}; ${runs} × ${duration} s, medians`);
console.log("| layout | load | req/s | server CPU (cores) | server µs CPU/req | wrk CPU (cores) | wrk µs CPU/req | errors |");
console.log("|---|---|---|---|---|---|---|---|");
for (const shape of shapes) {
  for (const layout of layouts) {
    const port = await freePort();
    const server = await startServer(layout, port);
    try {
      await wrk(port, shape, 2); // warm-up
      const rows: { rps: number; sCores: number; sUs: number; wCores: number; wUs: number; errors: number }[] = [];
      for (let r = 0; r < runs; r++) {
        const c0 = cpuSeconds(server.pid)!;
        const res = await wrk(port, shape, duration);
        const c1 = cpuSeconds(server.pid)!;
        rows.push({
          rps: res.requests / res.seconds,
          sCores: (c1 - c0) / res.seconds,
          sUs: ((c1 - c0) / res.requests) * 1e6,
          wCores: res.wrkCpu / res.seconds,
          wUs: (res.wrkCpu / res.requests) * 1e6,
          errors: res.errors,
        });
        await Bun.sleep(300);
      }
      const m = (k: keyof (typeof rows)[0]) => median(rows.map((x) => x[k]));
      console.log(
        `| ${layout} | ${shape} | ${Math.round(m("rps")).toLocaleString("en")} (${rows.map((x) => Math.round(x.rps / 1000)).join("/")}k) | ` +
          `${m("sCores").toFixed(2)} | ${m("sUs").toFixed(2)} | ${m("wCores").toFixed(2)} | ${m("wUs").toFixed(2)} | ${rows.reduce((a, x) => a + x.errors, 0)} |`,
      );
    } finally {
      server.kill("SIGTERM");
      await Promise.race([server.exited, Bun.sleep(3000)]);
      server.kill("SIGKILL");
    }
  }
}
