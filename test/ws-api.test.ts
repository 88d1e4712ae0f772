/**
 * Bun's WebSocket API, side by side: test/ws/api-app.ts (and test/ws/hono-app.ts, Hono's
 * hono/bun helper) served by Bun.serve and by fasthttp in processes of their own, the same
 * scenario driven against each, and what the app observed (handler calls with their arguments,
 * the return values of its calls, from `GET /log?id=`) and what the client observed (the 101,
 * messages, pings, the close) compared.
 *
 * Bun.serve is the specification: each scenario asserts that fasthttp's observation equals
 * Bun's, and that Bun's is what Bun's documentation (bun-types' serve.d.ts) says, so neither
 * can pass by observing nothing. Where fasthttp differs on purpose, the scenario names a
 * {@link Difference}: fasthttp's observation made from Bun's, and why; then the test asserts
 * that fasthttp does what the difference says and that Bun still does otherwise.
 *
 * `WS_SIDES=bun` runs Bun's side alone (the documentation's expectations only); the default is
 * both. Every wait is bounded (3 s at most).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as net from "node:net";
import { join } from "node:path";
import WebSocket from "ws";
import { startWs, type WsServer, type WsSide } from "./helpers/ws-serve.ts";
import { sleep, until } from "./helpers/net.ts";

const SIDES = (process.env.WS_SIDES ?? "bun,fasthttp").split(",").map((s) => s.trim()) as WsSide[];
const API_APP = join(import.meta.dir, "ws", "api-app.ts");
const HONO_APP = join(import.meta.dir, "ws", "hono-app.ts");
const WAIT = 3000;

/** The `websocket` configs of test/ws/api-app.ts (its `WS_API_APP`), and the Hono app. */
type App = "default" | "tight" | "closing" | "none" | "hono";
const APPS: App[] = ["default", "tight", "closing", "none", "hono"];

/** What a scenario observed: plain JSON. */
type Observation = Record<string, unknown>;
/** One entry of the app's log: `[what, ...details]`. */
type Entry = [string, ...unknown[]];

/** A deliberate difference: fasthttp's observation made from Bun's, and the reason. */
interface Difference {
  why: string;
  fast: (bun: Observation) => Observation;
}

const servers = new Map<string, WsServer>();
const serverOf = (app: App, side: WsSide): WsServer => servers.get(`${app}:${side}`)!;

beforeAll(async () => {
  // Each server is kept as soon as it runs, so afterAll stops it even when another fails to start.
  const started = await Promise.allSettled(
    APPS.flatMap((app) =>
      SIDES.map(async (side) => {
        servers.set(`${app}:${side}`, await startWs(side, app === "hono" ? HONO_APP : API_APP, { env: { WS_API_APP: app } }));
      }),
    ),
  );
  const failed = started.find((r) => r.status === "rejected");
  if (failed !== undefined) throw failed.reason;
}, 30_000);

afterAll(async () => {
  await Promise.all([...servers.values()].map((s) => s.stop()));
});

// ---------------------------------------------------------------------------------------------
// Reading the app's log

async function logOf(port: number, id: string): Promise<Entry[]> {
  return (await (await fetch(`http://127.0.0.1:${port}/log?id=${encodeURIComponent(id)}`)).json()) as Entry[];
}

/** The app's log for `id` once `done` holds for it (or, after the bounded wait, as it is then). */
async function logWhen(port: number, id: string, done: (log: Entry[]) => boolean, ms = WAIT): Promise<Entry[]> {
  const end = Date.now() + ms;
  let log = await logOf(port, id);
  while (!done(log) && Date.now() < end) {
    await sleep(15);
    log = await logOf(port, id);
  }
  return log;
}

/** A `done` for {@link logWhen}: the log holds `n` entries named `what`. */
const has =
  (what: string, n = 1) =>
  (log: Entry[]): boolean =>
    log.filter((e) => e[0] === what).length >= n;

const entries = (log: Entry[], what: string): unknown[][] => log.filter((e) => e[0] === what).map((e) => e.slice(1));
const first = (log: Entry[], what: string): Record<string, unknown> => entries(log, what)[0]?.[0] as Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Clients

/** What a client saw of a frame's payload: text in full (up to 64 characters), bytes (up to 16). */
function payload(data: Buffer, isBinary: boolean): unknown {
  if (!isBinary) {
    const s = data.toString("utf8");
    return s.length <= 64 ? s : { length: s.length, head: s.slice(0, 8) };
  }
  return data.length <= 16 ? [...data] : { length: data.length, head: [...data.subarray(0, 4)] };
}

/** A `ws` client that records what it sees, in order. */
class Peer {
  readonly events: unknown[][] = [];
  /** The 101 (or the refusal) as the client read it: status, reason, headers (names lower-cased, sorted). */
  head: { status: number; reason: string; headers: [string, string][] } | undefined;
  body = "";
  closed = false;

  private constructor(readonly ws: WebSocket) {
    ws.on("upgrade", (res) => (this.head = headOf(res.statusCode ?? 0, res.statusMessage ?? "", res.rawHeaders)));
    ws.on("unexpected-response", (_req, res) => {
      this.head = headOf(res.statusCode ?? 0, res.statusMessage ?? "", res.rawHeaders);
      this.events.push(["refused", res.statusCode]);
      res.on("data", (d: Buffer) => (this.body += d.toString()));
      res.on("end", () => (this.closed = true));
      res.on("error", () => (this.closed = true));
    });
    ws.on("open", () => this.events.push(["open", ws.protocol]));
    ws.on("message", (data: Buffer, isBinary) => this.events.push(["message", isBinary ? "binary" : "text", payload(data, isBinary)]));
    ws.on("ping", (data: Buffer) => this.events.push(["ping", [...data]]));
    ws.on("pong", (data: Buffer) => this.events.push(["pong", [...data]]));
    ws.on("close", (code, reason) => {
      this.events.push(["close", code, reason.toString()]);
      this.closed = true;
    });
    ws.on("error", () => {
      // The close (or the refusal) that follows says what happened; error messages are ws's own.
      this.closed = true;
    });
  }

  /** Connects to `path` and waits (bounded) for the open or the refusal. */
  static async connect(port: number, path: string, protocols: string[] = []): Promise<Peer> {
    const peer = new Peer(new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols));
    await until(() => peer.head !== undefined && (peer.events.length > 0 || peer.closed), WAIT);
    return peer;
  }

  /** The messages seen: `[kind, payload]`. */
  messages(): unknown[][] {
    return this.events.filter((e) => e[0] === "message").map((e) => e.slice(1));
  }

  async waitMessages(n: number): Promise<void> {
    await until(() => this.messages().length >= n, WAIT);
  }

  async waitClosed(): Promise<void> {
    await until(() => this.closed, WAIT);
  }

  /** Ends the connection at once (a TCP drop) if it is still there. */
  drop(): void {
    if (!this.closed) this.ws.terminate();
  }
}

function headOf(status: number, reason: string, raw: string[]): { status: number; reason: string; headers: [string, string][] } {
  const headers: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    // Date changes and the accept key follows ws's random key (ws checks it: the open says it was right).
    const value = name === "date" ? "(a date)" : name === "sec-websocket-accept" ? "(checked by ws)" : raw[i + 1]!;
    headers.push([name, value]);
  }
  headers.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { status, reason, headers };
}

/** A raw TCP client: the bytes that arrive, and whether the connection ended. */
class Raw {
  received = Buffer.alloc(0);
  ended = false;

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (d: Buffer) => (this.received = Buffer.concat([this.received, d])));
    socket.on("end", () => (this.ended = true));
    socket.on("close", () => (this.ended = true));
    socket.on("error", () => (this.ended = true));
  }

  /** Connects; with `paused`, reads nothing until {@link resume}. */
  static async connect(port: number, paused = false): Promise<Raw> {
    const socket = net.connect({ port, host: "127.0.0.1" });
    if (paused) socket.pause();
    const raw = new Raw(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("error", reject);
    });
    return raw;
  }

  resume(): void {
    this.socket.resume();
  }

  /** The status line and the body of the first response (the body: what follows the head, as text). */
  response(): { statusLine: string; body: string } {
    const text = this.received.toString("latin1");
    const end = text.indexOf("\r\n\r\n");
    return { statusLine: text.slice(0, text.indexOf("\r\n")), body: end < 0 ? "" : text.slice(end + 4) };
  }
}

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
/** An upgrade request's head: by default as RFC 6455 §4.1 says; `lines` in place of its upgrade headers. */
const upgradeRequest = (
  path: string,
  lines = `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n`,
  version = "HTTP/1.1",
): string => `GET ${path} ${version}\r\nHost: 127.0.0.1\r\n${lines}\r\n`;

// ---------------------------------------------------------------------------------------------
// Scenarios

/** What a scenario is given: the server's port on this side, and ids for its connections (the same on both sides). */
interface Ctx {
  side: WsSide;
  port: number;
  id: (n?: number | string) => string;
}

interface ScenarioOptions {
  app?: App;
  differs?: Difference;
}

/**
 * A scenario: `run` on each side (at the same time), `docs` asserts Bun's observation is what
 * Bun's documentation says, and fasthttp's must equal Bun's (or what `differs` makes of it).
 */
function scenario(name: string, opts: ScenarioOptions, run: (ctx: Ctx) => Promise<Observation>, docs: (o: Observation) => void): void {
  const slug = name.replace(/[^a-z0-9]+/gi, "-").slice(0, 40);
  test(name, async () => {
    const seen = new Map<WsSide, Observation>();
    await Promise.all(
      SIDES.map(async (side) => {
        const server = serverOf(opts.app ?? "default", side);
        seen.set(side, await run({ side, port: server.port, id: (n = 0) => `${slug}-${n}` }));
      }),
    );
    const bun = seen.get("bun");
    const fast = seen.get("fasthttp");
    if (bun !== undefined) docs(bun);
    else if (fast !== undefined && opts.differs === undefined) docs(fast); // fasthttp alone: Bun's documented behaviour
    if (bun !== undefined && fast !== undefined) {
      if (opts.differs === undefined) {
        expect(fast).toEqual(bun);
      } else {
        expect(fast).toEqual(opts.differs.fast(bun));
        expect(bun).not.toEqual(fast);
      }
    }
  }, 15_000);
}

/** A client whose close the server's close handler has seen: opens, runs `drive`, closes (client-side) and waits for the server's close. */
async function session(
  ctx: Ctx,
  path: string,
  drive: (peer: Peer, id: string) => Promise<void>,
  opts: { n?: number | string; protocols?: string[]; wait?: (log: Entry[]) => boolean } = {},
): Promise<{ log: Entry[]; peer: Peer }> {
  const id = ctx.id(opts.n);
  const sep = path.includes("?") ? "&" : "?";
  const peer = await Peer.connect(ctx.port, `${path}${sep}id=${id}`, opts.protocols);
  await drive(peer, id);
  if (!peer.closed) peer.ws.close(1000);
  await peer.waitClosed();
  const log = await logWhen(ctx.port, id, opts.wait ?? has("close"));
  return { log, peer };
}

const OPEN_DATA = (id: string): Record<string, unknown> => ({
  dataType: "object",
  data: { id, count: 0 },
  sameData: true,
  readyState: 1,
  remoteAddress: "127.0.0.1",
  binaryType: "nodebuffer",
  pendingWebSockets: expect.any(Number),
});

describe("server.upgrade(request, { data, headers })", () => {
  scenario(
    "returns true; open gets data; the headers reach the 101; Sec-WebSocket-Protocol picks the subprotocol",
    {},
    async (ctx) => {
      const { log, peer } = await session(ctx, "/ws?proto=b&extra=1", async () => {}, { protocols: ["a", "b"] });
      return { id: ctx.id(), log, head: peer.head, client: peer.events };
    },
    (o) => {
      const log = o.log as Entry[];
      expect(entries(log, "upgrade returned")).toEqual([[true]]);
      expect(first(log, "open")).toEqual(OPEN_DATA(o.id as string));
      const head = o.head as { status: number; headers: [string, string][] };
      expect(head.status).toBe(101);
      expect(head.headers).toContainEqual(["x-extra", "yes"]);
      expect(head.headers).toContainEqual(["set-cookie", "s=1"]);
      expect(head.headers).toContainEqual(["sec-websocket-protocol", "b"]);
      expect(head.headers).toContainEqual(["upgrade", "websocket"]);
      expect(head.headers.some(([n]) => n === "sec-websocket-extensions")).toBe(false); // perMessageDeflate is off by default
      expect(o.client).toEqual([["open", "b"], ["close", 1000, ""]]);
      expect(entries(log, "close")[0]?.[0]).toMatchObject({ code: 1000, reason: "" });
    },
  );

  scenario(
    "open runs inside upgrade(): its entry comes before upgrade()'s return value",
    {},
    async (ctx) => {
      const { log } = await session(ctx, "/ws", async () => {});
      return { order: log.map((e) => e[0]) };
    },
    (o) => expect(o.order).toEqual(["open", "upgrade returned", "close"]),
  );

  scenario(
    "without Sec-WebSocket-Protocol in headers: the client's first protocol is answered; none offered, none answered",
    {},
    async (ctx) => {
      const offered = await session(ctx, "/ws", async () => {}, { n: 1, protocols: ["a", "b"] });
      const none = await session(ctx, "/ws", async () => {}, { n: 2 });
      const protocolHeader = (p: Peer) => p.head?.headers.filter(([n]) => n === "sec-websocket-protocol") ?? [];
      return { offered: [offered.peer.events[0], protocolHeader(offered.peer)], none: [none.peer.events[0], protocolHeader(none.peer)] };
    },
    (o) => {
      expect(o.offered).toEqual([["open", "a"], [["sec-websocket-protocol", "a"]]]);
      expect(o.none).toEqual([["open", ""], []]);
    },
  );

  scenario(
    "without data: ws.data is undefined",
    {},
    async (ctx) => {
      const { log } = await session(ctx, "/ws?data=none", async () => {});
      return { log };
    },
    (o) => {
      const open = first(o.log as Entry[], "open");
      expect(open).toMatchObject({ dataType: "undefined", data: null, sameData: false, readyState: 1 });
    },
  );

  scenario(
    "a plain GET: upgrade() returns false and the app's 400 reaches the client",
    {},
    async (ctx) => {
      const id = ctx.id();
      const res = await fetch(`http://127.0.0.1:${ctx.port}/ws?id=${id}`);
      return { status: res.status, body: await res.text(), log: await logOf(ctx.port, id) };
    },
    (o) => expect(o).toEqual({ status: 400, body: "not a WebSocket request", log: [["upgrade returned", false]] }),
  );

  /** Handshakes as RFC 6455 §4.2.1 has them, or not, and what upgrade() and the client see. */
  const K = `Sec-WebSocket-Key: ${KEY}\r\n`;
  const V = "Sec-WebSocket-Version: 13\r\n";
  const UC = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
  /** The app's own answer to a refused upgrade. */
  const REFUSED = { statusLine: "HTTP/1.1 400 Bad Request", body: "not a WebSocket request", log: [["upgrade returned", false]] };
  /** What RFC 6455 §4.2.1 requires where Bun.serve takes a handshake that lacks part of it. */
  const rfcHandshake = (part: string): Difference => ({
    why: `a handshake without ${part} is not a WebSocket opening handshake (RFC 6455 §4.2.1): upgrade() returns false; Bun.serve upgrades it`,
    fast: () => REFUSED,
  });
  const handshakes: { what: string; head: string; answer: "101" | "400" | "426"; differs?: Difference }[] = [
    { what: "with Upgrade: WebSocket and Connection: keep-alive, upgrade (tokens match in any case)", head: `Upgrade: WebSocket\r\nConnection: keep-alive, upgrade\r\n${K}${V}`, answer: "101" },
    { what: "without Sec-WebSocket-Key", head: `${UC}${V}`, answer: "400" },
    { what: "with a Sec-WebSocket-Key that is not 16 bytes", head: `${UC}Sec-WebSocket-Key: c2hvcnQ=\r\n${V}`, answer: "400" },
    { what: "with Upgrade: h2c", head: `Upgrade: h2c\r\nConnection: Upgrade\r\n${K}${V}`, answer: "400" },
    { what: "without Upgrade", head: `Connection: Upgrade\r\n${K}${V}`, answer: "400" },
    { what: "with Sec-WebSocket-Version: 8", head: `${UC}${K}Sec-WebSocket-Version: 8\r\n`, answer: "426" },
    { what: "without Sec-WebSocket-Version", head: `${UC}${K}`, answer: "426" },
    { what: "without Connection: Upgrade", head: `Upgrade: websocket\r\n${K}${V}`, answer: "101", differs: rfcHandshake("Connection: Upgrade") },
    { what: "in HTTP/1.0", head: `${UC}${K}${V}`, answer: "101", differs: rfcHandshake("HTTP/1.1") },
  ];
  for (const h of handshakes) {
    scenario(
      `a handshake ${h.what}: upgrade() returns ${h.answer === "101" ? "true" : "false"}${h.differs === undefined ? "" : " (fasthttp: false, RFC 6455 §4.2.1)"}`,
      { differs: h.differs },
      async (ctx) => {
        const id = ctx.id();
        const raw = await Raw.connect(ctx.port);
        raw.socket.write(upgradeRequest(`/ws?id=${id}`, h.head, h.what === "in HTTP/1.0" ? "HTTP/1.0" : "HTTP/1.1"));
        await until(() => raw.received.includes("\r\n\r\n"), WAIT);
        await sleep(30); // the rest of a body, if any
        raw.socket.destroy();
        const log = await logWhen(ctx.port, id, (l) => has("upgrade returned")(l) && (!has("open")(l) || has("close")(l)));
        return { ...raw.response(), log: log.filter((e) => e[0] === "upgrade returned") };
      },
      (o) => {
        if (h.answer === "101") {
          expect(o).toEqual({ statusLine: "HTTP/1.1 101 Switching Protocols", body: "", log: [["upgrade returned", true]] });
        } else if (h.answer === "426") {
          // Bun answers 426 with the version it speaks (RFC 6455 §4.4) in place of the app's answer.
          expect(o).toEqual({ statusLine: "HTTP/1.1 426 Upgrade Required", body: "", log: [["upgrade returned", false]] });
        } else {
          expect(o).toEqual(REFUSED);
        }
      },
    );
  }

  scenario(
    "upgrade() called twice: true, then false; the first data stays",
    {},
    async (ctx) => {
      const { log, peer } = await session(ctx, "/ws?twice=1", async () => {});
      return { log, client: peer.events };
    },
    (o) => {
      const log = o.log as Entry[];
      expect(entries(log, "upgrade returned")).toEqual([[true], [false]]);
      expect(entries(log, "open")).toHaveLength(1);
      expect(first(log, "open")).toMatchObject({ data: { count: 0 } });
      expect(o.client).toEqual([["open", ""], ["close", 1000, ""]]);
    },
  );

  scenario(
    "upgrade() of an upgrade request already answered: false, and nothing more reaches that client",
    {},
    async (ctx) => {
      const id = ctx.id();
      const raw = await Raw.connect(ctx.port);
      raw.socket.write(upgradeRequest(`/save?id=${id}`));
      await until(() => raw.received.includes("saved"), WAIT);
      const late = await (await fetch(`http://127.0.0.1:${ctx.port}/late?id=${id}`)).json();
      await sleep(50);
      const observed = { answer: raw.response(), late, log: await logOf(ctx.port, id) };
      raw.socket.destroy();
      return observed;
    },
    (o) => expect(o).toEqual({ answer: { statusLine: "HTTP/1.1 200 OK", body: "saved" }, late: false, log: [["upgrade returned", false]] }),
  );

  scenario(
    "upgrade() after an await in fetch",
    {},
    async (ctx) => {
      const { log, peer } = await session(ctx, "/ws?async=1", async () => {});
      return { log, client: peer.events };
    },
    (o) => {
      expect(entries(o.log as Entry[], "upgrade returned")).toEqual([[true]]);
      expect(o.client).toEqual([["open", ""], ["close", 1000, ""]]);
    },
  );

  scenario(
    "a Response returned after a successful upgrade is not sent: the connection is the WebSocket's",
    {},
    async (ctx) => {
      const id = ctx.id();
      const raw = await Raw.connect(ctx.port);
      raw.socket.write(upgradeRequest(`/ws?id=${id}&respond=1`));
      await until(() => raw.received.includes("\r\n\r\n"), WAIT);
      await sleep(50);
      const observed = { ...raw.response(), log: await logOf(ctx.port, id) };
      raw.socket.destroy();
      return observed;
    },
    (o) => {
      expect(o.statusLine).toBe("HTTP/1.1 101 Switching Protocols");
      expect(o.body).toBe("");
      expect(entries(o.log as Entry[], "upgrade returned")).toEqual([[true]]);
    },
  );

  scenario(
    "no websocket config: upgrade() throws a TypeError, for an upgrade request and for a plain GET",
    { app: "none" },
    async (ctx) => {
      const peer = await Peer.connect(ctx.port, `/ws?id=${ctx.id(1)}`);
      await peer.waitClosed();
      const plain = await fetch(`http://127.0.0.1:${ctx.port}/ws?id=${ctx.id(2)}`);
      return {
        upgrade: { client: peer.events, body: peer.body, log: await logOf(ctx.port, ctx.id(1)) },
        plain: { status: plain.status, body: await plain.text(), log: await logOf(ctx.port, ctx.id(2)) },
      };
    },
    (o) => {
      const threw = [["upgrade threw", "TypeError", true]];
      expect(o).toEqual({
        upgrade: { client: [["refused", 400]], body: "not a WebSocket request", log: threw },
        plain: { status: 400, body: "not a WebSocket request", log: threw },
      });
    },
  );
});

describe("handlers and the socket's state", () => {
  scenario(
    "server.pendingWebSockets counts the open WebSockets",
    { app: "tight" },
    async (ctx) => {
      const pending = async (): Promise<number> => (await (await fetch(`http://127.0.0.1:${ctx.port}/pending`)).json()) as number;
      const settle = async (n: number): Promise<number> => {
        let p = await pending();
        for (let i = 0; i < 100 && p !== n; i++, p = await pending()) await sleep(20);
        return p;
      };
      const before = await settle(0);
      const a = await Peer.connect(ctx.port, `/ws?id=${ctx.id(1)}`);
      const b = await Peer.connect(ctx.port, `/ws?id=${ctx.id(2)}`);
      const both = await pending();
      a.ws.close();
      await logWhen(ctx.port, ctx.id(1), has("close"));
      const one = await pending();
      b.ws.close();
      await logWhen(ctx.port, ctx.id(2), has("close"));
      const none = await settle(0);
      const inOpen = async (id: string) => first(await logOf(ctx.port, id), "open")?.pendingWebSockets;
      return { before, openA: await inOpen(ctx.id(1)), openB: await inOpen(ctx.id(2)), both, one, none };
    },
    (o) => expect(o).toEqual({ before: 0, openA: 1, openB: 2, both: 2, one: 1, none: 0 }),
  );

  scenario(
    "message(ws, msg): text is a string, binary a Buffer; fragments arrive as one message",
    {},
    async (ctx) => {
      const { log } = await session(ctx, "/ws", async (peer, id) => {
        peer.ws.send("hello");
        peer.ws.send(Buffer.from([1, 2, 3]));
        peer.ws.send("");
        peer.ws.send(Buffer.alloc(0));
        peer.ws.send("ab", { fin: false });
        peer.ws.send("cd", { fin: true });
        peer.ws.send(Buffer.alloc(100_000, 7));
        await logWhen(ctx.port, id, has("message", 6));
      });
      return { messages: entries(log, "message") };
    },
    (o) =>
      expect(o.messages).toEqual([
        [{ type: "string", length: 5, text: "hello" }],
        [{ type: "Buffer", isBuffer: true, byteLength: 3, bytes: [1, 2, 3] }],
        [{ type: "string", length: 0, text: "" }],
        [{ type: "Buffer", isBuffer: true, byteLength: 0, bytes: [] }],
        [{ type: "string", length: 4, text: "abcd" }],
        [{ type: "Buffer", isBuffer: true, byteLength: 100_000, bytes: Array(16).fill(7) }],
      ]),
  );

  scenario(
    "binaryType set in open decides the type of binary messages and of ping payloads",
    {},
    async (ctx) => {
      const out: Record<string, unknown> = {};
      for (const bt of ["nodebuffer", "arraybuffer", "uint8array", "blob"]) {
        const { log } = await session(
          ctx,
          `/ws?bt=${bt}`,
          async (peer, id) => {
            peer.ws.send(Buffer.from([7, 8, 9]));
            peer.ws.ping("p");
            await logWhen(ctx.port, id, (l) => has("message")(l) && has("ping")(l));
          },
          { n: bt },
        );
        out[bt] = log.filter((e) => ["binaryType", "message", "ping"].includes(e[0]));
      }
      return out;
    },
    (o) =>
      expect(o).toEqual({
        nodebuffer: [["binaryType", "nodebuffer"], ["message", { type: "Buffer", isBuffer: true, byteLength: 3, bytes: [7, 8, 9] }], ["ping", { type: "Buffer", isBuffer: true, byteLength: 1, bytes: [112] }]],
        arraybuffer: [["binaryType", "arraybuffer"], ["message", { type: "ArrayBuffer", isBuffer: false, byteLength: 3, bytes: [7, 8, 9] }], ["ping", { type: "ArrayBuffer", isBuffer: false, byteLength: 1, bytes: [112] }]],
        uint8array: [["binaryType", "uint8array"], ["message", { type: "Uint8Array", isBuffer: false, byteLength: 3, bytes: [7, 8, 9] }], ["ping", { type: "Uint8Array", isBuffer: false, byteLength: 1, bytes: [112] }]],
        blob: [["binaryType", "blob"], ["message", { type: "Blob", size: 3 }], ["ping", { type: "Blob", size: 1 }]],
      }),
  );

  scenario(
    "ping(ws, data) and pong(ws, data) get the client's payloads; the client's ping is answered with a pong",
    {},
    async (ctx) => {
      const { log, peer } = await session(ctx, "/ws", async (peer, id) => {
        peer.ws.ping("pp");
        peer.ws.pong("qq");
        await logWhen(ctx.port, id, (l) => has("ping")(l) && has("pong")(l));
        await until(() => peer.events.some((e) => e[0] === "pong"), WAIT);
      });
      return { server: log.filter((e) => e[0] === "ping" || e[0] === "pong"), client: peer.events };
    },
    (o) =>
      expect(o).toEqual({
        server: [
          ["ping", { type: "Buffer", isBuffer: true, byteLength: 2, bytes: [112, 112] }],
          ["pong", { type: "Buffer", isBuffer: true, byteLength: 2, bytes: [113, 113] }],
        ],
        client: [["open", ""], ["pong", [112, 112]], ["close", 1000, ""]],
      }),
  );

  scenario(
    "ws.data mutations persist across handlers, and every handler gets the same ws",
    {},
    async (ctx) => {
      const { log, peer } = await session(ctx, "/ws", async (peer) => {
        peer.ws.send("x");
        peer.ws.send("y");
        peer.ws.send("do:count");
        await peer.waitMessages(1);
      });
      return { count: first(log, "count"), close: first(log, "close"), client: peer.messages() };
    },
    (o) => {
      expect(o.count).toEqual({ count: 3, sameSocket: true });
      expect(o.close).toMatchObject({ count: 3, sameSocket: true });
      expect(o.client).toEqual([["text", "3"]]);
    },
  );

  scenario(
    "the socket's state in open, after close(), and in the close handler",
    {},
    async (ctx) => {
      const { log } = await session(ctx, "/ws?open=state", async () => {});
      return { state: first(log, "state"), close: first(log, "close") };
    },
    (o) => {
      expect(o.state).toEqual({ readyState: 1, remoteAddress: "127.0.0.1", binaryType: "nodebuffer", pending: expect.any(Number) });
      expect(o.close).toEqual({ code: 1000, reason: "", readyState: 3, subscriptions: [], send: 0, count: 0, sameSocket: true });
    },
  );

  scenario(
    "a handler that throws: error(error, ws) gets it and the connection stays open",
    {},
    async (ctx) => {
      const { log, peer } = await session(ctx, "/ws", async (peer, id) => {
        peer.ws.send("do:throw");
        await logWhen(ctx.port, id, has("error"));
        peer.ws.send("do:count");
        await peer.waitMessages(1);
      });
      return { log: log.filter((e) => e[0] !== "open"), client: peer.events };
    },
    (o) => {
      expect(entries(o.log as Entry[], "error")).toEqual([[{ message: "boom", readyState: 1 }]]);
      expect(o.client).toEqual([["open", ""], ["message", "text", "2"], ["close", 1000, ""]]);
    },
  );
});

describe("close(ws, code, reason) for each kind of close", () => {
  /** A close: what the client does (or tells the server to do), and what the close handler and the client see. */
  const closes: { what: string; drive: (peer: Peer) => void; handler: [number, string]; client: [number, string]; after?: unknown }[] = [
    { what: "the client closes with a code and a reason", drive: (p) => p.ws.close(4001, "cya"), handler: [4001, "cya"], client: [4001, "cya"] },
    { what: "the client closes without a code", drive: (p) => p.ws.close(), handler: [1005, ""], client: [1005, ""] },
    { what: "the client drops the TCP connection", drive: (p) => p.ws.terminate(), handler: [1006, ""], client: [1006, ""] },
    {
      what: "the server's ws.close(4000, 'bye')",
      drive: (p) => p.ws.send("do:close"),
      handler: [4000, "bye"],
      client: [4000, "bye"],
      after: ["after close", { readyState: 3, send: 0, subscribe: false }],
    },
    { what: "the server's ws.close()", drive: (p) => p.ws.send("do:close-default"), handler: [1000, ""], client: [1000, ""], after: ["after close", { readyState: 3 }] },
    { what: "the server's ws.close(1006): a close frame without a code", drive: (p) => p.ws.send("do:close-1006"), handler: [1006, ""], client: [1005, ""], after: ["after close", { readyState: 3 }] },
    {
      what: "the server's ws.close with a 200-byte reason: cut to 123 bytes at a character boundary",
      drive: (p) => p.ws.send("do:close-long"),
      handler: [4001, "\u00e9".repeat(61)],
      client: [4001, "\u00e9".repeat(61)],
      after: ["after close", { readyState: 3 }],
    },
    {
      what: "the server's ws.terminate()",
      drive: (p) => p.ws.send("do:terminate"),
      handler: [1006, ""],
      client: [1006, ""],
      after: ["after terminate", { readyState: 3, send: 0 }],
    },
  ];
  for (const c of closes) {
    scenario(
      c.what,
      {},
      async (ctx) => {
        const { log, peer } = await session(ctx, "/ws", async (peer) => {
          c.drive(peer);
          await peer.waitClosed();
        });
        return { log: log.filter((e) => e[0] !== "open"), client: peer.events };
      },
      (o) => {
        const log = o.log as Entry[];
        const close = first(log, "close");
        expect([close.code, close.reason]).toEqual(c.handler);
        expect(close).toMatchObject({ readyState: 3, subscriptions: [], send: 0 });
        expect(entries(log, "close")).toHaveLength(1);
        expect(o.client).toEqual([["open", ""], ["close", ...c.client]]);
        if (c.after !== undefined) {
          // The close handler runs inside close() / terminate(), before they return.
          const at = log.findIndex((e) => e[0] === "close");
          expect(log[at + 1]).toEqual(c.after as Entry);
        }
      },
    );
  }
});

describe("sending", () => {
  const SENT = {
    send: 2, sendText: 3, sendBinary: 3, arrayBuffer: 5, uint8Array: 6, buffer: 7, dataView: 8, view: 3, blob: 5, utf8: 6, empty: 0,
    medium: 200, large: 70_000, buffered: 0,
  };
  const RECEIVED = [
    ["text", "hi"], ["text", "hey"], ["binary", [1, 2, 3]], ["binary", [0, 0, 0, 0, 0]], ["binary", [0, 0, 0, 0, 0, 0]],
    ["binary", [...Buffer.from("buffer!")]], ["binary", [0, 0, 0, 0, 0, 0, 0, 0]], ["binary", [2, 3, 4]], ["binary", [...Buffer.from("blob!")]],
    ["text", "h\u00e9llo"], ["text", ""], ["text", { length: 200, head: "mmmmmmmm" }], ["text", { length: 70_000, head: "llllllll" }],
  ];

  scenario(
    "send/sendText/sendBinary return the payload's length in bytes, in open and in message",
    {},
    async (ctx) => {
      const { log, peer } = await session(ctx, "/ws?open=sends", async (peer) => {
        await peer.waitMessages(RECEIVED.length);
        peer.ws.send("do:sends");
        await peer.waitMessages(2 * RECEIVED.length);
      });
      return { sends: entries(log, "sends"), client: peer.messages() };
    },
    (o) => expect(o).toEqual({ sends: [[SENT], [SENT]], client: [...RECEIVED, ...RECEIVED] }),
  );

  scenario(
    "cork(cb) returns what cb returns; the sends inside arrive in order",
    {},
    async (ctx) => {
      const { log, peer } = await session(ctx, "/ws", async (peer) => {
        peer.ws.send("do:cork");
        await peer.waitMessages(3);
      });
      return { cork: first(log, "cork"), client: peer.messages() };
    },
    (o) =>
      expect(o).toEqual({
        cork: { returned: "corked", sameSocket: true, buffered: 0 },
        client: [["text", "c1"], ["text", "c2"], ["binary", [99, 51]]],
      }),
  );

  scenario(
    "ws.ping(data) and ws.pong(data) reach the client with their payloads; the client's pongs reach pong()",
    {},
    async (ctx) => {
      const { log, peer } = await session(ctx, "/ws", async (peer, id) => {
        peer.ws.send("do:ping");
        await until(() => peer.events.length >= 5, WAIT);
        await logWhen(ctx.port, id, has("pong", 3));
      });
      return { log: log.filter((e) => !["open", "upgrade returned", "message"].includes(e[0])), client: peer.events };
    },
    (o) =>
      expect(o).toEqual({
        log: [
          ["ping sent", { ping: 2, pong: 2, empty: 0, bytes: 3 }],
          ["pong", { type: "Buffer", isBuffer: true, byteLength: 2, bytes: [112, 100] }],
          ["pong", { type: "Buffer", isBuffer: true, byteLength: 0, bytes: [] }],
          ["pong", { type: "Buffer", isBuffer: true, byteLength: 3, bytes: [1, 2, 3] }],
          ["close", expect.objectContaining({ code: 1000 })],
        ],
        client: [["open", ""], ["ping", [112, 100]], ["pong", [113, 100]], ["ping", []], ["ping", [1, 2, 3]], ["close", 1000, ""]],
      }),
  );

  /** A flood's runs of return values as the kinds they are (how many the kernel took depends on its buffers). */
  const kinds = (log: Entry[]): unknown[] =>
    log.map((e) => {
      if (e[0] !== "flood") return e;
      const f = e[1] as { runs: [number, number][] };
      return ["flood", { ...f, runs: f.runs.map(([value]) => value) }];
    });

  scenario(
    "backpressure (backpressureLimit 1024): send returns bytes, then -1, then 0 (dropped); drain fires once the client reads",
    { app: "tight" },
    async (ctx) => {
      const id = ctx.id();
      const raw = await Raw.connect(ctx.port, true);
      raw.socket.write(upgradeRequest(`/ws?id=${id}&open=flood`));
      const before = await logWhen(ctx.port, id, has("under backpressure"));
      await sleep(50); // no drain while the client reads nothing
      const stalled = (await logOf(ctx.port, id)).map((e) => e[0]);
      raw.resume();
      const drained = await logWhen(ctx.port, id, has("drain"));
      await until(() => raw.received.includes("drained"), WAIT);
      const got = { received: raw.received.includes("drained"), ended: raw.ended };
      raw.socket.destroy();
      const log = await logWhen(ctx.port, id, has("close"));
      return { before: kinds(before).slice(1), stalled, drain: entries(drained, "drain"), got, close: first(log, "close") };
    },
    (o) => {
      expect(o.before).toEqual([
        ["flood", { runs: [65536, -1, 0], bufferedFirst: 0, bufferedLast: true, readyState: 1 }],
        ["under backpressure", { send: 0, sendText: 0, ping: 0, buffered: true }],
        ["upgrade returned", true],
      ]);
      expect(o.stalled).toEqual(["open", "flood", "under backpressure", "upgrade returned"]);
      expect(o.drain).toEqual([[{ buffered: 0, readyState: 1, send: 7 }]]);
      expect(o.got).toEqual({ received: true, ended: false });
      expect(o.close).toMatchObject({ code: 1006, reason: "" });
    },
  );

  scenario(
    "closeOnBackpressureLimit: the connection closes; close gets 1006",
    { app: "closing" },
    async (ctx) => {
      const id = ctx.id();
      const raw = await Raw.connect(ctx.port, true);
      raw.socket.write(upgradeRequest(`/ws?id=${id}&open=flood`));
      const log = await logWhen(ctx.port, id, has("close"));
      raw.resume();
      await until(() => raw.ended, WAIT);
      const got = { received: raw.received.length > 0, ended: raw.ended };
      raw.socket.destroy();
      return { log: kinds(log).slice(1), got };
    },
    (o) => {
      expect(o.log).toEqual([
        ["flood", { runs: [65536, -1, 0], bufferedFirst: 0, bufferedLast: true, readyState: 1 }],
        ["under backpressure", { send: 0, sendText: 0, ping: 0, buffered: true }],
        ["upgrade returned", true],
        ["close", { code: 1006, reason: "", readyState: 3, subscriptions: [], send: 0, count: 0, sameSocket: true }],
      ]);
      expect(o.got).toEqual({ received: true, ended: true });
    },
  );
});

describe("pub/sub", () => {
  scenario(
    "subscribe / unsubscribe / isSubscribed / subscriptions",
    {},
    async (ctx) => {
      const { log } = await session(ctx, "/ws", async (peer, id) => {
        peer.ws.send("do:subs");
        await logWhen(ctx.port, id, has("subs"));
      });
      return { subs: first(log, "subs"), close: first(log, "close") };
    },
    (o) => {
      expect(o.subs).toEqual([
        ["initial", []],
        ["subscribe a", true],
        ["subscribe b", true],
        ["subscribe a again", true],
        ["subscriptions", ["a", "b"], 2],
        ["isSubscribed a", true, "isSubscribed c", false],
        ["unsubscribe b", true],
        ["unsubscribe c", false],
        ["subscriptions", ["a"], "isSubscribed b", false],
        ["is an array", true, "fresh each time", true],
      ]);
      expect(o.close).toMatchObject({ subscriptions: [] }); // a closed socket is subscribed to nothing
    },
  );

  /** Opens subscribers of `topics` (one client each), waiting for each open. */
  async function subscribers(ctx: Ctx, topics: string[], base: number): Promise<Peer[]> {
    const peers: Peer[] = [];
    for (const [i, t] of topics.entries()) peers.push(await Peer.connect(ctx.port, `/ws?id=${ctx.id(base + i)}&topics=${t}`));
    return peers;
  }

  scenario(
    "ws.publish reaches the topic's other subscribers, not the sender (publishToSelf false)",
    {},
    async (ctx) => {
      const [a, b, c, d] = await subscribers(ctx, ["room", "room", "room", "other"], 0);
      a!.ws.send("do:publish");
      await Promise.all([b!.waitMessages(4), c!.waitMessages(4), a!.waitMessages(1)]);
      // d is not subscribed to room: the first message it gets is this one.
      await fetch(`http://127.0.0.1:${ctx.port}/publish?topic=other&msg=marker`);
      await d!.waitMessages(1);
      const published = first(await logOf(ctx.port, ctx.id(0)), "published");
      for (const p of [a, b, c, d]) p!.ws.close();
      await Promise.all([0, 1, 2, 3].map((i) => logWhen(ctx.port, ctx.id(i), has("close"))));
      return { published, a: a!.messages(), b: b!.messages(), c: c!.messages(), d: d!.messages() };
    },
    (o) => {
      const all = [["text", "hello"], ["text", "hi"], ["binary", [1, 2, 3, 4]], ["text", "abc"]];
      expect(o).toEqual({ published: { publish: 5, publishText: 2, publishBinary: 4, server: 3, subscriberCount: 3 }, a: [["text", "abc"]], b: all, c: all, d: [["text", "marker"]] });
    },
  );

  scenario(
    "publishToSelf: ws.publish reaches the sender too",
    { app: "tight" },
    async (ctx) => {
      const [a, b] = await subscribers(ctx, ["room", "room"], 0);
      a!.ws.send("do:publish");
      await Promise.all([a!.waitMessages(4), b!.waitMessages(4)]);
      const published = first(await logOf(ctx.port, ctx.id(0)), "published");
      for (const p of [a, b]) p!.ws.close();
      await Promise.all([0, 1].map((i) => logWhen(ctx.port, ctx.id(i), has("close"))));
      return { published, a: a!.messages(), b: b!.messages() };
    },
    (o) => {
      const all = [["text", "hello"], ["text", "hi"], ["binary", [1, 2, 3, 4]], ["text", "abc"]];
      expect(o).toEqual({ published: { publish: 5, publishText: 2, publishBinary: 4, server: 3, subscriberCount: 2 }, a: all, b: all });
    },
  );

  scenario(
    "ws.publish with no other subscriber returns 0",
    {},
    async (ctx) => {
      const { log } = await session(ctx, "/ws?topics=room", async (peer, id) => {
        peer.ws.send("do:publish");
        await logWhen(ctx.port, id, has("published"));
      });
      return { published: first(log, "published") };
    },
    (o) => expect(o.published).toEqual({ publish: 0, publishText: 0, publishBinary: 0, server: 3, subscriberCount: 1 }),
  );

  scenario(
    "server.publish and subscriberCount with 0, 1 and 3 subscribers; a closed socket is no longer one",
    {},
    async (ctx) => {
      const peers = await subscribers(ctx, ["three", "three", "three", "one"], 0);
      const publish = async (topic: string, msg: string) =>
        (await fetch(`http://127.0.0.1:${ctx.port}/publish?topic=${topic}&msg=${msg}`)).json();
      const none = await publish("nobody", "zz");
      const one = await publish("one", "to-one");
      const three = await publish("three", "to-three");
      await Promise.all(peers.map((p) => p.waitMessages(1)));
      peers[0]!.ws.close();
      const closed = first(await logWhen(ctx.port, ctx.id(0), has("close")), "close");
      const afterClose = await publish("three", "to-two");
      await Promise.all([peers[1]!.waitMessages(2), peers[2]!.waitMessages(2)]);
      for (const p of peers.slice(1)) p.ws.close();
      await Promise.all([1, 2, 3].map((i) => logWhen(ctx.port, ctx.id(i), has("close"))));
      return { none, one, three, closed: closed.subscriptions, afterClose, messages: peers.map((p) => p.messages()) };
    },
    (o) =>
      expect(o).toEqual({
        none: { count: 0, sent: 0 },
        one: { count: 1, sent: 6 },
        three: { count: 3, sent: 8 },
        closed: [],
        afterClose: { count: 2, sent: 6 },
        messages: [[["text", "to-three"]], [["text", "to-three"], ["text", "to-two"]], [["text", "to-three"], ["text", "to-two"]], [["text", "to-one"]]],
      }),
  );
});

describe("Hono's hono/bun WebSocket helper", () => {
  scenario(
    "upgradeWebSocket: onOpen, onMessage echoes, onClose; ws.raw is the ServerWebSocket",
    { app: "hono" },
    async (ctx) => {
      const { log, peer } = await session(
        ctx,
        "/ws",
        async (peer) => {
          peer.ws.send("hello");
          peer.ws.send(Buffer.from([1, 2, 3]));
          await peer.waitMessages(2);
        },
        { protocols: ["chat"], wait: has("onClose") },
      );
      return { log, client: peer.events };
    },
    (o) =>
      expect(o).toEqual({
        log: [
          ["onOpen", { raw: { readyState: 1, remoteAddress: "127.0.0.1", hasEvents: true, send: "function", publish: "function" }, protocol: "chat", path: "/ws" }],
          ["onMessage", { type: "string", length: 5, text: "hello" }],
          ["onMessage", { type: "ArrayBuffer", byteLength: 3, bytes: [1, 2, 3] }],
          ["onClose", { code: 1000, reason: "" }],
        ],
        client: [["open", "chat"], ["message", "text", "echo: hello"], ["message", "binary", [1, 2, 3]], ["close", 1000, ""]],
      }),
  );

  scenario(
    "a route that is not upgradeWebSocket's still answers over HTTP",
    { app: "hono" },
    async (ctx) => {
      const res = await fetch(`http://127.0.0.1:${ctx.port}/hello`);
      const plain = await fetch(`http://127.0.0.1:${ctx.port}/ws`);
      return { hello: [res.status, await res.text()], plain: [plain.status, await plain.text()] };
    },
    (o) => expect(o).toEqual({ hello: [200, "hi from hono"], plain: [426, "not a websocket"] }),
  );
});
