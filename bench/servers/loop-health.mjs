/**
 * loop-health.mjs - how late a 10 ms timer fires while the server is under load.
 *
 * A server that starves its event loop (a C loop that never returns, a handler
 * that never yields) still posts good req/s; this is the number that shows it.
 * Every tick of a 10 ms setInterval records how much later than 10 ms after the
 * previous tick it ran. The harness reads the figures through a file:
 *
 * - SIGUSR2: write the window's figures to the file in BENCH_TIMER_FILE, then
 *   start a new window (the harness signals once before a run to reset, once
 *   after to collect).
 * - At exit (SIGTERM, SIGINT, or a normal exit): write the figures once more.
 *
 * The file holds one JSON object: { seq, ticks, maxMs, p99Ms, meanMs, windowMs }.
 * `seq` counts the reports, so the harness knows a fresh one has landed.
 * Plain ESM so that both Bun and Node can import it.
 *
 * @example
 * import { startLoopHealth } from "./loop-health.mjs";
 * startLoopHealth({ onExit: () => server.stop() });
 */
import { writeFileSync, renameSync } from "node:fs";

const INTERVAL_MS = 10;

/**
 * Starts the timer and installs the signal handlers.
 * @param {{ onExit?: () => unknown }} [options] onExit runs on SIGTERM/SIGINT
 *   after the figures are written (it may return a promise); the process then exits.
 */
export function startLoopHealth(options = {}) {
  const file = process.env.BENCH_TIMER_FILE;
  let lateness = [];
  let windowStart = performance.now();
  let last = windowStart;
  let seq = 0;

  const timer = setInterval(() => {
    const now = performance.now();
    lateness.push(Math.max(0, now - last - INTERVAL_MS));
    last = now;
  }, INTERVAL_MS);
  // The timer must not by itself keep a finished server alive.
  timer.unref?.();

  function report() {
    if (!file) return;
    const sorted = lateness.slice().sort((a, b) => a - b);
    const n = sorted.length;
    const p99 = n ? sorted[Math.min(n - 1, Math.ceil(n * 0.99) - 1)] : null;
    const mean = n ? sorted.reduce((s, x) => s + x, 0) / n : null;
    const now = performance.now();
    // A tick that never came is the worst lateness of all: count the wait since the last one.
    const pending = Math.max(0, now - last - INTERVAL_MS);
    const max = Math.max(n ? sorted[n - 1] : 0, pending);
    const body = JSON.stringify({
      seq: ++seq,
      ticks: n,
      maxMs: round(max),
      p99Ms: p99 === null ? null : round(p99),
      meanMs: mean === null ? null : round(mean),
      windowMs: round(now - windowStart),
    });
    // Write then rename, so the reader never sees half a file.
    writeFileSync(file + ".tmp", body + "\n");
    renameSync(file + ".tmp", file);
  }

  function reset() {
    lateness = [];
    windowStart = performance.now();
    last = windowStart;
  }

  process.on("SIGUSR2", () => {
    report();
    reset();
  });

  let exiting = false;
  const shutdown = async () => {
    if (exiting) return;
    exiting = true;
    try {
      report();
    } catch {}
    clearInterval(timer);
    try {
      await options.onExit?.();
    } finally {
      process.exit(0);
    }
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

function round(x) {
  return Math.round(x * 1000) / 1000;
}
