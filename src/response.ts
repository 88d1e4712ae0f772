/**
 * Response framing: the `200 OK` head that wraps a plain body, the responses
 * the server makes itself, and the `Date` header, formatted once per second.
 * @module
 */

const enc = new TextEncoder();

/** Bytes of an ASCII string. */
export function ascii(s: string): Uint8Array {
  return enc.encode(s);
}

/** The 500 sent when a handler throws, rejects or returns something that is not bytes. */
export const RESPONSE_500 = ascii(
  "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n\r\nInternal Server Error\n",
);

const SUFFIX_KEEP = ascii("\r\n\r\n");
const SUFFIX_CLOSE = ascii("\r\nConnection: close\r\n\r\n");
const SUFFIX_KEEP10 = ascii("\r\nConnection: keep-alive\r\n\r\n");

/** Whether bytes begin with `HTTP/`, i.e. are a complete response. */
export function isRawResponse(b: Uint8Array): boolean {
  return b.length >= 5 && b[0] === 72 && b[1] === 84 && b[2] === 84 && b[3] === 80 && b[4] === 47;
}

/**
 * Writes `HTTP/1.1 200 OK` heads. The prefix up to `Content-Length: ` carries
 * the Date and is rebuilt when the second changes.
 */
export class HeadWriter {
  #second = -1;
  #prefix: Uint8Array = new Uint8Array(0);

  /** Refreshes the Date; call once per batch. */
  tick(now: number): void {
    const sec = Math.floor(now / 1000);
    if (sec === this.#second) return;
    this.#second = sec;
    this.#prefix = ascii(`HTTP/1.1 200 OK\r\nDate: ${new Date(sec * 1000).toUTCString()}\r\nContent-Length: `);
  }

  /** The longest head write() can produce. */
  get maxLength(): number {
    return this.#prefix.length + 16 + SUFFIX_KEEP10.length;
  }

  /**
   * Writes the head for a body of `len` bytes at `out[at]`; returns its
   * length. `mode`: 0 keep-alive (HTTP/1.1), 1 close, 2 keep-alive (HTTP/1.0).
   */
  write(out: Uint8Array, at: number, len: number, mode: number): number {
    const p = this.#prefix;
    out.set(p, at);
    let i = at + p.length;
    if (len === 0) {
      out[i++] = 48;
    } else {
      let digits = 0;
      for (let x = len; x > 0; x = Math.floor(x / 10)) digits++;
      for (let k = digits - 1, x = len; k >= 0; k--, x = Math.floor(x / 10)) out[i + k] = 48 + (x % 10);
      i += digits;
    }
    const s = mode === 0 ? SUFFIX_KEEP : mode === 1 ? SUFFIX_CLOSE : SUFFIX_KEEP10;
    out.set(s, i);
    return i + s.length - at;
  }
}
