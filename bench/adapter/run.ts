/**
 * run.ts - the web-standard adapter against Bun.serve: the same two routes as a Hono app and as
 * an Elysia app (app.ts), each served by both, under the method of bench/README.md (server on
 * CPU 0, wrk on CPU 1, one wrk thread, ratios within one invocation), with the framework-less
 * servers of serve-raw.ts as references.
 *
 *   bun bench/adapter/run.ts                          # c1, c50, pipelined; / and /json; 5 runs of 5 s
 *   bun bench/adapter/run.ts --runs 3 --duration 3 --scenarios c50 --routes /
 *   bun bench/adapter/run.ts --servers hono-bun,hono-fasthttp,elysia-bun,elysia-fasthttp
 *
 * Each server process starts once and is warmed up; then, scenario by scenario and route by
 * route, every server is measured in turn, `--runs` times (the order rotates each run, so no
 * server always goes first). Before each measurement the harness waits (up to 30 s) until the
 * machine is quiet, and a run during which other processes used more than a quarter of a core
 * is measured again (twice at most; then kept and counted as noisy). Reported: the median
 * req/s with the slowest and fastest run, the ratio to Hono on Bun.serve and to the same app on
 * Bun.serve (Elysia on fasthttp against Elysia on Bun.serve, and so on), and the server's CPU
 * time per request (utime + stime over the run / responses; fasthttp polls ~100 times before
 * it sleeps, so below saturation its figure includes that spinning). Writes
 * bench/adapter/latest.json and prints a Markdown table.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { cpuSeconds, machineBusySeconds, waitQuiet } from "../lib/proc.ts";
import { freePort } from "../lib/server-process.ts";
import { median } from "../lib/stats.ts";

const HERE = import.meta.dir;
const BENCH = join(HERE, "..");
const BUN = process.execPath;

interface ServerSpec {
  id: string;
  label: string;
  /** The server with the same app on Bun.serve, which the "vs same app" column divides by. */
  sameOnBun: string;
  cmd: (port: number) => string[];
}

const SERVERS: ServerSpec[] = [
  { id: "hono-bun", label: "Hono on Bun.serve", sameOnBun: "hono-bun", cmd: (p) => [BUN, join(HERE, "serve-bun.ts"), String(p), "hono"] },
  { id: "hono-fasthttp", label: "Hono on fasthttp", sameOnBun: "hono-bun", cmd: (p) => [BUN, join(HERE, "serve-fasthttp.ts"), String(p), "hono"] },
  { id: "elysia-bun", label: "Elysia on Bun.serve", sameOnBun: "elysia-bun", cmd: (p) => [BUN, join(HERE, "serve-bun.ts"), String(p), "elysia"] },
  { id: "elysia-fasthttp", label: "Elysia on fasthttp", sameOnBun: "elysia-bun", cmd: (p) => [BUN, join(HERE, "serve-fasthttp.ts"), String(p), "elysia"] },
  { id: "raw-bun", label: "Bun.serve, no framework", sameOnBun: "raw-bun", cmd: (p) => [BUN, join(HERE, "serve-raw.ts"), "bun", String(p)] },
  { id: "raw-fasthttp", label: "fasthttp req.response(), no framework", sameOnBun: "raw-bun", cmd: (p) => [BUN, join(HERE, "serve-raw.ts"), "fasthttp", String(p)] },
];

interface Scenario {
  id: string;
  connections: number;
  pipeline: number;
}

function parseArgs(argv: string[]) {
  const opts = { runs: 5, duration: 5, scenarios: "c1,c50,pipelined", routes: "/,/json", servers: SERVERS.map((s) => s.id).join(","), depth: 16 };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i]!.replace(/^--/, "");
    const value = argv[++i];
    if (!(key in opts) || value === undefined) {
      console.error(`usage: bun bench/adapter/run.ts [--runs N] [--duration S] [--scenarios c1,c50,pipelined] [--routes /,/json] [--servers ${opts.servers}] [--depth 16]`);
      process.exit(2);
    }
    (opts as Record<string, unknown>)[key] = typeof (opts as Record<string, unknown>)[key] === "number" ? Number(value) : value;
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const scenarios: Scenario[] = opts.scenarios.split(",").map((id) => {
  if (id === "c1") return { id, connections: 1, pipeline: 1 };
  if (id === "c50") return { id, connections: 50, pipeline: 1 };
  if (id === "pipelined") return { id, connections: 256, pipeline: opts.depth };
  throw new Error(`unknown scenario ${id}`);
});
const routes = opts.routes.split(",");
const servers = opts.servers.split(",").map((id) => {
  const s = SERVERS.find((x) => x.id === id);
  if (!s) throw new Error(`unknown server ${id}`);
  return s;
});

interface Running {
  spec: ServerSpec;
  port: number;
  proc: Subprocess;
}

async function start(spec: ServerSpec): Promise<Running> {
  const port = await freePort();
  const proc = Bun.spawn(["taskset", "-c", "0", ...spec.cmd(port)], { stdout: "pipe", stderr: "inherit", stdin: "ignore" });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let out = "";
  const deadline = Date.now() + 20_000;
  while (!out.includes("ready")) {
    const r = await Promise.race([reader.read(), Bun.sleep(Math.max(0, deadline - Date.now())).then(() => null)]);
    if (r === null || r.done) throw new Error(`${spec.label} did not get ready: ${out}`);
    out += new TextDecoder().decode(r.value);
  }
  reader.releaseLock();
  for (const route of routes) {
    const res = await fetch(`http://127.0.0.1:${port}${route}`);
    const body = await res.text();
    if (res.status !== 200 || !body.includes("Hello, World!")) throw new Error(`${spec.label} ${route}: ${res.status} ${body}`);
  }
  return { spec, port, proc };
}

interface Sample {
  rps: number;
  cpuUsPerReq: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  errors: number;
  busyBefore: number;
  /** CPU other processes used during the run, in cores (machine busy time - server - wrk). */
  other: number | null;
  /** Measurements of this run thrown away because others were busy. */
  retried: number;
}

/** A run, measured again (up to twice) while other processes used more than a quarter of a core. */
async function measure(s: Running, sc: Scenario, route: string, seconds: number): Promise<Sample> {
  let sample = await measureOnce(s, sc, route, seconds);
  for (let retry = 1; retry <= 2 && sample.other !== null && sample.other > 0.25; retry++) {
    sample = { ...(await measureOnce(s, sc, route, seconds)), retried: retry };
  }
  return sample;
}

/** One wrk run against a server, pinned to CPU 1. */
async function measureOnce(s: Running, sc: Scenario, route: string, seconds: number): Promise<Sample> {
  const busyBefore = await waitQuiet(30_000);
  const script = sc.pipeline > 1 ? join(BENCH, "pipeline.lua") : join(BENCH, "report.lua");
  const cmd = ["taskset", "-c", "1", "wrk", "-t1", `-c${sc.connections}`, `-d${seconds}s`, "--timeout", "10s", "-s", script, `http://127.0.0.1:${s.port}${route}`];
  if (sc.pipeline > 1) cmd.push("--", String(sc.pipeline), route);
  const cpu0 = cpuSeconds(s.proc.pid);
  const machine0 = machineBusySeconds();
  const t0 = performance.now();
  const wrk = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr] = await Promise.all([new Response(wrk.stdout).text(), new Response(wrk.stderr).text(), wrk.exited]);
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = cpuSeconds(s.proc.pid);
  const machine1 = machineBusySeconds();
  const usage = wrk.resourceUsage();
  const wrkCpu = usage ? Number(usage.cpuTime.total) / 1e6 : null;
  const other =
    cpu0 === null || cpu1 === null || machine0 === null || machine1 === null || wrkCpu === null
      ? null
      : Math.max(0, (machine1 - machine0 - (cpu1 - cpu0) - wrkCpu) / wall);
  const line = stdout.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (!line) throw new Error(`wrk printed no result for ${s.spec.id} ${sc.id} ${route}:\n${stdout}${stderr}`);
  const j = JSON.parse(line.slice(9));
  const secs = j.durationUs / 1e6;
  const errors = Object.values(j.errors as Record<string, number>).reduce((a, b) => a + b, 0);
  const lat = (us: number) => (sc.pipeline === 1 && us > 0 ? us / 1000 : null); // see bench/README.md: pipelined latency is not reported
  return {
    rps: j.requests / secs,
    cpuUsPerReq: cpu0 === null || cpu1 === null || j.requests === 0 ? null : ((cpu1 - cpu0) * 1e6) / j.requests,
    p50Ms: lat(j.latencyUs.p50),
    p99Ms: lat(j.latencyUs.p99),
    errors,
    busyBefore,
    other,
    retried: 0,
  };
}

const fmtK = (x: number) => `${(x / 1000).toFixed(0)}k`;
const fmt = (x: number | null, digits = 0) => (x === null ? "-" : x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }));

const running: Running[] = [];
process.on("SIGINT", () => {
  for (const r of running) r.proc.kill("SIGKILL");
  process.exit(130);
});

try {
  for (const spec of servers) running.push(await start(spec));
  console.error(`servers: ${running.map((r) => `${r.spec.id}:${r.port}`).join(" ")}; warming up`);
  for (const r of running) for (const route of routes) await measure(r, { id: "warm", connections: 50, pipeline: 1 }, route, 2);
  const results: Record<string, Record<string, Record<string, Sample[]>>> = {};
  for (const sc of scenarios) {
    for (const route of routes) {
      for (let run = 0; run < opts.runs; run++) {
        const order = running.map((_, i) => running[(i + run) % running.length]!);
        for (const r of order) {
          const sample = await measure(r, sc, route, opts.duration);
          ((results[sc.id] ??= {})[route] ??= {})[r.spec.id] ??= [];
          results[sc.id]![route]![r.spec.id]!.push(sample);
          console.error(
            `${sc.id} ${route} run ${run + 1}/${opts.runs} ${r.spec.id.padEnd(15)} ${fmt(sample.rps).padStart(9)} req/s  ${fmt(sample.cpuUsPerReq, 1).padStart(6)} µs CPU/req  p99 ${fmt(sample.p99Ms, 2)} ms  others ${fmt(sample.other === null ? null : sample.other * 100)}%${sample.retried ? ` (measured ${sample.retried + 1} times)` : ""}${sample.errors ? `  errors ${sample.errors}` : ""}`,
          );
        }
      }
    }
  }
  const rows: string[] = [
    "| scenario | route | server | req/s: median (slowest–fastest run) | vs Hono on Bun.serve | vs same app on Bun.serve | server CPU µs/req | p50 ms | p99 ms | noisy runs |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const summary: Record<string, unknown>[] = [];
  for (const sc of scenarios) {
    for (const route of routes) {
      const medianOf = (id: string) => median(results[sc.id]![route]![id]?.map((s) => s.rps) ?? []);
      const base = medianOf("hono-bun");
      for (const r of running) {
        const samples = results[sc.id]![route]![r.spec.id]!;
        const rps = median(samples.map((s) => s.rps));
        const cpu = median(samples.map((s) => s.cpuUsPerReq));
        const p50 = median(samples.map((s) => s.p50Ms));
        const p99 = median(samples.map((s) => s.p99Ms));
        const ratio = base && rps ? `${(rps / base).toFixed(2)}×` : "-";
        const same = medianOf(r.spec.sameOnBun); // null when that server was not run
        const sameRatio = same && rps ? `${(rps / same).toFixed(2)}×` : "-";
        const lo = Math.min(...samples.map((x) => x.rps));
        const hi = Math.max(...samples.map((x) => x.rps));
        const noisy = samples.filter((x) => x.other !== null && x.other > 0.25).length;
        rows.push(
          `| ${sc.id === "pipelined" ? `pipelined ×${sc.pipeline} (256 conns)` : sc.id} | \`${route}\` | ${r.spec.label} | ${fmt(rps)} (${fmtK(lo)}–${fmtK(hi)}) | ${ratio} | ${sameRatio} | ${fmt(cpu, 1)} | ${fmt(p50, 2)} | ${fmt(p99, 2)} | ${noisy} |`,
        );
        summary.push({ scenario: sc.id, route, server: r.spec.id, rps, ratioToHonoBun: base && rps ? rps / base : null, ratioToSameOnBun: same && rps ? rps / same : null, sameOnBun: r.spec.sameOnBun, cpuUsPerReq: cpu, p50Ms: p50, p99Ms: p99, samples });
      }
    }
  }
  const table = rows.join("\n");
  const when = new Date().toISOString();
  const command = `bun bench/adapter/run.ts ${process.argv.slice(2).join(" ")}`.trim();
  writeFileSync(join(HERE, "latest.json"), JSON.stringify({ when, command, bun: Bun.version, options: opts, summary }, null, 1));
  console.log(`${command}  (${when}, Bun ${Bun.version}, ${opts.runs} runs × ${opts.duration} s, medians)\n\n${table}`);
} finally {
  for (const r of running) r.proc.kill("SIGTERM");
}
