/**
 * permessage-deflate negotiation (RFC 7692 §5, §7.1): the client's
 * `Sec-WebSocket-Extensions` offers read with RFC 6455 §9.1's grammar, the
 * first acceptable one answered as Bun.serve answers it for the same
 * `perMessageDeflate` option, and the parameters both ends then keep to.
 *
 * How Bun's option maps (Bun's docs for `perMessageDeflate`, and its 101
 * answers observed with Bun 1.4.4; uWebSockets' CompressOptions underneath):
 *
 * - `true` is `{ compress: "shared", decompress: "shared" }`; `false`,
 *   `undefined`, `null` and `{}` turn the extension off.
 * - A **shared** compressor (`"shared"`, `true`) is one 15-bit compressor for
 *   every socket, reset after each message: the answer has
 *   `server_no_context_takeover`, and an offer that limits the server's window
 *   below 15 bits is declined (one shared compressor cannot honour it).
 * - A **dedicated** compressor (`"dedicated"` = `"256KB"`, or a size) is one
 *   per socket keeping its context: `"3KB"` and `"4KB"` are 9 bits, `"8KB"` 10,
 *   `"16KB"` 11, `"32KB"` 12, `"64KB"` 13, `"128KB"` 14, `"256KB"` 15, lowered
 *   to the offer's `server_max_window_bits`. An offer of
 *   `server_no_context_takeover` makes it the shared one.
 * - A **shared** decompressor answers `client_no_context_takeover` (the
 *   client resets its context, so one 15-bit decompressor serves all).
 * - A **dedicated** decompressor (`"dedicated"`, or a size: `"3KB"` is 11
 *   bits, `"4KB"` 12, `"8KB"` 13, `"16KB"` 14, `"32KB"` and up 15) keeps the
 *   client's context, with its window lowered by `client_max_window_bits`
 *   when the client offers that parameter; a client that does not offer it
 *   cannot be held to less than 15 bits, so below 15 the answer falls back to
 *   `client_no_context_takeover`.
 * - `"disable"` / `false` for `compress`: the server never compresses
 *   (`params.compress` false), but a decompressor is still offered, so the
 *   answer is negotiated as for a shared compressor. For `decompress`:
 *   permessage-deflate cannot stop a client from compressing, so it is a
 *   shared decompressor while `compress` is on. Each side left out defaults
 *   to `"shared"` if the other is on; both off (or both left out): no
 *   extension.
 *
 * Where this answers differently from Bun 1.4.4 (the RFC's reasons):
 * - It never agrees to `server_max_window_bits=8` (Bun does, for a dedicated
 *   compressor): zlib's raw deflate cannot make an 8-bit window and silently
 *   uses 9, which a peer promised 8 may refuse. That offer is declined and
 *   the next one tried.
 *
 * The answer's parameters come in Bun's order: `client_max_window_bits` or
 * `client_no_context_takeover`, then `server_no_context_takeover`, then
 * `server_max_window_bits`.
 * @module
 */

/** Bun's compressor sizes and modes (`Bun.WebSocketCompressor`). */
export type WebSocketCompressor =
  | "disable"
  | "shared"
  | "dedicated"
  | "3KB"
  | "4KB"
  | "8KB"
  | "16KB"
  | "32KB"
  | "64KB"
  | "128KB"
  | "256KB";

/** Bun's `websocket.perMessageDeflate` object form. */
export interface PerMessageDeflate {
  /** The compressor for messages the server sends. */
  compress?: WebSocketCompressor | boolean;
  /** The decompressor for messages the server receives. */
  decompress?: WebSocketCompressor | boolean;
}

/** What was agreed for one connection (RFC 7692 §7.1's parameters, with every default filled in). */
export interface DeflateParams {
  /** The server resets its compressor after each message (a shared compressor may serve it). */
  serverNoContextTakeover: boolean;
  /** The client resets its compressor after each message (a shared decompressor may serve it). */
  clientNoContextTakeover: boolean;
  /** The server compressor's window, 9..15 bits (never 8). */
  serverMaxWindowBits: number;
  /** The most the client's window may be, 8..15 bits: the decompressor needs at least this. */
  clientMaxWindowBits: number;
  /** The server may compress what it sends (false with `compress: "disable"`). */
  compress: boolean;
}

/** The answer to an offer: the response header's value and the agreed parameters. */
export interface DeflateAnswer {
  /** The `Sec-WebSocket-Extensions` value of the 101 response. */
  header: string;
  params: DeflateParams;
}

/**
 * A resolved option: each side's mode and window bits. `null` from
 * {@link deflateConfig} means the extension is off.
 */
export interface DeflateConfig {
  /** "shared", "dedicated" (window `compressBits`), or "disable" (negotiated as shared; never compresses). */
  compressor: "shared" | "dedicated" | "disable";
  compressBits: number;
  /** "shared" or "dedicated" (window `decompressBits`). */
  decompressor: "shared" | "dedicated";
  decompressBits: number;
}

/** A dedicated compressor's window for each size (uWebSockets' DEDICATED_COMPRESSOR_*). */
const COMPRESS_BITS: Record<string, number> = {
  dedicated: 15,
  "3KB": 9,
  "4KB": 9,
  "8KB": 10,
  "16KB": 11,
  "32KB": 12,
  "64KB": 13,
  "128KB": 14,
  "256KB": 15,
};

/** A dedicated decompressor's window for each size (DEDICATED_DECOMPRESSOR_*; 32 KB is zlib's most). */
const DECOMPRESS_BITS: Record<string, number> = {
  dedicated: 15,
  "3KB": 11,
  "4KB": 12,
  "8KB": 13,
  "16KB": 14,
  "32KB": 15,
  "64KB": 15,
  "128KB": 15,
  "256KB": 15,
};

/** Every value Bun takes for `compress` or `decompress`, besides booleans (and null or "", which it takes as left out). */
export const COMPRESSORS: readonly WebSocketCompressor[] = ["disable", "shared", ...(Object.keys(COMPRESS_BITS) as WebSocketCompressor[])];

/** One side of the option: undefined when left out, "off", "shared", or a dedicated window's bits. */
type Side = undefined | "off" | "shared" | number;

function side(value: unknown, name: "compress" | "decompress", table: Record<string, number>): Side {
  // Bun treats a missing, null or empty-string value as left out.
  if (value === undefined || value === null || value === "") return undefined;
  if (value === true || value === "shared") return "shared";
  if (value === false || value === "disable") return "off";
  if (typeof value === "string" && Object.hasOwn(table, value)) return table[value]!;
  const names = COMPRESSORS.map((c) => `"${c}"`);
  throw new TypeError(`websocket expects a valid ${name} option, either ${names.slice(0, -1).join(" ")} or ${names.at(-1)}`);
}

/**
 * Resolves and checks a `perMessageDeflate` option, as Bun.serve does when it
 * starts: a TypeError (Bun's message) for a value Bun refuses. `null` when
 * the extension is off.
 */
export function deflateConfig(option: PerMessageDeflate | boolean | undefined | null): DeflateConfig | null {
  if (option === undefined || option === null || option === false) return null;
  if (option === true) return { compressor: "shared", compressBits: 15, decompressor: "shared", decompressBits: 15 };
  if (typeof option !== "object") throw new TypeError("websocket expects perMessageDeflate to be a boolean or an object");
  const c = side(option.compress, "compress", COMPRESS_BITS);
  const d = side(option.decompress, "decompress", DECOMPRESS_BITS);
  const cOn = c !== undefined && c !== "off";
  const dOn = d !== undefined && d !== "off";
  if (!cOn && !dOn) return null;
  return {
    compressor: !cOn ? (c === "off" ? "disable" : "shared") : c === "shared" ? "shared" : "dedicated",
    compressBits: typeof c === "number" ? c : 15,
    // A decompressor that is off is the shared one while compress is on: a client may compress anyway.
    decompressor: typeof d === "number" ? "dedicated" : "shared",
    decompressBits: typeof d === "number" ? d : 15,
  };
}

/** One offer's parameters, checked (RFC 7692 §7.1). `clientMaxWindowBits` true: offered without a value. */
interface Offer {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  clientMaxWindowBits: number | true | undefined;
}

/** RFC 7230 tchar: the characters of a token. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

function isTchar(c: number): boolean {
  return c < 128 && TCHAR[c] === 1;
}

/** A reader over the header value: positions, whitespace, tokens, quoted strings. */
class Scanner {
  pos = 0;
  constructor(readonly s: string) {}
  get done(): boolean {
    return this.pos >= this.s.length;
  }
  peek(): number {
    return this.s.charCodeAt(this.pos);
  }
  ows(): void {
    while (this.pos < this.s.length && (this.peek() === 0x20 || this.peek() === 0x09)) this.pos++;
  }
  token(): string | null {
    const start = this.pos;
    while (this.pos < this.s.length && isTchar(this.peek())) this.pos++;
    return this.pos > start ? this.s.slice(start, this.pos) : null;
  }
  /** A quoted-string (at its opening quote), unescaped; null when unterminated or holding a bad character. */
  quoted(): string | null {
    let out = "";
    this.pos++;
    while (this.pos < this.s.length) {
      const c = this.peek();
      this.pos++;
      if (c === 0x22) return out;
      if (c === 0x5c) {
        if (this.pos >= this.s.length) return null;
        out += this.s[this.pos++];
      } else if (c === 0x09 || (c >= 0x20 && c !== 0x7f)) out += String.fromCharCode(c);
      else return null;
    }
    return null;
  }
  /** Skips to just past the next ',' outside quotes (or the end): what follows a bad element. */
  skipElement(): void {
    while (this.pos < this.s.length) {
      const c = this.peek();
      if (c === 0x2c) {
        this.pos++;
        return;
      }
      if (c === 0x22) {
        if (this.quoted() === null) this.pos = this.s.length;
      } else this.pos++;
    }
  }
}

/** A window-bits value: 8..15, digits without leading zeros (RFC 7692 §7.1.2.1). */
function windowBits(v: string): number | null {
  return /^(?:8|9|1[0-5])$/.test(v) ? Number(v) : null;
}

/**
 * Reads one element of the list (the scanner at its start, after any
 * whitespace): its name and, for permessage-deflate, its checked
 * parameters. Leaves the scanner past the element's ',' (or at the end).
 * Returns null for an element to skip: another extension, a syntax error,
 * or a permessage-deflate offer RFC 7692 §5 says to decline (an unknown
 * parameter, a duplicate, an invalid value).
 */
function readOffer(sc: Scanner): Offer | null {
  const name = sc.token();
  if (name === null) {
    sc.skipElement();
    return null;
  }
  const offer: Offer = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  let ok = name === "permessage-deflate";
  for (;;) {
    sc.ows();
    if (sc.done) return ok ? offer : null;
    const c = sc.peek();
    if (c === 0x2c) {
      sc.pos++;
      return ok ? offer : null;
    }
    if (c !== 0x3b) break;
    sc.pos++;
    sc.ows();
    const param = sc.token();
    if (param === null) break;
    sc.ows();
    let value: string | null = null;
    if (!sc.done && sc.peek() === 0x3d) {
      sc.pos++;
      sc.ows();
      value = !sc.done && sc.peek() === 0x22 ? sc.quoted() : sc.token();
      if (value === null) break;
    }
    if (!ok) continue;
    if (seen.has(param)) ok = false;
    seen.add(param);
    switch (param) {
      case "server_no_context_takeover":
        if (value !== null) ok = false;
        offer.serverNoContextTakeover = true;
        break;
      case "client_no_context_takeover":
        if (value !== null) ok = false;
        offer.clientNoContextTakeover = true;
        break;
      case "server_max_window_bits": {
        // It must have a value (§7.1.2.1).
        const bits = value === null ? null : windowBits(value);
        if (bits === null) ok = false;
        else offer.serverMaxWindowBits = bits;
        break;
      }
      case "client_max_window_bits": {
        if (value === null) offer.clientMaxWindowBits = true;
        else {
          const bits = windowBits(value);
          if (bits === null) ok = false;
          else offer.clientMaxWindowBits = bits;
        }
        break;
      }
      default:
        ok = false;
    }
  }
  // A syntax error: this element is skipped, and the next one read.
  sc.skipElement();
  return null;
}

/** Answers one valid offer under `config`, or null to decline it. */
function answer(offer: Offer, config: DeflateConfig): DeflateAnswer | null {
  let header = "permessage-deflate";
  // The client's side: the decompressor.
  let clientNoContextTakeover = false;
  let clientMaxWindowBits = 15;
  const offered = offer.clientMaxWindowBits;
  if (config.decompressor === "shared" || offer.clientNoContextTakeover) {
    clientNoContextTakeover = true;
    // A value offered is the client's promise even unanswered (§7.1.2.2).
    if (typeof offered === "number") clientMaxWindowBits = offered;
    header += "; client_no_context_takeover";
  } else if (offered !== undefined) {
    clientMaxWindowBits = Math.min(config.decompressBits, offered === true ? 15 : offered);
    if (clientMaxWindowBits < 15) header += `; client_max_window_bits=${clientMaxWindowBits}`;
  } else if (config.decompressBits < 15) {
    // §7.1.2.2: without the offer's parameter the answer may not limit the
    // client's window, so a smaller decompressor cannot keep its context.
    clientNoContextTakeover = true;
    header += "; client_no_context_takeover";
  }
  // The server's side: the compressor.
  let serverNoContextTakeover = false;
  let serverMaxWindowBits: number;
  if (config.compressor !== "dedicated" || offer.serverNoContextTakeover) {
    // The shared 15-bit compressor, which cannot keep to a smaller window.
    serverNoContextTakeover = true;
    serverMaxWindowBits = 15;
    if (offer.serverMaxWindowBits !== undefined && offer.serverMaxWindowBits < 15) return null;
    header += "; server_no_context_takeover";
    if (offer.serverMaxWindowBits !== undefined) header += "; server_max_window_bits=15";
  } else {
    serverMaxWindowBits = Math.min(config.compressBits, offer.serverMaxWindowBits ?? 15);
    // zlib cannot compress with an 8-bit window (it uses 9).
    if (serverMaxWindowBits < 9) return null;
    // §7.1.2.1: the answer may give the window even when the offer did not ask.
    if (offer.serverMaxWindowBits !== undefined || serverMaxWindowBits < 15) {
      header += `; server_max_window_bits=${serverMaxWindowBits}`;
    }
  }
  return {
    header,
    params: {
      serverNoContextTakeover,
      clientNoContextTakeover,
      serverMaxWindowBits,
      clientMaxWindowBits,
      compress: config.compressor !== "disable",
    },
  };
}

/**
 * Negotiates permessage-deflate for one upgrade: `offerHeader` is the
 * request's `Sec-WebSocket-Extensions` (several header lines joined with
 * ", "), `option` the server's `websocket.perMessageDeflate`. Offers are
 * tried in the client's order of preference; the first acceptable one is
 * answered. Returns null when the option is off, nothing was offered, or no
 * offer could be accepted (the upgrade then goes on without the extension).
 * Throws a TypeError for an option Bun refuses (see {@link deflateConfig};
 * call that once at start-up to refuse it early).
 */
export function negotiateDeflate(
  offerHeader: string | null,
  option: PerMessageDeflate | boolean | undefined,
): DeflateAnswer | null {
  return answerOffers(offerHeader, deflateConfig(option));
}

/**
 * {@link negotiateDeflate} with the option already resolved by
 * {@link deflateConfig} (once, at start-up, not per upgrade).
 */
export function answerOffers(offerHeader: string | null, config: DeflateConfig | null): DeflateAnswer | null {
  if (config === null || offerHeader === null) return null;
  const sc = new Scanner(offerHeader);
  for (;;) {
    sc.ows();
    if (sc.done) return null;
    if (sc.peek() === 0x2c) {
      sc.pos++; // an empty list element (RFC 7230 §7)
      continue;
    }
    const offer = readOffer(sc);
    if (offer === null) continue;
    const a = answer(offer, config);
    if (a !== null) return a;
  }
}
