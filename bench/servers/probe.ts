/**
 * probe.ts - the server for bench/idle-memory.ts and bench/timer-lateness.ts:
 * fasthttp loaded from any checkout (so the same bench measures a baseline copy
 * and the working tree), or Bun.serve, answering one of two apps.
 *
 * - `hello`: `GET /` answered `Hello, World!` (fasthttp: a precomputed raw
 *   response, as bench/servers/fasthttp.ts).
 * - `route`: the handler decodes the method and the path with a TextDecoder and
 *   matches the path against /^\/(user|item)\/(\d+)$/; a match is answered 200
 *   with a small body built per request (`user 42\n`), `/` with the hello
 *   response (so the harness's start-up check passes), anything else 404.
 *   Bun.serve: the same match on the path cut out of `request.url`.
 *
 * Imports loop-health.mjs: a 10 ms setInterval whose lateness is reported on
 * SIGUSR2 and at SIGTERM to BENCH_TIMER_FILE (see bench/README.md).
 * Prints a line starting with "ready" once it listens on 127.0.0.1.
 *
 * Usage: bun bench/servers/probe.ts --impl fasthttp|bun-serve [--dir CHECKOUT]
 *          [--app hello|route] [--port N] [--idle-timeout S]
 *   --dir: the fasthttp checkout whose src/index.ts is loaded (default: this repo)
 *   --idle-timeout: seconds an idle keep-alive connection is kept (default 120)
 */
import { resolve } from "node:path";
import { startLoopHealth } from "./loop-health.mjs";

type FasthttpModule = typeof import("../../src/index.ts");

const REPO = new URL("../..", import.meta.url).pathname;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  if (v === undefined) throw new TypeError(`--${name} needs a value`);
  return v;
}

const impl = arg("impl", "fasthttp");
const dir = resolve(arg("dir", REPO));
const app = arg("app", "hello");
const port = Number(arg("port", process.env.PORT ?? "3000"));
const idleTimeout = Number(arg("idle-timeout", "120"));
if (impl !== "fasthttp" && impl !== "bun-serve") throw new TypeError(`--impl must be fasthttp or bun-serve, not ${impl}`);
if (app !== "hello" && app !== "route") throw new TypeError(`--app must be hello or route, not ${app}`);

const enc = new TextEncoder();
const HELLO = enc.encode(
  "HTTP/1.1 200 OK\r\n" + "Content-Length: 13\r\n" + "Content-Type: text/plain;charset=utf-8\r\n" + "\r\n" + "Hello, World!",
);
const NOT_FOUND = enc.encode("HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nContent-Type: text/plain;charset=utf-8\r\n\r\nnot found\n");
const ROUTE = /^\/(user|item)\/(\d+)$/;

let stop: () => unknown;

if (impl === "fasthttp") {
  const { newServer }: FasthttpModule = await import(resolve(dir, "src/index.ts"));
  const dec = new TextDecoder();
  const server = newServer({
    port,
    host: "127.0.0.1",
    idleTimeout,
    handler:
      app === "hello"
        ? () => HELLO
        : (req) => {
            const method = dec.decode(req.bytes(req.method));
            const path = dec.decode(req.bytes(req.path));
            const m = ROUTE.exec(path);
            if (m && (method === "GET" || method === "HEAD")) return enc.encode(`${m[1]} ${m[2]}\n`); // body of a 200 OK
            return path === "/" ? HELLO : NOT_FOUND;
          },
  });
  server.run().catch((err: unknown) => {
    console.error(`fasthttp failed: ${(err as Error)?.stack ?? err}`);
    process.exit(1);
  });
  stop = () => server.stop(true);
  console.log(`ready: fasthttp (${dir}, app ${app}) listening on http://127.0.0.1:${server.port}/`);
} else {
  const server = Bun.serve({
    port,
    hostname: "127.0.0.1",
    idleTimeout: Math.min(255, idleTimeout),
    fetch:
      app === "hello"
        ? () => new Response("Hello, World!")
        : (req) => {
            const url = req.url;
            const start = url.indexOf("/", url.indexOf("//") + 2);
            const q = url.indexOf("?", start);
            const path = q < 0 ? url.slice(start) : url.slice(start, q);
            const m = ROUTE.exec(path);
            if (m && (req.method === "GET" || req.method === "HEAD")) return new Response(`${m[1]} ${m[2]}\n`);
            return path === "/" ? new Response("Hello, World!") : new Response("not found\n", { status: 404 });
          },
  });
  stop = () => server.stop(true);
  console.log(`ready: bun-serve (app ${app}) listening on http://127.0.0.1:${server.port}/`);
}

startLoopHealth({ onExit: () => stop() });
