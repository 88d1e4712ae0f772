/**
 * fasthttp's own WebSocket core: the behaviours the conformance, interop and
 * API-parity suites do not reach, on whichever backend FASTHTTP_BACKEND
 * picks (run it with FASTHTTP_BACKEND=kqueue too).
 *
 * - Inbound backpressure: a client that floods a paused socket, or one whose
 *   handler is stuck, has its writes back up in TCP; the server's memory does
 *   not grow with the flood, and every message arrives, in order, once the
 *   server reads again. An async handler that pauses the socket bounds the
 *   messages in flight (oven-sh/bun#32483 is this case: Bun runs async
 *   handlers concurrently; Bun 1.4.4's ServerWebSocket has pause(), and
 *   holds a flood back as fasthttp does, but delivers what it has already
 *   read after a pause: 14 in flight for a limit of 8).
 * - pause()/resume(); the raw handler's `req.upgrade()`; pub/sub across
 *   `workers`; a graceful and a forced stop; the idle timeout and its pings;
 *   nothing left held after connections that end every which way; config
 *   errors that name the field and the value; frames that come with the
 *   upgrade, and a request pipelined before it; sends from outside any
 *   handler.
 *
 * Servers run in this process (port 0, 127.0.0.1) unless a figure of their
 * own process is needed (RSS) or `workers` are: those are child processes
 * (test/helpers/ws-serve.ts) serving test/ws/core-*.ts. Clients: raw sockets
 * (test/helpers/wsclient.ts) where the wire matters, and the `ws` npm package
 * (loaded by path: Bun swaps a bare "ws" import for its own client) where a
 * real client's behaviour does (it answers pings by itself).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import { join } from "node:path";
import type WS from "ws";
import { newServer, type Server, type ServerConfig } from "../src/index.ts";
import type { FetchServer } from "../src/config.ts";
import type { ServerWebSocket } from "../src/ws/socket.ts";
import type { WebSocketHandler } from "../src/ws/types.ts";
import { startWs, type WsServer } from "./helpers/ws-serve.ts";
import { closeBody, concatBytes, decodeFrame, encodeFrame, OP, text, upgradeRequest, acceptFor, WsClient } from "./helpers/wsclient.ts";

const ROOT = join(import.meta.dir, "..");
/** The `ws` package itself, by path. */
const WebSocket = createRequire(import.meta.url)(join(ROOT, "node_modules", "ws", "index.js")) as typeof WS;
const MiB = 1024 * 1024;
const enc = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// helpers

/** Polls `cond` every 10 ms for up to `ms`; throws saying `what` (and what `show` says) otherwise. */
async function until(cond: () => boolean, what: string, ms = 3000, show: () => unknown = () => ""): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms ${JSON.stringify(show())}`);
    await Bun.sleep(10);
  }
}

/** `p`, or a throw naming `what` after `ms`. */
function within<T>(p: Promise<T>, what: string, ms = 3000): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]);
}

const running: Server[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop(true);
});

type Sock = ServerWebSocket<any>;

/** An in-process server on 127.0.0.1, a free port; stopped (forced) after the test. */
async function serve(config: Partial<ServerConfig<void>>): Promise<{ server: Server; port: number; done: Promise<void> }> {
  const server = newServer({ host: "127.0.0.1", port: 0, ...config } as ServerConfig<void>);
  const done = server.run();
  running.push(server);
  return { server, port: server.port, done };
}

/** A fetch app that upgrades every request (`data`: its path), else 400; `app` is set to the server it is given. */
function upgrading(holder: { app?: FetchServer<void> } = {}) {
  return (req: Request, server: FetchServer<void>): Response | undefined => {
    holder.app = server;
    if (server.upgrade(req, { data: new URL(req.url).pathname })) return undefined;
    return new Response("upgrade expected\n", { status: 400 });
  };
}

/** A `ws` client that queues what it receives. */
class Peer {
  readonly ws: WS;
  readonly errors: Error[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  #queue: string[] = [];
  #waiters: ((m: string) => void)[] = [];

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on("message", (data: Buffer) => {
      const m = data.toString();
      const w = this.#waiters.shift();
      if (w) w(m);
      else this.#queue.push(m);
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
    });
    this.opened.catch(() => {});
    this.ws.on("error", (e) => this.errors.push(e));
    this.closed = new Promise((resolve) => this.ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async open(port: number, path = "/"): Promise<Peer> {
    const p = new Peer(`ws://127.0.0.1:${port}${path}`);
    await within(p.opened, `the handshake of ${path}`);
    return p;
  }

  next(what = "a message", ms = 3000): Promise<string> {
    const m = this.#queue.shift();
    if (m !== undefined) return Promise.resolve(m);
    return within(new Promise<string>((resolve) => this.#waiters.push(resolve)), what, ms);
  }

  /** Messages queued and not taken. */
  get queued(): string[] {
    return [...this.#queue];
  }
}

/** Whether process figures can be read from /proc (Linux). */
const PROC = existsSync("/proc/self/status");
const procNote = PROC ? "" : " (SKIPPED: no /proc to read the server's RSS from)";

/** VmRSS of process `pid`, in bytes. */
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Reads from a raw socket: bytes as they come, and waits for more, bounded. */
class RawReader {
  buf: Uint8Array = new Uint8Array(0);
  ended = false;
  #wake: (() => void) | undefined;
  constructor(readonly socket: net.Socket) {
    socket.on("data", (d: Buffer) => {
      this.buf = concatBytes(this.buf, new Uint8Array(d));
      this.#wake?.();
    });
    socket.on("close", () => {
      this.ended = true;
      this.#wake?.();
    });
    socket.on("error", () => {});
  }
  /** Waits until `take(buf)` returns something (it says how many bytes it used), or throws after `ms`. */
  async read<T>(take: (buf: Uint8Array) => { value: T; used: number } | undefined, what: string, ms = 3000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const got = take(this.buf);
      if (got !== undefined) {
        this.buf = this.buf.slice(got.used);
        return got.value;
      }
      if (this.ended || Date.now() > deadline) {
        throw new Error(`${what}: ${this.ended ? "the connection ended" : `not within ${ms} ms`}; have ${JSON.stringify(Buffer.from(this.buf).toString("latin1").slice(0, 300))}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }
}

/** An HTTP response head and its Content-Length body, parsed off the front of `buf`. */
function httpResponse(buf: Uint8Array): { value: { status: number; head: string; body: string }; used: number } | undefined {
  const s = Buffer.from(buf).toString("latin1");
  const end = s.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const head = s.slice(0, end);
  const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
  if (buf.length < end + 4 + len) return undefined;
  return { value: { status: Number(head.split(" ")[1]), head, body: s.slice(end + 4, end + 4 + len) }, used: end + 4 + len };
}

function oneFrame(buf: Uint8Array) {
  const f = decodeFrame(buf);
  return f === undefined ? undefined : { value: f.frame, used: f.size };
}

// ---------------------------------------------------------------------------------------------
// inbound backpressure

describe("inbound backpressure", () => {
  const FLOOD = 64 * MiB;
  const SIZE = 64 * 1024;
  const COUNT = FLOOD / SIZE;
  /** The flood's frames, one per write: message i starts with i (uint32 BE). */
  const frames: Uint8Array[] = [];
  for (let i = 0; i < COUNT; i++) {
    const p = new Uint8Array(SIZE);
    p.fill(i & 0xff, 4);
    new DataView(p.buffer).setUint32(0, i);
    frames.push(encodeFrame({ opcode: OP.BINARY, payload: p, maskKey: new Uint8Array([1, 2, 3, 4]) }));
  }

  interface FloodStats {
    pid: number;
    messages: number;
    bytes: number;
    outOfOrder: number;
    firstBad: string;
    maxInFlight: number;
    pauses: number;
  }

  async function floodServer(): Promise<{ srv: WsServer; stats: () => Promise<FloodStats> }> {
    const srv = await startWs("fasthttp", join(import.meta.dir, "ws", "core-flood.ts"));
    return { srv, stats: async () => (await (await fetch(`http://127.0.0.1:${srv.port}/stats`)).json()) as FloodStats };
  }

  /** Waits until the server has taken all `COUNT` messages, and returns its stats. */
  async function allTaken(stats: () => Promise<FloodStats>): Promise<FloodStats> {
    let last: FloodStats;
    const deadline = Date.now() + 10_000;
    while ((last = await stats()).messages < COUNT && Date.now() < deadline) await Bun.sleep(50);
    return last;
  }

  /**
   * Floods `path` of a fresh core-flood.ts server: while the server does not read (paused, or its
   * handler stuck), the client's writes must back up and the server's RSS must stay within
   * 24 MiB of what it was; then `release()` lets it read, and every message must arrive in order.
   */
  async function flood(path: string, release: (srv: WsServer) => Promise<void>): Promise<void> {
    const { srv, stats } = await floodServer();
    try {
      const { pid } = await stats();
      const c = await WsClient.connect(srv.port, { path });
      await Bun.sleep(100);
      const base = rssOf(pid);
      let written = 0;
      for (const f of frames) c.socket.write(f, () => (written += f.length));
      let peak = base;
      const watchUntil = Date.now() + 1000;
      while (Date.now() < watchUntil) {
        await Bun.sleep(50);
        peak = Math.max(peak, rssOf(pid));
      }
      // The server held back: most of the flood is still in the client's socket, unwritten.
      expect(c.socket.writableLength).toBeGreaterThan(FLOOD / 2);
      expect(written).toBeLessThan(FLOOD / 2);
      expect(peak - base).toBeLessThan(24 * MiB);
      await release(srv);
      await until(() => written >= FLOOD, "the client's writes to drain", 10_000, () => ({ written, pending: c.socket.writableLength }));
      expect(await allTaken(stats)).toMatchObject({ messages: COUNT, bytes: FLOOD, outOfOrder: 0, firstBad: "" });
      c.destroy();
    } finally {
      await srv.stop();
    }
  }

  test.skipIf(!PROC)(`a paused socket reads nothing: a 64 MiB flood backs up in the client, the server's RSS grows < 24 MiB; after resume() every message arrives in order${procNote}`, async () => {
    await flood("/pause", async (srv) => {
      expect(await (await fetch(`http://127.0.0.1:${srv.port}/resume`)).text()).toBe("1");
    });
  }, 25_000);

  test.skipIf(!PROC)(`a message handler stuck for 2.5 s: the core reads no further meanwhile (the flood backs up, RSS grows < 24 MiB); then every message arrives in order${procNote}`, async () => {
    await flood("/block?ms=2500", async () => {}); // it lets go by itself
  }, 25_000);

  test("an async handler that pauses the socket while 8 messages are in flight never has more than 8: pause() takes effect at the next message; all arrive in order", async () => {
    const { srv, stats } = await floodServer();
    try {
      const c = await WsClient.connect(srv.port, { path: "/async?max=8" });
      for (const f of frames) c.socket.write(f);
      const last = await allTaken(stats);
      expect(last).toMatchObject({ messages: COUNT, bytes: FLOOD, outOfOrder: 0, firstBad: "" });
      expect(last.pauses).toBeGreaterThan(0);
      expect(last.maxInFlight).toBeLessThanOrEqual(8);
      c.destroy();
    } finally {
      await srv.stop();
    }
  }, 25_000);
});

// ---------------------------------------------------------------------------------------------
// pause() / resume()

describe("pause() and resume()", () => {
  /** A server that keeps its one socket and every message it gets. */
  async function pausable(extra: Partial<WebSocketHandler<any>> = {}) {
    const got: string[] = [];
    const s: { sock?: Sock } = {};
    const { port } = await serve({
      fetch: upgrading(),
      websocket: {
        open(ws) {
          s.sock = ws;
        },
        message(ws, m) {
          got.push(typeof m === "string" ? m : `binary ${m.length}`);
          if (m === "pause me") ws.pause();
        },
        ...extra,
      },
    });
    const c = await WsClient.connect(port);
    await until(() => s.sock !== undefined, "open");
    return { c, sock: s.sock!, got };
  }

  test("while paused no message is delivered and isPaused is true; sends still go out; after resume() every message sent meanwhile arrives in order", async () => {
    const { c, sock, got } = await pausable();
    await c.sendText("before");
    await until(() => got.length === 1, "the first message", 3000, () => got);
    expect(sock.isPaused).toBe(false);
    sock.pause();
    expect(sock.isPaused).toBe(true);
    const sent: string[] = [];
    for (let i = 0; i < 20; i++) {
      sent.push(`m${i}`);
      await c.sendText(`m${i}`);
    }
    await c.sendBinary(new Uint8Array(300_000));
    await c.send([
      { opcode: OP.TEXT, payload: "frag", fin: false },
      { opcode: OP.CONT, payload: "mented" },
    ]);
    expect(sock.send("while paused")).toBeGreaterThan(0);
    expect(text((await c.readMessage()).data)).toBe("while paused");
    await Bun.sleep(400);
    expect(got).toEqual(["before"]);
    sock.resume();
    expect(sock.isPaused).toBe(false);
    await until(() => got.length === 23, "the messages sent while paused", 3000, () => got);
    expect(got).toEqual(["before", ...sent, "binary 300000", "fragmented"]);
  });

  test("pause() inside the message handler: what that read brought is still delivered (as Bun's), what comes after waits until resume()", async () => {
    const { c, sock, got } = await pausable();
    await c.send([
      { opcode: OP.TEXT, payload: "a" },
      { opcode: OP.TEXT, payload: "pause me" },
      { opcode: OP.TEXT, payload: "b" },
    ]);
    await until(() => got.length >= 3, "the messages of the first write", 3000, () => got);
    expect(got).toEqual(["a", "pause me", "b"]);
    expect(sock.isPaused).toBe(true);
    await c.sendText("c");
    await c.sendText("d");
    await Bun.sleep(300);
    expect(got).toEqual(["a", "pause me", "b"]);
    sock.resume();
    await until(() => got.length === 5, "the rest", 3000, () => got);
    expect(got).toEqual(["a", "pause me", "b", "c", "d"]);
  });

  test("a paused socket is not closed by the idle timeout (as Bun's: it is suspended until resume()); after resume() it is", async () => {
    const closes: number[] = [];
    const { c, sock } = await pausable({ idleTimeout: 1, sendPings: false, close: (_ws, code) => void closes.push(code) });
    sock.pause();
    expect(await c.waitEnd(2500)).toBe("timeout");
    expect(closes).toEqual([]);
    sock.resume();
    expect(await c.waitEnd(2500)).not.toBe("timeout");
    expect(closes).toEqual([1006]);
  });
});

// ---------------------------------------------------------------------------------------------
// the raw handler's upgrade

describe("req.upgrade() in a raw handler", () => {
  test("upgrades (ws.data is the data given, the echo works); a plain GET gets the handler's 400", async () => {
    const { port } = await serve({
      handler: (req) => req.upgrade({ data: { who: "raw", path: req.string(req.path) } }) ?? req.response(400, "no\n"),
      websocket: {
        message(ws, m) {
          ws.send(`${JSON.stringify(ws.data)} ${String(m)}`);
        },
      },
    });
    const c = await WsClient.connect(port, { path: "/x" });
    await c.sendText("hi");
    expect(text((await c.readMessage()).data)).toBe('{"who":"raw","path":"/x"} hi');
    const p = await Peer.open(port, "/y");
    p.ws.send("there");
    expect(await p.next()).toBe('{"who":"raw","path":"/y"} there');
    p.ws.close();
    const res = await fetch(`http://127.0.0.1:${port}/plain`);
    expect(res.status).toBe(400);
    expect(await res.text()).toBe("no\n");
  });

  test("req.upgrade() on a server without `websocket` throws: the client gets 500", async () => {
    let thrown: unknown;
    const { port } = await serve({
      handler: (req) => {
        try {
          return req.upgrade() ?? req.response(400, "no\n");
        } catch (e) {
          thrown = e;
          throw e;
        }
      },
    });
    const c = await WsClient.open(port, upgradeRequest().request);
    expect(c.response.status).toBe(500);
    c.destroy();
    expect(thrown).toBeInstanceOf(TypeError);
    expect(String(thrown)).toContain("websocket");
  });
});

// ---------------------------------------------------------------------------------------------
// config errors

describe("websocket config errors", () => {
  const fetchApp = () => new Response("ok");
  const cases: [string, unknown, RegExp, string[]][] = [
    ["websocket: 5", 5, /TypeError/, ["websocket", "5"]],
    ["maxPayloadLength: -1", { maxPayloadLength: -1 }, /RangeError/, ["maxPayloadLength", "-1"]],
    ["idleTimeout: 1000", { idleTimeout: 1000 }, /RangeError/, ["idleTimeout", "1000"]],
    ['perMessageDeflate: "x"', { perMessageDeflate: "x" }, /TypeError/, ["perMessageDeflate", '"x"']],
    ["message: 3", { message: 3 }, /TypeError/, ["message", "3"]],
    ["an unknown key", { mesage: 7 }, /TypeError/, ["mesage", "7"]],
    ["backpressureLimit: 1.5", { backpressureLimit: 1.5 }, /RangeError/, ["backpressureLimit", "1.5"]],
    ['sendPings: "yes"', { sendPings: "yes" }, /TypeError/, ["sendPings", '"yes"']],
    ['perMessageDeflate: { compress: "9KB" }', { perMessageDeflate: { compress: "9KB" } }, /TypeError/, ["compress", '"9KB"']],
  ];
  for (const [name, websocket, kind, words] of cases) {
    test(`${name}: newServer throws a ${kind.source} naming the field and the value`, () => {
      let err: unknown;
      try {
        newServer({ host: "127.0.0.1", port: 0, fetch: fetchApp, websocket } as ServerConfig<void>);
      } catch (e) {
        err = e;
      }
      expect(String(err)).toMatch(kind);
      for (const w of words) expect((err as Error).message).toContain(w);
    });
  }

  test("with workers: 2 the main thread's newServer throws it too (before any worker starts)", () => {
    expect(() => newServer({ host: "127.0.0.1", port: 0, workers: 2, fetch: fetchApp, websocket: { idleTimeout: 1000 } } as ServerConfig<void>)).toThrow(
      /idleTimeout.*1000/,
    );
  });

  test("websocket: undefined is no websocket: the server serves HTTP, and server.upgrade() throws (500)", async () => {
    let thrown: unknown;
    const { port } = await serve({
      websocket: undefined,
      fetch: (req: Request, server: FetchServer<void>) => {
        try {
          server.upgrade(req);
        } catch (e) {
          thrown = e;
          return new Response("threw", { status: 500 });
        }
        return new Response("no throw");
      },
    });
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(await res.text()).toBe("threw");
    expect(thrown).toBeInstanceOf(TypeError);
  });
});

// ---------------------------------------------------------------------------------------------
// frames that come with the upgrade

describe("bytes that come with the upgrade request", () => {
  const echo: WebSocketHandler<any> = {
    message(ws, m) {
      ws.send(m);
    },
  };

  test("the upgrade request and a masked text frame in one write: the 101, then the echo", async () => {
    const { port } = await serve({ fetch: upgrading(), websocket: echo });
    const { request, key } = upgradeRequest();
    const c = await WsClient.open(port, concatBytes(request, encodeFrame({ opcode: OP.TEXT, payload: "early bird" })));
    expect(c.response.status).toBe(101);
    expect(c.response.get("sec-websocket-accept")).toBe(acceptFor(key));
    expect(text((await c.readMessage()).data)).toBe("early bird");
    await c.sendText("and then");
    expect(text((await c.readMessage()).data)).toBe("and then");
  });

  test("a GET pipelined before the upgrade on one connection (with a frame after it, all in one write): its answer first, then the 101, then the socket works", async () => {
    const { port } = await serve({
      fetch: (req: Request, server: FetchServer<void>) => {
        if (new URL(req.url).pathname === "/plain") return new Response("plain answer");
        return server.upgrade(req) ? undefined : new Response("no", { status: 400 });
      },
      websocket: echo,
    });
    const sock = net.connect({ host: "127.0.0.1", port });
    const r = new RawReader(sock);
    await new Promise<void>((resolve, reject) => sock.once("connect", resolve).once("error", reject));
    const { request, key } = upgradeRequest({ path: "/ws" });
    sock.write(concatBytes(enc.encode("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n"), request, encodeFrame({ opcode: OP.TEXT, payload: "with them" })));
    const first = await r.read(httpResponse, "the pipelined GET's answer");
    expect(first.status).toBe(200);
    expect(first.body).toBe("plain answer");
    const second = await r.read(httpResponse, "the 101");
    expect(second.status).toBe(101);
    expect(second.head.toLowerCase()).toContain(`sec-websocket-accept: ${acceptFor(key).toLowerCase()}`);
    const f1 = await r.read(oneFrame, "the echo of the frame sent with them");
    expect([f1.opcode, text(f1.payload)]).toEqual([OP.TEXT, "with them"]);
    sock.write(encodeFrame({ opcode: OP.BINARY, payload: new Uint8Array([1, 2, 3]) }));
    const f2 = await r.read(oneFrame, "the echo of a later frame");
    expect([f2.opcode, [...f2.payload]]).toEqual([OP.BINARY, [1, 2, 3]]);
    sock.destroy();
  });
});

// ---------------------------------------------------------------------------------------------
// sends from outside any handler

describe("sends from outside any handler", () => {
  test("a send from a timer after open, one after an await, and one from an async message handler go out promptly; getBufferedAmount() is 0 once the client has read", async () => {
    const s: { sock?: Sock } = {};
    const { port } = await serve({
      fetch: upgrading(),
      websocket: {
        open(ws) {
          s.sock = ws;
          setTimeout(() => ws.send("from a timer"), 300); // the loop is asleep by then
          void (async () => {
            await Bun.sleep(600);
            await Promise.resolve();
            ws.send(new Uint8Array(200_000).fill(7));
            ws.send("after an await");
          })();
        },
        async message(ws, m) {
          await Bun.sleep(200);
          ws.send(`later: ${String(m)}`);
        },
      },
    });
    const c = await WsClient.connect(port);
    expect(text((await c.readMessage(2000)).data)).toBe("from a timer");
    const big = await c.readMessage(2000);
    expect([big.opcode, big.data.length, big.data.every((b) => b === 7)]).toEqual([OP.BINARY, 200_000, true]);
    expect(text((await c.readMessage(2000)).data)).toBe("after an await");
    expect(s.sock!.getBufferedAmount()).toBe(0);
    await c.sendText("hello");
    expect(text((await c.readMessage(2000)).data)).toBe("later: hello");
    expect(s.sock!.getBufferedAmount()).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// stop

describe("server.stop() with open sockets", () => {
  async function withSockets() {
    const closes: [string, number][] = [];
    const served = await serve({
      fetch: upgrading(),
      websocket: {
        message(ws, m) {
          ws.send(m);
        },
        close(ws, code) {
          closes.push([ws.data as string, code]);
        },
      },
    });
    const answering = await WsClient.connect(served.port, { path: "/answering" });
    const silent = await WsClient.connect(served.port, { path: "/silent" });
    const peer = await Peer.open(served.port, "/ws-package");
    return { ...served, closes, answering, silent, peer };
  }

  test("stop(): each client gets a close frame 1001, then the TCP close (at once when it answers, within 2 s + 1 s when it does not); stop() resolves; the close handlers get 1001, 1006 for the one that never answered", async () => {
    const { server, closes, answering, silent, peer } = await withSockets();
    const stopped = server.stop();
    let stopDone = false;
    void stopped.then(() => (stopDone = true));
    const a = await answering.readClose();
    expect(a.code).toBe(1001);
    await answering.send({ opcode: OP.CLOSE, payload: closeBody(1001) });
    expect(await answering.waitEnd(1000)).toBe("fin");
    expect((await within(peer.closed, "the ws client's close")).code).toBe(1001);
    const s = await silent.readClose();
    expect(s.code).toBe(1001);
    expect(await silent.waitEnd(3000)).not.toBe("timeout");
    await within(stopped, "stop()", 3000);
    expect(stopDone).toBe(true);
    expect(new Map(closes)).toEqual(
      new Map([
        ["/answering", 1001],
        ["/ws-package", 1001],
        ["/silent", 1006],
      ]),
    );
  });

  test("stop(true): every socket gets a close frame 1001 \"Server closed\" and is closed at once, without waiting for an answer; the close handlers get 1001 (as Bun 1.4.4)", async () => {
    const { server, closes, answering, silent, peer } = await withSockets();
    await within(server.stop(true), "stop(true)", 2000);
    for (const raw of [answering, silent]) {
      const f = await raw.readFrame(1000);
      expect(f?.opcode).toBe(0x8);
      expect(f === null ? 0 : (f.payload[0]! << 8) | f.payload[1]!).toBe(1001);
      expect(Buffer.from(f!.payload.subarray(2)).toString()).toBe("Server closed");
      expect(await raw.readFrame(1000)).toBeNull(); // then the connection ends
    }
    expect((await within(peer.closed, "the ws client's close", 1000)).code).toBe(1001);
    expect(closes.map(([, code]) => code)).toEqual([1001, 1001, 1001]);
  });
});

// ---------------------------------------------------------------------------------------------
// idle timeout and pings

describe("idleTimeout and sendPings", () => {
  test("idleTimeout: 2: a ws client (it answers pings) that sends nothing stays open > 5 s; a raw client that never answers gets a ping at about half the timeout and is closed within the timeout + 1 s (1006); with sendPings: false no ping comes and it is closed after the timeout", async () => {
    const closes = new Map<string, number>();
    const pongs: string[] = [];
    const handler = (sendPings: boolean): WebSocketHandler<any> => ({
      idleTimeout: 2,
      sendPings,
      message(ws, m) {
        ws.send(m);
      },
      pong(ws) {
        pongs.push(ws.data as string);
      },
      close(ws, code) {
        closes.set(ws.data as string, code);
      },
    });
    const pinging = await serve({ fetch: upgrading(), websocket: handler(true) });
    const quiet = await serve({ fetch: upgrading(), websocket: handler(false) });
    const t0 = Date.now();
    const peer = await Peer.open(pinging.port, "/ws-package");
    const raw = await WsClient.connect(pinging.port, { path: "/raw" });
    const rawQuiet = await WsClient.connect(quiet.port, { path: "/raw-quiet" });

    const rawSide = (async () => {
      const ping = await raw.frame(3000);
      const at = Date.now() - t0;
      expect(ping.opcode).toBe(OP.PING);
      expect(at).toBeGreaterThan(700);
      expect(at).toBeLessThan(2500);
      expect(await raw.readFrame(3500 - (Date.now() - t0))).toBeNull(); // closed without a frame, before 3.5 s
    })();
    const quietSide = (async () => {
      expect(await rawQuiet.readFrame(3500)).toBeNull(); // no ping: the connection just ends
      expect(Date.now() - t0).toBeGreaterThan(1700);
    })();
    await Promise.all([rawSide, quietSide]);
    expect(closes.get("/raw")).toBe(1006);
    expect(closes.get("/raw-quiet")).toBe(1006);

    await Bun.sleep(Math.max(0, 5500 - (Date.now() - t0)));
    expect(peer.ws.readyState).toBe(WebSocket.OPEN);
    expect(closes.has("/ws-package")).toBe(false);
    expect(pongs).toContain("/ws-package"); // it was pinged, and answered
    peer.ws.send("still here");
    expect(await peer.next()).toBe("still here");
    peer.ws.close();
  }, 15_000);
});

// ---------------------------------------------------------------------------------------------
// nothing leaks

describe("nothing is left held", () => {
  test("after 200 connections that send messages (some 1 MiB, some fragmented) and end every which way, stats() is back to 0 connections, 0 slabs and 0 large slabs in use; every open had its close", async () => {
    const holder: { app?: FetchServer<void> } = {};
    let opens = 0;
    let closes = 0;
    const { server, port } = await serve({
      fetch: upgrading(holder),
      websocket: {
        maxPayloadLength: 2 * MiB,
        open() {
          opens++;
        },
        message(ws, m) {
          if (m === "terminate") ws.terminate();
          else if (m === "close me") ws.close(4000, "as asked");
          else if (m === "flood") for (let i = 0; i < 8; i++) ws.send(new Uint8Array(MiB));
          else ws.send(m);
        },
        close() {
          closes++;
        },
      },
    });
    const big = new Uint8Array(MiB).map((_, i) => i & 0xff);
    const ENDINGS = 7;
    const ended: Record<string, number> = {};

    async function one(i: number): Promise<void> {
      const c = await WsClient.connect(port, { path: `/${i}` });
      await c.sendText(`hello ${i}`);
      expect(text((await c.readMessage()).data)).toBe(`hello ${i}`);
      if (i % 5 === 0) {
        await c.sendBinary(big);
        const m = await c.readMessage();
        expect(m.data.length).toBe(MiB);
      }
      if (i % 3 === 0) {
        await c.send([
          { opcode: OP.TEXT, payload: "fr", fin: false },
          { opcode: OP.CONT, payload: "ag", fin: false },
          { opcode: OP.CONT, payload: `ment ${i}` },
        ]);
        expect(text((await c.readMessage()).data)).toBe(`fragment ${i}`);
      }
      const how = i % ENDINGS;
      if (how === 0) {
        expect((await c.close(1000)).code).toBe(1000);
        expect(await c.waitEnd()).toBe("fin");
      } else if (how === 1) {
        await c.sendText("terminate");
        expect(await c.readFrame()).toBeNull();
      } else if (how === 2) {
        // abrupt: half a 1 MiB frame, then the TCP connection is gone
        await c.write(encodeFrame({ opcode: OP.BINARY, payload: big }).subarray(0, MiB / 2));
        c.destroy();
      } else if (how === 3) {
        await c.send({ opcode: OP.TEXT, payload: "unmasked", mask: false });
        expect((await c.readClose()).code).toBe(1002);
        expect(await c.waitEnd()).not.toBe("timeout");
      } else if (how === 4) {
        await c.send({ opcode: OP.BINARY, length: 2 * MiB + 1, payload: new Uint8Array(0) });
        expect((await c.readClose()).code).toBe(1009);
        expect(await c.waitEnd()).not.toBe("timeout");
      } else if (how === 5) {
        // gone while the server's answer is backed up behind it
        c.socket.pause();
        await c.sendText("flood");
        await Bun.sleep(50);
        c.destroy();
      } else {
        await c.sendText("close me");
        const f = await c.readClose();
        expect(f.code).toBe(4000);
        await c.send({ opcode: OP.CLOSE, payload: closeBody(4000) });
        expect(await c.waitEnd()).toBe("fin");
      }
      ended[how] = (ended[how] ?? 0) + 1;
    }

    const N = 200;
    for (let at = 0; at < N; at += 20) await Promise.all(Array.from({ length: Math.min(20, N - at) }, (_, k) => one(at + k)));
    expect(Object.values(ended).reduce((a, b) => a + b, 0)).toBe(N);
    await until(
      () => {
        const st = server.stats();
        return st.connections === 0 && st.slabsInUse === 0 && st.largeInUse === 0 && closes === N;
      },
      "everything released",
      5000,
      () => ({ ...server.stats(), opens, closes, pendingWebSockets: holder.app?.pendingWebSockets }),
    );
    expect(opens).toBe(N);
    expect(holder.app!.pendingWebSockets).toBe(0);
    if (process.env.FASTHTTP_BACKEND) expect(server.stats().backend).toBe(process.env.FASTHTTP_BACKEND); // the backend asked for is the one run
  }, 30_000);
});

// ---------------------------------------------------------------------------------------------
// workers

describe("workers: 2", () => {
  test("clients spread over both workers all subscribe to one topic: server.publish from one worker reaches the subscribers of both; ws.publish too, all but the sender", async () => {
    const srv = await startWs("fasthttp", join(import.meta.dir, "ws", "core-workers.ts"), { workers: 2 });
    const peers: Peer[] = [];
    try {
      const where = new Map<Peer, string>();
      // The port is printed once the main thread has bound it: a worker may still be starting, and
      // until it serves, the other takes every connection. Clients are opened until both have some.
      const deadline = Date.now() + 8000;
      while (new Set(where.values()).size < 2 && peers.length < 200 && Date.now() < deadline) {
        const p = await Peer.open(srv.port, "/ws");
        peers.push(p);
        where.set(p, await p.next("its worker's threadId"));
        if (peers.length % 10 === 0) await Bun.sleep(100);
      }
      const threads = new Set(where.values());
      expect({ workers: threads.size, clients: peers.length }).toEqual({ workers: 2, clients: peers.length });
      // a few more, so that each worker holds more than one
      for (let i = 0; i < 4; i++) {
        const p = await Peer.open(srv.port, "/ws");
        peers.push(p);
        where.set(p, await p.next("its worker's threadId"));
      }

      const res = (await (await fetch(`http://127.0.0.1:${srv.port}/publish?m=hello`)).json()) as { threadId: number; sent: number };
      expect(threads.has(String(res.threadId))).toBe(true);
      expect(res.sent).toBe(5); // the bytes of "hello": some subscriber of that worker got it
      for (const p of peers) expect(await p.next(`the publish on a client of worker ${where.get(p)}`)).toBe("hello");

      // ws.publish from a client of each worker
      for (const thread of threads) {
        const sender = peers.find((p) => where.get(p) === thread)!;
        sender.ws.send(`pub:from ${thread}`);
        for (const p of peers) if (p !== sender) expect(await p.next(`ws.publish from worker ${thread}`)).toBe(`from ${thread}`);
        await (await fetch(`http://127.0.0.1:${srv.port}/publish?m=marker`)).text();
        for (const p of peers) expect(await p.next("the marker")).toBe("marker"); // the sender's next message is this, not its own
      }
    } finally {
      for (const p of peers) p.ws.terminate();
      await srv.stop();
    }
  }, 20_000);
});
