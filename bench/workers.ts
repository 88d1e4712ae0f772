/**
 * workers.ts - fasthttp with 1 vs N workers under wrk, and what each request costs in CPU.
 *
 * For each load shape: one server process per layout, each warmed up for 2 s, then `--runs`
 * rounds of one `--duration` s run per layout (interleaved, so noise hits them alike); reports
 * the median req/s, the CPU the server and wrk used per request (utime+stime from /proc, all
 * threads: what the scaling model needs), and the CPU anything else used meanwhile. Runs during
 * which other processes or the hypervisor took more than 0.1 core are left out of the medians
 * (the machine is shared); the table says how many were kept.
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
import { readFileSync } from "node:fs";
import { clockTicks, cpuSeconds } from "./lib/proc.ts";
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

/** Machine-wide CPU seconds so far (all CPUs) from /proc/stat: busy in all, softirq, and steal. */
function machine(): { busy: number; softirq: number; steal: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const t = clockTicks();
  return { busy: (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / t, softirq: f[6]! / t, steal: f[7]! / t };
}

/** Most CPU (in cores) that anything but the server, wrk and softirq may use for a run to count. */
const QUIET = 0.1;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Row {
  rps: number;
  sCores: number;
  sUs: number;
  wCores: number;
  wUs: number;
  /** Cores in softirq (loopback TCP is mostly processed there, charged to no process). */
  softirq: number;
  /** Cores stolen by the hypervisor plus cores busy in other processes: the noise. */
  other: number;
  errors: number;
}

console.log(
  `# ${pin ? "server on CPU 0, wrk on CPU 1" : `server and wrk (-t${threads}) sharing all ${navigator.hardwareConcurrency} CPUs`}; ` +
    `${runs} runs × ${duration} s, layouts interleaved run by run; medians over the quiet runs (their req/s in brackets)`,
);
console.log("| layout | load | req/s | server CPU (cores) | server µs CPU/req | wrk CPU (cores) | wrk µs CPU/req | softirq (cores) | steal + other (cores) | errors |");
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const shape of shapes) {
  // Every layout's server runs for the whole shape (an idle one sleeps in epoll), and the runs
  // alternate between them, so a noisy neighbour or a drift hits every layout alike.
  const servers = new Map<string, { port: number; proc: Awaited<ReturnType<typeof startServer>> }>();
  try {
    for (const layout of layouts) {
      const port = await freePort();
      servers.set(layout, { port, proc: await startServer(layout, port) });
      await wrk(port, shape, 2); // warm-up
    }
    const rows = new Map<string, Row[]>(layouts.map((l) => [l, []]));
    for (let r = 0; r < runs; r++) {
      for (const layout of layouts) {
        const { port, proc } = servers.get(layout)!;
        const c0 = cpuSeconds(proc.pid)!;
        const m0 = machine();
        const res = await wrk(port, shape, duration);
        const c1 = cpuSeconds(proc.pid)!;
        const m1 = machine();
        rows.get(layout)!.push({
          rps: res.requests / res.seconds,
          sCores: (c1 - c0) / res.seconds,
          sUs: ((c1 - c0) / res.requests) * 1e6,
          wCores: res.wrkCpu / res.seconds,
          wUs: (res.wrkCpu / res.requests) * 1e6,
          softirq: (m1.softirq - m0.softirq) / res.seconds,
          other: Math.max(0, m1.busy - m0.busy - (m1.softirq - m0.softirq) - (c1 - c0) - res.wrkCpu) / res.seconds,
          errors: res.errors,
        });
        await Bun.sleep(300);
      }
    }
    for (const layout of layouts) {
      const all = rows.get(layout)!;
      // A run during which other processes (or the hypervisor) took CPU measures them too: drop it.
      const clean = all.filter((x) => x.other < QUIET);
      const list = clean.length >= 2 ? clean : all;
      const m = (k: keyof Row) => median(list.map((x) => x[k]));
      console.log(
        `| ${layout} | ${shape} | ${Math.round(m("rps")).toLocaleString("en")} (${list.map((x) => Math.round(x.rps / 1000)).join("/")}k; ` +
          `${clean.length >= 2 ? `${clean.length} of ${all.length} runs quiet` : "NOISY: every run"}) | ` +
          `${m("sCores").toFixed(2)} | ${m("sUs").toFixed(2)} | ${m("wCores").toFixed(2)} | ${m("wUs").toFixed(2)} | ${m("softirq").toFixed(2)} | ${m("other").toFixed(2)} | ` +
          `${list.reduce((a, x) => a + x.errors, 0)} |`,
      );
    }
  } finally {
    for (const { proc } of servers.values()) proc.kill("SIGTERM");
    await Promise.all([...servers.values()].map(({ proc }) => Promise.race([proc.exited, Bun.sleep(3000)])));
    for (const { proc } of servers.values()) proc.kill("SIGKILL");
  }
}
