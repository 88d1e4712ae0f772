/**
 * JS-heap bytes allocated per request, and RSS over a long run, for three
 * hello-world handlers: a constant raw response (allocates nothing by
 * construction: the floor), `req.response()` in the arena, and a fresh
 * `TextEncoder.encode` per request (the plain-JS way).
 *
 *   taskset -c 0 bun bench/arena-heap.ts [arena|raw|plain] [seconds] [pipelined|c50]
 *
 * The load (wrk, pinned to CPU 1) runs against the server in this process.
 * Every WINDOW requests the handler reads JSC's heap size (objects) and the
 * allocator's current bytes (typed-array storage lives there): across a window
 * with no collection, their growth is what those requests allocated. Windows
 * in which a collection ran show a drop and are left out; the median of the
 * rest is reported. The raw handler is the floor (the server allocating
 * nothing per request reads 0).
 */
import { heapSize, memoryUsage } from "bun:jsc";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { newServer, type HttpRequest } from "../src/index.ts";

const mode = process.argv[2] ?? "arena";
const seconds = Number(process.argv[3] ?? 10);
const load = process.argv[4] ?? "pipelined";
const enc = new TextEncoder();
const raw = enc.encode("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!");
let served = 0;
const WINDOW = 4096;
const growth: number[] = [];
let lastHeap = 0;
let lastMem = 0;
function sample(): void {
  if (++served % WINDOW !== 0) return;
  const h = heapSize();
  const m = memoryUsage().current;
  if (lastHeap !== 0 && h >= lastHeap && m >= lastMem) growth.push((h - lastHeap + (m - lastMem)) / WINDOW);
  lastHeap = h;
  lastMem = m;
}
const handlers: Record<string, (req: HttpRequest) => Uint8Array> = {
  raw: () => (sample(), raw),
  arena: (req) => (sample(), req.response(200, "Hello, World!")),
  plain: () => (sample(), enc.encode(`HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!`)),
};
const handler = handlers[mode];
if (!handler) throw new Error(`mode must be one of ${Object.keys(handlers).join(", ")}`);

const server = newServer({ port: 0, host: "127.0.0.1", handler });
const done = server.run();
const rssStart: number[] = [];

const args = ["-t1", load === "pipelined" ? "-c256" : "-c50", `-d${seconds}s`];
if (load === "pipelined") args.push("-s", join(import.meta.dir, "pipeline.lua"));
args.push(`http://127.0.0.1:${server.port}/`);
const warm = setTimeout(() => rssStart.push(process.memoryUsage().rss), 2000);
const wrk = spawn("taskset", ["-c", "1", "wrk", ...args], { stdio: ["ignore", "pipe", "inherit"] });
let out = "";
wrk.stdout.on("data", (d) => (out += d));
await new Promise((r) => wrk.on("exit", r));
clearTimeout(warm);
const rssEnd = process.memoryUsage().rss;
const stats = server.stats();
await server.stop();
await done;
const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)?.[1];
console.log(
  JSON.stringify({
    mode,
    load,
    seconds,
    requests: served,
    reqPerSec: Number(rps),
    heapBytesPerRequest: growth.length ? +growth.sort((a, b) => a - b)[growth.length >> 1]!.toFixed(2) : null,
    heapBytesPerRequestMean: growth.length ? +(growth.reduce((a, b) => a + b, 0) / growth.length).toFixed(2) : null,
    windows: growth.length,
    rssAfterWarmupMiB: rssStart[0] ? +(rssStart[0] / 2 ** 20).toFixed(1) : null,
    rssEndMiB: +(rssEnd / 2 ** 20).toFixed(1),
    slabsHighWater: stats.slabsHighWater,
  }),
);
