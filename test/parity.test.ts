/**
 * Side by side with Bun.serve (issue 16): test/parity/app.ts served by Bun.serve and by fasthttp
 * in two processes, the same raw request to each, and what a client observes compared: status
 * line, headers (names compared ignoring case, Date left out), framing, body bytes, whether the
 * response was complete, and whether the connection was kept. `/seen` routes compare what the app
 * was shown (method, URL, headers, body).
 *
 * Bun.serve is the specification. Where fasthttp differs on purpose, the case names a
 * {@link Difference}: how fasthttp's observation follows from Bun's, and why (each is listed in
 * the README's "Differences from Bun.serve"). The test asserts both that fasthttp does what the
 * difference says and that Bun still does otherwise, so the list cannot go stale either way.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as net from "node:net";
import { logOf, observe, release, startParity, type Observation, type ParityServer } from "./helpers/parity.ts";
import { sleep, until } from "./helpers/net.ts";

/** A deliberate difference: fasthttp's observation made from Bun's, and the reason. */
interface Difference {
  why: string;
  fast: (bun: Observation) => Observation;
}

const with_ = (o: Observation, patch: Partial<Observation>): Observation => ({ ...o, ...patch });
const sorted = (h: [string, string][]): [string, string][] =>
  [...h].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
const plus = (o: Observation, name: string, value: string): Observation => with_(o, { headers: sorted([...o.headers, [name, value]]) });

/** Reasons of the differences whose transform depends on the case (built where they are used). */
const WHY = {
  headKeepsType: "HEAD carries the Content-Type GET would (RFC 9110 §9.3.2); Bun.serve leaves it out of HEAD answers",
  absoluteAuthority: "an absolute-form target's authority is the request's host, and Host is ignored (RFC 9112 §3.2.2); Bun.serve uses Host",
  rfcReason: "RFC 9110's current reason phrases (413 Content Too Large, 422 Unprocessable Content); Bun.serve has the older names",
};

/** fasthttp's answer to a failed app: Bun.serve's production 500. */
const FAILED_500: Partial<Observation> = {
  status: 500, reason: "Internal Server Error", headers: [["content-length", "21"], ["content-type", "text/plain"]],
  framing: "length", body: "Something went wrong!",
};

/** The differences, by name; the README's list carries the same names. */
const D = {
  unknownMethod: {
    why: "a method Bun's Request cannot hold (it would reach the app as GET) is answered 501 without calling the app; Bun.serve closes the connection without an answer",
    fast: (bun: Observation) =>
      with_(bun, {
        status: 501, reason: "Not Implemented", headers: [["content-length", "16"], ["content-type", "text/plain"]],
        framing: "length", body: "Not Implemented\n", complete: true, after: "kept",
      }),
  },
  failBeforeHead: {
    why: "a stream that fails before its first byte gets a 500 (nothing was promised yet); Bun.serve resets the connection",
    fast: (bun: Observation) => with_(bun, { ...FAILED_500, complete: true, after: "kept" }),
  },
  notAResponse: {
    why: "an app that returns something other than a Response is a bug: 500 and the error logged; Bun.serve answers 204",
    fast: (bun: Observation) => with_(bun, FAILED_500),
  },
  unnamedStatus: {
    why: 'a status without a registered name goes out with an empty reason phrase (RFC 9112 §4); Bun.serve sends "HM"',
    fast: (bun: Observation) => with_(bun, { reason: "" }),
  },
  asterisk: {
    why: "OPTIONS * and CONNECT name no resource a fetch app serves: 400, and the connection is kept (the request was well framed); Bun.serve closes it",
    fast: (bun: Observation) =>
      with_(bun, { headers: [["content-length", "12"], ["content-type", "text/plain"]], framing: "length", body: "Bad Request\n", after: "kept" }),
  },
  http10NoHost: {
    why: "an HTTP/1.0 request without Host reaches the app as http://localhost/... (a URL it can parse); Bun.serve hands the app a URL without a host, which new URL() refuses",
    fast: (bun: Observation) => {
      const body = JSON.stringify({ method: "GET", url: "http://localhost/seen", headers: [], body: null });
      return with_(bun, {
        status: 200, reason: "OK", body,
        headers: [["connection", "close"], ["content-length", String(body.length)], ["content-type", "application/json;charset=utf-8"]],
      });
    },
  },
  failAfterHead: {
    why: "a stream that fails after its head went out ends with a FIN, short of its last chunk, so every byte written arrives and the client sees the body incomplete; Bun.serve resets the connection",
    fast: (bun: Observation) => with_(bun, { after: "closed" }),
  },
  cannedError: {
    why: "the core's answer to a request it refuses (400, 413, 431...) says why in a short text body with a Content-Length; Bun.serve's has neither, and ends at the close",
    fast: (bun: Observation) => {
      const body = `${bun.reason}\n`;
      return with_(bun, {
        headers: sorted([...bun.headers, ["content-length", String(body.length)], ["content-type", "text/plain"]]),
        framing: "length", body,
      });
    },
  },
  targetStrict: {
    why: '"#", "<", ">" and bytes >= 0x80 in the request-target are 400 (RFC 9112 §3; a fragment is never part of a target); Bun.serve takes them (and rewrites bytes >= 0x80)',
    fast: (): Observation => ({
      status: 400, reason: "Bad Request", headers: [["connection", "close"], ["content-length", "12"], ["content-type", "text/plain"]],
      framing: "length", body: "Bad Request\n", complete: true, after: "closed",
    }),
  },
  chunkLine: {
    why: "a chunk-size line longer than maxHeaderSize gets 413 with a body saying so; Bun.serve's 413 has none",
    fast: (bun: Observation) =>
      with_(bun, { headers: [["connection", "close"], ["content-length", "18"], ["content-type", "text/plain"]], framing: "length", body: "Content Too Large\n", reason: "Content Too Large" }),
  },
} satisfies Record<string, Difference>;

/** Bun's observation of a HEAD answer with the Content-Type fasthttp also sends. */
const headType = (type: string): Difference => ({ why: WHY.headKeepsType, fast: (bun) => plus(bun, "content-type", type) });

interface Case {
  name: string;
  request: string;
  differs?: Difference;
}

const req = (method: string, target: string, extra = ""): string => `${method} ${target} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
const get = (target: string, extra = ""): string => req("GET", target, extra);
const head = (target: string): string => req("HEAD", target);

const CASES: Case[] = [
  // What the app is shown.
  { name: "a GET as the app sees it", request: get("/seen", "Accept: */*\r\nX-Two: a\r\nX-Two: b\r\n") },
  { name: "a POST with a body", request: req("POST", "/seen", "Content-Type: text/plain\r\nContent-Length: 5\r\n") + "hello" },
  { name: "a chunked POST", request: req("POST", "/seen", "Transfer-Encoding: chunked\r\n") + "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n" },
  { name: "a PURGE (a method Bun's Request keeps)", request: req("PURGE", "/seen") },
  { name: "PATCH, as sent", request: req("PATCH", "/seen", "Content-Length: 2\r\n") + "{}" },
  { name: "TRACE", request: req("TRACE", "/seen") },
  { name: "DELETE", request: req("DELETE", "/seen") },
  { name: "OPTIONS", request: req("OPTIONS", "/seen") },
  { name: "a custom method", request: req("CUSTOM", "/seen"), differs: D.unknownMethod },
  { name: "a lower-case method", request: req("get", "/seen"), differs: D.unknownMethod },
  { name: "an HTTP/1.0 request without Host", request: "GET /seen HTTP/1.0\r\n\r\n", differs: D.http10NoHost },
  {
    name: "an absolute-form target naming another host",
    request: get("http://other:8080/seen"),
    differs: {
      why: WHY.absoluteAuthority,
      fast: (bun) => {
        const body = bun.body.replace('"http://x/seen"', '"http://other:8080/seen"');
        return with_(bun, { headers: bun.headers.map(([n, v]) => [n, n === "content-length" ? String(body.length) : v]), body });
      },
    },
  },
  { name: "an ftp:// absolute-form target", request: get("ftp://x/seen"), differs: D.cannedError },
  { name: "a zzz:// absolute-form target", request: get("zzz://x/seen"), differs: D.cannedError },
  { name: "a file:// absolute-form target", request: get("file://host/seen"), differs: D.cannedError },
  { name: "an invalid percent-escape in the query", request: get("/q?%zz=1") },
  { name: "quote, backslash, bar, braces, caret, backtick in the target", request: get('/q?a="b"\\c|d{e}^f`g') },
  { name: "a percent-escape in the path", request: get("/q/%41%zz") },
  { name: "a fragment in the target", request: get("/q#frag"), differs: D.targetStrict },
  { name: "angle brackets in the target", request: get("/q?a=<b>"), differs: D.targetStrict },
  { name: "a byte >= 0x80 in the target", request: get("/q/\xe9"), differs: D.targetStrict },
  { name: "OPTIONS *", request: req("OPTIONS", "*"), differs: D.asterisk },
  {
    name: "a chunk extension past the line bound",
    request: req("POST", "/seen", "Transfer-Encoding: chunked\r\n") + `3;${"e".repeat(20_000)}\r\nabc\r\n0\r\n\r\n`,
    differs: D.chunkLine,
  },
  { name: "a chunk extension within the bound", request: req("POST", "/seen", "Transfer-Encoding: chunked\r\n") + `3;${"e".repeat(3000)}\r\nabc\r\n0\r\n\r\n` },

  // How each kind of Response is written.
  { name: "a string", request: get("/ping") },
  { name: "an empty string", request: get("/empty-string") },
  { name: "empty bytes", request: get("/empty-bytes") },
  { name: "bytes", request: get("/bytes") },
  { name: "a typed Blob", request: get("/blob") },
  { name: "an untyped Blob", request: get("/blob-untyped") },
  { name: "Blob.stream()", request: get("/blob-stream") },
  { name: "Bun.file()", request: get("/file") },
  { name: "Bun.file().stream()", request: get("/file-stream") },
  { name: "URLSearchParams", request: get("/form") },
  { name: "Set-Cookie twice and a mixed-case name", request: get("/cookies") },
  { name: "clone()", request: get("/clone") },
  { name: "clone() of Response.json()", request: get("/clone-json") },
  { name: "Response.json() with init", request: get("/json") },
  { name: "Response.redirect() absolute", request: get("/redirect") },
  { name: "Response.redirect() with the default status", request: get("/redirect-default") },
  { name: "a Response subclass", request: get("/subclass") },
  { name: "the app's statusText", request: get("/status-text") },
  { name: "the app's own Content-Length on a string", request: get("/text-length") },
  { name: "a 4000-byte header value", request: get("/headers-big") },
  { name: "a stream ended at once", request: get("/stream-sync") },
  { name: "a stream ended after one wait", request: get("/stream-late") },
  { name: "an empty stream", request: get("/stream-empty") },
  { name: "a stream with its own Content-Type", request: get("/stream-typed") },
  { name: "an async generator", request: get("/async-iter") },
  { name: "a Node Readable", request: get("/node-readable") },
  { name: "Hono's c.body(stream)", request: get("/hono-stream") },

  // Statuses without content, and HEAD.
  { name: "205 made with a body", request: get("/205") },
  { name: "204 made with a body", request: get("/204-body") },
  { name: "304 with the app's Content-Length", request: get("/304") },
  { name: "304 made with a body", request: get("/304-body") },
  { name: "HEAD of a string", request: head("/ping"), differs: headType("text/plain;charset=utf-8") },
  { name: "HEAD of a 404", request: head("/nope"), differs: headType("text/plain;charset=utf-8") },
  { name: "HEAD with the app's Content-Length on a null body", request: head("/null-length") },
  { name: "HEAD with the app's Transfer-Encoding on a null body", request: head("/null-te") },
  { name: "HEAD of a stream", request: head("/stream-sync") },
  { name: "HEAD with a Content-Length that is no number, on a null body", request: head("/null-nan-length") },
  { name: "HEAD with a Content-Length that is no number, on a stream", request: head("/stream-nan-length") },
  { name: "HEAD of an event stream", request: head("/sse?key=head") },
  { name: "HEAD of Bun.file()", request: head("/file"), differs: headType("text/javascript;charset=utf-8") },
  { name: "HEAD of bytes", request: head("/bytes"), differs: headType("application/octet-stream") },
  { name: "HEAD of a 304", request: head("/304") },

  // Failures.
  { name: "an app that throws", request: get("/throw") },
  { name: "HEAD to an app that throws", request: head("/throw") },
  { name: "an app that rejects", request: get("/reject") },
  { name: "Response.error()", request: get("/error") },
  { name: "an app that returns a plain object", request: get("/not-response"), differs: D.notAResponse },
  { name: "a stream that fails before its first chunk", request: get("/stream-fail-first"), differs: D.failBeforeHead },
  { name: "a stream that fails in start() after a chunk", request: get("/stream-fail-sync"), differs: D.failBeforeHead },
  { name: "a stream that fails after its first chunk went out", request: get("/stream-fail-late"), differs: D.failAfterHead },
];

// Reason phrases: every status Bun names, and a few it does not.
for (const s of [201, 207, 208, 226, 300, 305, 306, 402, 418, 421, 423, 424, 425, 426, 451, 506, 507, 508, 510, 511]) {
  CASES.push({ name: `the reason phrase of ${s}`, request: get(`/reason/${s}`) });
}
for (const [s, reason] of [[413, "Content Too Large"], [422, "Unprocessable Content"]] as const) {
  CASES.push({ name: `the reason phrase of ${s}`, request: get(`/reason/${s}`), differs: { why: WHY.rfcReason, fast: (bun) => with_(bun, { reason }) } });
}
for (const s of [209, 299, 419, 599]) CASES.push({ name: `the reason phrase of ${s}`, request: get(`/reason/${s}`), differs: D.unnamedStatus });

let bun: ParityServer;
let fast: ParityServer;

beforeAll(async () => {
  [bun, fast] = await Promise.all([startParity("bun"), startParity("fasthttp")]);
});

afterAll(async () => {
  await Promise.all([bun?.stop(), fast?.stop()]);
});

describe("each request, side by side", () => {
  for (const c of CASES) {
    test(c.name, async () => {
      const [b, f] = await Promise.all([observe(bun.port, c.request), observe(fast.port, c.request)]);
      if (c.differs === undefined) {
        expect(f).toEqual(b);
      } else {
        expect(f).toEqual(c.differs.fast(b)); // what the difference says fasthttp does
        expect(b).not.toEqual(f); // and Bun.serve still does otherwise
      }
    });
  }
});

/** Opens a connection, sends `request`, and hands back the socket and what arrives on it. */
async function open(port: number, request: string): Promise<{ socket: net.Socket; received: () => string; closed: () => boolean }> {
  const socket = net.connect({ port, host: "127.0.0.1" });
  let data = "";
  let closed = false;
  socket.on("data", (d) => (data += d.toString("latin1")));
  socket.on("close", () => (closed = true));
  socket.on("error", () => (closed = true));
  await new Promise<void>((r) => socket.once("connect", () => r()));
  socket.write(request);
  return { socket, received: () => data, closed: () => closed };
}

/** What the app noted under `key` once it holds `n` entries (or after 2 s, whatever it holds then). */
async function logAfter(port: number, key: string, n: number): Promise<string[]> {
  let seen: string[] = [];
  for (let i = 0; i < 100 && seen.length < n; i++) {
    seen = await logOf(port, key);
    if (seen.length < n) await sleep(20);
  }
  return seen;
}

describe("over time, side by side", () => {
  for (const side of ["bun", "fasthttp"] as const) {
    const server = (): ParityServer => (side === "bun" ? bun : fast);

    test(`${side}: an event stream's first event arrives before its second is made`, async () => {
      const key = `sse-${side}-${Math.random()}`;
      const c = await open(server().port, get(`/sse?key=${key}`));
      try {
        expect(await until(() => c.received().includes("data: first"), 3000)).toBe(true);
        expect(c.received()).toContain("text/event-stream");
        expect(c.received().toLowerCase()).toContain("transfer-encoding: chunked");
        expect(c.received()).not.toContain("data: second");
        expect(await release(server().port, key)).toBe("released");
        expect(await until(() => c.received().endsWith("0\r\n\r\n"), 3000)).toBe(true);
        expect(c.received()).toContain("data: second");
      } finally {
        c.socket.destroy();
      }
    });

    test(`${side}: a stream that fails after its head went out ends without its last chunk`, async () => {
      const c = await open(server().port, get("/stream-fail-late"));
      expect(await until(c.closed, 3000)).toBe(true);
      const got = c.received();
      expect(got).toStartWith("HTTP/1.1 200 OK\r\n");
      expect(got.toLowerCase()).toContain("transfer-encoding: chunked");
      expect(got).toContain("7\r\npartial\r\n");
      expect(got).not.toContain("0\r\n\r\n"); // the client can tell the body is incomplete
    });

    test(`${side}: a client that leaves a streaming response cancels the stream and aborts the signal`, async () => {
      const key = `hang-${side}-${Math.random()}`;
      const c = await open(server().port, get(`/hang?key=${key}`));
      expect(await until(() => c.received().includes("waiting"), 3000)).toBe(true);
      c.socket.destroy();
      expect((await logAfter(server().port, key, 2)).sort()).toEqual(["abort", "cancel"]);
    });

    test(`${side}: a client that leaves before the answer aborts the signal`, async () => {
      const key = `slow-${side}-${Math.random()}`;
      const c = await open(server().port, get(`/slow-answer?key=${key}`));
      await sleep(50); // the request reaches the app
      c.socket.destroy();
      expect(await logAfter(server().port, key, 1)).toEqual(["abort"]);
      await release(server().port, key);
    });
  }
});

describe("the server argument", () => {
  test("fetch(request, server) gets Bun's server surface", async () => {
    const [b, f] = await Promise.all([bun, fast].map(async (s) => (await fetch(`http://127.0.0.1:${s.port}/server`)).json()));
    const shape = (o: Record<string, unknown>) => ({ ...o, ip: { ...(o.ip as object), port: typeof (o.ip as { port: unknown }).port } });
    expect(shape(f as Record<string, unknown>)).toEqual(shape(b as Record<string, unknown>));
  });
});
