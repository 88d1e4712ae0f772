/**
 * timer-lateness.ts - how late a 10 ms timer fires in the server's event loop
 * while 256 connections pipeline requests at it, with a handler that does a
 * little real work: fasthttp (from any checkout) and Bun.serve.
 *
 * The server is bench/servers/probe.ts with the `route` app: the handler decodes
 * the method and the path with a TextDecoder and matches the path against
 * /^\/(user|item)\/(\d+)$/, answering `user 12345\n` (Bun.serve: the same match
 * on the path cut out of request.url). In the server, bench/servers/loop-health.mjs
 * runs a 10 ms setInterval and records each tick's lateness (the gap since the
 * previous tick minus 10 ms; a tick still pending when the window closes counts
 * with its wait so far); the harness opens the window with SIGUSR2 right before
 * the measured wrk run and closes it with SIGUSR2 right after, and reads the
 * maximum, p99 and mean.
 *
 * Per run: a fresh server pinned to CPU 0, `--warmup` seconds of the same load
 * (not recorded), then the measured load:
 *   taskset -c 1 wrk -t1 -c256 -d5s -s bench/pipeline.lua http://127.0.0.1:PORT/ -- 16 /user/12345
 * Reported per server: max and p99 lateness and req/s, median and range over the runs,
 * and the server's CPU (100 % = its core saturated).
 *
 * @example
 *   bun bench/timer-lateness.ts                               # this checkout, 3 runs per server
 *   bun bench/timer-lateness.ts --dir /tmp/fh-base --json /tmp/fh-bench/timer.json
 *   bun bench/timer-lateness.ts --servers fasthttp --runs 5 --duration 10
 */
import { join } from "node:path";
import { checkoutState, describeCheckout } from "./lib/checkout.ts";
import { checkServers, finishRun, loadAverage, readOptions, takeCommon, type CommonOptions } from "./lib/cli.ts";
import * as stats from "./lib/stats.ts";
import { cpuSeconds } from "./lib/proc.ts";
import { fdLimitFor } from "./lib/scenarios.ts";
import { pinned, ServerProcess, type LoopHealth } from "./lib/server-process.ts";
import type { ServerDef } from "./lib/servers.ts";

const BENCH = new URL(".", import.meta.url).pathname;
const REPO = new URL("..", import.meta.url).pathname;

const USAGE = `usage: bun bench/timer-lateness.ts [options]
  --dir DIR          fasthttp checkout to measure (default: this repo, ${REPO})
  --servers LIST     fasthttp,bun-serve (default both)
  --runs N           fresh server processes per server (default 3; median and range reported)
  --duration S       measured seconds of load per run (default 5)
  --warmup S         seconds of the same load before each measured run (default 2; 0: none)
  --connections N    wrk connections (default 256)
  --depth N          requests per pipelined write (default 16)
  --path P           request path (default /user/12345; must match the route)
  --timeout S        give up after this many seconds in all (default 300)
  --json FILE        also write every figure as JSON to FILE`;

interface Options extends CommonOptions {
  duration: number;
  warmup: number;
  connections: number;
  depth: number;
  path: string;
}

function parse(argv: string[]): Options {
  const o: Options = { dir: REPO, servers: ["fasthttp", "bun-serve"], runs: 3, duration: 5, warmup: 2, connections: 256, depth: 16, path: "/user/12345", timeoutS: 300, json: null };
  readOptions(argv, USAGE, (a, v) => {
    switch (a) {
      case "--duration": o.duration = v.int(1); return true;
      case "--warmup": o.warmup = v.int(0); return true;
      case "--connections": o.connections = v.int(1); return true;
      case "--depth": o.depth = v.int(1); return true;
      case "--path": o.path = v.str(); return true;
      default: return takeCommon(o, a, v);
    }
  });
  checkServers(o.servers);
  return o;
}

function serverDef(id: string, o: Options): ServerDef {
  return {
    id,
    label: id === "bun-serve" ? "Bun.serve" : "fasthttp",
    color: "#000",
    reportsTimer: true,
    unavailable: () => null,
    prepare: async () => {},
    command: (port) => [process.execPath, join(BENCH, "servers/probe.ts"), "--impl", id, "--dir", o.dir, "--app", "route", "--port", String(port)],
  };
}

interface WrkResult {
  requests: number;
  seconds: number;
  reqPerSec: number;
  errors: Record<string, number>;
}

let wrkProc: ReturnType<typeof Bun.spawn> | null = null;

/** wrk on CPU 1, pipelining `depth` requests for `path` on each connection. */
async function wrk(port: number, seconds: number, o: Options): Promise<WrkResult> {
  const cmd = [
    "wrk", "-t1", `-c${o.connections}`, `-d${seconds}s`, "--timeout", "10s",
    "-s", join(BENCH, "pipeline.lua"), `http://127.0.0.1:${port}/`, "--", String(o.depth), o.path,
  ];
  const p = Bun.spawn(pinned(cmd, 1, fdLimitFor(o.connections)), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  wrkProc = p;
  const killer = setTimeout(() => p.kill("SIGKILL"), (seconds + 30) * 1000);
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(killer);
  wrkProc = null;
  const line = out.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (!line) throw new Error(`wrk printed no result (exit ${p.exitCode}):\n${(out + err).trim().slice(-800)}`);
  const j = JSON.parse(line.slice("WRK_JSON ".length));
  const secs = j.durationUs / 1e6;
  return { requests: j.requests, seconds: secs, reqPerSec: j.requests / secs, errors: j.errors };
}

interface RunResult {
  server: string;
  run: number;
  maxMs: number;
  p99Ms: number | null;
  meanMs: number | null;
  ticks: number;
  windowMs: number;
  reqPerSec: number;
  requests: number;
  errors: Record<string, number>;
  serverCpuPct: number | null;
}

let current: ServerProcess | null = null;

async function oneRun(id: string, run: number, o: Options): Promise<RunResult> {
  const sp = await ServerProcess.start(serverDef(id, o), 0, fdLimitFor(o.connections));
  current = sp;
  try {
    if (o.warmup > 0) await wrk(sp.port, o.warmup, o);
    await Bun.sleep(300);
    const opened = await sp.loopHealth(); // closes the warm-up window, opens this run's
    if (!opened) throw new Error(`${id}: no timer report (SIGUSR2) before the run`);
    const cpu0 = cpuSeconds(sp.pid);
    const t0 = performance.now();
    const load = await wrk(sp.port, o.duration, o);
    const wall = (performance.now() - t0) / 1000;
    const cpu1 = cpuSeconds(sp.pid);
    const timer: LoopHealth | null = await sp.loopHealth(10_000);
    if (!timer) throw new Error(`${id}: no timer report (SIGUSR2) within 10 s after the run`);
    return {
      server: id,
      run,
      maxMs: timer.maxMs,
      p99Ms: timer.p99Ms,
      meanMs: timer.meanMs,
      ticks: timer.ticks,
      windowMs: timer.windowMs,
      reqPerSec: load.reqPerSec,
      requests: load.requests,
      errors: load.errors,
      serverCpuPct: cpu0 !== null && cpu1 !== null ? (100 * (cpu1 - cpu0)) / wall : null,
    };
  } finally {
    await sp.stop();
    current = null;
  }
}

/** The median of a run's figures (there is at least one run). */
const median = (xs: number[]): number => stats.median(xs)!;

const ms = (x: number | null) => (x === null ? "-" : x.toFixed(1));
const int = (x: number) => Math.round(x).toLocaleString("en-US");
const range = (xs: number[], f: (x: number) => string) => `${f(median(xs))} [${f(Math.min(...xs))}-${f(Math.max(...xs))}]`;

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  if (!Bun.which("wrk")) throw new Error("wrk is not on PATH (apt-get install -y wrk)");
  const bail = (code: number) => {
    wrkProc?.kill("SIGKILL");
    void (current?.stop(500) ?? Promise.resolve()).finally(() => process.exit(code));
  };
  const watchdog = setTimeout(() => {
    console.error(`timer-lateness: gave up after ${o.timeoutS} s`);
    bail(2);
  }, o.timeoutS * 1000);
  process.on("SIGINT", () => bail(130));
  process.on("SIGTERM", () => bail(143));

  const la = loadAverage();
  const checkout = checkoutState(o.dir);
  console.log(
    `timer-lateness: 10 ms setInterval in the server; wrk -t1 -c${o.connections} -d${o.duration}s, ${o.depth} pipelined ${o.path} per write; ` +
      `server on CPU 0, wrk on CPU 1; ${o.runs} run(s) per server; load average ${la}`,
  );
  console.log(`fasthttp from ${describeCheckout(checkout)}`);
  const results: RunResult[] = [];
  for (let run = 1; run <= o.runs; run++) {
    for (const id of o.servers) {
      const r = await oneRun(id, run, o);
      results.push(r);
      const errs = Object.entries(r.errors).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(", ");
      console.log(
        `  ${id.padEnd(9)} run ${run}: lateness max ${ms(r.maxMs)} ms, p99 ${ms(r.p99Ms)} ms, mean ${ms(r.meanMs)} ms (${r.ticks} ticks in ${(r.windowMs / 1000).toFixed(1)} s)` +
          `; ${int(r.reqPerSec)} req/s; server CPU ${r.serverCpuPct?.toFixed(0) ?? "?"}%${errs ? `; wrk errors: ${errs}` : ""}`,
      );
    }
  }
  console.log(`\nTimer lateness under ${o.connections} connections pipelining ${o.depth} (median [min-max] of ${o.runs} run(s)):`);
  const summary: Record<string, { maxMs: number; p99Ms: number; reqPerSec: number; runs: number }> = {};
  for (const id of o.servers) {
    const rs = results.filter((r) => r.server === id);
    const max = rs.map((r) => r.maxMs);
    const p99 = rs.map((r) => r.p99Ms ?? r.maxMs);
    const rps = rs.map((r) => r.reqPerSec);
    summary[id] = { maxMs: median(max), p99Ms: median(p99), reqPerSec: median(rps), runs: rs.length };
    console.log(`  ${(id === "bun-serve" ? "Bun.serve" : "fasthttp").padEnd(9)} max ${range(max, ms)} ms   p99 ${range(p99, ms)} ms   ${range(rps, int)} req/s`);
  }
  finishRun({ json: o.json, dir: o.dir, options: o, checkout, loadStart: la, summary, runs: results });
  clearTimeout(watchdog);
  process.exit(0);
}

await main();
