/**
 * Inputs and a detached request for the microbenchmarks: typical, long-header
 * and pipelined requests, and an HttpRequest over plain memory (no server,
 * no socket) so the request API can be measured alone.
 */
import { D } from "../../src/layout.ts";
import { HttpRequest } from "../../src/request.ts";
import { HeadWriter } from "../../src/response.ts";
import { loadCore } from "../../src/ffi.ts";
import { loadProbe } from "./probe.ts";
import type { SliceBuffer } from "../../src/arena.ts";
import type { BodyHost } from "../../src/body.ts";

const enc = new TextEncoder();

/** What wrk sends. */
export const typical = enc.encode("GET / HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n\r\n");

/** A browser-like request with long headers. */
export const longHeaders = enc.encode(
  "GET /wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg HTTP/1.1\r\n" +
    "Host: www.kittyhell.com\r\n" +
    "User-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; ja-JP-mac; rv:1.9.2.3) Gecko/20100401 Firefox/3.6.3 Pathtraq/0.9\r\n" +
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
    "Accept-Language: ja,en-us;q=0.7,en;q=0.3\r\n" +
    "Accept-Encoding: gzip,deflate\r\n" +
    "Accept-Charset: Shift_JIS,utf-8;q=0.7,*;q=0.7\r\n" +
    "Keep-Alive: 115\r\n" +
    "Connection: keep-alive\r\n" +
    "Cookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx; " +
    "__utma=xxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.x; " +
    "__utmz=xxxxxxxxx.xxxxxxxxxx.x.x.utmccn=(referral)|utmcsr=reader.livedoor.com|utmcct=/reader/|utmcmd=referral\r\n\r\n",
);

/** Sixteen typical requests back to back. */
export const pipelined = (() => {
  const out = new Uint8Array(typical.length * 16);
  for (let i = 0; i < 16; i++) out.set(typical, i * typical.length);
  return out;
})();

/** The compiled core. */
export const core = loadCore();
/** The scanner's benchmark entry points (c/probe.c). */
export const probe = loadProbe();

/** The body host of a request that belongs to no server (its bodies arrive whole). */
export const detachedBody: BodyHost = { core, srv: () => null, poke() {}, pump() {}, wait() {} };

/** Parses `bytes` with the core and returns a detached HttpRequest over a copy of them. */
export function detachedRequest(bytes: Uint8Array, slabSize = 16384): HttpRequest {
  const mem = new Uint8Array(slabSize);
  mem.set(bytes);
  const out = new Int32Array(16);
  const r = probe.fh_scan_probe(mem, bytes.length, 1 << 20, 1 << 24, out);
  if (r <= 0) throw new Error(`fixture does not parse: ${r}`);
  const heads = new HeadWriter();
  heads.tick(Date.now());
  const req = new HttpRequest({
    arena: { core, srv: 0 as never, mem, memBuf: Buffer.from(mem.buffer) as SliceBuffer, slabSize },
    heads,
    body: detachedBody,
    server: {} as never, // a detached request: no server (the fetch adapter only keys its FetchServer on it)
    ws: null,
  });
  const d = new Int32Array(D.SIZE);
  d[D.SLAB] = 0;
  d[D.LEN] = bytes.length;
  d[D.METHOD] = out[3]!;
  d[D.METHOD + 1] = out[4]!;
  d[D.PATH] = out[5]!;
  d[D.PATH + 1] = out[6]!;
  d[D.VERSION] = out[5]! + out[6]! + 1;
  d[D.VERSION + 1] = 8;
  d[D.HEADERS] = out[9]!;
  d[D.HEADERS + 1] = out[10]!;
  d[D.BODY] = r;
  d[D.FLAGS] = out[2]!;
  d[D.TARGET] = out[7]!;
  d[D.TARGET + 1] = out[8]!;
  req._reset(d, 0, mem.subarray(0, bytes.length), null);
  return req;
}
