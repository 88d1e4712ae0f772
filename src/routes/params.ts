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

/**
 * The param at `b[s, e)`, percent-decoded: `%XX` is the byte; a `%` whose
 * next two characters are not both hex digits is U+FFFD in place of all
 * three, one with fewer than two characters after it is U+FFFD in place of
 * the `%` alone; the bytes are then read as UTF-8 (see {@link utf8}). `+`
 * stays `+`. A param without `%` (the usual) is its bytes as they are (the
 * core lets only ASCII through).
 */
export function decodeParam(b: Uint8Array, s: number, e: number): string {
  const pct = b.indexOf(37, s);
  if (pct < 0 || pct >= e) return (Buffer.from(b.buffer, b.byteOffset, b.byteLength) as SliceBuffer).latin1Slice(s, e);
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

/** The last match's params as Bun's `req.params`: an object of the named ones (a wildcard's tail is not a param). */
export function paramsOf(router: Router, b: Uint8Array): Record<string, string> {
  const names = router.entry!.names;
  const params: Record<string, string> = {};
  for (let i = 0; i < router.count; i++) {
    const name = names[i]!;
    if (name !== "") params[name] = decodeParam(b, router.paramStart(i), router.paramEnd(i));
  }
  return params;
}
