/**
 * WebSocket interop with clients no one here wrote: the `ws` npm package (8.23.0, the real
 * one: Bun replaces a bare `import "ws"` with its own client, so it is loaded by path) and
 * Python's `websockets` (Debian's python3-websockets), against test/ws/interop-app.ts served
 * by each server of WS_SIDES (default fasthttp; WS_SIDES=bun,fasthttp for both).
 *
 * Echo of text and binary from 0 B to 1 MiB, 1000 messages in order, fragmented messages,
 * ping/pong, closes from either side with codes and reasons, permessage-deflate with and
 * without context takeover, and pub/sub through a topic. What the server saw of each
 * connection (open, ping, close) is read from the app's log lines.
 *
 * The Python part is skipped, saying so, where no python3 with `websockets` is found
 * (.ci/run installs Debian's python3-websockets when it runs as root).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import type WS from "ws";
import net from "node:net";
import { join } from "node:path";
import { startWs, type WsServer, type WsSide } from "./helpers/ws-serve.ts";

const ROOT = join(import.meta.dir, "..");
const APP = join(import.meta.dir, "ws", "interop-app.ts");
const PY_CLIENT = join(import.meta.dir, "ws", "py_client.py");
const SIDES = (process.env.WS_SIDES ?? "fasthttp").split(",") as WsSide[];

/** The `ws` package itself, by path: `import WebSocket from "ws"` would give Bun's built-in client. */
const WebSocket = createRequire(import.meta.url)(join(ROOT, "node_modules", "ws", "index.js")) as typeof WS;
type Ws = WS;
const wsVersion = (createRequire(import.meta.url)(join(ROOT, "node_modules", "ws", "package.json")) as { version: string }).version;

/** A python3 that can import websockets, or null. */
const python = (() => {
  for (const candidate of ["/usr/bin/python3", Bun.which("python3")]) {
    if (!candidate) continue;
    const r = Bun.spawnSync([candidate, "-c", "import websockets"], { stdout: "ignore", stderr: "ignore", timeout: 10_000 });
    if (r.exitCode === 0) return candidate;
  }
  return null;
})();
const pyNote = python ? "" : " (SKIPPED: no python3 with the websockets package; apt-get install python3-websockets, as .ci/run does)";

const TIMEOUT_MS = 5000;

interface Message {
  data: Buffer;
  isBinary: boolean;
}

/** A `ws` client that queues what it receives. */
class Peer {
  readonly ws: Ws;
  /** The TCP socket under it, for the bytes on the wire. */
  socket: net.Socket | undefined;
  /** The server's Sec-WebSocket-Extensions answer (undefined when it sent none). */
  extensionsHeader: string | undefined;
  /** Errors the client reported (a protocol violation it saw, a reset). */
  readonly errors: Error[] = [];
  private queue: Message[] = [];
  private waiters: ((m: Message) => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;

  constructor(url: string, options: WS.ClientOptions = {}) {
    this.ws = new WebSocket(url, {
      ...options,
      createConnection: (opts: net.NetConnectOpts) => (this.socket = net.connect(opts)),
    } as WS.ClientOptions);
    this.ws.on("upgrade", (res) => {
      const h = res.headers["sec-websocket-extensions"];
      this.extensionsHeader = Array.isArray(h) ? h.join(", ") : h;
    });
    this.ws.on("message", (data: Buffer, isBinary: boolean) => {
      const m = { data, isBinary };
      const w = this.waiters.shift();
      if (w) w(m);
      else this.queue.push(m);
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
    });
    this.ws.on("error", (err) => this.errors.push(err)); // after the handshake: kept, and the close tells
    this.opened.catch(() => {}); // awaited by open(); an unawaited failure is in errors too
    this.closed = new Promise((resolve) => this.ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** Opens `path` on `server` and waits until the handshake is done. */
  static async open(server: WsServer, path: string, options?: WS.ClientOptions): Promise<Peer> {
    const p = new Peer(`ws://127.0.0.1:${server.port}${path}`, options);
    await within(p.opened, `the handshake on ${path}`);
    return p;
  }

  /** The next message (queued or to come). */
  next(what = "a message"): Promise<Message> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    return within(new Promise<Message>((resolve) => this.waiters.push(resolve)), what);
  }

  /** The next `n` messages. */
  async take(n: number, what = `${n} messages`): Promise<Message[]> {
    const out: Message[] = [];
    const end = Date.now() + TIMEOUT_MS * 2;
    while (out.length < n) out.push(await within(this.next(), `${what} (got ${out.length})`, Math.max(1, end - Date.now())));
    return out;
  }

  /** What has arrived and was not taken. */
  pending(): Message[] {
    return this.queue.splice(0);
  }
}

function within<T>(p: Promise<T>, what: string, ms = TIMEOUT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms))),
  ]);
}

/** The app's log lines (JSON objects) so far. */
function logOf(server: WsServer): Record<string, unknown>[] {
  return server
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Waits for a log line matching `pred`. */
async function logged(server: WsServer, pred: (e: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> {
  const end = Date.now() + TIMEOUT_MS;
  for (;;) {
    const hit = logOf(server).find(pred);
    if (hit) return hit;
    if (Date.now() > end) throw new Error(`the server did not log ${what}; its log: ${server.output()}`);
    await Bun.sleep(10);
  }
}

/** Exactly `size` bytes of UTF-8 with 1- to 4-byte code points. */
function textOf(size: number): string {
  return "aé€😀".repeat(Math.floor(size / 10)) + "a".repeat(size % 10);
}

/** The parameters of a Sec-WebSocket-Extensions value with one extension, as `ws` parses them. */
function extensionParams(header: string | undefined): { name: string; params: Record<string, string | true> } | null {
  if (header === undefined) return null;
  const [name, ...rest] = header.split(";").map((s) => s.trim());
  const params: Record<string, string | true> = {};
  for (const p of rest) {
    const [k, v] = p.split("=").map((s) => s.trim());
    params[k!] = v === undefined ? true : v.replace(/^"|"$/g, "");
  }
  return { name: name!, params };
}

const SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20];
/** perMessageDeflate variants of the app (WS_APP_DEFLATE). */
const DEFLATE_TRUE = "true";
const DEFLATE_DEDICATED = JSON.stringify({ compress: "dedicated", decompress: "dedicated" });

test("the ws client loaded is the npm package, not Bun's built-in one", () => {
  expect(wsVersion).toBe("8.23.0");
  expect(typeof (WebSocket as unknown as { PerMessageDeflate?: unknown }).PerMessageDeflate).toBe("function");
});

for (const side of SIDES) {
  describe(`WebSocket interop on ${side}`, () => {
    let plain: WsServer;
    let deflate: WsServer;
    let dedicated: WsServer;
    let toSelf: WsServer;
    const peers: Peer[] = [];
    const open = async (server: WsServer, path: string, options?: WS.ClientOptions) => {
      const p = await Peer.open(server, path, options);
      peers.push(p);
      return p;
    };

    beforeAll(async () => {
      // allSettled: a server that fails to start must not leave the others running (afterAll stops those that did).
      const started = await Promise.allSettled([
        startWs(side, APP),
        startWs(side, APP, { env: { WS_APP_DEFLATE: DEFLATE_TRUE } }),
        startWs(side, APP, { env: { WS_APP_DEFLATE: DEFLATE_DEDICATED } }),
        startWs(side, APP, { env: { WS_APP_PUBLISH_TO_SELF: "1" } }),
      ]);
      [plain, deflate, dedicated, toSelf] = started.map((r) => (r.status === "fulfilled" ? r.value : undefined)) as [WsServer, WsServer, WsServer, WsServer];
      const failed = started.find((r) => r.status === "rejected");
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    });

    afterAll(async () => {
      for (const p of peers) p.ws.terminate();
      await Promise.all([plain, deflate, dedicated, toSelf].map((s) => s?.stop()));
    });

    describe("ws client", () => {
      test("connects: 101, no extension unless offered, the server's open handler runs", async () => {
        const p = await open(plain, "/echo", { perMessageDeflate: false });
        expect(p.ws.readyState).toBe(WebSocket.OPEN);
        expect(p.ws.extensions).toBe("");
        expect(p.extensionsHeader).toBeUndefined();
        await logged(plain, (e) => e.event === "open" && e.path === "/echo", "the open");
        p.ws.close(1000);
        expect(await p.closed).toEqual({ code: 1000, reason: "" });
      });

      test("text echo, 0 B to 1 MiB, as text", async () => {
        const p = await open(plain, "/echo");
        for (const size of SIZES) {
          const sent = textOf(size);
          p.ws.send(sent);
          const got = await p.next(`the echo of ${size} B of text`);
          expect(got.isBinary).toBe(false);
          expect(got.data.length).toBe(size);
          expect(got.data.toString("utf8") === sent).toBe(true);
        }
        p.ws.close(1000);
        await p.closed;
      });

      test("binary echo, 0 B to 1 MiB, as binary", async () => {
        const p = await open(plain, "/echo");
        for (const size of SIZES) {
          const sent = randomBytes(size);
          p.ws.send(sent);
          const got = await p.next(`the echo of ${size} B of binary`);
          expect(got.isBinary).toBe(true);
          expect(got.data.length).toBe(size);
          expect(got.data.equals(sent)).toBe(true);
        }
        p.ws.close(1000);
        await p.closed;
      });

      test("1000 messages sent at once come back in order", async () => {
        const p = await open(plain, "/echo");
        const sent = Array.from({ length: 1000 }, (_, i) => `message ${i} ${"x".repeat(i % 50)}`);
        for (const m of sent) p.ws.send(m);
        const got = await p.take(1000, "1000 echoes");
        expect(got.map((m) => m.data.toString())).toEqual(sent);
        expect(got.every((m) => !m.isBinary)).toBe(true);
        p.ws.close(1000);
        await p.closed;
      });

      test("fragmented sends (fin: false, then fin: true) arrive as one message of the first frame's type", async () => {
        const p = await open(plain, "/echo");
        p.ws.send("frag-1 ", { fin: false });
        p.ws.send("frag-2 é ", { fin: false });
        p.ws.send("end", { fin: true });
        const bin = [randomBytes(100), randomBytes(70_000), randomBytes(3)];
        p.ws.send(bin[0]!, { fin: false, binary: true });
        p.ws.send(bin[1]!, { fin: false, binary: true });
        p.ws.send(bin[2]!, { fin: true, binary: true });
        const [text, binary] = await p.take(2, "the two reassembled messages");
        expect(text!.isBinary).toBe(false);
        expect(text!.data.toString()).toBe("frag-1 frag-2 é end");
        expect(binary!.isBinary).toBe(true);
        expect(binary!.data.equals(Buffer.concat(bin))).toBe(true);
        p.ws.close(1000);
        await p.closed;
      });

      test("ping with a payload: the pong carries it back, and the server's ping handler sees it", async () => {
        const p = await open(plain, "/echo");
        const payload = Buffer.from("ping from ws 8");
        const pong = within(new Promise<Buffer>((resolve) => p.ws.once("pong", resolve)), "the pong");
        p.ws.ping(payload);
        expect((await pong).equals(payload)).toBe(true);
        await logged(plain, (e) => e.event === "ping" && e.hex === payload.toString("hex"), "the ping");
        p.ws.close(1000);
        await p.closed;
      });

      test("the client closes with a code and a reason: the server's answer carries them back", async () => {
        const p = await open(plain, "/echo");
        p.ws.close(4000, "client says bye");
        expect(await p.closed).toEqual({ code: 4000, reason: "client says bye" });
        await logged(plain, (e) => e.event === "close" && e.code === 4000 && e.reason === "client says bye", "the close 4000");
      });

      test("the client closes without a code: the server sees 1005, and answers with an empty close", async () => {
        const p = await open(plain, "/echo?empty-close");
        p.ws.close();
        expect(await p.closed).toEqual({ code: 1005, reason: "" });
        await logged(plain, (e) => e.event === "close" && e.code === 1005 && e.reason === "", "the close 1005");
      });

      test("the server closes with a code and a reason the client sees", async () => {
        const p = await open(plain, `/close?code=4001&reason=${encodeURIComponent("server says bye ✓")}`);
        p.ws.send("close now");
        expect(await p.closed).toEqual({ code: 4001, reason: "server says bye ✓" });
        await logged(plain, (e) => e.event === "close" && e.path === "/close" && e.code === 4001, "its own close 4001");
      });

      test("a client that drops the TCP connection: the server's close handler sees 1006", async () => {
        const p = await open(plain, "/close?code=1000&reason=never");
        const closes1006 = () => logOf(plain).filter((e) => e.event === "close" && e.path === "/close" && e.code === 1006).length;
        const before = closes1006();
        p.ws.terminate();
        await logged(plain, () => closes1006() > before, "a close 1006");
      });
    });

    describe("ws client, permessage-deflate", () => {
      test("perMessageDeflate: true negotiates no context takeover either way, as Bun.serve does", async () => {
        const p = await open(deflate, "/echo", { perMessageDeflate: true });
        expect(p.ws.extensions).toBe("permessage-deflate");
        expect(extensionParams(p.extensionsHeader)).toEqual({
          name: "permessage-deflate",
          params: { client_no_context_takeover: true, server_no_context_takeover: true },
        });
        p.ws.close(1000);
        await p.closed;
      });

      test("a server without perMessageDeflate declines the offer", async () => {
        const p = await open(plain, "/echo", { perMessageDeflate: true });
        expect(p.ws.extensions).toBe("");
        expect(p.extensionsHeader).toBeUndefined();
        p.ws.close(1000);
        await p.closed;
      });

      test("64 KiB of compressible text: echoed whole, and compressed on the wire both ways", async () => {
        const p = await open(deflate, "/echo", { perMessageDeflate: { threshold: 0 } });
        const sent = Array.from({ length: 3000 }, (_, i) => `line ${i % 97}: the quick brown fox\n`).join("").slice(0, 64 * 1024);
        expect(sent.length).toBe(64 * 1024);
        const read0 = p.socket!.bytesRead;
        const written0 = p.socket!.bytesWritten;
        p.ws.send(sent);
        const got = await p.next("the echo");
        expect(got.isBinary).toBe(false);
        expect(got.data.toString() === sent).toBe(true);
        // Uncompressed, each way would be 64 KiB plus a header; deflated it is a few KiB.
        expect(p.socket!.bytesWritten - written0).toBeLessThan(sent.length / 4);
        expect(p.socket!.bytesRead - read0).toBeLessThan(sent.length / 4);
        // A binary one and an empty one too.
        const bin = Buffer.from(sent.repeat(2));
        p.ws.send(bin);
        p.ws.send("");
        const [b, e] = await p.take(2);
        expect(b!.isBinary).toBe(true);
        expect(b!.data.equals(bin)).toBe(true);
        expect(e!.isBinary).toBe(false);
        expect(e!.data.length).toBe(0);
        p.ws.close(1000);
        await p.closed;
      });

      test("200 messages without context takeover (perMessageDeflate: true): each one decompresses alone", async () => {
        const p = await open(deflate, "/echo", { perMessageDeflate: { threshold: 0 } });
        const sent = Array.from({ length: 200 }, (_, i) => `${i}: ${"compress me ".repeat(50 + (i % 7))}`);
        for (const m of sent) p.ws.send(m);
        const got = await p.take(200, "200 echoes");
        expect(got.map((m) => m.data.toString())).toEqual(sent);
        p.ws.close(1000);
        await p.closed;
      });

      test("context takeover ({ compress: 'dedicated', decompress: 'dedicated' }): no takeover parameters, and 200 alike messages cost a few bytes each", async () => {
        const p = await open(dedicated, "/echo", { perMessageDeflate: { threshold: 0 } });
        expect(p.ws.extensions).toBe("permessage-deflate");
        expect(extensionParams(p.extensionsHeader)).toEqual({ name: "permessage-deflate", params: {} });
        // 2 KiB of random base64: about 1.5 KiB deflated on its own, a back-reference of a
        // few bytes when the previous message is still in the window.
        const block = randomBytes(1536).toString("base64");
        const sent = Array.from({ length: 200 }, (_, i) => `${i} ${block}`);
        const read0 = p.socket!.bytesRead;
        const written0 = p.socket!.bytesWritten;
        for (const m of sent) p.ws.send(m);
        const got = await p.take(200, "200 echoes");
        expect(got.map((m) => m.data.toString())).toEqual(sent);
        const alone = 200 * 1024; // what 200 messages would cost deflated each alone, at least
        expect(p.socket!.bytesWritten - written0).toBeLessThan(alone / 4);
        expect(p.socket!.bytesRead - read0).toBeLessThan(alone / 4);
        p.ws.close(1000);
        await p.closed;
      });

      test("fragmented and compressed: one message", async () => {
        const p = await open(deflate, "/echo", { perMessageDeflate: { threshold: 0 } });
        const parts = ["alpha ".repeat(300), "beta ".repeat(300), "gamma"];
        p.ws.send(parts[0]!, { fin: false });
        p.ws.send(parts[1]!, { fin: false });
        p.ws.send(parts[2]!, { fin: true });
        const got = await p.next();
        expect(got.data.toString()).toBe(parts.join(""));
        p.ws.close(1000);
        await p.closed;
      });
    });

    describe("pub/sub through a topic, with ws clients", () => {
      /** Opens n clients on `path`, each once the server said it joined. */
      async function room(server: WsServer, path: string, n: number): Promise<Peer[]> {
        const ps = await Promise.all(Array.from({ length: n }, () => open(server, path)));
        for (const p of ps) expect((await p.next("joined")).data.toString()).toBe("joined");
        return ps;
      }

      test("ws.publish: 5 subscribers get it, the publisher does not", async () => {
        const [publisher, ...others] = await room(plain, "/room", 6);
        publisher!.ws.send("hello room");
        for (const p of others) {
          const m = await p.next("the published message");
          expect(m.isBinary).toBe(false);
          expect(m.data.toString()).toBe("hello room");
        }
        const bin = randomBytes(5000);
        publisher!.ws.send(bin);
        for (const p of others) {
          const m = await p.next("the binary one");
          expect(m.isBinary).toBe(true);
          expect(m.data.equals(bin)).toBe(true);
        }
        // Sent once every other subscriber has the binary one: had the publisher got either of its
        // own messages, they would arrive before this one. (Two connections' messages have no order
        // between them at the server, so "second" is sent only after the binary one was delivered.)
        others[0]!.ws.send("second");
        expect((await publisher!.next("the second message")).data.toString()).toBe("second");
        for (const p of others.slice(1)) expect((await p.next("the second message")).data.toString()).toBe("second");
        expect(publisher!.pending()).toEqual([]);
        expect(others[0]!.pending()).toEqual([]);
        for (const p of [publisher!, ...others]) p.ws.close(1000);
      });

      test("publishToSelf: the publisher gets its own message too", async () => {
        const ps = await room(toSelf, "/room", 5);
        ps[0]!.ws.send("to everyone, me too");
        for (const p of ps) expect((await p.next("the published message")).data.toString()).toBe("to everyone, me too");
        for (const p of ps) p.ws.close(1000);
      });

      test("server.publish reaches every subscriber, the sender too", async () => {
        const ps = await room(plain, "/room?via=server", 5);
        ps[2]!.ws.send("from the server");
        for (const p of ps) expect((await p.next("the published message")).data.toString()).toBe("from the server");
        for (const p of ps) p.ws.close(1000);
      });

      test("a subscriber that leaves is no longer published to; the others still are", async () => {
        const ps = await room(plain, "/room", 5);
        const leaving = ps.pop()!;
        leaving.ws.close(1000);
        await leaving.closed;
        await logged(plain, (e) => e.event === "close" && e.path === "/room" && e.code === 1000, "the subscriber's close");
        ps[0]!.ws.send("after one left");
        for (const p of ps.slice(1)) expect((await p.next()).data.toString()).toBe("after one left");
        for (const p of ps) p.ws.close(1000);
      });
    });

    describe("Python websockets client", () => {
      for (const [mode, which] of [
        ["none", () => plain],
        ["deflate", () => deflate],
      ] as const) {
        test.skipIf(!python)(
          `echo, ping and close with compression=${mode === "none" ? "None" : '"deflate"'}${pyNote}`,
          async () => {
            const server = which();
            const proc = Bun.spawn([python!, PY_CLIENT, `ws://127.0.0.1:${server.port}/echo`, mode], { stdout: "pipe", stderr: "pipe", timeout: 30_000 });
            const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
            expect(err).toBe("");
            expect(code).toBe(0);
            const r = JSON.parse(out) as {
              extensions: string | null;
              cases: { kind: string; size: number; gotType: string; sentSha: string; gotSha: string }[];
              pong: boolean;
              closeCode: number;
              closeReason: string;
            };
            expect(r.cases.length).toBe(2 * SIZES.length);
            for (const c of r.cases) {
              expect(SIZES).toContain(c.size);
              expect({ kind: c.kind, size: c.size, type: c.gotType, same: c.gotSha === c.sentSha }).toEqual({
                kind: c.kind,
                size: c.size,
                type: c.kind === "text" ? "str" : "bytes",
                same: true,
              });
            }
            expect(r.pong).toBe(true);
            expect({ code: r.closeCode, reason: r.closeReason }).toEqual({ code: 1000, reason: "py done" });
            if (mode === "none") expect(r.extensions).toBeNull();
            else {
              expect(extensionParams(r.extensions ?? undefined)).toEqual({
                name: "permessage-deflate",
                params: { client_no_context_takeover: true, server_no_context_takeover: true },
              });
            }
            await logged(server, (e) => e.event === "ping" && e.hex === Buffer.from("py-ping-payload").toString("hex"), "python's ping");
            await logged(server, (e) => e.event === "close" && e.code === 1000 && e.reason === "py done", "python's close");
          },
          40_000,
        );
      }
    });
  });
}
