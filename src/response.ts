/**
 * Response framing: the `200 OK` head that wraps a plain body, status lines,
 * the Connection header a head says, header checks, and the `Date` header,
 * formatted once per second. (The responses the server makes by itself, such
 * as a 500 for a failed handler, are the core's: c/answers.c.)
 * @module
 */

import { REQ_HTTP10, REQ_KEEP_ALIVE } from "./layout.ts";

const enc = new TextEncoder();

/** Bytes of an ASCII string. */
export function ascii(s: string): Uint8Array {
  return enc.encode(s);
}

/** {@link connectionMode}: no Connection header (HTTP/1.1 keep-alive). */
const CONN_NONE = 0;
/** {@link connectionMode}: `Connection: close`. */
const CONN_CLOSE = 1;
/** {@link connectionMode}: `Connection: keep-alive` (HTTP/1.0 keep-alive). */
const CONN_KEEP_ALIVE = 2;

/**
 * Which Connection header a head built for this request says, from its flags:
 * the core decided keep-alive (REQ_KEEP_ALIVE), and the head only reports it.
 */
export function connectionMode(flags: number): number {
  return (flags & REQ_KEEP_ALIVE) === 0 ? CONN_CLOSE : (flags & REQ_HTTP10) !== 0 ? CONN_KEEP_ALIVE : CONN_NONE;
}

const CONN_LINES: readonly (Uint8Array | null)[] = [null, ascii("Connection: close\r\n"), ascii("Connection: keep-alive\r\n")];

/** The Connection header line of a {@link connectionMode}, or null for none. */
export function connectionLine(mode: number): Uint8Array | null {
  return CONN_LINES[mode]!;
}

const SUFFIX_KEEP = ascii("\r\n\r\n");
const SUFFIX_CLOSE = ascii("\r\nConnection: close\r\n\r\n");
const SUFFIX_KEEP10 = ascii("\r\nConnection: keep-alive\r\n\r\n");

/** Whether a response with this status carries no body: 1xx, 204 and 304 (RFC 9110 §6.4.1). */
export function isBodyless(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/** Writes `n` (a non-negative integer) in decimal at `out[at]`; returns the index after its last digit. */
export function writeDecimal(out: Uint8Array, at: number, n: number): number {
  if (n === 0) {
    out[at] = 48;
    return at + 1;
  }
  let digits = 0;
  for (let x = n; x > 0; x = Math.floor(x / 10)) digits++;
  for (let k = digits - 1, x = n; k >= 0; k--, x = Math.floor(x / 10)) out[at + k] = 48 + (x % 10);
  return at + digits;
}

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
  #date: Uint8Array = new Uint8Array(0);

  /** `Date: <IMF-fixdate>\r\n` for the current second (after tick). */
  get dateLine(): Uint8Array {
    return this.#date;
  }

  /** Refreshes the Date; call once per batch. */
  tick(now: number): void {
    const sec = Math.floor(now / 1000);
    if (sec === this.#second) return;
    this.#second = sec;
    const date = new Date(sec * 1000).toUTCString();
    this.#prefix = ascii(`HTTP/1.1 200 OK\r\nDate: ${date}\r\nContent-Length: `);
    this.#date = ascii(`Date: ${date}\r\n`);
  }

  /** The longest head write() can produce. */
  get maxLength(): number {
    return this.#prefix.length + 16 + SUFFIX_KEEP10.length;
  }

  /**
   * Writes the head for a body of `len` bytes at `out[at]`; returns its
   * length. `mode` is a {@link connectionMode}.
   */
  write(out: Uint8Array, at: number, len: number, mode: number): number {
    const p = this.#prefix;
    out.set(p, at);
    const i = writeDecimal(out, at + p.length, len);
    const s = mode === CONN_NONE ? SUFFIX_KEEP : mode === CONN_CLOSE ? SUFFIX_CLOSE : SUFFIX_KEEP10;
    out.set(s, i);
    return i + s.length - at;
  }
}

/**
 * Reason phrases: Bun.serve's table, with RFC 9110's current names where they
 * differ (413 Content Too Large, 422 Unprocessable Content). A status without
 * a name gets an empty phrase (RFC 9112 §4); Bun.serve sends "HM".
 */
const REASONS: Record<number, string> = {
  100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 202: "Accepted",
  203: "Non-Authoritative Information", 204: "No Content", 205: "Reset Content", 206: "Partial Content",
  207: "Multi-Status", 208: "Already Reported", 226: "IM Used",
  300: "Multiple Choices", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
  305: "Use Proxy", 306: "Switch Proxy",
  307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized",
  402: "Payment Required", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
  406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout", 409: "Conflict",
  410: "Gone", 411: "Length Required", 412: "Precondition Failed", 413: "Content Too Large",
  414: "URI Too Long", 415: "Unsupported Media Type", 416: "Range Not Satisfiable", 417: "Expectation Failed",
  418: "I'm a Teapot", 421: "Misdirected Request", 422: "Unprocessable Content", 423: "Locked",
  424: "Failed Dependency", 425: "Too Early", 426: "Upgrade Required",
  428: "Precondition Required", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
  451: "Unavailable For Legal Reasons", 500: "Internal Server Error", 501: "Not Implemented",
  502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
  506: "Variant Also Negotiates", 507: "Insufficient Storage", 508: "Loop Detected", 510: "Not Extended",
  511: "Network Authentication Required",
};

const statusLines = new Map<number, Uint8Array>();

/** `HTTP/1.1 <status> <reason>\r\n`, made once per status. */
export function statusLine(status: number): Uint8Array {
  let line = statusLines.get(status);
  if (line === undefined) {
    line = ascii(`HTTP/1.1 ${status} ${REASONS[status] ?? ""}\r\n`);
    statusLines.set(status, line);
  }
  return line;
}

/** Header values and names as the response builder accepts them. */
export type HeadersInit = Record<string, string> | Iterable<readonly [string, string]>;

/** Throws unless `name` is a token and `value` has no CR, LF, NUL or other control byte. */
export function checkHeader(name: string, value: string): void {
  if (name.length === 0) throw new TypeError("fasthttp: a header name must not be empty");
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const tchar =
      (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) ||
      (c !== 34 && c !== 40 && c !== 41 && c !== 44 && c !== 47 && c !== 58 && c !== 59 && c !== 60 &&
        c !== 61 && c !== 62 && c !== 63 && c !== 64 && c !== 91 && c !== 92 && c !== 93 && c !== 123 &&
        c !== 125 && c > 32 && c < 127);
    if (!tchar) throw new TypeError(`fasthttp: invalid header name ${JSON.stringify(name)}`);
  }
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127 || c > 255) {
      throw new TypeError(`fasthttp: invalid character in the value of header ${JSON.stringify(name)}`);
    }
  }
}
