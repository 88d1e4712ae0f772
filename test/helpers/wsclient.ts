/**
 * A raw-socket WebSocket client (RFC 6455, permessage-deflate RFC 7692) for
 * the conformance suite: it says exactly what goes on the wire, right or
 * wrong, and reports exactly what comes back.
 *
 * - The opening handshake with any headers (or any bytes at all): the raw
 *   status line and headers come back, Sec-WebSocket-Accept is checked.
 * - Frames with any FIN, RSV bits, opcode, mask and declared length, and
 *   any payload; written in one go, or chopped into chunks of chosen sizes
 *   (one byte at a time, odd sizes), each chunk flushed before the next.
 * - Frames read one at a time, messages reassembled from fragments, the
 *   server's close frame (code and reason) and its TCP close (FIN or reset).
 * - permessage-deflate: the client's compressor and the server messages'
 *   decompressor over node:zlib raw deflate, with the 00 00 ff ff rule and
 *   context takeover or not; a server message holding a BFINAL block is
 *   reported as an error.
 *
 * Every wait is bounded: a server that does not answer makes a read throw
 * with what it was waiting for and what had arrived.
 *
 * @example
 * const ws = await WsClient.connect(port);
 * await ws.send({ opcode: OP.TEXT, payload: "hi" }, { chunk: 1 });
 * expect(text((await ws.readMessage()).data)).toBe("hi");
 * const close = await ws.close(1000);
 * expect(close.code).toBe(1000);
 */
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";
import zlib from "node:zlib";

/** How long a read waits by default. */
export const WAIT_MS = 3000;

/** The GUID of RFC 6455 §1.3, hashed with the key into Sec-WebSocket-Accept. */
export const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Opcodes (RFC 6455 §5.2). */
export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

/** RSV bit values as this client numbers them (Autobahn's "RSV = n": the three bits as a number). */
export const RSV1 = 4;
export const RSV2 = 2;
export const RSV3 = 1;

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/** UTF-8 bytes of a string; bytes pass through. */
export function bytes(data: string | Uint8Array): Uint8Array {
  return typeof data === "string" ? encoder.encode(data) : data;
}

/** Decodes bytes as UTF-8, throwing on invalid input (so a bad echo cannot pass as text). */
export function text(data: Uint8Array): string {
  return new TextDecoder("utf-8", { fatal: true }).decode(data);
}

/** Bytes from hex ("ce ba" or "ceba"). */
export function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Concatenates byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Whether two byte arrays hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

/** Shows bytes for an error message (printable ASCII kept, long input cut). */
export function preview(data: Uint8Array, max = 120): string {
  const shown = latin1.decode(data.subarray(0, max)).replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return JSON.stringify(shown) + (data.length > max ? ` ...(${data.length} bytes)` : "");
}

/** The Sec-WebSocket-Accept value a server must answer `key` with (RFC 6455 §4.2.2). */
export function acceptFor(key: string): string {
  return createHash("sha1").update(key + WS_GUID).digest("base64");
}

/** A fresh Sec-WebSocket-Key: 16 random bytes, base64. */
export function newKey(): string {
  return randomBytes(16).toString("base64");
}

// ---------------------------------------------------------------------------------------------
// Frames

/** A frame to send. Everything a valid frame fixes can be set wrong here. */
export interface FrameSpec {
  opcode: number;
  payload?: Uint8Array | string;
  /** FIN; true unless given. */
  fin?: boolean;
  /** The RSV bits as a number 0..7: RSV1 = 4, RSV2 = 2, RSV3 = 1. */
  rsv?: number;
  /** Whether to mask (a client must); true unless given. */
  mask?: boolean;
  /** The masking key; random unless given. */
  maskKey?: Uint8Array;
  /** The payload length to declare, when it should differ from the payload's. */
  length?: number;
  /** The length field's form: 7 (in the first byte), 16 or 64 bits; the shortest unless given. */
  lengthForm?: 7 | 16 | 64;
}

/** Encodes one frame as a client sends it. */
export function encodeFrame(spec: FrameSpec): Uint8Array {
  const payload = bytes(spec.payload ?? new Uint8Array(0));
  const length = spec.length ?? payload.length;
  const form = spec.lengthForm ?? (length < 126 ? 7 : length <= 0xffff ? 16 : 64);
  const masked = spec.mask ?? true;
  const head: number[] = [((spec.fin ?? true) ? 0x80 : 0) | (((spec.rsv ?? 0) & 7) << 4) | (spec.opcode & 0xf)];
  const maskBit = masked ? 0x80 : 0;
  if (form === 7) head.push(maskBit | length);
  else if (form === 16) head.push(maskBit | 126, (length >> 8) & 0xff, length & 0xff);
  else {
    head.push(maskBit | 127);
    const big = BigInt(length);
    for (let i = 7; i >= 0; i--) head.push(Number((big >> BigInt(8 * i)) & 0xffn));
  }
  const key = spec.maskKey ?? (masked ? new Uint8Array(randomBytes(4)) : new Uint8Array(0));
  if (masked) head.push(...key.subarray(0, 4));
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  for (let i = 0; i < payload.length; i++) out[head.length + i] = masked ? payload[i]! ^ key[i & 3]! : payload[i]!;
  return out;
}

/** A close frame's body: the code (big-endian) and the reason; empty without a code. */
export function closeBody(code?: number, reason: string | Uint8Array = ""): Uint8Array {
  if (code === undefined) return new Uint8Array(0);
  return concatBytes(new Uint8Array([(code >> 8) & 0xff, code & 0xff]), bytes(reason));
}

/** One frame as read from the server. */
export interface Frame {
  fin: boolean;
  /** The RSV bits as a number (RSV1 = 4). */
  rsv: number;
  opcode: number;
  /** Whether the server masked it (it must not). */
  masked: boolean;
  /** The payload, unmasked. */
  payload: Uint8Array;
}

/** Decodes one frame from buf[0..]: the frame and its size, or undefined when incomplete. */
export function decodeFrame(buf: Uint8Array): { frame: Frame; size: number } | undefined {
  if (buf.length < 2) return undefined;
  const b0 = buf[0]!;
  const b1 = buf[1]!;
  let at = 2;
  let length = b1 & 0x7f;
  if (length === 126) {
    if (buf.length < 4) return undefined;
    length = (buf[2]! << 8) | buf[3]!;
    at = 4;
  } else if (length === 127) {
    if (buf.length < 10) return undefined;
    const big = new DataView(buf.buffer, buf.byteOffset + 2, 8).getBigUint64(0);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`the server declared a frame of ${big} bytes`);
    length = Number(big);
    at = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  const keyAt = at;
  if (masked) at += 4;
  if (buf.length < at + length) return undefined;
  const payload = buf.slice(at, at + length);
  if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= buf[keyAt + (i & 3)]!;
  return {
    frame: { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0xf, masked, payload },
    size: at + length,
  };
}

/** Describes a frame for an error message. */
export function describeFrame(f: Frame): string {
  const name = Object.entries(OP).find(([, v]) => v === f.opcode)?.[0] ?? `opcode ${f.opcode}`;
  let s = `${name}${f.fin ? "" : " (FIN 0)"}${f.rsv ? ` rsv=${f.rsv}` : ""} ${f.payload.length} B`;
  if (f.opcode === OP.CLOSE && f.payload.length >= 2) s += ` code ${(f.payload[0]! << 8) | f.payload[1]!}`;
  return s;
}

// ---------------------------------------------------------------------------------------------
// The opening handshake

/** A response head as the server sent it. */
export interface HttpHead {
  /** "HTTP/1.1". */
  version: string;
  status: number;
  /** The status line, as sent. */
  statusLine: string;
  /** Every header line, in order. */
  headerList: [string, string][];
  /** The head's bytes, as text (latin1). */
  raw: string;
  /** A header's value (repeated lines joined with ", "), by case-insensitive name. */
  get(name: string): string | undefined;
}

/** Options of an upgrade request: each header may be replaced, or left out with `undefined`. */
export interface UpgradeOptions {
  method?: string;
  path?: string;
  /** "HTTP/1.1" unless given. */
  version?: string;
  /** The Sec-WebSocket-Key; a fresh one unless given. */
  key?: string;
  /** Headers that replace (by name, case-insensitively) or join the defaults; `undefined` leaves one out. */
  headers?: Record<string, string | undefined>;
}

/** The bytes of an upgrade request and the key it carries. */
export function upgradeRequest(opts: UpgradeOptions = {}): { request: Uint8Array; key: string } {
  const key = opts.key ?? newKey();
  const headers: Record<string, string | undefined> = {
    Host: "127.0.0.1",
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": key,
    "Sec-WebSocket-Version": "13",
  };
  for (const [name, value] of Object.entries(opts.headers ?? {})) {
    const existing = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
    if (existing !== undefined) delete headers[existing];
    headers[name] = value;
  }
  const lines = Object.entries(headers)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([n, v]) => `${n}: ${v}\r\n`)
    .join("");
  const head = `${opts.method ?? "GET"} ${opts.path ?? "/"} ${opts.version ?? "HTTP/1.1"}\r\n${lines}\r\n`;
  return { request: bytes(head), key };
}

function parseHead(raw: string): HttpHead {
  const lines = raw.split("\r\n");
  const statusLine = lines[0] ?? "";
  const m = /^(HTTP\/\d\.\d) (\d{3})/.exec(statusLine);
  if (m === null) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine)}`);
  const headerList: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`a malformed header line in the response: ${JSON.stringify(line)}`);
    headerList.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return {
    version: m[1]!,
    status: Number(m[2]),
    statusLine,
    headerList,
    raw,
    get(name) {
      const values = headerList.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
      return values.length === 0 ? undefined : values.join(", ");
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The connection

/** How a write is split. */
export interface WriteOptions {
  /** Chunk sizes: one size for all, or a list used in turn (cycled); one write when absent. */
  chunk?: number | number[];
  /** A pause after each chunk, in ms, so that the server reads them apart. */
  pauseMs?: number;
}

/** A data message read from the server. */
export interface Message {
  /** TEXT or BINARY. */
  opcode: number;
  /** The message's data (decompressed when it was compressed). */
  data: Uint8Array;
  /** Its frames as they came (control frames between them not included). */
  frames: Frame[];
  /** Whether its first frame had RSV1 (permessage-deflate). */
  compressed: boolean;
}

/** The server's close frame. */
export interface CloseFrame {
  /** The status code; undefined for an empty body. */
  code: number | undefined;
  /** The reason's bytes. */
  reason: Uint8Array;
  /** The frame itself. */
  frame: Frame;
  /** The frames that came before it during the read. */
  before: Frame[];
}

/** Options of {@link WsClient.connect}. */
export interface ConnectOptions extends UpgradeOptions {
  /** A Sec-WebSocket-Extensions offer, e.g. "permessage-deflate; client_max_window_bits". */
  extensions?: string;
  /** How long the handshake may take. */
  timeoutMs?: number;
}

/**
 * A raw connection: first the HTTP head is read ({@link WsClient.open}), then
 * frames. Bytes received are buffered; reads take from the buffer and wait,
 * bounded, for more. One read at a time (reads are awaited in turn).
 */
export class WsClient {
  readonly socket: net.Socket;
  /** The server's answer to the upgrade request (set by open/connect). */
  response!: HttpHead;
  /** The key sent. */
  key = "";
  /** The agreed permessage-deflate, when the server accepted it. */
  deflate: Pmd | undefined;
  #buf: Uint8Array = new Uint8Array(0);
  #end: "fin" | "reset" | undefined;
  #wake: (() => void) | undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      this.#buf = this.#buf.length === 0 ? new Uint8Array(chunk) : concatBytes(this.#buf, chunk);
      this.#notify();
    });
    socket.on("end", () => {
      this.#end ??= "fin";
      this.#notify();
    });
    socket.on("error", () => {
      this.#end ??= "reset";
      this.#notify();
    });
    socket.on("close", () => {
      this.#end ??= "reset";
      this.#notify();
    });
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** Waits until bytes arrive, the TCP connection ends, or `deadline` passes. */
  #changed(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Opens a TCP connection to 127.0.0.1:`port`, with nothing sent yet. */
  static async tcp(port: number, timeoutMs = WAIT_MS): Promise<WsClient> {
    const socket = net.connect({ host: "127.0.0.1", port });
    const client = new WsClient(socket);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no TCP connection to port ${port} in ${timeoutMs} ms`)), timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    return client;
  }

  /**
   * Sends `request` (any bytes) on a new connection and reads the response head, whatever its
   * status; bytes after the head stay buffered (frames, after a 101).
   */
  static async open(port: number, request: Uint8Array, timeoutMs = WAIT_MS): Promise<WsClient> {
    const client = await WsClient.tcp(port, timeoutMs);
    await client.write(request);
    client.response = await client.#readHead(timeoutMs);
    return client;
  }

  /**
   * The opening handshake: an upgrade request (the defaults of {@link upgradeRequest}, changed by
   * `opts`), then a check that the answer is 101 with the right Sec-WebSocket-Accept. Throws
   * otherwise, saying what came back. A permessage-deflate answer is parsed into `deflate`.
   */
  static async connect(port: number, opts: ConnectOptions = {}): Promise<WsClient> {
    const headers = { ...opts.headers };
    if (opts.extensions !== undefined) headers["Sec-WebSocket-Extensions"] = opts.extensions;
    const { request, key } = upgradeRequest({ ...opts, headers });
    const client = await WsClient.open(port, request, opts.timeoutMs);
    client.key = key;
    const res = client.response;
    if (res.status !== 101) {
      client.destroy();
      throw new Error(`the upgrade got ${res.statusLine}, not 101:\n${res.raw}`);
    }
    if (res.get("sec-websocket-accept") !== acceptFor(key)) {
      client.destroy();
      throw new Error(`wrong Sec-WebSocket-Accept ${res.get("sec-websocket-accept")} for key ${key} (want ${acceptFor(key)})`);
    }
    const ext = res.get("sec-websocket-extensions");
    if (ext !== undefined) client.deflate = new Pmd(parseDeflateAnswer(ext, opts.extensions ?? ""));
    return client;
  }

  async #readHead(timeoutMs: number): Promise<HttpHead> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = indexOfCrlfCrlf(this.#buf);
      if (end >= 0) {
        const raw = latin1.decode(this.#buf.subarray(0, end));
        this.#buf = this.#buf.slice(end + 4);
        return parseHead(raw);
      }
      if (this.#end !== undefined || Date.now() >= deadline) {
        throw new Error(`no response head (${this.#end ?? "timed out"}); got ${preview(this.#buf)}`);
      }
      await this.#changed(deadline);
    }
  }

  /** Writes bytes, in one write or in chunks (each flushed to the kernel before the next). */
  async write(data: Uint8Array, opts: WriteOptions = {}): Promise<void> {
    const sizes = opts.chunk === undefined ? [data.length || 1] : Array.isArray(opts.chunk) ? opts.chunk : [opts.chunk];
    let at = 0;
    let i = 0;
    while (at < data.length) {
      const n = Math.max(1, sizes[i++ % sizes.length]!);
      const piece = data.subarray(at, at + n);
      at += piece.length;
      const ok = await new Promise<boolean>((resolve) => {
        if (this.socket.destroyed || !this.socket.writable) return resolve(false);
        this.socket.write(piece, (err) => resolve(err == null));
      });
      if (!ok) return; // the server closed: what it sent is still readable
      if (opts.pauseMs !== undefined && at < data.length) await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  }

  /** Sends frames, concatenated, as one write or chopped as `opts` says. */
  async send(frames: FrameSpec | FrameSpec[], opts: WriteOptions = {}): Promise<void> {
    const list = Array.isArray(frames) ? frames : [frames];
    await this.write(concatBytes(...list.map(encodeFrame)), opts);
  }

  /** Sends a text message in one frame. */
  sendText(data: string | Uint8Array, opts?: WriteOptions): Promise<void> {
    return this.send({ opcode: OP.TEXT, payload: data }, opts);
  }

  /** Sends a binary message in one frame. */
  sendBinary(data: Uint8Array, opts?: WriteOptions): Promise<void> {
    return this.send({ opcode: OP.BINARY, payload: data }, opts);
  }

  /**
   * Sends a message compressed with the agreed permessage-deflate: RSV1 on the first frame,
   * split into `fragments` frames of the compressed bytes.
   */
  sendCompressed(opcode: number, data: Uint8Array | string, fragments = 1, opts?: WriteOptions): Promise<void> {
    if (this.deflate === undefined) throw new Error("permessage-deflate was not agreed");
    return this.send(fragmentFrames(opcode, this.deflate.compress(bytes(data)), fragments, RSV1), opts);
  }

  /** Sends a close frame with `code` and `reason` (none: an empty body), then reads the answer. */
  async close(code?: number, reason: string | Uint8Array = "", ms = WAIT_MS): Promise<CloseFrame> {
    await this.send({ opcode: OP.CLOSE, payload: closeBody(code, reason) });
    return this.readClose(ms);
  }

  /** Bytes received and not yet read as frames. */
  get pending(): number {
    return this.#buf.length;
  }

  /** How the TCP connection ended, if it has: "fin" (the server closed it) or "reset". */
  get ended(): "fin" | "reset" | undefined {
    return this.#end;
  }

  /**
   * Reads the next frame; null when the TCP connection ended before a whole one came (bytes
   * of a partial frame are then in the error message of the next read). Throws after `ms`.
   */
  async readFrame(ms = WAIT_MS): Promise<Frame | null> {
    const deadline = Date.now() + ms;
    for (;;) {
      const got = decodeFrame(this.#buf);
      if (got !== undefined) {
        this.#buf = this.#buf.slice(got.size);
        return got.frame;
      }
      if (this.#end !== undefined) {
        if (this.#buf.length > 0) throw new Error(`the connection ended (${this.#end}) inside a frame: ${preview(this.#buf)}`);
        return null;
      }
      if (Date.now() >= deadline) throw new Error(`no frame from the server in ${ms} ms (buffered: ${preview(this.#buf)})`);
      await this.#changed(deadline);
    }
  }

  /** Reads the next frame, which must be there. */
  async frame(ms = WAIT_MS): Promise<Frame> {
    const f = await this.readFrame(ms);
    if (f === null) throw new Error(`the connection ended (${this.#end}) where a frame was expected`);
    return f;
  }

  /**
   * Reads the next data message, reassembled from its fragments (decompressed when RSV1 says so
   * and permessage-deflate was agreed). A control frame before or between its fragments, or a
   * frame out of order, throws: a test that expects one reads it with {@link frame} first.
   */
  async readMessage(ms = WAIT_MS): Promise<Message> {
    const deadline = Date.now() + ms;
    const frames: Frame[] = [];
    for (;;) {
      const f = await this.frame(Math.max(1, deadline - Date.now()));
      if (f.opcode >= 8) throw new Error(`expected a data frame, got ${describeFrame(f)}${closeText(f)}`);
      if (frames.length === 0 && f.opcode === OP.CONT) throw new Error("the server sent a continuation frame with no message open");
      if (frames.length > 0 && f.opcode !== OP.CONT) throw new Error(`the server sent ${describeFrame(f)} inside a fragmented message`);
      frames.push(f);
      if (f.fin) break;
    }
    const first = frames[0]!;
    const compressed = (first.rsv & RSV1) !== 0;
    const joined = concatBytes(...frames.map((f) => f.payload));
    let data = joined;
    if (compressed) {
      if (this.deflate === undefined) throw new Error("the server set RSV1 without permessage-deflate agreed");
      data = this.deflate.decompress(joined);
    }
    return { opcode: first.opcode, data, frames, compressed };
  }

  /**
   * Reads frames up to the server's close frame; the frames before it are in `before`. Throws
   * when the connection ends without one, or after `ms`.
   */
  async readClose(ms = WAIT_MS): Promise<CloseFrame> {
    const deadline = Date.now() + ms;
    const before: Frame[] = [];
    for (;;) {
      const f = await this.readFrame(Math.max(1, deadline - Date.now()));
      if (f === null) {
        throw new Error(`the connection ended (${this.#end}) without a close frame; frames before: [${before.map(describeFrame).join(", ")}]`);
      }
      if (f.opcode === OP.CLOSE) {
        const code = f.payload.length >= 2 ? (f.payload[0]! << 8) | f.payload[1]! : undefined;
        return { code, reason: f.payload.subarray(2), frame: f, before };
      }
      before.push(f);
    }
  }

  /** Waits for the TCP connection to end: "fin", "reset", or "timeout" after `ms`. Unread bytes are dropped. */
  async waitEnd(ms = WAIT_MS): Promise<"fin" | "reset" | "timeout"> {
    const deadline = Date.now() + ms;
    while (this.#end === undefined && Date.now() < deadline) await this.#changed(deadline);
    return this.#end ?? "timeout";
  }

  /** Closes the TCP connection at once. */
  destroy(): void {
    this.socket.destroy();
  }
}

function closeText(f: Frame): string {
  if (f.opcode !== OP.CLOSE || f.payload.length < 2) return "";
  return ` (reason ${preview(f.payload.subarray(2))})`;
}

function indexOfCrlfCrlf(buf: Uint8Array): number {
  for (let i = buf.indexOf(13); i >= 0 && i + 3 < buf.length; i = buf.indexOf(13, i + 1)) {
    if (buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  }
  return -1;
}

/**
 * A message's frames: `data` split into `count` fragments of about equal size (the first has
 * the opcode and `rsv`, the rest are continuations; FIN on the last). Empty fragments are
 * allowed: 3 fragments of 0 bytes is three empty frames.
 */
export function fragmentFrames(opcode: number, data: Uint8Array, count: number, rsv = 0): FrameSpec[] {
  const frames: FrameSpec[] = [];
  const size = Math.ceil(data.length / count);
  for (let i = 0; i < count; i++) {
    frames.push({
      opcode: i === 0 ? opcode : OP.CONT,
      rsv: i === 0 ? rsv : 0,
      fin: i === count - 1,
      payload: data.subarray(Math.min(data.length, i * size), Math.min(data.length, (i + 1) * size)),
    });
  }
  return frames;
}

/** A message's frames with fragments of `size` bytes each (the last may be shorter). */
export function framesOfSize(opcode: number, data: Uint8Array, size: number, rsv = 0): FrameSpec[] {
  return fragmentFrames(opcode, data, Math.max(1, Math.ceil(data.length / size)), rsv);
}

// ---------------------------------------------------------------------------------------------
// permessage-deflate (RFC 7692)

/** One extension of a Sec-WebSocket-Extensions value: its name and parameters. */
export interface Extension {
  name: string;
  /** Parameter values by name; true for a parameter without a value. */
  params: Map<string, string | true>;
}

/** Parses a Sec-WebSocket-Extensions value (RFC 6455 §9.1; quoted values unquoted). */
export function parseExtensions(value: string): Extension[] {
  const out: Extension[] = [];
  for (const item of value.split(",")) {
    const [name, ...params] = item.split(";").map((s) => s.trim());
    if (!name) throw new Error(`an empty extension in ${JSON.stringify(value)}`);
    const map = new Map<string, string | true>();
    for (const p of params) {
      const eq = p.indexOf("=");
      const key = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
      if (map.has(key)) throw new Error(`parameter ${key} repeated in ${JSON.stringify(item)}`);
      map.set(key, eq < 0 ? true : p.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1"));
    }
    out.push({ name: name.toLowerCase(), params: map });
  }
  return out;
}

/** The agreed permessage-deflate parameters (RFC 7692 §7.1). */
export interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** The server's window (LZ77 sliding window), 8..15; 15 when not limited. */
  serverMaxWindowBits: number;
  /** The client's window, 8..15; 15 when not limited. */
  clientMaxWindowBits: number;
}

function windowBits(v: string | true, what: string): number {
  if (v === true || !/^(8|9|1[0-5])$/.test(v)) throw new Error(`${what} must be 8..15, got ${v === true ? "no value" : v}`);
  return Number(v);
}

/**
 * Checks a server's Sec-WebSocket-Extensions answer against the client's `offer` (RFC 7692
 * §5, §7.1), which may hold several permessage-deflate offers: the answer is one
 * permessage-deflate that fits one of them: known parameters only, each at most once, with a
 * valid value; client_max_window_bits only if that offer had it; server_max_window_bits no
 * larger than it asked, and present if it asked; server_no_context_takeover if it asked.
 * Returns the agreed parameters, or throws saying what is wrong.
 */
export function parseDeflateAnswer(answer: string, offer: string): DeflateParams {
  const exts = parseExtensions(answer);
  if (exts.length !== 1 || exts[0]!.name !== "permessage-deflate") {
    throw new Error(`the server answered extensions ${JSON.stringify(answer)}: want exactly one permessage-deflate`);
  }
  const offers = offer === "" ? [] : parseExtensions(offer).filter((e) => e.name === "permessage-deflate");
  if (offers.length === 0) throw new Error(`the server answered ${JSON.stringify(answer)} to an offer without permessage-deflate`);
  // The server accepts one of the offers (RFC 7692 §5): the answer must fit at least one.
  const problems: string[] = [];
  for (const offered of offers) {
    try {
      return deflateAnswerTo(exts[0]!, offered);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  throw new Error(`the answer ${JSON.stringify(answer)} fits no offer of ${JSON.stringify(offer)}: ${problems.join("; ")}`);
}

function deflateAnswerTo(answer: Extension, offered: Extension): DeflateParams {
  const p: DeflateParams = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
  for (const [key, value] of answer.params) {
    if (key === "server_no_context_takeover" || key === "client_no_context_takeover") {
      if (value !== true) throw new Error(`${key} takes no value, got ${value}`);
      if (key === "server_no_context_takeover") p.serverNoContextTakeover = true;
      else p.clientNoContextTakeover = true;
    } else if (key === "server_max_window_bits") {
      p.serverMaxWindowBits = windowBits(value, key);
      const asked = offered.params.get(key);
      if (asked !== undefined && asked !== true && p.serverMaxWindowBits > Number(asked)) {
        throw new Error(`server_max_window_bits=${p.serverMaxWindowBits} is larger than the ${asked} offered`);
      }
    } else if (key === "client_max_window_bits") {
      if (!offered.params.has(key)) throw new Error("client_max_window_bits in the answer, but the client did not offer it (RFC 7692 §7.1.2.2)");
      p.clientMaxWindowBits = windowBits(value, key);
      const asked = offered.params.get(key);
      if (asked !== undefined && asked !== true && p.clientMaxWindowBits > Number(asked)) {
        throw new Error(`client_max_window_bits=${p.clientMaxWindowBits} is larger than the ${asked} offered`);
      }
    } else {
      throw new Error(`unknown permessage-deflate parameter ${key} in the answer`);
    }
  }
  const askedServerBits = offered.params.get("server_max_window_bits");
  if (askedServerBits !== undefined && !answer.params.has("server_max_window_bits")) {
    // RFC 7692 §7.1.2.1: a server that accepts an offer with server_max_window_bits includes it
    // in the answer, with a value not larger than the one offered.
    throw new Error(`the client offered server_max_window_bits=${askedServerBits}; the answer lacks it`);
  }
  if (offered.params.has("server_no_context_takeover") && !p.serverNoContextTakeover) {
    // §7.1.1.1: a server that accepts an offer with server_no_context_takeover includes it.
    throw new Error("the client offered server_no_context_takeover; the answer lacks it");
  }
  return p;
}

/** The tail a sync flush ends with, removed by the sender and put back by the receiver (RFC 7692 §7.2.1). */
export const DEFLATE_TAIL = new Uint8Array([0x00, 0x00, 0xff, 0xff]);
/**
 * Appended after a server message (and its tail) before inflating it: a stored block, not
 * final, holding a marker. It comes out only when the message left the deflate stream open;
 * a message holding a BFINAL block ends the stream before it.
 */
const PROBE_DATA = bytes("\u0001fasthttp-probe\u0002");
const PROBE = concatBytes(new Uint8Array([0x00, PROBE_DATA.length, 0x00, ~PROBE_DATA.length & 0xff, 0xff]), PROBE_DATA);
const WINDOW_MAX = 1 << 15;

/**
 * The client's side of an agreed permessage-deflate: a compressor for the client's messages
 * and a decompressor for the server's, each with the context rules agreed. Context takeover is
 * done by handing zlib the window (the last 32 KiB of the direction's uncompressed data) as a
 * preset dictionary, so each message is one synchronous call.
 */
export class Pmd {
  readonly params: DeflateParams;
  #sent: Uint8Array = new Uint8Array(0);
  #received: Uint8Array = new Uint8Array(0);

  constructor(params: DeflateParams) {
    this.params = params;
  }

  /** Compresses one message's data: the payload to send with RSV1 (the 00 00 ff ff tail removed). */
  compress(data: Uint8Array): Uint8Array {
    const bits = this.params.clientMaxWindowBits;
    const takeover = !this.params.clientNoContextTakeover;
    const opts: zlib.ZlibOptions = {
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
      // zlib's raw deflate cannot make an 8-bit window (it makes 9): with no matches at all, any window is kept.
      windowBits: Math.max(9, bits),
      ...(bits === 8 ? { strategy: zlib.constants.Z_HUFFMAN_ONLY } : {}),
      ...(takeover && this.#sent.length > 0 ? { dictionary: this.#sent } : {}),
    };
    const out = new Uint8Array(zlib.deflateRawSync(data, opts));
    if (!sameBytes(out.subarray(out.length - 4), DEFLATE_TAIL)) throw new Error("zlib's sync flush did not end with 00 00 ff ff");
    if (takeover) this.#sent = lastBytes(this.#sent, data, 1 << Math.max(9, bits));
    return out.slice(0, out.length - 4);
  }

  /**
   * Decompresses one server message's payload (RFC 7692 §7.2.2: the tail appended), with the
   * server's window and context rules. Throws when the data is not valid deflate, refers past
   * the window agreed, or holds a BFINAL block.
   */
  decompress(payload: Uint8Array): Uint8Array {
    const bits = this.params.serverMaxWindowBits;
    const takeover = !this.params.serverNoContextTakeover;
    let out: Uint8Array;
    try {
      out = new Uint8Array(
        zlib.inflateRawSync(concatBytes(payload, DEFLATE_TAIL, PROBE), {
          finishFlush: zlib.constants.Z_SYNC_FLUSH,
          windowBits: bits,
          ...(takeover && this.#received.length > 0 ? { dictionary: this.#received } : {}),
        }),
      );
    } catch (e) {
      throw new Error(`a server message does not inflate (window ${bits} bits, takeover ${takeover}): ${(e as Error).message}`);
    }
    if (!sameBytes(out.subarray(out.length - PROBE_DATA.length), PROBE_DATA)) {
      throw new Error("a server message holds a BFINAL block: the deflate stream ended inside it");
    }
    const data = out.slice(0, out.length - PROBE_DATA.length);
    if (takeover) this.#received = lastBytes(this.#received, data, 1 << bits);
    return data;
  }
}

/** The last `max` (at most 32 KiB) bytes of a then b. */
function lastBytes(a: Uint8Array, b: Uint8Array, max: number): Uint8Array {
  const keep = Math.min(max, WINDOW_MAX);
  if (b.length >= keep) return b.slice(b.length - keep);
  const joined = concatBytes(a.subarray(Math.max(0, a.length - (keep - b.length))), b);
  return joined;
}
