/**
 * A route's `params`: each `:name` segment's bytes percent-decoded into a
 * string as Bun.serve decodes them (notes/ROUTES.md, "Param values").
 * @module
 */
import type { SliceBuffer } from "../arena.ts";
import type { Router } from "./match.ts";

/** Bytes of a decoded param, reused (a param is at most a request-target long). */
let scratch = new Uint8Array(1024);

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  c |= 32;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * Decodes UTF-8 as Bun's router does: a sequence cut short, a stray
 * continuation byte or an invalid lead byte is one U+FFFD each; a complete
 * sequence that is overlong, a surrogate or past U+10FFFF is one U+FFFD.
 */
function utf8(b: Uint8Array, n: number): string {
  let out = "";
  let i = 0;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    let need: number;
    let cp: number;
    let min: number;
    if (c >= 0xc0 && c < 0xe0) [need, cp, min] = [1, c & 0x1f, 0x80];
    else if (c >= 0xe0 && c < 0xf0) [need, cp, min] = [2, c & 0x0f, 0x800];
    else if (c >= 0xf0 && c < 0xf8) [need, cp, min] = [3, c & 0x07, 0x10000];
    else {
      out += "\ufffd";
      i++;
      continue;
    }
    let k = 1;
    while (k <= need && i + k < n && (b[i + k]! & 0xc0) === 0x80) {
      cp = (cp << 6) | (b[i + k]! & 0x3f);
      k++;
    }
    i += k;
    if (k <= need || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) out += "\ufffd";
    else out += String.fromCodePoint(cp);
  }
  return out;
}

/** The last buffer's bytes as a Buffer (the arena's memory, or a Request's): latin1 without a Buffer per param. */
let lastMem: ArrayBufferLike | null = null;
let lastBuf: SliceBuffer | null = null;

function latin1(b: Uint8Array, s: number, e: number): string {
  if (b.buffer !== lastMem) {
    lastBuf = Buffer.from(b.buffer) as SliceBuffer;
    lastMem = b.buffer;
  }
  return lastBuf!.latin1Slice(b.byteOffset + s, b.byteOffset + e);
}

/**
 * The param at `b[s, e)`, percent-decoded: `%XX` is the byte; a `%` whose
 * next two characters are not both hex digits is U+FFFD in place of all
 * three, one with fewer than two characters after it is U+FFFD in place of
 * the `%` alone; the bytes are then read as UTF-8 (see {@link utf8}). `+`
 * stays `+`. A param without `%` (the usual) is its bytes as they are (the
 * core lets only ASCII through).
 */
export function decodeParam(b: Uint8Array, s: number, e: number): string {
  let pct = s;
  while (pct < e && b[pct] !== 37) pct++;
  if (pct === e) return latin1(b, s, e);
  if (scratch.length < (e - s) * 3) scratch = new Uint8Array((e - s) * 3);
  const out = scratch;
  let n = 0;
  let i = s;
  while (i < e) {
    const c = b[i]!;
    if (c !== 37) {
      out[n++] = c;
      i++;
    } else if (e - i < 3) {
      out[n++] = 0xef; out[n++] = 0xbf; out[n++] = 0xbd; // prettier-ignore
      i++;
    } else {
      const hi = hex(b[i + 1]!);
      const lo = hex(b[i + 2]!);
      if (hi < 0 || lo < 0) {
        out[n++] = 0xef; out[n++] = 0xbf; out[n++] = 0xbd; // prettier-ignore
      } else out[n++] = (hi << 4) | lo;
      i += 3;
    }
  }
  return utf8(out, n);
}

/** Makes the last match's params object for one route (see {@link compileParams}). */
export type ParamsMaker = (router: Router, b: Uint8Array) => Record<string, string>;

/**
 * The prototype of a route's params, as Bun's: it inherits nothing (no
 * `toString`, no `hasOwnProperty`: the names of Object.prototype are free
 * for params) and tags the object `[object RequestParams]`.
 */
const REQUEST_PARAMS: object = Object.freeze(Object.create(null, { [Symbol.toStringTag]: { value: "RequestParams" } }));

/**
 * A route's maker of Bun's `req.params`: an object of its named params (a
 * wildcard's tail is not a param), made by a constructor with the route's
 * keys, so that every request of a route builds the same shape without
 * adding keys one by one. As in Bun, it inherits nothing (see
 * {@link REQUEST_PARAMS}: so a param named `__proto__` is an own key, with
 * no setter to reach), and a route without params gets an empty object with
 * a null prototype.
 */
export function compileParams(names: readonly string[]): ParamsMaker {
  const fields: string[] = [];
  names.forEach((name, i) => {
    if (name !== "") fields.push(`this[${JSON.stringify(name)}] = d(b, c[${2 * i}], c[${2 * i + 1}]);`);
  });
  if (fields.length === 0) return () => Object.create(null);
  // The names are the app's own route keys (checked by ./pattern.ts), quoted by JSON.stringify.
  const Params = new Function("d", `return function RequestParams(c, b) { ${fields.join(" ")} };`)(decodeParam);
  Params.prototype = REQUEST_PARAMS;
  return (r, b) => new Params(r.caps, b);
}

/** The last match's params as Bun's `req.params` (made by its route's {@link compileParams}). */
export function paramsOf(router: Router, b: Uint8Array): Record<string, string> {
  return router.entry!.params(router, b);
}
