/**
 * Microbenchmarks (mitata) behind the web-standard adapter's choices (src/adapter/): what a
 * standard Request costs to build, what reading a Response costs, and what the Response
 * subclass of src/adapter/known-body.ts adds and saves.
 *
 *   bun bench/micro/adapter.ts
 *
 * The first group uses the native Response; `trackResponses()` then installs the subclass as
 * `globalThis.Response` for the groups after it (it is what `fetchHandler()` does).
 */
import { bench, do_not_optimize, group, run, summary } from "mitata";
import { Hono } from "hono";
import { fetchHandler } from "../../src/adapter/fetch.ts";
import { NativeResponse, trackResponses } from "../../src/adapter/known-body.ts";
import { toRequest } from "../../src/adapter/request.ts";
import { writeResponse } from "../../src/adapter/response.ts";
import type { SliceBuffer } from "../../src/arena.ts";
import { D } from "../../src/layout.ts";
import { HttpRequest } from "../../src/request.ts";
import { HeadWriter } from "../../src/response.ts";
import { core, detachedBody, probe, typical } from "./fixtures.ts";

const url = "http://127.0.0.1:3000/users/42?fields=name";
const wrkHeaders: [string, string][] = [["Host", "127.0.0.1:3000"]];
const browserHeaders: [string, string][] = [
  ["Host", "localhost:3000"], ["Connection", "keep-alive"], ["sec-ch-ua", '"Chromium";v="130", "Not?A_Brand";v="99"'],
  ["sec-ch-ua-mobile", "?0"], ["sec-ch-ua-platform", '"Linux"'], ["Upgrade-Insecure-Requests", "1"],
  ["User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"],
  ["Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"],
  ["Sec-Fetch-Site", "none"], ["Sec-Fetch-Mode", "navigate"], ["Sec-Fetch-User", "?1"], ["Sec-Fetch-Dest", "document"],
  ["Accept-Encoding", "gzip, deflate, br, zstd"], ["Accept-Language", "en-US,en;q=0.9"], ["Cookie", "session=abc123; theme=dark"],
];
const browserRecord = Object.fromEntries(browserHeaders);

group("a standard Request", () => {
  summary(() => {
    bench("new Request(url)", () => do_not_optimize(new Request(url)));
    bench("new Request(url, { method: 'GET' })", () => do_not_optimize(new Request(url, { method: "GET" })));
    bench("1 header: new Request(url) + headers.append (the adapter)", () => {
      const r = new Request(url);
      r.headers.append(wrkHeaders[0]![0], wrkHeaders[0]![1]);
      do_not_optimize(r);
    });
    bench("1 header: new Request(url, { headers: [[...]] })", () => do_not_optimize(new Request(url, { headers: wrkHeaders })));
    bench("15 headers: new Request(url) + headers.append (the adapter)", () => {
      const r = new Request(url);
      const h = r.headers;
      for (let i = 0; i < browserHeaders.length; i++) h.append(browserHeaders[i]![0], browserHeaders[i]![1]);
      do_not_optimize(r);
    });
    bench("15 headers: new Request(url, { headers: pairs })", () => do_not_optimize(new Request(url, { headers: browserHeaders })));
    bench("15 headers: new Request(url, { headers: record })", () => do_not_optimize(new Request(url, { headers: browserRecord })));
  });
});

const body = '{"message":"Hello, World!"}';
const JSON_TYPE = { "Content-Type": "application/json" };
trackResponses();
const Known = globalThis.Response; // the subclass, now installed

group("making a Response (Hono's c.json passes { status: undefined, headers })", () => {
  summary(() => {
    bench("native: Response(str)", () => do_not_optimize(new NativeResponse(body)));
    bench("native: Response(str, { status: undefined, headers })", () =>
      do_not_optimize(new NativeResponse(body, { status: undefined, headers: JSON_TYPE })));
    bench("native: Response(str, { headers })", () => do_not_optimize(new NativeResponse(body, { headers: JSON_TYPE })));
    bench("native: Response(str) + headers.set", () => {
      const r = new NativeResponse(body);
      r.headers.set("Content-Type", "application/json");
      do_not_optimize(r);
    });
    bench("subclass: Response(str)", () => do_not_optimize(new Known(body)));
    bench("subclass: Response(str, { status: undefined, headers })", () =>
      do_not_optimize(new Known(body, { status: undefined, headers: JSON_TYPE })));
  });
});

group("reading a Response made from a string", () => {
  summary(() => {
    bench("Bun.peek(res.bytes())", () => do_not_optimize(Bun.peek(new NativeResponse("Hello, World!").bytes())));
    bench("res.body.getReader().read() (how an unknown body is read)", () =>
      do_not_optimize(Bun.peek(new NativeResponse("Hello, World!").body!.getReader().read())));
    bench("headers: for..of res.headers", () => {
      const r = new NativeResponse(body, { headers: JSON_TYPE });
      for (const f of r.headers) do_not_optimize(f);
    });
    bench("headers: res.headers.toJSON() (the adapter)", () => {
      const r = new NativeResponse(body, { headers: JSON_TYPE });
      do_not_optimize((r.headers as Headers & { toJSON(): object }).toJSON());
    });
  });
});

/** A request over plain memory, as fixtures.ts's detachedRequest, that can be reset (its arena emptied) before each use. */
function resettable(bytes: Uint8Array): () => HttpRequest {
  const slabSize = 16384;
  const mem = new Uint8Array(slabSize);
  mem.set(bytes);
  const out = new Int32Array(16);
  if (probe.fh_scan_probe(mem, bytes.length, 1 << 20, 1 << 24, out) <= 0) throw new Error("fixture does not parse");
  const heads = new HeadWriter();
  heads.tick(Date.now());
  const req = new HttpRequest({ arena: { core, srv: 0 as never, mem, memBuf: Buffer.from(mem.buffer) as SliceBuffer, slabSize }, heads, body: detachedBody, server: {} as never, ws: null });
  const d = new Int32Array(D.SIZE);
  d[D.LEN] = bytes.length;
  [d[D.METHOD], d[D.METHOD + 1], d[D.PATH], d[D.PATH + 1]] = [out[3]!, out[4]!, out[5]!, out[6]!];
  [d[D.VERSION], d[D.VERSION + 1], d[D.HEADERS], d[D.HEADERS + 1]] = [out[5]! + out[6]! + 1, 8, out[9]!, out[10]!];
  [d[D.BODY], d[D.FLAGS], d[D.TARGET], d[D.TARGET + 1]] = [bytes.length, out[2]!, out[7]!, out[8]!];
  const view = mem.subarray(0, bytes.length);
  return () => {
    req._reset(d, 0, view, null);
    return req;
  };
}

const app = new Hono();
app.get("/", (c) => c.text("Hello, World!"));
app.get("/json", (c) => c.json({ message: "Hello, World!" }));
const handler = fetchHandler(app.fetch);
const wrkReq = resettable(typical);
// On "/": a route that answers at once (Hono's 404 answers through a promise, which a loop of
// synchronous calls would pile up on one request's arena).
const browserReq = resettable(
  new TextEncoder().encode(`GET / HTTP/1.1\r\n${browserHeaders.map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`),
);
const jsonReq = resettable(new TextEncoder().encode("GET /json HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n\r\n"));
const TEXT = { "content-type": "text/plain;charset=utf-8" };

group("one request through the adapter, JavaScript only (a detached request, no socket)", () => {
  summary(() => {
    bench("whole: fetchHandler(Hono) GET / (wrk's request)", () => do_not_optimize(handler(wrkReq(), undefined)));
    bench("whole: fetchHandler(Hono) GET /json", () => do_not_optimize(handler(jsonReq(), undefined)));
    bench("whole: fetchHandler(Hono) GET / (browser-like request, headers unread)", () => do_not_optimize(handler(browserReq(), undefined)));
    bench("part: toRequest (wrk's request)", () => do_not_optimize(toRequest(wrkReq())));
    bench("part: toRequest (browser-like request)", () => do_not_optimize(toRequest(browserReq())));
    bench("part: toRequest + headers read (browser-like request)", () => do_not_optimize((toRequest(browserReq()) as Request).headers));
    const request = toRequest(wrkReq()) as Request;
    bench("part: Hono's app.fetch for GET /", () => do_not_optimize(app.fetch(request)));
    bench("part: writeResponse(new Response(text))", () => do_not_optimize(writeResponse(wrkReq(), request, new Response("Hello, World!"))));
    bench("part: req.response(200, text, one header) alone (the core's builder)", () => do_not_optimize(wrkReq().response(200, "Hello, World!", TEXT)));
  });
});

await run();
