/**
 * idle-memory.ts - server memory per idle keep-alive connection: fasthttp (from
 * any checkout) and Bun.serve.
 *
 * For each server and run: a fresh server process (bench/servers/probe.ts, app
 * `hello`, pinned to CPU 0, its fd limit raised), a warm-up (50 connections x 20
 * requests, then closed), VmRSS read ("before"); then N connections to
 * 127.0.0.1 are opened (at most --concurrency connecting at a time), each makes
 * ONE request and reads the whole response, and is left open and idle; VmRSS is
 * read at N/2 and at N (each after --settle ms). Reported: (RSS at N - before) / N
 * in bytes per connection, and the slope between N/2 and N (which leaves out
 * one-time growth such as tables sized to the connection count). Every
 * connection is checked to be still open when RSS is read. Then the client closes
 * everything, RSS is read once more, and the server is stopped.
 *
 * The server's idle timeout is set to --idle-timeout (default 120 s), far longer
 * than a run, so connections really are idle, with their timers armed.
 * Everything is bounded: each connection has a deadline, and the whole
 * invocation gives up after --timeout seconds.
 *
 * @example
 *   bun bench/idle-memory.ts                          # this checkout, 10,000 connections, 3 runs each
 *   bun bench/idle-memory.ts --dir /tmp/fh-base --runs 3 --json /tmp/fh-bench/idle.json
 *   bun bench/idle-memory.ts --servers fasthttp --conns 2000 --runs 1
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkoutState, describeCheckout } from "./lib/checkout.ts";
import { checkServers, finishRun, loadAverage, readOptions, takeCommon, type CommonOptions } from "./lib/cli.ts";
import * as stats from "./lib/stats.ts";
import { ServerProcess } from "./lib/server-process.ts";
import type { ServerDef } from "./lib/servers.ts";

const BENCH = new URL(".", import.meta.url).pathname;
const REPO = new URL("..", import.meta.url).pathname;
const REEXEC_MARK = "FASTHTTP_IDLE_MEMORY_REEXEC";

const USAGE = `usage: bun bench/idle-memory.ts [options]
  --dir DIR           fasthttp checkout to measure (default: this repo, ${REPO})
  --conns N           idle keep-alive connections to open (default 10000)
  --servers LIST      fasthttp,bun-serve (default both)
  --runs N            fresh server processes per server (default 3; median and range reported)
  --concurrency N     connections being opened at once (default 256)
  --settle MS         pause before each RSS reading (default 1000)
  --idle-timeout S    the server's idle timeout (default 120)
  --timeout S         give up after this many seconds in all (default 300)
  --json FILE         also write every figure as JSON to FILE`;

interface Options extends CommonOptions {
  conns: number;
  concurrency: number;
  settleMs: number;
  idleTimeout: number;
}

function parse(argv: string[]): Options {
  const o: Options = { dir: REPO, conns: 10_000, servers: ["fasthttp", "bun-serve"], runs: 3, concurrency: 256, settleMs: 1000, idleTimeout: 120, timeoutS: 300, json: null };
  readOptions(argv, USAGE, (a, v) => {
    switch (a) {
      case "--conns": o.conns = v.int(2); return true;
      case "--concurrency": o.concurrency = v.int(1); return true;
      case "--settle": o.settleMs = v.int(0); return true;
      case "--idle-timeout": o.idleTimeout = v.int(1); return true;
      default: return takeCommon(o, a, v);
    }
  });
  checkServers(o.servers);
  return o;
}

/** The soft (or hard) RLIMIT_NOFILE of this process. */
function fdLimit(which: "soft" | "hard" = "soft"): number {
  const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"));
  const f = line?.split(/\s+/)[which === "soft" ? 3 : 4];
  const n = f === "unlimited" ? Infinity : Number(f);
  return Number.isFinite(n) || n === Infinity ? n : 1024;
}

/** VmRSS, RssAnon and RssFile of pid, in bytes. */
function rss(pid: number): { vmRss: number; anon: number; file: number } {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? NaN) * 1024;
  return { vmRss: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile") };
}

interface Conn {
  buf: string;
  want: number; // responses still to read
  done: (() => void) | null;
  fail: ((e: Error) => void) | null;
  closed: boolean;
}

const REQUEST = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n";

/** Takes complete responses off the front of c.buf; each must be 200 with the hello body. */
function consume(c: Conn): void {
  for (;;) {
    const end = c.buf.indexOf("\r\n\r\n");
    if (end < 0) return;
    const head = c.buf.slice(0, end);
    const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? NaN);
    if (!Number.isFinite(len)) return c.fail?.(new Error(`response without Content-Length: ${JSON.stringify(head.slice(0, 120))}`));
    if (c.buf.length < end + 4 + len) return;
    const body = c.buf.slice(end + 4, end + 4 + len);
    c.buf = c.buf.slice(end + 4 + len);
    if (!head.startsWith("HTTP/1.1 200 ") || body !== "Hello, World!") return c.fail?.(new Error(`unexpected response ${JSON.stringify(head.slice(0, 80))}`));
    if (--c.want === 0) c.done?.();
  }
}

type Sock = Bun.Socket<Conn>;

/** Opens one connection, makes `requests` requests on it one after the other, and resolves with it open. */
async function openConn(port: number, requests: number, deadlineMs: number): Promise<{ sock: Sock; conn: Conn }> {
  const conn: Conn = { buf: "", want: 0, done: null, fail: null, closed: false };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const sock = await Promise.race([
    Bun.connect<Conn>({
      hostname: "127.0.0.1",
      port,
      data: conn,
      socket: {
        data(s, chunk) {
          s.data.buf += chunk.toString("latin1");
          consume(s.data);
        },
        close(s) {
          s.data.closed = true;
          s.data.fail?.(new Error("closed by the server"));
        },
        error(s, err) {
          s.data.fail?.(err);
        },
      },
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`connect took over ${deadlineMs} ms`)), deadlineMs);
    }),
  ]).finally(() => clearTimeout(timer));
  try {
    for (let i = 0; i < requests; i++) {
      await new Promise<void>((res, rej) => {
        conn.want = 1;
        const t = setTimeout(() => rej(new Error(`no response within ${deadlineMs} ms`)), deadlineMs);
        conn.done = () => {
          clearTimeout(t);
          res();
        };
        conn.fail = (e) => {
          clearTimeout(t);
          rej(e);
        };
        if (sock.write(REQUEST) !== REQUEST.length) rej(new Error("short write of the request"));
      });
    }
  } catch (err) {
    sock.terminate();
    throw err;
  } finally {
    conn.done = null;
    conn.fail = null;
  }
  return { sock, conn };
}

/** Opens n connections, `concurrency` at a time, each with `requests` requests. Failures are counted, not fatal. */
async function openMany(port: number, n: number, requests: number, concurrency: number, into: { sock: Sock; conn: Conn }[]): Promise<string[]> {
  const errors: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      try {
        into.push(await openConn(port, requests, 10_000));
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return errors;
}

/** Closes every socket and waits (up to waitMs) for the close events. */
async function closeAll(conns: { sock: Sock; conn: Conn }[], waitMs = 10_000): Promise<void> {
  for (const { sock } of conns) sock.end();
  const deadline = performance.now() + waitMs;
  while (performance.now() < deadline && conns.some((c) => !c.conn.closed)) await Bun.sleep(50);
  for (const { sock, conn } of conns) if (!conn.closed) sock.terminate();
  conns.length = 0;
}

interface RunResult {
  server: string;
  run: number;
  conns: number;
  opened: number;
  openAtReading: number;
  errors: number;
  firstErrors: string[];
  rssBefore: number;
  rssMid: number;
  rssAfter: number;
  rssAfterClose: number;
  anonBefore: number;
  anonAfter: number;
  bytesPerConn: number;
  bytesPerConnSlope: number;
  anonBytesPerConn: number;
  seconds: number;
}

function serverDef(id: string, o: Options): ServerDef {
  return {
    id,
    label: id,
    color: "#000",
    reportsTimer: false,
    unavailable: () => null,
    prepare: async () => {},
    command: (port) => [
      process.execPath, join(BENCH, "servers/probe.ts"),
      "--impl", id, "--dir", o.dir, "--app", "hello", "--port", String(port), "--idle-timeout", String(o.idleTimeout),
    ],
  };
}

let current: ServerProcess | null = null;
const open: { sock: Sock; conn: Conn }[] = [];

async function oneRun(id: string, run: number, o: Options): Promise<RunResult> {
  const t0 = performance.now();
  const sp = await ServerProcess.start(serverDef(id, o), 0, o.conns + 1024);
  current = sp;
  try {
    // Warm-up: a few keep-alive requests on a few connections, then closed.
    const warm: { sock: Sock; conn: Conn }[] = [];
    const warmErrors = await openMany(sp.port, 50, 20, 50, warm);
    if (warmErrors.length) throw new Error(`warm-up failed: ${warmErrors[0]}`);
    await closeAll(warm);
    await Bun.sleep(o.settleMs);
    const before = rss(sp.pid);

    const half = Math.floor(o.conns / 2);
    const errors = await openMany(sp.port, half, 1, o.concurrency, open);
    await Bun.sleep(o.settleMs);
    const mid = rss(sp.pid);
    const openedMid = open.filter((c) => !c.conn.closed).length;
    errors.push(...(await openMany(sp.port, o.conns - half, 1, o.concurrency, open)));
    await Bun.sleep(o.settleMs);
    const after = rss(sp.pid);
    const openAtReading = open.filter((c) => !c.conn.closed).length;
    const opened = open.length;

    await closeAll(open);
    await Bun.sleep(o.settleMs);
    const afterClose = rss(sp.pid);
    if (openAtReading < o.conns * 0.99) {
      console.log(`    warning: only ${openAtReading} of ${o.conns} connections were open when RSS was read (${errors.length} failed: ${errors[0] ?? "closed later"})`);
    }
    return {
      server: id,
      run,
      conns: o.conns,
      opened,
      openAtReading,
      errors: errors.length,
      firstErrors: [...new Set(errors)].slice(0, 3),
      rssBefore: before.vmRss,
      rssMid: mid.vmRss,
      rssAfter: after.vmRss,
      rssAfterClose: afterClose.vmRss,
      anonBefore: before.anon,
      anonAfter: after.anon,
      bytesPerConn: (after.vmRss - before.vmRss) / openAtReading,
      bytesPerConnSlope: (after.vmRss - mid.vmRss) / Math.max(1, openAtReading - openedMid),
      anonBytesPerConn: (after.anon - before.anon) / openAtReading,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await closeAll(open, 2000);
    await sp.stop();
    current = null;
  }
}

/** The median of a run's figures (there is at least one run). */
const median = (xs: number[]): number => stats.median(xs)!;

const fmtB = (x: number) => Math.round(x).toLocaleString("en-US");
const fmtMiB = (x: number) => (x / 1048576).toFixed(1);

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  // The client holds every connection: raise our own descriptor limit by re-running under prlimit if needed.
  const need = o.conns + 1024;
  // (The server gets the same limit through prlimit; neither can go past the hard limit without CAP_SYS_RESOURCE.)
  if (fdLimit() < need) {
    const how = `need ${need} file descriptors (--conns + 1024), have ${fdLimit()} (hard limit ${fdLimit("hard")}): raise the limit (ulimit -n ${need}) or lower --conns`;
    if (process.env[REEXEC_MARK] || !Bun.which("prlimit")) throw new Error(how);
    const p = Bun.spawn(["prlimit", `--nofile=${need}:${need}`, process.execPath, ...process.argv.slice(1)], {
      stdio: ["inherit", "inherit", "inherit"],
      env: { ...process.env, [REEXEC_MARK]: "1" },
    });
    const code = await p.exited;
    if (code !== 0) console.error(`idle-memory: the run under prlimit --nofile=${need} failed (exit ${code}); ${how}`);
    process.exit(code);
  }

  const watchdog = setTimeout(() => {
    console.error(`idle-memory: gave up after ${o.timeoutS} s`);
    for (const { sock } of open) sock.terminate();
    void (current?.stop(500) ?? Promise.resolve()).finally(() => process.exit(2));
  }, o.timeoutS * 1000);
  const onSignal = () => {
    for (const { sock } of open) sock.terminate();
    void (current?.stop(500) ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const la = loadAverage();
  const checkout = checkoutState(o.dir);
  console.log(`idle-memory: ${o.conns} idle keep-alive connections, ${o.runs} run(s) per server; load average ${la}`);
  console.log(`fasthttp from ${describeCheckout(checkout)}`);
  const results: RunResult[] = [];
  for (let run = 1; run <= o.runs; run++) {
    for (const id of o.servers) {
      const r = await oneRun(id, run, o);
      results.push(r);
      console.log(
        `  ${id.padEnd(9)} run ${run}: ${fmtB(r.bytesPerConn).padStart(6)} B/conn (slope N/2..N ${fmtB(r.bytesPerConnSlope)}, RssAnon ${fmtB(r.anonBytesPerConn)})` +
          `  RSS ${fmtMiB(r.rssBefore)} -> ${fmtMiB(r.rssAfter)} MiB, ${fmtMiB(r.rssAfterClose)} after close; ${r.openAtReading}/${r.conns} open` +
          `${r.errors ? `, ${r.errors} failed (${r.firstErrors[0]})` : ""}; ${r.seconds.toFixed(1)} s`,
      );
    }
  }
  console.log(`\nRSS growth per idle keep-alive connection (${o.conns} connections; median [min-max] of ${o.runs} run(s)):`);
  const summary: Record<string, { median: number; min: number; max: number; slopeMedian: number; anonMedian: number }> = {};
  for (const id of o.servers) {
    const rs = results.filter((r) => r.server === id);
    const v = rs.map((r) => r.bytesPerConn);
    const s = { median: median(v), min: Math.min(...v), max: Math.max(...v), slopeMedian: median(rs.map((r) => r.bytesPerConnSlope)), anonMedian: median(rs.map((r) => r.anonBytesPerConn)) };
    summary[id] = s;
    console.log(`  ${(id === "bun-serve" ? "Bun.serve" : "fasthttp").padEnd(9)} ${fmtB(s.median).padStart(6)} B  [${fmtB(s.min)}-${fmtB(s.max)}]   slope N/2..N ${fmtB(s.slopeMedian)} B, RssAnon ${fmtB(s.anonMedian)} B`);
  }
  finishRun({ json: o.json, dir: o.dir, options: o, checkout, loadStart: la, summary, runs: results });
  clearTimeout(watchdog);
  process.exit(0);
}

await main();
