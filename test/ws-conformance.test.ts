/**
 * WebSocket conformance (RFC 6455, RFC 7692), modelled on the case
 * descriptions of the Autobahn|Testsuite (sections 1-7, 9 scaled down, 10,
 * 12-13): each test names the case(s) it models. Autobahn's own client
 * needs Python 2, so this suite drives a raw-socket client of its own
 * (test/helpers/wsclient.ts) against an echo app (test/ws/echo-app.ts,
 * test/ws/echo-deflate-app.ts) served by fasthttp or by Bun.serve, unchanged.
 *
 * Which servers: WS_SIDES (comma-separated, "fasthttp" unless set), e.g.
 * `WS_SIDES=bun bun test test/ws-conformance.test.ts` for Bun.serve. Where
 * our rule deliberately differs from what Bun.serve does, the case is marked
 * rfcOnly: on Bun it is reported as a todo whose name says what Bun does
 * (observed), and it runs on fasthttp.
 *
 * Failure cases check the close code, that the server's TCP close follows
 * its close frame, and that the server still serves a new connection.
 * Every wait is bounded; nothing here asserts timing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { MAX_PAYLOAD } from "./ws/echo-app.ts";
import { bytesOf } from "./helpers/upload-server.ts";
import { startWs, type WsServer, type WsSide } from "./helpers/ws-serve.ts";
import {
  acceptFor,
  bytes,
  closeBody,
  concatBytes,
  describeFrame,
  encodeFrame,
  fragmentFrames,
  framesOfSize,
  hex,
  OP,
  parseDeflateAnswer,
  preview,
  RSV1,
  sameBytes,
  text,
  upgradeRequest,
  WsClient,
  type ConnectOptions,
  type Frame,
  type FrameSpec,
  type Message,
  type WriteOptions,
} from "./helpers/wsclient.ts";

const SIDES = (process.env.WS_SIDES ?? "fasthttp").split(",").map((s) => s.trim()) as WsSide[];
const ECHO_APP = join(import.meta.dir, "ws", "echo-app.ts");
const DEFLATE_APP = join(import.meta.dir, "ws", "echo-deflate-app.ts");

// ---------------------------------------------------------------------------------------------
// Payloads

/** Printable ASCII text of `n` bytes (Autobahn's filler, repeated). */
function textOf(n: number): Uint8Array {
  const unit = "BAsd7&jh23";
  return bytes(unit.repeat(Math.ceil(n / unit.length)).slice(0, n));
}

/** `n` bytes of a fixed pseudo-random sequence (the upload tests' xorshift32 from `seed`): every byte value occurs. */
function binaryOf(n: number, seed = 0x9e3779b9): Uint8Array {
  return bytesOf(n, seed);
}

/** Compressible JSON-like text, as Autobahn's 12.x/13.x json data: `n` bytes from offset `at`. */
const JSON_CORPUS = JSON.stringify(
  Array.from({ length: 4000 }, (_, i) => ({ id: i, name: `item-${i % 53}`, tags: ["alpha", "beta", "gamma"].slice(0, 1 + (i % 3)), value: (i * 7919) % 1000 })),
);
function jsonOf(n: number, at: number): Uint8Array {
  let s = "";
  let from = at % JSON_CORPUS.length;
  while (s.length < n) {
    s += JSON_CORPUS.slice(from, from + (n - s.length));
    from = 0;
  }
  return bytes(s);
}

// ---------------------------------------------------------------------------------------------
// The UTF-8 samples of Autobahn 6.5-6.23 (from Markus Kuhn's UTF-8-test.txt): [valid, bytes]

type Utf8Sample = [boolean, Uint8Array];
const KOSME = hex("ce ba e1 bd b9 cf 83 ce bc ce b5"); // κόσμε

/** Whether `b` is valid UTF-8 (RFC 3629), by the platform's fatal decoder. */
function isUtf8(b: Uint8Array): boolean {
  try {
    text(b);
    return true;
  } catch {
    return false;
  }
}

function utf8Categories(): [string, string, Utf8Sample[]][] {
  const v = (h: string): Utf8Sample => [true, hex(h)];
  const x = (h: string): Utf8Sample => [false, hex(h)];
  const lonely: Utf8Sample[] = [];
  for (const [lo, hi] of [[0xc0, 0xdf], [0xe0, 0xef], [0xf0, 0xf7], [0xf8, 0xfb], [0xfc, 0xfd]] as const) {
    const s: number[] = [];
    for (let c = lo; c < hi; c++) s.push(c, 0x20);
    lonely.push([false, new Uint8Array(s)]);
  }
  const missing = ["c0", "e0 80", "f0 80 80", "f8 80 80 80", "fc 80 80 80 80", "df", "ef bf", "f7 bf bf", "fb bf bf bf", "fd bf bf bf bf"];
  const continuation = new Uint8Array(0xbf - 0x80).map((_, i) => 0x80 + i);
  const nonChars: Utf8Sample[] = [v("ef bf be"), v("ef bf bf")];
  for (const z1 of [0xf0, 0xf1, 0xf2, 0xf3, 0xf4]) {
    for (const z2 of [0x8f, 0x9f, 0xaf, 0xbf]) {
      if (z1 === 0xf4 && z2 !== 0x8f) continue; // above U+10FFFF
      for (const z3 of [0xbe, 0xbf]) {
        if (z1 === 0xf0 && z2 === 0x8f) continue; // overlong
        nonChars.push([true, new Uint8Array([z1, z2, 0xbf, z3])]);
      }
    }
  }
  const surrogates = ["ed a0 80", "ed ad bf", "ed ae 80", "ed af bf", "ed b0 80", "ed be 80", "ed bf bf"];
  const highs = ["ed a0 80", "ed ad bf", "ed ae 80", "ed af bf"];
  const lows = ["ed b0 80", "ed bf bf"];
  return [
    ["6.5", "some valid UTF-8 sequences", [v("68656c6c6f 24 776f726c64"), v("68656c6c6f c2a2 776f726c64"), v("68656c6c6f e282ac 776f726c64"), v("68656c6c6f f0a4ada2 776f726c64"), [true, KOSME]]],
    ["6.6", "all prefixes of a valid string with multi-byte code points", Array.from({ length: KOSME.length }, (_, i): Utf8Sample => [isUtf8(KOSME.subarray(0, i + 1)), KOSME.slice(0, i + 1)])],
    ["6.7", "the first code point of each length", [v("00"), v("c2 80"), v("e0 a0 80"), v("f0 90 80 80")]],
    ["6.8", "5- and 6-byte sequences (not UTF-8)", [x("f8 88 80 80 80"), x("fc 84 80 80 80 80")]],
    ["6.9", "the last code point of each length", [v("7f"), v("df bf"), v("ef bf bf"), v("f4 8f bf bf")]],
    ["6.10", "the last 4/5/6-byte forms (above U+10FFFF)", [x("f7 bf bf bf"), x("fb bf bf bf bf"), x("fd bf bf bf bf bf")]],
    ["6.11", "other boundary conditions", [v("ed 9f bf"), v("ee 80 80"), v("ef bf bd"), v("f4 8f bf bf"), x("f4 90 80 80")]],
    ["6.12", "unexpected continuation bytes", [x("80"), x("bf"), x("80 bf"), x("80 bf 80"), x("80 bf 80 bf"), x("80 bf 80 bf 80"), x("80 bf 80 bf 80 bf"), [false, continuation]]],
    ["6.13", "lonely start bytes", lonely],
    ["6.14", "sequences with the last continuation byte missing", missing.map(x)],
    ["6.15", "concatenated incomplete sequences", [x(missing.join(""))]],
    ["6.16", "impossible bytes", [x("fe"), x("ff"), x("fe fe ff ff")]],
    ["6.17", "overlong ASCII", [x("c0 af"), x("e0 80 af"), x("f0 80 80 af"), x("f8 80 80 80 af"), x("fc 80 80 80 80 af")]],
    ["6.18", "maximum overlong sequences", [x("c1 bf"), x("e0 9f bf"), x("f0 8f bf bf"), x("f8 87 bf bf bf"), x("fc 83 bf bf bf bf")]],
    ["6.19", "overlong NUL", [x("c0 80"), x("e0 80 80"), x("f0 80 80 80"), x("f8 80 80 80 80"), x("fc 80 80 80 80 80")]],
    ["6.20", "single UTF-16 surrogates", surrogates.map(x)],
    ["6.21", "paired UTF-16 surrogates", highs.flatMap((h) => lows.map((l) => x(h + l)))],
    ["6.22", "non-character code points (valid UTF-8)", nonChars],
    ["6.23", "Unicode specials", ["ef bf b9", "ef bf ba", "ef bf bb", "ef bf bc", "ef bf bd", "ef bf be", "ef bf bf"].map(v)],
  ];
}

// ---------------------------------------------------------------------------------------------
// The harness: one server per side per describe

interface Ctx {
  side: WsSide;
  port(): number;
  /** A handshaken connection (closed after the test). */
  connect(opts?: ConnectOptions): Promise<WsClient>;
  /** A connection that sent `request` and read the response head (closed after the test). */
  open(request: Uint8Array): Promise<WsClient>;
  /** A case that holds on both servers. */
  test(name: string, fn: () => Promise<void>): void;
  /**
   * A case where our rule differs from Bun.serve's behaviour: on Bun a todo whose name says
   * what Bun does (`bunDoes`, observed), on fasthttp a test.
   */
  rfcOnly(name: string, bunDoes: string, fn: () => Promise<void>): void;
  /** Asserts the server still serves: a new connection echoes a message and closes cleanly. */
  stillUp(): Promise<void>;
}

function serverSuite(side: WsSide, title: string, app: string, body: (ctx: Ctx) => void): void {
  describe(`${side}: ${title}`, () => {
    let server: WsServer | undefined;
    const clients: WsClient[] = [];
    beforeAll(async () => {
      server = await startWs(side, app);
    });
    afterAll(async () => {
      await server?.stop();
    });
    afterEach(() => {
      for (const c of clients.splice(0)) c.destroy();
    });
    const port = () => {
      if (server === undefined) throw new Error(`the ${side} server did not start`);
      return server.port;
    };
    const track = (c: WsClient) => {
      clients.push(c);
      return c;
    };
    const ctx: Ctx = {
      side,
      port,
      connect: async (opts) => track(await WsClient.connect(port(), opts)),
      open: async (request) => track(await WsClient.open(port(), request)),
      test: (name, fn) => test(name, fn),
      rfcOnly: (name, bunDoes, fn) => {
        if (side === "bun") test.todo(`${name} [Bun.serve differs: ${bunDoes}]`, fn);
        else test(name, fn);
      },
      stillUp: async () => {
        const ws = track(await WsClient.connect(port()));
        const probe = bytes(`still up ${Date.now()}`);
        await ws.sendText(probe);
        await expectEcho(ws, OP.TEXT, probe);
        const close = await ws.close(1000);
        expect(close.code).toBe(1000);
        expect(await ws.waitEnd()).toBe("fin");
      },
    };
    body(ctx);
  });
}

// ---------------------------------------------------------------------------------------------
// Assertions

function expectSame(got: Uint8Array, want: Uint8Array): void {
  expect(got.length).toBe(want.length);
  if (want.length <= 512) expect(Buffer.from(got).toString("hex")).toBe(Buffer.from(want).toString("hex"));
  else if (!sameBytes(got, want)) {
    const at = got.findIndex((b, i) => b !== want[i]);
    throw new Error(`the echo differs from what was sent at byte ${at} of ${want.length}`);
  }
}

/** Server frames are never masked (RFC 6455 §5.1). */
function expectServerFrames(frames: Frame[], rsv = 0): void {
  for (const f of frames) {
    expect(f.masked).toBe(false);
    expect(f.rsv).toBe(rsv);
  }
}

/** The next message is `data` as `opcode`, uncompressed. */
async function expectEcho(ws: WsClient, opcode: number, data: Uint8Array, ms?: number): Promise<Message> {
  const m = await ws.readMessage(ms);
  expect(m.opcode).toBe(opcode);
  expect(m.compressed).toBe(false);
  expectServerFrames(m.frames);
  expectSame(m.data, data);
  return m;
}

/** The next frame is a pong carrying `payload`. */
async function expectPong(ws: WsClient, payload: Uint8Array): Promise<void> {
  const f = await ws.frame();
  expect(describeFrame(f)).toBe(describeFrame({ fin: true, rsv: 0, opcode: OP.PONG, masked: false, payload }));
  expectServerFrames([f]);
  expectSame(f.payload, payload);
}

/**
 * The server fails the connection with `code`: its close frame comes (after the frames returned,
 * which the caller checks), and its TCP close follows, without waiting for the client.
 */
async function expectFailure(ws: WsClient, code: number): Promise<Frame[]> {
  const close = await ws.readClose();
  expect(close.code).toBe(code);
  expectServerFrames([close.frame]);
  // Its reason, if any, is UTF-8 (§5.5.1).
  text(close.reason);
  // Nothing after the close frame; then the TCP connection ends (FIN, or a reset when the
  // server closed with unread bytes from the client).
  expect(await ws.readFrame()).toBeNull();
  return close.before;
}

/** After the client's close, the server's close came: nothing follows it and the server closes TCP (FIN). */
async function expectCleanEnd(ws: WsClient): Promise<void> {
  expect(await ws.readFrame()).toBeNull();
  expect(ws.ended).toBe("fin");
}

/** Sends `frames` (as `opts` says) and expects the connection to fail with `code` and no frame before. */
async function sendExpectingFailure(ctx: Ctx, frames: FrameSpec[], code: number, opts?: WriteOptions): Promise<void> {
  const ws = await ctx.connect();
  await ws.send(frames, opts);
  expect((await expectFailure(ws, code)).map(describeFrame)).toEqual([]);
  await ctx.stillUp();
}

const ONE_BYTE: WriteOptions = { chunk: 1 };
const PING_SENTINEL = bytes("sentinel");

// ---------------------------------------------------------------------------------------------

for (const side of SIDES) {
  serverSuite(side, "the opening handshake (RFC 6455 §4.2, RFC 9110 §7.8)", ECHO_APP, (ctx) => {
    ctx.test("4.2.1 a valid request gets 101 with Upgrade, Connection and the right Sec-WebSocket-Accept", async () => {
      // RFC 6455 §1.3's own example key and answer.
      expect(acceptFor("dGhlIHNhbXBsZSBub25jZQ==")).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
      const ws = await ctx.open(upgradeRequest({ key: "dGhlIHNhbXBsZSBub25jZQ==" }).request);
      const res = ws.response;
      expect(res.statusLine).toStartWith("HTTP/1.1 101");
      expect(res.get("upgrade")?.toLowerCase()).toBe("websocket");
      expect(res.get("connection")?.toLowerCase()).toBe("upgrade");
      expect(res.get("sec-websocket-accept")).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
      // No extension the client did not offer; no body.
      expect(res.get("sec-websocket-extensions")).toBeUndefined();
      expect(res.get("content-length")).toBeUndefined();
      expect(res.get("transfer-encoding")).toBeUndefined();
      const data = bytes("after the handshake");
      await ws.sendText(data);
      await expectEcho(ws, OP.TEXT, data);
    });

    ctx.test("4.2.1 header names and the tokens are case-insensitive; Connection may list other tokens", async () => {
      const { request, key } = upgradeRequest({ headers: { upgrade: "WebSocket", connection: "keep-alive, UPGRADE", "sec-websocket-version": "13" } });
      const ws = await ctx.open(request);
      expect(ws.response.status).toBe(101);
      expect(ws.response.get("sec-websocket-accept")).toBe(acceptFor(key));
      await ws.sendText("ok");
      await expectEcho(ws, OP.TEXT, bytes("ok"));
    });

    const refused: [string, Parameters<typeof upgradeRequest>[0]][] = [
      ["no Sec-WebSocket-Key", { headers: { "Sec-WebSocket-Key": undefined } }],
      ["a key of 3 bytes (AAAA)", { key: "AAAA" }],
      ["a key of 15 bytes", { key: Buffer.alloc(15, 7).toString("base64") }],
      ["a key of 17 bytes", { key: Buffer.alloc(17, 7).toString("base64") }],
      ["a key that is not base64", { key: "!!!!!!!!!!!!!!!!!!!!!!==" }],
      ["method POST", { method: "POST", headers: { "Content-Length": "0" } }],
      ["no Upgrade header", { headers: { Upgrade: undefined } }],
      ["Upgrade: h2c", { headers: { Upgrade: "h2c" } }],
    ];
    for (const [what, opts] of refused) {
      ctx.test(`4.2.1 not upgraded: ${what} (the app answers 400)`, async () => {
        const ws = await ctx.open(upgradeRequest(opts).request);
        expect(ws.response.status).toBe(400);
        expect(ws.response.get("sec-websocket-accept")).toBeUndefined();
        await ctx.stillUp();
      });
    }

    ctx.rfcOnly(
      "4.2.1 not upgraded: Connection: keep-alive without the upgrade token",
      "it answers 101 and upgrades (observed: Connection is not checked)",
      async () => {
        const ws = await ctx.open(upgradeRequest({ headers: { Connection: "keep-alive" } }).request);
        expect(ws.response.status).toBe(400);
        await ctx.stillUp();
      },
    );

    ctx.rfcOnly(
      "4.2.1 not upgraded: an HTTP/1.0 request",
      "it answers HTTP/1.1 101 and upgrades (observed)",
      async () => {
        const ws = await ctx.open(upgradeRequest({ version: "HTTP/1.0" }).request);
        expect(ws.response.status).not.toBe(101);
        expect(ws.response.get("sec-websocket-accept")).toBeUndefined();
        await ctx.stillUp();
      },
    );

    ctx.test("4.2.2 Sec-WebSocket-Version: 8 gets 426 with Sec-WebSocket-Version: 13", async () => {
      const ws = await ctx.open(upgradeRequest({ headers: { "Sec-WebSocket-Version": "8" } }).request);
      expect(ws.response.status).toBe(426);
      expect(ws.response.get("sec-websocket-version")).toBe("13");
      expect(ws.response.get("sec-websocket-accept")).toBeUndefined();
      await ctx.stillUp();
    });
  });

  serverSuite(side, "1 framing", ECHO_APP, (ctx) => {
    const sizes = [0, 125, 126, 127, 128, 65535, 65536];
    for (const [kind, opcode, make] of [["text", OP.TEXT, textOf], ["binary", OP.BINARY, binaryOf]] as const) {
      const section = opcode === OP.TEXT ? "1.1" : "1.2";
      sizes.forEach((n, i) => {
        const chop = n <= 128 ? 1 : 997;
        ctx.test(`${section}.${i + 1} ${kind} of ${n} bytes echoed exactly: in one write, then in ${chop}-byte writes`, async () => {
          const ws = await ctx.connect();
          const data = make(n);
          await ws.send({ opcode, payload: data });
          await expectEcho(ws, opcode, data);
          await ws.send({ opcode, payload: data }, { chunk: chop });
          await expectEcho(ws, opcode, data);
          expect((await ws.close(1000)).code).toBe(1000);
          await expectCleanEnd(ws);
        });
      });
      ctx.test(`${section}.8 ${kind} of 1 MiB - 1 byte echoed exactly, in writes of 997 then 65535+13 bytes`, async () => {
        const ws = await ctx.connect();
        const data = make(MAX_PAYLOAD - 1);
        await ws.send({ opcode, payload: data }, { chunk: [997, 65548] });
        await expectEcho(ws, opcode, data);
      });
    }

    ctx.test("1.x a 16-bit and a 64-bit length for small payloads (non-minimal forms) still frame correctly, or fail with 1002", async () => {
      // RFC 6455 §5.2 says the minimal form MUST be used but gives no error for it: a server
      // may read it or fail with 1002; anything else is a framing bug.
      const ws = await ctx.connect();
      const data = bytes("non-minimal");
      await ws.send([{ opcode: OP.TEXT, payload: data, lengthForm: 16 }, { opcode: OP.TEXT, payload: data, lengthForm: 64 }]);
      const f = await ws.frame();
      if (f.opcode === OP.CLOSE) {
        expect((f.payload[0]! << 8) | f.payload[1]!).toBe(1002);
      } else {
        expect(f.opcode).toBe(OP.TEXT);
        expectSame(f.payload, data);
        await expectEcho(ws, OP.TEXT, data);
      }
      await ctx.stillUp();
    });

    ctx.test("5.2 an unmasked client frame fails with 1002", async () => {
      await sendExpectingFailure(ctx, [{ opcode: OP.TEXT, payload: "unmasked", mask: false }], 1002);
    });
  });

  serverSuite(side, "2 pings and pongs", ECHO_APP, (ctx) => {
    const pongCases: [string, Uint8Array, WriteOptions | undefined][] = [
      ["2.1 a ping without payload gets an empty pong", new Uint8Array(0), undefined],
      ["2.2 a ping with a small text payload gets a pong with it", bytes("Hello, world!"), undefined],
      ["2.3 a ping with a binary payload gets a pong with it", hex("00 ff fe fd fc fb 00 ff"), undefined],
      ["2.4 a ping of 125 bytes gets a pong with them", binaryOf(125), undefined],
      ["2.6 a ping of 125 bytes sent one byte at a time gets a pong with them", binaryOf(125, 7), ONE_BYTE],
    ];
    for (const [name, payload, opts] of pongCases) {
      ctx.test(name, async () => {
        const ws = await ctx.connect();
        await ws.send({ opcode: OP.PING, payload }, opts);
        await expectPong(ws, payload);
        expect((await ws.close(1000)).code).toBe(1000);
        await expectCleanEnd(ws);
      });
    }

    ctx.test("2.5 a ping of 126 bytes fails with 1002", async () => {
      await sendExpectingFailure(ctx, [{ opcode: OP.PING, payload: binaryOf(126) }], 1002);
    });

    ctx.test("2.7 2.8 2.9 unsolicited pongs (empty, with payload) get nothing; the ping after them gets its pong", async () => {
      const ws = await ctx.connect();
      await ws.send([
        { opcode: OP.PONG },
        { opcode: OP.PONG, payload: "unsolicited pong payload" },
        { opcode: OP.PING, payload: PING_SENTINEL },
      ]);
      await expectPong(ws, PING_SENTINEL);
      expect((await ws.close(1000)).before).toEqual([]);
      await expectCleanEnd(ws);
    });

    for (const [name, opts] of [["2.10 10 pings in a row", undefined], ["2.11 10 pings in a row, one byte at a time", ONE_BYTE]] as const) {
      ctx.test(`${name} get 10 pongs in order`, async () => {
        const ws = await ctx.connect();
        const payloads = Array.from({ length: 10 }, (_, i) => bytes(`payload-${i}`));
        await ws.send(payloads.map((payload) => ({ opcode: OP.PING, payload })), opts);
        for (const p of payloads) await expectPong(ws, p);
        expect((await ws.close(1000)).before).toEqual([]);
      });
    }
  });

  serverSuite(side, "3 reserved bits", ECHO_APP, (ctx) => {
    ctx.test("3.1 a text frame with RSV = 1 (RSV3) fails with 1002", async () => {
      await sendExpectingFailure(ctx, [{ opcode: OP.TEXT, payload: "Hello, world!", rsv: 1 }], 1002);
    });
    const withEcho: [string, number, "one write" | "frame by frame" | "one byte at a time"][] = [
      ["3.2 RSV = 2 (RSV2)", 2, "one write"],
      ["3.3 RSV = 3, frame by frame", 3, "frame by frame"],
      ["3.4 RSV = 4 (RSV1, no extension agreed), one byte at a time", 4, "one byte at a time"],
    ];
    for (const [name, rsv, how] of withEcho) {
      ctx.test(`${name}: the echo of the text before arrives, then 1002, and the ping after gets no pong`, async () => {
        const ws = await ctx.connect();
        const frames: FrameSpec[] = [{ opcode: OP.TEXT, payload: "Hello, world!" }, { opcode: OP.TEXT, payload: "Hello, world!", rsv }, { opcode: OP.PING, payload: "ping" }];
        if (how === "frame by frame") for (const f of frames) await ws.send(f, { pauseMs: 5 });
        else await ws.send(frames, how === "one byte at a time" ? ONE_BYTE : undefined);
        const before = await expectFailure(ws, 1002);
        expect(before.map(describeFrame)).toEqual([describeFrame({ fin: true, rsv: 0, opcode: OP.TEXT, masked: false, payload: bytes("Hello, world!") })]);
        await ctx.stillUp();
      });
    }
    ctx.test("3.5 a binary frame with RSV = 5 fails with 1002", async () => {
      await sendExpectingFailure(ctx, [{ opcode: OP.BINARY, payload: binaryOf(8), rsv: 5 }], 1002);
    });
    ctx.test("3.6 a ping with RSV = 6 fails with 1002", async () => {
      await sendExpectingFailure(ctx, [{ opcode: OP.PING, payload: "ping", rsv: 6 }], 1002);
    });
    ctx.test("3.7 a close with RSV = 7 fails with 1002", async () => {
      await sendExpectingFailure(ctx, [{ opcode: OP.CLOSE, payload: closeBody(1000), rsv: 7 }], 1002);
    });
  });

  serverSuite(side, "4 opcodes", ECHO_APP, (ctx) => {
    const cases: [string, number, boolean, boolean][] = [
      ["4.1.1", 3, false, false],
      ["4.1.2", 4, true, false],
      ["4.1.3", 5, false, true],
      ["4.1.4", 6, true, true],
      ["4.1.5", 7, true, true],
      ["4.2.1", 11, false, false],
      ["4.2.2", 12, true, false],
      ["4.2.3", 13, false, true],
      ["4.2.4", 14, true, true],
      ["4.2.5", 15, true, true],
    ];
    for (const [num, opcode, withPayload, echoFirst] of cases) {
      const kind = opcode < 8 ? "non-control" : "control";
      ctx.test(
        `${num} reserved ${kind} opcode ${opcode}${withPayload ? " with a payload" : ""}${echoFirst ? " after a text (echoed), before a ping (no pong)" : ""}: 1002`,
        async () => {
          const ws = await ctx.connect();
          const frames: FrameSpec[] = [];
          if (echoFirst) frames.push({ opcode: OP.TEXT, payload: "Hello, world!" });
          frames.push({ opcode, payload: withPayload ? "reserved opcode payload" : undefined });
          if (echoFirst) frames.push({ opcode: OP.PING, payload: "ping" });
          await ws.send(frames);
          const before = await expectFailure(ws, 1002);
          expect(before.map(describeFrame)).toEqual(echoFirst ? [describeFrame({ fin: true, rsv: 0, opcode: OP.TEXT, masked: false, payload: bytes("Hello, world!") })] : []);
          await ctx.stillUp();
        },
      );
    }
  });

  serverSuite(side, "5 fragmentation", ECHO_APP, (ctx) => {
    ctx.test("5.1 a ping in 2 fragments fails with 1002", async () => {
      await sendExpectingFailure(ctx, [{ opcode: OP.PING, fin: false, payload: "fragment1" }, { opcode: OP.CONT, payload: "fragment2" }], 1002);
    });
    ctx.test("5.2 a pong in 2 fragments fails with 1002", async () => {
      await sendExpectingFailure(ctx, [{ opcode: OP.PONG, fin: false, payload: "fragment1" }, { opcode: OP.CONT, payload: "fragment2" }], 1002);
    });
    ctx.test("5.x a close frame with FIN 0 fails with 1002", async () => {
      await sendExpectingFailure(ctx, [{ opcode: OP.CLOSE, fin: false, payload: closeBody(1000) }], 1002);
    });

    const twoFragments: FrameSpec[] = [{ opcode: OP.TEXT, fin: false, payload: "fragment1" }, { opcode: OP.CONT, payload: "fragment2" }];
    for (const [name, how] of [["5.3", "in one write"], ["5.4", "frame by frame"], ["5.5", "one byte at a time"]] as const) {
      ctx.test(`${name} a text message in 2 fragments, ${how}, is echoed as one message`, async () => {
        const ws = await ctx.connect();
        if (how === "frame by frame") for (const f of twoFragments) await ws.send(f, { pauseMs: 5 });
        else await ws.send(twoFragments, how === "one byte at a time" ? ONE_BYTE : undefined);
        await expectEcho(ws, OP.TEXT, bytes("fragment1fragment2"));
      });
    }
    for (const [name, how] of [["5.6", "in one write"], ["5.7", "frame by frame"], ["5.8", "one byte at a time"]] as const) {
      ctx.test(`${name} a text message in 2 fragments with a ping between them, ${how}: the pong, then the message`, async () => {
        const ws = await ctx.connect();
        const ping = bytes("ping payload");
        const frames: FrameSpec[] = [twoFragments[0]!, { opcode: OP.PING, payload: ping }, twoFragments[1]!];
        if (how === "frame by frame") for (const f of frames) await ws.send(f, { pauseMs: 5 });
        else await ws.send(frames, how === "one byte at a time" ? ONE_BYTE : undefined);
        await expectPong(ws, ping);
        await expectEcho(ws, OP.TEXT, bytes("fragment1fragment2"));
      });
    }

    const nothingToContinue: [string, FrameSpec[], WriteOptions | undefined][] = [
      ["5.9 a continuation (FIN 1) with nothing to continue, then a text, in one write", [{ opcode: OP.CONT, payload: "non-continuation payload" }, { opcode: OP.TEXT, payload: "Hello, world!" }], undefined],
      ["5.11 a continuation (FIN 1) with nothing to continue, one byte at a time", [{ opcode: OP.CONT, payload: "non-continuation payload" }, { opcode: OP.TEXT, payload: "Hello, world!" }], ONE_BYTE],
      ["5.12 a continuation (FIN 0) with nothing to continue, then a text", [{ opcode: OP.CONT, fin: false, payload: "non-continuation payload" }, { opcode: OP.TEXT, payload: "Hello, world!" }], undefined],
      ["5.14 a continuation (FIN 0) with nothing to continue, one byte at a time", [{ opcode: OP.CONT, fin: false, payload: "non-continuation payload" }, { opcode: OP.TEXT, payload: "Hello, world!" }], ONE_BYTE],
      ["5.16 a continuation (FIN 0), then a text in 2 fragments, twice", [{ opcode: OP.CONT, fin: false, payload: "fragment1" }, ...twoFragments, { opcode: OP.CONT, fin: false, payload: "fragment1" }, ...twoFragments], undefined],
      ["5.17 a continuation (FIN 1), then a text in 2 fragments, twice", [{ opcode: OP.CONT, payload: "fragment1" }, ...twoFragments, { opcode: OP.CONT, payload: "fragment1" }, ...twoFragments], undefined],
      ["5.18 a text in 2 fragments whose second frame is a text frame, not a continuation", [twoFragments[0]!, { opcode: OP.TEXT, payload: "fragment2" }], undefined],
      ["5.x a binary frame inside a fragmented text message", [twoFragments[0]!, { opcode: OP.BINARY, payload: "fragment2" }], undefined],
      ["5.x a text frame (FIN 0) inside a fragmented binary message", [{ opcode: OP.BINARY, fin: false, payload: "fragment1" }, { opcode: OP.TEXT, fin: false, payload: "fragment2" }, { opcode: OP.CONT, payload: "fragment3" }], undefined],
    ];
    for (const [name, frames, opts] of nothingToContinue) {
      ctx.test(`${name}: 1002 and no echo`, async () => {
        await sendExpectingFailure(ctx, frames, 1002, opts);
      });
    }
    ctx.test("5.15 a text in 2 fragments (echoed), then a continuation (FIN 0) with nothing to continue: 1002", async () => {
      const ws = await ctx.connect();
      await ws.send([...twoFragments, { opcode: OP.CONT, fin: false, payload: "fragment3" }, { opcode: OP.CONT, payload: "fragment4" }]);
      const before = await expectFailure(ws, 1002);
      expect(before.map((f) => text(f.payload))).toEqual(["fragment1fragment2"]);
      await ctx.stillUp();
    });

    for (const [name, opts] of [["5.19", undefined], ["5.20", { chunk: 3 }]] as const) {
      ctx.test(`${name} a text in 5 fragments with 2 pings: each ping is answered before the message is complete${opts ? " (3-byte writes)" : ""}`, async () => {
        const ws = await ctx.connect();
        await ws.send([{ opcode: OP.TEXT, fin: false, payload: "fragment1" }, { opcode: OP.CONT, fin: false, payload: "fragment2" }, { opcode: OP.PING, payload: "pongme 1!" }], opts);
        // The rest of the message is not sent until this pong arrives.
        await expectPong(ws, bytes("pongme 1!"));
        await ws.send(
          [
            { opcode: OP.CONT, fin: false, payload: "fragment3" },
            { opcode: OP.CONT, fin: false, payload: "fragment4" },
            { opcode: OP.PING, payload: "pongme 2!" },
          ],
          opts,
        );
        await expectPong(ws, bytes("pongme 2!"));
        await ws.send({ opcode: OP.CONT, payload: "fragment5" }, opts);
        await expectEcho(ws, OP.TEXT, bytes("fragment1fragment2fragment3fragment4fragment5"));
      });
    }

    ctx.test("5.x text and binary messages in 2, 3 and 100 fragments are each echoed as one message", async () => {
      const ws = await ctx.connect();
      for (const count of [2, 3, 100]) {
        const t = textOf(1000 + count);
        await ws.send(fragmentFrames(OP.TEXT, t, count));
        await expectEcho(ws, OP.TEXT, t);
        const b = binaryOf(1000 + count, count);
        await ws.send(fragmentFrames(OP.BINARY, b, count));
        await expectEcho(ws, OP.BINARY, b);
      }
    });
  });

  serverSuite(side, "6 UTF-8", ECHO_APP, (ctx) => {
    ctx.test("6.1.1 6.1.2 6.1.3 an empty text, 3 empty fragments, and empty / non-empty / empty fragments are echoed", async () => {
      const ws = await ctx.connect();
      await ws.send({ opcode: OP.TEXT });
      await expectEcho(ws, OP.TEXT, new Uint8Array(0));
      await ws.send(fragmentFrames(OP.TEXT, new Uint8Array(0), 3));
      await expectEcho(ws, OP.TEXT, new Uint8Array(0));
      await ws.send([{ opcode: OP.TEXT, fin: false }, { opcode: OP.CONT, fin: false, payload: "middle frame payload" }, { opcode: OP.CONT }]);
      await expectEcho(ws, OP.TEXT, bytes("middle frame payload"));
    });

    const hello = bytes("Hello-µ@ßöäüàá-UTF-8!!");
    ctx.test("6.2.1 6.2.2 6.2.3 6.2.4 valid UTF-8 in one frame, split on a code point, and in 1-byte fragments, is echoed", async () => {
      const ws = await ctx.connect();
      await ws.sendText(hello);
      await expectEcho(ws, OP.TEXT, hello);
      await ws.send([{ opcode: OP.TEXT, fin: false, payload: "Hello-µ@ßöä" }, { opcode: OP.CONT, payload: "üàá-UTF-8!!" }]);
      await expectEcho(ws, OP.TEXT, hello);
      for (const data of [hello, KOSME]) {
        await ws.send(fragmentFrames(OP.TEXT, data, data.length));
        await expectEcho(ws, OP.TEXT, data);
      }
    });

    ctx.test("6.2.x valid UTF-8 split into 2 fragments at every byte position is echoed", async () => {
      const ws = await ctx.connect();
      const data = concatBytes(hello, KOSME, hex("f0 90 80 80 f4 8f bf bf"));
      for (let at = 0; at <= data.length; at++) {
        await ws.send([{ opcode: OP.TEXT, fin: false, payload: data.subarray(0, at) }, { opcode: OP.CONT, payload: data.subarray(at) }]);
        await expectEcho(ws, OP.TEXT, data);
      }
    });

    const invalid631 = concatBytes(KOSME, hex("ed a0 80"), bytes("edited"));
    ctx.test("6.3.1 6.3.2 invalid UTF-8 (a surrogate), in one frame and in 1-byte fragments: 1007", async () => {
      await sendExpectingFailure(ctx, [{ opcode: OP.TEXT, payload: invalid631 }], 1007);
      await sendExpectingFailure(ctx, fragmentFrames(OP.TEXT, invalid631, invalid631.length), 1007);
    });

    ctx.test("6.3.x invalid UTF-8 split into 2 fragments at every byte position: 1007", async () => {
      for (let at = 0; at <= invalid631.length; at++) {
        const ws = await ctx.connect();
        await ws.send([{ opcode: OP.TEXT, fin: false, payload: invalid631.subarray(0, at) }, { opcode: OP.CONT, payload: invalid631.subarray(at) }]);
        expect((await expectFailure(ws, 1007)).map(describeFrame)).toEqual([]);
        ws.destroy();
      }
      await ctx.stillUp();
    });

    // 6.4.x: fail fast. The message's start is sent up to and past the invalid byte; the rest
    // never is. The close must come without it.
    const part1 = KOSME;
    const part2 = hex("f4 90 80 80"); // 0x110000: past U+10FFFF
    const part3 = bytes("edited");
    const failFast: [string, "frames" | "chops", Uint8Array][] = [
      ["6.4.1 a text's 1st fragment valid, its 2nd holding a code point above U+10FFFF", "frames", part2],
      ["6.4.2 as 6.4.1, the 2nd fragment ending at the invalid byte", "frames", part2.subarray(0, 2)],
      ["6.4.3 one text frame sent in chops: the 2nd chop holds the invalid code point", "chops", part2],
      ["6.4.4 as 6.4.3, the 2nd chop ending at the invalid byte", "chops", part2.subarray(0, 2)],
    ];
    for (const [name, how, bad] of failFast) {
      ctx.rfcOnly(
        `${name}: 1007 before the rest of the message is sent (fail fast)`,
        "it waits for the whole message; it fails with 1007 only once the message is complete (observed: no close in 3 s after the invalid byte, then 1007 right after the last fragment)",
        async () => {
          const ws = await ctx.connect();
          if (how === "frames") {
            await ws.send({ opcode: OP.TEXT, fin: false, payload: part1 });
            await ws.send({ opcode: OP.CONT, fin: false, payload: bad });
          } else {
            const frame = encodeFrame({ opcode: OP.TEXT, payload: concatBytes(part1, part2, part3) });
            const head = frame.length - (part1.length + part2.length + part3.length);
            await ws.write(frame.subarray(0, head + part1.length));
            await ws.write(frame.subarray(head + part1.length, head + part1.length + bad.length));
          }
          expect((await expectFailure(ws, 1007)).map(describeFrame)).toEqual([]);
          await ctx.stillUp();
        },
      );
    }
    ctx.test("6.4.x the same messages completed: 1007 at the latest when the message ends", async () => {
      for (const [, how, bad] of failFast) {
        const ws = await ctx.connect();
        const rest = concatBytes(part2.subarray(bad.length), part3);
        if (how === "frames") {
          await ws.send([{ opcode: OP.TEXT, fin: false, payload: part1 }, { opcode: OP.CONT, fin: false, payload: bad }, { opcode: OP.CONT, payload: rest }]);
        } else {
          await ws.send({ opcode: OP.TEXT, payload: concatBytes(part1, bad, rest) }, { chunk: [part1.length + 6, bad.length] });
        }
        expect((await expectFailure(ws, 1007)).map(describeFrame)).toEqual([]);
        ws.destroy();
      }
      await ctx.stillUp();
    });

    for (const [num, what, samples] of utf8Categories()) {
      const valid = samples.filter(([ok]) => ok).map(([, b]) => b);
      const bad = samples.filter(([ok]) => !ok).map(([, b]) => b);
      const parts = [valid.length > 0 ? `${valid.length} valid echoed` : "", bad.length > 0 ? `${bad.length} invalid fail with 1007` : ""].filter(Boolean).join(", ");
      ctx.test(`${num} ${what}: ${parts} (each in one frame, and each valid one in 1-byte fragments too)`, async () => {
        if (valid.length > 0) {
          const ws = await ctx.connect();
          for (const b of valid) {
            expect(isUtf8(b)).toBe(true);
            await ws.sendText(b);
            await expectEcho(ws, OP.TEXT, b);
            await ws.send(fragmentFrames(OP.TEXT, b, b.length));
            await expectEcho(ws, OP.TEXT, b);
          }
        }
        for (const b of bad) {
          expect(isUtf8(b)).toBe(false);
          const ws = await ctx.connect();
          await ws.sendText(b);
          const close = await ws.readClose().catch((e: Error) => {
            throw new Error(`invalid UTF-8 ${preview(b)}: ${e.message}`);
          });
          if (close.code !== 1007) throw new Error(`invalid UTF-8 ${preview(b)} got ${describeFrame(close.frame)}, before: [${close.before.map(describeFrame)}]`);
          expect(await ws.readFrame()).toBeNull();
          ws.destroy();
        }
        if (bad.length > 0) await ctx.stillUp();
      });
    }
  });

  serverSuite(side, "7 close handling", ECHO_APP, (ctx) => {
    ctx.test("7.1.1 a message then a close: the echo, then a close 1000, then the server's TCP close", async () => {
      const ws = await ctx.connect();
      await ws.send([{ opcode: OP.TEXT, payload: "Hello World!" }, { opcode: OP.CLOSE, payload: closeBody(1000) }]);
      const close = await ws.readClose();
      expect(close.before.map((f) => text(f.payload))).toEqual(["Hello World!"]);
      expect(close.code).toBe(1000);
      await expectCleanEnd(ws);
    });

    const afterClose: [string, FrameSpec[]][] = [
      ["7.1.2 a second close frame is ignored", [{ opcode: OP.CLOSE, payload: closeBody(1000) }]],
      ["7.1.3 a ping after the close gets no pong", [{ opcode: OP.PING, payload: "ping after close" }]],
      ["7.1.4 a text after the close is not echoed", [{ opcode: OP.TEXT, payload: "text after close" }]],
    ];
    for (const [name, after] of afterClose) {
      ctx.test(`${name}: one close 1000 back, then the TCP close`, async () => {
        const ws = await ctx.connect();
        await ws.send([{ opcode: OP.CLOSE, payload: closeBody(1000) }, ...after]);
        const close = await ws.readClose();
        expect(close.before.map(describeFrame)).toEqual([]);
        expect(close.code).toBe(1000);
        expect(await ws.readFrame()).toBeNull();
      });
    }
    ctx.test("7.1.5 a fragment, a close, then the last fragment: a close 1000, no echo", async () => {
      const ws = await ctx.connect();
      await ws.send([{ opcode: OP.TEXT, fin: false, payload: "fragment1" }, { opcode: OP.CLOSE, payload: closeBody(1000) }, { opcode: OP.CONT, payload: "fragment2" }]);
      const close = await ws.readClose();
      expect(close.before.map(describeFrame)).toEqual([]);
      expect(close.code).toBe(1000);
      expect(await ws.readFrame()).toBeNull();
    });

    ctx.test("7.3.1 a close without a body: the server's close has no body or 1000, then its TCP close", async () => {
      const ws = await ctx.connect();
      const close = await ws.close();
      expect([undefined, 1000]).toContain(close.code);
      expect(close.frame.payload.length === 0 || close.frame.payload.length >= 2).toBe(true);
      await expectCleanEnd(ws);
    });
    ctx.test("7.3.2 a close with a 1-byte body fails with 1002", async () => {
      await sendExpectingFailure(ctx, [{ opcode: OP.CLOSE, payload: hex("03") }], 1002);
    });
    ctx.test("7.3.3 7.3.4 7.3.5 a close 1000 without a reason, with one, and with one of 123 bytes: close 1000", async () => {
      for (const reason of ["", "Hello World!", "*".repeat(123)]) {
        const ws = await ctx.connect();
        const close = await ws.close(1000, reason);
        expect(close.code).toBe(1000);
        await expectCleanEnd(ws);
        ws.destroy();
      }
    });
    ctx.test("7.3.6 a close with a reason of 124 bytes (a 126-byte control frame) fails with 1002", async () => {
      await sendExpectingFailure(ctx, [{ opcode: OP.CLOSE, payload: closeBody(1000, "*".repeat(124)) }], 1002);
    });
    ctx.test("7.5.1 a close whose reason is not UTF-8 fails with 1007", async () => {
      await sendExpectingFailure(ctx, [{ opcode: OP.CLOSE, payload: concatBytes(closeBody(1000), hex("ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64")) }], 1007);
    });

    const validCodes = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
    ctx.test(`7.7.x a close with each valid code (${validCodes.join(", ")}) is answered with the same code, then the TCP close`, async () => {
      for (const code of validCodes) {
        const ws = await ctx.connect();
        const close = await ws.close(code, "");
        if (close.code !== code) throw new Error(`close ${code} was answered with ${close.code}`);
        await expectCleanEnd(ws);
        ws.destroy();
      }
    });
    const invalidCodes = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999];
    ctx.test(`7.9.x a close with each invalid code (${invalidCodes.join(", ")}) fails with 1002`, async () => {
      for (const code of invalidCodes) {
        const ws = await ctx.connect();
        await ws.send({ opcode: OP.CLOSE, payload: closeBody(code) });
        const close = await ws.readClose();
        if (close.code !== 1002) throw new Error(`close ${code} was answered with ${close.code}`);
        expect(await ws.readFrame()).toBeNull();
        ws.destroy();
      }
      await ctx.stillUp();
    });
  });

  serverSuite(side, "9 performance cases, scaled down (correctness only)", ECHO_APP, (ctx) => {
    const size = 100 * 1024;
    const timed = async (what: string, fn: () => Promise<void>) => {
      const t0 = performance.now();
      await fn();
      console.log(`[${side}] ${what}: ${(performance.now() - t0).toFixed(1)} ms`);
    };
    for (const [num, kind, opcode, make] of [["9.1", "text", OP.TEXT, textOf], ["9.2", "binary", OP.BINARY, binaryOf]] as const) {
      ctx.test(`${num} a ${kind} message of 100 KiB in one frame is echoed`, async () => {
        const ws = await ctx.connect();
        const data = make(size);
        await timed(`${num} ${kind} 100 KiB, one frame`, async () => {
          await ws.send({ opcode, payload: data });
          await expectEcho(ws, opcode, data);
        });
      });
    }
    for (const [num, kind, opcode, make] of [["9.3", "text", OP.TEXT, textOf], ["9.4", "binary", OP.BINARY, binaryOf]] as const) {
      ctx.test(`${num} a ${kind} message of 100 KiB in 64-byte fragments is echoed`, async () => {
        const ws = await ctx.connect();
        const data = make(size);
        await timed(`${num} ${kind} 100 KiB in 64-byte fragments`, async () => {
          await ws.send(framesOfSize(opcode, data, 64));
          await expectEcho(ws, opcode, data);
        });
      });
    }
    for (const [num, kind, opcode, make] of [["9.5", "text", OP.TEXT, textOf], ["9.6", "binary", OP.BINARY, binaryOf]] as const) {
      ctx.test(`${num} a ${kind} message of 100 KiB in one frame, written in 1024-byte chops, is echoed`, async () => {
        const ws = await ctx.connect();
        const data = make(size);
        await timed(`${num} ${kind} 100 KiB in 1024-byte writes`, async () => {
          await ws.send({ opcode, payload: data }, { chunk: 1024 });
          await expectEcho(ws, opcode, data);
        });
      });
    }
    for (const [num, kind, opcode, make] of [["9.7", "text", OP.TEXT, textOf], ["9.8", "binary", OP.BINARY, binaryOf]] as const) {
      ctx.test(`${num} 1000 ${kind} messages of 0-99 bytes back to back are echoed in order`, async () => {
        const ws = await ctx.connect();
        const messages = Array.from({ length: 1000 }, (_, i) => (opcode === OP.TEXT ? make(i % 100) : binaryOf(i % 100, i + 1)));
        await timed(`${num} 1000 ${kind} messages`, async () => {
          await ws.send(messages.map((payload) => ({ opcode, payload })));
          for (const m of messages) await expectEcho(ws, opcode, m);
        });
      });
    }

    ctx.test("9.x a message of maxPayloadLength (1 MiB) is echoed; one byte more fails with 1009", async () => {
      const ws = await ctx.connect();
      const data = binaryOf(MAX_PAYLOAD);
      await ws.sendBinary(data);
      await expectEcho(ws, OP.BINARY, data);
      await ws.sendBinary(binaryOf(MAX_PAYLOAD + 1));
      expect((await expectFailure(ws, 1009)).map(describeFrame)).toEqual([]);
      await ctx.stillUp();
    });
    ctx.test("9.x a fragmented message whose fragments add up past maxPayloadLength fails with 1009", async () => {
      const ws = await ctx.connect();
      await ws.send(framesOfSize(OP.TEXT, textOf(MAX_PAYLOAD + 1), 64 * 1024));
      expect((await expectFailure(ws, 1009)).map(describeFrame)).toEqual([]);
      await ctx.stillUp();
    });
  });

  serverSuite(side, "10 auto-fragmentation", ECHO_APP, (ctx) => {
    ctx.test("10.1.1 a 1 MiB text sent in 1300-byte fragments is echoed whole (however the server frames it)", async () => {
      const ws = await ctx.connect();
      const data = textOf(MAX_PAYLOAD);
      await ws.send(framesOfSize(OP.TEXT, data, 1300));
      const m = await expectEcho(ws, OP.TEXT, data);
      console.log(`[${side}] 10.1.1 the 1 MiB echo came in ${m.frames.length} frame(s)`);
    });
  });

  serverSuite(side, "12-13 permessage-deflate (RFC 7692)", DEFLATE_APP, (ctx) => {
    const offers = [
      "permessage-deflate",
      "permessage-deflate; client_max_window_bits",
      "permessage-deflate; client_no_context_takeover",
      "permessage-deflate; server_no_context_takeover",
      "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
      ...[9, 10, 11, 12, 13, 14, 15].map((n) => `permessage-deflate; server_max_window_bits=${n}`),
      "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9",
      "permessage-deflate; server_max_window_bits=9; client_no_context_takeover, permessage-deflate; client_no_context_takeover, permessage-deflate",
    ];
    const answers: string[] = [];
    afterAll(() => {
      if (answers.length > 0) console.log(`[${side}] permessage-deflate answers:\n  ${answers.join("\n  ")}`);
    });

    /** Sends `count` messages (sizes cycling 16 B..64 KiB, text and binary, compressed or not, some fragmented) and checks each echo. */
    async function traffic(ws: WsClient, count: number): Promise<{ compressedEchoes: number }> {
      const sizes = [16, 64, 256, 1024, 4096, 16384, 65536];
      let compressedEchoes = 0;
      let at = 0;
      for (let i = 0; i < count; i++) {
        const n = sizes[i % sizes.length]!;
        const opcode = i % 2 === 0 ? OP.TEXT : OP.BINARY;
        const data = opcode === OP.TEXT ? jsonOf(n, at) : concatBytes(jsonOf(n >> 1, at), binaryOf(n - (n >> 1), i + 1));
        at += n;
        const compress = ws.deflate !== undefined && i % 5 !== 4; // every 5th goes uncompressed (RSV1 clear)
        const fragments = i % 3 === 0 ? 1 : i % 3 === 1 ? 2 : 7;
        if (compress) await ws.sendCompressed(opcode, data, fragments);
        else await ws.send(fragmentFrames(opcode, data, fragments));
        const m = await ws.readMessage().catch((e: Error) => {
          throw new Error(`message ${i} (${n} B, ${compress ? "compressed" : "plain"}, ${fragments} fragment(s)): ${e.message}`);
        });
        expect(m.opcode).toBe(opcode);
        for (const [k, f] of m.frames.entries()) {
          expect(f.masked).toBe(false);
          expect(f.rsv).toBe(k === 0 && m.compressed ? RSV1 : 0);
        }
        if (ws.deflate === undefined) expect(m.compressed).toBe(false);
        if (m.compressed) compressedEchoes++;
        expectSame(m.data, data);
      }
      return { compressedEchoes };
    }

    for (const offer of offers) {
      ctx.test(`13.x offer "${offer}": the answer is valid for the offer (RFC 7692 §7), then 20 messages echo correctly under it`, async () => {
        // connect() checks Sec-WebSocket-Accept, and an extension answer against the offer
        // (parseDeflateAnswer: it throws, saying why, when the answer does not fit the offer).
        const ws = await ctx.connect({ extensions: offer });
        const answer = ws.response.get("sec-websocket-extensions");
        answers.push(`${offer} -> ${answer ?? "(declined)"}`);
        expect(ws.response.headerList.filter(([n]) => n.toLowerCase() === "sec-websocket-extensions").length).toBeLessThanOrEqual(1);
        expect(ws.deflate === undefined).toBe(answer === undefined);
        await traffic(ws, 20);
        expect((await ws.close(1000)).code).toBe(1000);
      });
    }

    for (const offer of ["permessage-deflate; client_max_window_bits", "permessage-deflate; client_no_context_takeover; server_no_context_takeover"]) {
      ctx.test(`12.x 100 messages of 16 B-64 KiB (text and binary, compressed and not, 1, 2 and 7 fragments) echo correctly; offer "${offer}"`, async () => {
        const ws = await ctx.connect({ extensions: offer });
        expect(ws.deflate).toBeDefined();
        const t0 = performance.now();
        const { compressedEchoes } = await traffic(ws, 100);
        console.log(`[${side}] 12.x ${JSON.stringify(ws.deflate!.params)}: 100 messages in ${(performance.now() - t0).toFixed(1)} ms, ${compressedEchoes} echoes compressed`);
        expect((await ws.close(1000)).code).toBe(1000);
      });
    }

    ctx.test("12.x send(data, true) compresses the echoes (all but an empty one) once permessage-deflate is agreed; they hold no BFINAL block", async () => {
      const ws = await ctx.connect({ extensions: "permessage-deflate" });
      expect(ws.deflate).toBeDefined();
      for (const n of [0, 1, 16, 1000, 70000]) {
        const data = jsonOf(n, n);
        await ws.sendCompressed(OP.TEXT, data);
        const m = await ws.readMessage(); // decompress() throws on a BFINAL block
        // An empty message may go uncompressed (Bun.serve sends it so: observed).
        if (n > 0) expect(m.compressed).toBe(true);
        expectSame(m.data, data);
      }
    });

    ctx.test("12.x an uncompressed message (RSV1 clear) is accepted once permessage-deflate is agreed", async () => {
      const ws = await ctx.connect({ extensions: "permessage-deflate" });
      const data = bytes("plain, not compressed");
      await ws.sendText(data);
      const m = await ws.readMessage();
      expectSame(m.data, data);
    });

    ctx.test("12.x a compressed message that inflates past maxPayloadLength fails with 1009", async () => {
      const ws = await ctx.connect({ extensions: "permessage-deflate" });
      const payload = ws.deflate!.compress(new Uint8Array(2 * MAX_PAYLOAD)); // 2 MiB of zeros: about 2 KiB compressed
      expect(payload.length).toBeLessThan(MAX_PAYLOAD);
      await ws.send({ opcode: OP.BINARY, rsv: RSV1, payload });
      expect((await expectFailure(ws, 1009)).map(describeFrame)).toEqual([]);
      await ctx.stillUp();
    });

    ctx.test("12.x RSV1 on a continuation frame fails with 1002", async () => {
      const ws = await ctx.connect({ extensions: "permessage-deflate" });
      const payload = ws.deflate!.compress(bytes("fragmented and compressed"));
      const half = payload.length >> 1;
      await ws.send([
        { opcode: OP.TEXT, rsv: RSV1, fin: false, payload: payload.subarray(0, half) },
        { opcode: OP.CONT, rsv: RSV1, payload: payload.subarray(half) },
      ]);
      expect((await expectFailure(ws, 1002)).map(describeFrame)).toEqual([]);
      await ctx.stillUp();
    });

    ctx.test("12.x RSV1 on a ping fails with 1002 (control frames are never compressed, RFC 7692 §6.1)", async () => {
      const ws = await ctx.connect({ extensions: "permessage-deflate" });
      await ws.send({ opcode: OP.PING, rsv: RSV1, payload: "ping" });
      expect((await expectFailure(ws, 1002)).map(describeFrame)).toEqual([]);
      await ctx.stillUp();
    });

    ctx.test("12.x a compressed text that inflates to invalid UTF-8 fails with 1007", async () => {
      const ws = await ctx.connect({ extensions: "permessage-deflate" });
      await ws.send({ opcode: OP.TEXT, rsv: RSV1, payload: ws.deflate!.compress(invalidUtf8()) });
      expect((await expectFailure(ws, 1007)).map(describeFrame)).toEqual([]);
      await ctx.stillUp();
    });

    ctx.test("12.x a client offering no extension gets none, and RSV1 from it fails with 1002", async () => {
      const ws = await ctx.connect();
      expect(ws.response.get("sec-websocket-extensions")).toBeUndefined();
      await ws.send({ opcode: OP.TEXT, rsv: RSV1, payload: "not really compressed" });
      expect((await expectFailure(ws, 1002)).map(describeFrame)).toEqual([]);
    });

    ctx.test("12.x an unknown extension is not agreed (no Sec-WebSocket-Extensions in the 101)", async () => {
      const ws = await ctx.connect({ extensions: "x-webkit-deflate-frame" });
      expect(ws.response.get("sec-websocket-extensions")).toBeUndefined();
      await ws.sendText("still an echo");
      await expectEcho(ws, OP.TEXT, bytes("still an echo"));
    });
  });
}

/** Invalid UTF-8: a valid start, a lone surrogate, a valid end. */
function invalidUtf8(): Uint8Array {
  return concatBytes(KOSME, hex("ed a0 80"), bytes("edited"));
}
