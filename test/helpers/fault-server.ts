/**
 * A fasthttp server in a process of its own, for the fault, soak and
 * regression tests (started by test/helpers/child-server.ts). A crash, a
 * signal or a descriptor limit then hits this process, not the test runner,
 * and its RSS and CPU time are its server's alone.
 *
 *   bun test/helpers/fault-server.ts '{"config": {...}, "sigpipe": "default"}'
 *
 * `sigpipe: "default"` puts SIGPIPE back to its default action (Bun ignores
 * it), so a write to a closed peer without MSG_NOSIGNAL would kill this
 * process: the SIGPIPE test means something only then.
 *
 * Routes: `/` "ok"; `/big/<n>` a body of n bytes; `/raw/<n>` the same as a
 * raw response; `/async/<ms>` "late" after ms; `/async-big/<ms>/<n>` n bytes
 * after ms; `/echo` the body's length (read whole, or as it streams); `/throw` a handler that throws;
 * `/reject` a promise that rejects; `/bad-return` a string instead of bytes;
 * `/close` a raw response with `Connection: close`.
 *
 * IPC: it sends `{ ready: port, pid }` once listening. It answers
 * `{ cmd: "stats" }` with `{ stats, rss, fds }` (after a full GC, so RSS is
 * comparable between calls), `{ cmd: "seen" }` with `{ seen }` (the method
 * and target of the requests its handler saw since the last "seen", up to
 * 1000) and `{ cmd: "stop" }` by stopping and exiting 0.
 * @module
 */
import { readdirSync } from "node:fs";
import { newServer, type HttpRequest, type ServerConfig } from "../../src/index.ts";

interface Options {
  config?: Partial<ServerConfig>;
  sigpipe?: "default";
}

const opts: Options = JSON.parse(process.argv[2] ?? "{}");

if (opts.sigpipe === "default") {
  const { dlopen, FFIType } = await import("bun:ffi");
  const libc = dlopen(process.platform === "linux" ? "libc.so.6" : "libc.dylib", {
    signal: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.ptr },
  });
  libc.symbols.signal(13, null); // SIGPIPE, SIG_DFL
}

const enc = new TextEncoder();
const OK = enc.encode("ok");
const LATE = enc.encode("late");
const CLOSE = enc.encode("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nclose\n");
const bodies = new Map<number, Uint8Array>();
const raws = new Map<number, Uint8Array>();

function body(n: number): Uint8Array {
  let b = bodies.get(n);
  if (!b) bodies.set(n, (b = new Uint8Array(n).fill(120)));
  return b;
}

function raw(n: number): Uint8Array {
  let b = raws.get(n);
  if (!b) {
    const head = enc.encode(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${n}\r\n\r\n`);
    b = new Uint8Array(head.length + n).fill(121);
    b.set(head);
    raws.set(n, b);
  }
  return b;
}

const after = <T>(ms: number, v: T) => new Promise<T>((resolve) => setTimeout(() => resolve(v), ms));

let seen: string[] = [];

function handler(req: HttpRequest): Uint8Array | Promise<Uint8Array> {
  const path = req.string(req.path);
  if (seen.length < 1000) seen.push(`${req.string(req.method)} ${req.string(req.target)}`);
  const parts = path.split("/");
  switch (parts[1]) {
    case "":
      return OK;
    case "big":
      return body(Number(parts[2]) | 0);
    case "raw":
      return raw(Number(parts[2]) | 0);
    case "async":
      return after(Number(parts[2]) | 0, LATE);
    case "async-big":
      return after(Number(parts[2]) | 0, body(Number(parts[3]) | 0));
    case "echo":
      if (req.bodyStreamed) return req.readBody().then((b) => enc.encode(String(b.length)));
      return enc.encode(String(req.body.len));
    case "throw":
      throw new Error("the handler failed on purpose");
    case "reject":
      return Promise.reject(new Error("the handler rejected on purpose"));
    case "close":
      return CLOSE;
    case "bad-return":
      return "not bytes" as unknown as Uint8Array;
    default:
      return enc.encode(`no route ${path}`);
  }
}

// Handler errors are expected here; keep the log short.
const error = console.error;
let errors = 0;
console.error = (...args: unknown[]) => {
  if (typeof args[0] === "string" && /^fasthttp: the handler (failed|returned)/.test(args[0])) {
    if (errors++ < 3) error(args[0]);
    return;
  }
  error(...args);
};

const server = newServer({ port: 0, host: "127.0.0.1", ...opts.config, handler });
const done = server.run();
done.catch((e) => {
  error(`fault-server: ${e}`);
  process.exit(1);
});

function fds(): number {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return -1;
  }
}

process.on("message", async (m: { cmd: string; force?: boolean }) => {
  if (m.cmd === "stats") {
    Bun.gc(true);
    process.send!({ stats: server.stats(), rss: process.memoryUsage.rss(), fds: fds() });
  } else if (m.cmd === "seen") {
    process.send!({ seen });
    seen = [];
  } else if (m.cmd === "stop") {
    await server.stop(m.force === true);
    await done.catch(() => {});
    process.send!({ stopped: true });
    process.exit(0);
  }
});
process.send!({ ready: server.port, pid: process.pid });
