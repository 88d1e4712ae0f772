/** Types for loop-health.mjs (plain ESM, shared by the Bun and Node servers). */

/**
 * Starts a 10 ms timer that records how late it fires, and the signal handlers
 * that report it (SIGUSR2: to BENCH_TIMER_FILE; SIGTERM/SIGINT: report, then
 * `onExit`, then exit).
 */
export function startLoopHealth(options?: { onExit?: () => unknown }): void;
