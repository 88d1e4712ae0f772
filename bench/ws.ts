/**
 * ws.ts - the WebSocket benchmark: Bun.serve against fasthttp on the same app module
 * (bench/ws/app.ts, served by test/ws/serve.ts), driven by a load generator in C
 * (bench/ws/load.c: one thread, epoll; built here with gcc -O2 into a temp dir).
 *
 *   bun bench/ws.ts                                   # every row, both servers, 3 runs of 5 s
 *   bun bench/ws.ts --servers bun --runs 1 --duration 2
 *   bun bench/ws.ts --rows c100,bcast1000 --runs 5
 *
 * The server runs on CPU 0 (`taskset -c 0 bun test/ws/serve.ts ...`: taskset execs, so the
 * pid is bun's), the generator on CPU 1. For each row every server gets a fresh process and a
 * warm-up run; then the measured runs alternate between the servers (the order rotates). A
 * run waits (at most 10 s) until the machine is quiet, and is measured again (once) when
 * other processes used more than a quarter of a core during it.
 *
 * Reported, medians over the runs: messages/s (echoes received, or broadcast receipts), the
 * server's CPU per message (utime + stime from /proc/<pid>/stat, read by the generator at the
 * edges of its measured window, so that handshakes and closes are outside it), the server's
 * and the generator's CPU as % of a core, and fasthttp/Bun ratios. A Markdown table goes to
 * stdout, every run's figures to bench/ws/latest.json.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { cpuSeconds, machineBusySeconds, waitQuiet } from "./lib/proc.ts";
import { sourceState } from "./lib/source.ts";
import { max, median, min } from "./lib/stats.ts";

const HERE = join(import.meta.dir, "ws");
const ROOT = join(import.meta.dir, "..");
const SERVE = join(ROOT, "test", "ws", "serve.ts");
const APP = join(HERE, "app.ts");

interface Row {
  id: string;
  label: string;
  mode: "echo" | "broadcast";
  /** Connections (echo) or subscribers (broadcast). */
  n: number;
  /** Messages in flight per connection (echo), or broadcasts in flight (broadcast). */
  k: number;
  size: number;
}

const ROWS: Row[] = [
  { id: "c1", label: "1 conn × 32 B", mode: "echo", n: 1, k: 1, size: 32 },
  { id: "c100", label: "100 conns × 32 B", mode: "echo", n: 100, k: 1, size: 32 },
  { id: "c100-4k", label: "100 conns × 4 KiB", mode: "echo", n: 100, k: 1, size: 4096 },
  { id: "c100-k16", label: "100 conns × 32 B, 16 in flight", mode: "echo", n: 100, k: 16, size: 32 },
  { id: "bcast1000", label: "1 → 1000 broadcast, 32 B", mode: "broadcast", n: 1000, k: 4, size: 32 },
];

const SERVERS = { bun: "Bun.serve", fasthttp: "fasthttp" } as const;
type ServerId = keyof typeof SERVERS;

function parseArgs(argv: string[]) {
  const opts = { runs: 3, duration: 5, warmup: 1, rows: ROWS.map((r) => r.id).join(","), servers: "bun,fasthttp", bcastInflight: 4 };
  const keys: Record<string, keyof typeof opts> = { runs: "runs", duration: "duration", warmup: "warmup", rows: "rows", servers: "servers", "bcast-inflight": "bcastInflight" };
  for (let i = 0; i < argv.length; i++) {
    const key = keys[argv[i]!.replace(/^--/, "")];
    const value = argv[++i];
    if (key === undefined || value === undefined) {
      console.error(`usage: bun bench/ws.ts [--runs 3] [--duration 5] [--warmup 1] [--rows ${opts.rows}] [--servers bun,fasthttp] [--bcast-inflight 4]`);
      process.exit(2);
    }
    (opts as Record<string, unknown>)[key] = typeof opts[key] === "number" ? Number(value) : value;
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const rows = opts.rows.split(",").map((id) => {
  const r = ROWS.find((x) => x.id === id);
  if (!r) throw new Error(`unknown row ${id} (rows: ${ROWS.map((x) => x.id).join(", ")})`);
  return r.mode === "broadcast" ? { ...r, k: opts.bcastInflight } : r;
});
const servers = opts.servers.split(",").map((id) => {
  if (!(id in SERVERS)) throw new Error(`unknown server ${id} (servers: bun, fasthttp)`);
  return id as ServerId;
});

/** Builds load.c; returns the binary's path. */
function buildLoad(dir: string): string {
  const gcc = Bun.which("gcc");
  if (!gcc) throw new Error("bench/ws.ts needs gcc to build the load generator (apt-get install gcc)");
  const bin = join(dir, "load");
  const r = Bun.spawnSync([gcc, "-O2", "-Wall", "-Wextra", "-o", bin, join(HERE, "load.c")], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`building load.c failed:\n${r.stderr.toString()}`);
  return bin;
}

interface Running {
  id: ServerId;
  port: number;
  proc: Subprocess;
}

/** Starts a server on CPU 0 and waits for its PORT line. */
async function start(id: ServerId): Promise<Running> {
  const proc = Bun.spawn(["taskset", "-c", "0", process.execPath, SERVE, id, APP], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
    env: { ...process.env, NODE_ENV: "production" },
  });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let out = "";
  const deadline = Date.now() + 20_000;
  while (!/PORT \d+/.test(out)) {
    const r = await Promise.race([reader.read(), Bun.sleep(Math.max(0, deadline - Date.now())).then(() => null)]);
    if (r === null || r.done) {
      proc.kill("SIGKILL");
      const err = await new Response(proc.stderr as ReadableStream<Uint8Array>).text().catch(() => "");
      const lines = (out + err).trim().split("\n");
      const why = lines.find((l) => /^\w*(error|Error)\b/.test(l.trim())) ?? lines.slice(-3).join(" | ");
      throw new Error(`${SERVERS[id]} did not start: ${why.trim()}`);
    }
    out += new TextDecoder().decode(r.value);
  }
  reader.releaseLock();
  void new Response(proc.stderr as ReadableStream<Uint8Array>).text().then((t) => t && console.error(`${id} stderr: ${t}`));
  const port = Number(/PORT (\d+)/.exec(out)![1]);
  const res = await fetch(`http://127.0.0.1:${port}/nope`);
  if (res.status !== 404) throw new Error(`${SERVERS[id]}: GET /nope answered ${res.status}, not 404`);
  return { id, port, proc };
}

/** What load.c prints. */
interface LoadResult {
  mode: string;
  connections: number;
  inFlight: number;
  size: number;
  messages: number;
  seconds: number;
  broadcasts: number;
  cpu: { user: number; system: number };
  serverCpu: number | null;
  badFrames: number;
  closes: number;
  errors: number;
}

interface Sample {
  msgsPerSec: number;
  /** µs of server CPU per message, over the generator's window. */
  serverUsPerMsg: number | null;
  /** Server CPU over the window, % of one core. */
  serverCpuPct: number | null;
  /** The generator's CPU over its window, % of one core. */
  loadCpuPct: number;
  /** Server CPU over the whole generator process (handshakes and closes included), seconds. */
  serverCpuWholeRun: number | null;
  /** CPU used by everything else during the run, % of one core. */
  otherPct: number | null;
  busyBeforePct: number;
  retried: number;
  raw: LoadResult;
}

async function measureOnce(load: string, s: Running, row: Row, seconds: number): Promise<Sample> {
  const busyBefore = await waitQuiet(10_000);
  const cmd = ["taskset", "-c", "1", load, String(s.port), row.mode, String(row.n), String(row.k), String(row.size), String(seconds), String(s.proc.pid)];
  const cpu0 = cpuSeconds(s.proc.pid);
  const machine0 = machineBusySeconds();
  const t0 = performance.now();
  const gen = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(gen.stdout).text(), new Response(gen.stderr).text(), gen.exited]);
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = cpuSeconds(s.proc.pid);
  const machine1 = machineBusySeconds();
  const usage = gen.resourceUsage();
  const genCpuAll = usage ? Number(usage.cpuTime.total) / 1e6 : null;
  const line = stdout.split("\n").find((l) => l.startsWith("{"));
  if (!line) throw new Error(`load printed no result (exit ${code}) for ${s.id} ${row.id}: ${stderr.trim()}`);
  const raw = JSON.parse(line) as LoadResult;
  if (code !== 0) throw new Error(`load failed for ${s.id} ${row.id} (exit ${code}): ${line} ${stderr.trim()}`);
  const serverWhole = cpu0 === null || cpu1 === null ? null : cpu1 - cpu0;
  const otherPct =
    serverWhole === null || machine0 === null || machine1 === null || genCpuAll === null
      ? null
      : (Math.max(0, machine1 - machine0 - serverWhole - genCpuAll) / wall) * 100;
  return {
    msgsPerSec: raw.messages / raw.seconds,
    serverUsPerMsg: raw.serverCpu === null || raw.messages === 0 ? null : (raw.serverCpu * 1e6) / raw.messages,
    serverCpuPct: raw.serverCpu === null ? null : (raw.serverCpu / raw.seconds) * 100,
    loadCpuPct: ((raw.cpu.user + raw.cpu.system) / raw.seconds) * 100,
    serverCpuWholeRun: serverWhole,
    otherPct,
    busyBeforePct: busyBefore * 100,
    retried: 0,
    raw,
  };
}

/** A run, measured once more when other processes used more than a quarter of a core. */
async function measure(load: string, s: Running, row: Row, seconds: number): Promise<Sample> {
  const first = await measureOnce(load, s, row, seconds);
  if (first.otherPct === null || first.otherPct <= 25) return first;
  return { ...(await measureOnce(load, s, row, seconds)), retried: 1 };
}

interface Cell {
  server: ServerId;
  error?: string;
  samples: Sample[];
  msgsPerSec: number | null;
  msgsPerSecMin: number | null;
  msgsPerSecMax: number | null;
  serverUsPerMsg: number | null;
  serverCpuPct: number | null;
  loadCpuPct: number | null;
  otherPct: number | null;
  noisyRuns: number;
}

function summarize(server: ServerId, samples: Sample[], error?: string): Cell {
  const m = (f: (s: Sample) => number | null) => median(samples.map(f));
  const rate = samples.map((s) => s.msgsPerSec);
  return {
    server,
    ...(error === undefined ? {} : { error }),
    samples,
    msgsPerSec: median(rate),
    msgsPerSecMin: min(rate),
    msgsPerSecMax: max(rate),
    serverUsPerMsg: m((s) => s.serverUsPerMsg),
    serverCpuPct: m((s) => s.serverCpuPct),
    loadCpuPct: m((s) => s.loadCpuPct),
    otherPct: m((s) => s.otherPct),
    noisyRuns: samples.filter((s) => s.otherPct !== null && s.otherPct > 25).length,
  };
}

const fmt = (x: number | null | undefined, digits = 0) =>
  x === null || x === undefined ? "-" : x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const fmtRate = (x: number | null) => (x === null ? "-" : x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(1)}k`);

function table(results: { row: Row; cells: Cell[] }[]): string {
  const out: string[] = [];
  out.push("| row | server | msgs/s (min–max) | server CPU µs/msg | server CPU % | load gen CPU % | other % |");
  out.push("|---|---|---|---|---|---|---|");
  for (const { row, cells } of results) {
    for (const c of cells) {
      if (c.error !== undefined && c.samples.length === 0) {
        out.push(`| ${row.label} | ${SERVERS[c.server]} | failed: ${c.error.replace(/\|/g, "\\|").slice(0, 120)} | | | | |`);
        continue;
      }
      const noisy = c.noisyRuns > 0 ? ` (${c.noisyRuns} noisy)` : "";
      out.push(
        `| ${row.label} | ${SERVERS[c.server]} | ${fmtRate(c.msgsPerSec)} (${fmtRate(c.msgsPerSecMin)}–${fmtRate(c.msgsPerSecMax)}) | ${fmt(c.serverUsPerMsg, 2)} | ${fmt(c.serverCpuPct)} | ${fmt(c.loadCpuPct)} | ${fmt(c.otherPct)}${noisy} |`,
      );
    }
  }
  const both = results.filter(({ cells }) => ["bun", "fasthttp"].every((id) => cells.some((c) => c.server === id && c.msgsPerSec !== null)));
  if (both.length > 0) {
    out.push("", "| row | fasthttp/Bun msgs/s | fasthttp/Bun CPU per msg |", "|---|---|---|");
    for (const { row, cells } of both) {
      const b = cells.find((c) => c.server === "bun")!;
      const f = cells.find((c) => c.server === "fasthttp")!;
      const cpu = b.serverUsPerMsg && f.serverUsPerMsg ? f.serverUsPerMsg / b.serverUsPerMsg : null;
      out.push(`| ${row.label} | ${fmt(f.msgsPerSec! / b.msgsPerSec!, 2)} | ${fmt(cpu, 2)} |`);
    }
  }
  return out.join("\n");
}

const tmp = mkdtempSync(join(tmpdir(), "fasthttp-wsbench-"));
const live = new Set<Running>();
process.on("SIGINT", () => {
  for (const r of live) r.proc.kill("SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
  process.exit(130);
});

const sourceAtStart = sourceState();
const startedAt = new Date().toISOString();
const results: { row: Row; cells: Cell[] }[] = [];
try {
  const load = buildLoad(tmp);
  for (const row of rows) {
    const running: Running[] = [];
    const failed = new Map<ServerId, string>();
    for (const id of servers) {
      try {
        const r = await start(id);
        running.push(r);
        live.add(r);
      } catch (err) {
        failed.set(id, (err as Error).message);
        console.error(`${row.id} ${id}: ${(err as Error).message}`);
      }
    }
    const samples = new Map<ServerId, Sample[]>(running.map((r) => [r.id, []]));
    for (const r of [...running]) {
      try {
        await measureOnce(load, r, row, opts.warmup); // warm-up, not recorded
      } catch (err) {
        failed.set(r.id, (err as Error).message);
        console.error(`${row.id} ${r.id} warm-up: ${(err as Error).message}`);
        running.splice(running.indexOf(r), 1);
      }
    }
    for (let run = 0; run < opts.runs; run++) {
      const order = running.map((_, i) => running[(i + run) % running.length]!);
      for (const r of order) {
        if (failed.has(r.id)) continue;
        try {
          const s = await measure(load, r, row, opts.duration);
          samples.get(r.id)!.push(s);
          console.error(
            `${row.id} ${r.id} run ${run + 1}/${opts.runs}: ${fmtRate(s.msgsPerSec)} msgs/s, ${fmt(s.serverUsPerMsg, 2)} µs server CPU/msg, server ${fmt(s.serverCpuPct)}%, load ${fmt(s.loadCpuPct)}%, other ${fmt(s.otherPct)}%${s.retried ? " (measured again)" : ""}`,
          );
        } catch (err) {
          failed.set(r.id, (err as Error).message);
          console.error(`${row.id} ${r.id}: ${(err as Error).message}`);
        }
      }
    }
    for (const r of running) {
      r.proc.kill("SIGTERM");
      await Promise.race([r.proc.exited, Bun.sleep(3000)]);
      if (r.proc.exitCode === null) r.proc.kill("SIGKILL");
      live.delete(r);
    }
    results.push({ row, cells: servers.map((id) => summarize(id, samples.get(id) ?? [], failed.get(id))) });
  }
} finally {
  for (const r of live) r.proc.kill("SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
}

const sourceAtEnd = sourceState();
if (sourceAtEnd.fingerprint !== sourceAtStart.fingerprint) console.error("warning: src/ or c/ changed during the run");
const md = table(results);
console.log(
  `WebSocket benchmark, ${startedAt}: server on CPU 0, bench/ws/load.c on CPU 1; ${opts.runs} run(s) of ${opts.duration} s, medians; ` +
    `Bun ${Bun.version}, commit ${sourceAtStart.commit?.slice(0, 10) ?? "?"}${sourceAtStart.dirty ? " (dirty)" : ""}\n`,
);
console.log(md);
writeFileSync(
  join(HERE, "latest.json"),
  JSON.stringify(
    {
      meta: { startedAt, endedAt: new Date().toISOString(), bun: Bun.version, options: opts, command: process.argv.slice(2), source: { start: sourceAtStart, end: sourceAtEnd } },
      rows: results.map(({ row, cells }) => ({ ...row, cells })),
    },
    null,
    2,
  ) + "\n",
);
