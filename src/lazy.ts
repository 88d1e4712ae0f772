/**
 * Node modules loaded on first use, not at import: `node:fs` (~2.5 ms) and
 * `node:worker_threads` (~3 ms) are only needed by file responses and by
 * `workers`, and a server that uses neither should not pay for them at
 * start-up.
 * @module
 */

let fs: typeof import("node:fs") | undefined;
let threads: typeof import("node:worker_threads") | undefined;

/** @internal `node:fs`, loaded the first time it is asked for. */
export function nodeFs(): typeof import("node:fs") {
  return (fs ??= import.meta.require("node:fs") as typeof import("node:fs"));
}

/** @internal `node:worker_threads`, loaded the first time it is asked for. */
export function workerThreads(): typeof import("node:worker_threads") {
  return (threads ??= import.meta.require("node:worker_threads") as typeof import("node:worker_threads"));
}
