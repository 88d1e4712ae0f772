/**
 * The WebSockets of one loop: the upgrade, the rows and events the core
 * hands over (c/ws.c), sends, topics and publishing.
 *
 * Messages arrive as rows of the batch, with requests (`REQ_WS`): the
 * payload is copied out of its slab into the string or Buffer the `message`
 * handler gets, and the slab goes back to the pool with the batch. Sends go
 * straight to the core (`fh_ws_send`), which frames them and writes them
 * with the batch, or at once outside one.
 * @module
 */
import { toArrayBuffer, type Pointer } from "bun:ffi";
import { constants } from "node:os";
import { largeView, type ArenaHost } from "../arena.ts";
import type { Core } from "../ffi.ts";
import {
  D,
  D_WS_CODE,
  D_WS_DATA,
  D_WS_OP,
  EV_WS_CLOSED,
  EV_WS_DRAIN,
  LARGE_BASE,
  REQ_HTTP10,
  REQ_KEEP_ALIVE,
  REQ_UPGRADE,
  WSO_CLOSE_ON_LIMIT,
  WSO_DEFLATE,
  WSO_PING_ROWS,
  WSO_PINGS,
  WSO_PONG_ROWS,
  WSS_COMPRESS,
  WSS_CORK,
  WSZ_CLIENT_TAKEOVER,
  WSZ_SERVER_TAKEOVER,
} from "../layout.ts";
import { buildHead, entries } from "../build.ts";
import type { HttpRequest } from "../request.ts";
import type { HeadersInit } from "../response.ts";
import { answerOffers } from "./deflate.ts";
import { acceptKey, checkUpgrade } from "./handshake.ts";
import { bytesOf, ServerWebSocket, type WebSocketData } from "./socket.ts";
import type { ResolvedWebSocket } from "./types.ts";

const enc = new TextEncoder();
/** FH_WS_SCRATCH (c/conn.h): the largest message sent through the scratch. */
const SCRATCH = 64 * 1024;
const ENOSYS = constants.errno.ENOSYS;

/** What `upgrade()` takes, as Bun's `server.upgrade(request, options)`. */
export interface UpgradeOptions<T = unknown> {
  /** `ws.data` of the socket. */
  data?: T;
  /** Added to the 101; a `Sec-WebSocket-Protocol` among them is the subprotocol agreed. */
  headers?: HeadersInit | Headers;
}

/** @internal A WebSocket upgrade done: the core has the 101 (fh_ws_accept); src/place.ts only marks the row answered. */
export type WebSocketSpecial = { kind: "websocket"; head: Uint8Array; ws: ServerWebSocket<unknown>; opts: number; zopts: number };

/** @internal How the hub reaches its loop. */
export interface WsHost {
  core: Core;
  srv: () => Pointer | null;
  arena: ArenaHost;
  slabSize: number;
  peer: (fd: number, gen: number) => string | null;
  /** Schedules a poll (connections wait to be parsed). */
  schedule: () => void;
}

/**
 * The answer to an upgrade refused for its `Sec-WebSocket-Version` (RFC
 * 6455 §4.4): 426 with the version this server speaks, whatever the handler
 * answered.
 */
export function refusedUpgrade(req: HttpRequest): Uint8Array {
  req._wsRefused = false;
  req._special = null;
  req._flags &= ~REQ_KEEP_ALIVE; // as Bun: the connection closes after it
  return req.response(426, null, { "Sec-WebSocket-Version": "13", Connection: "close" });
}

/** What the close handler is told when the core failed a connection (it gets 1006, as in Bun). */
const FAILED: Record<number, string> = {
  1002: "Received a frame that breaks the WebSocket protocol",
  1007: "Received invalid UTF-8 or invalid compressed data",
  1009: "Received too big message",
};

/** Logs a handler's failure (the default of `websocket.error`); the socket stays open, as Bun's. */
function logFailure(name: string, e: unknown): void {
  console.error(`fasthttp: the websocket ${name} handler failed:`, e);
}

/** @internal The WebSockets of one loop. */
export class WsHub {
  readonly cfg: ResolvedWebSocket;
  /** Open sockets (Bun's `server.pendingWebSockets`): a socket is open from its upgrade() on. */
  open = 0;
  /** Called with every publish this loop makes (workers pass it on to the others). */
  onPublish: ((topic: string, op: number, bytes: Uint8Array, compress: boolean) => void) | null = null;
  #host: WsHost;
  /** The sockets, by fd (checked against gen). */
  #socks: (ServerWebSocket<unknown> | undefined)[] = [];
  /**
   * Every socket by its connection's generation: a socket whose connection
   * closed may still wait for its close event when a new connection on the
   * same fd is upgraded (both in one batch); the event finds it here.
   */
  #byGen = new Map<number, ServerWebSocket<unknown>>();
  #topics = new Map<string, Set<ServerWebSocket<unknown>>>();
  #scratch = new Uint8Array(16384);
  /** cork() depth, and the sockets sent to while corked. */
  #corking = 0;
  #corked: ServerWebSocket<unknown>[] = [];
  #opts: number;
  /** The core's scratch a message is written into for fh_ws_send_s (no pointer crosses bun:ffi), and the server's id there. */
  #out = new Uint8Array(0);
  #sid = -1;
  /** The hot path's fields, read once. */
  #core: Core;
  #memBuf: Buffer;
  #slabSize: number;

  /** Throws when permessage-deflate is configured and the system zlib cannot be loaded. */
  constructor(cfg: ResolvedWebSocket, host: WsHost) {
    this.cfg = cfg;
    this.#host = host;
    this.#core = host.core;
    this.#memBuf = host.arena.memBuf;
    this.#slabSize = host.slabSize;
    const sid = new Int32Array(1);
    const srv = host.srv();
    const at = srv === null ? null : host.core.fh_ws_scratch(srv, sid);
    if (at) {
      this.#out = new Uint8Array(toArrayBuffer(at, 0, SCRATCH));
      this.#sid = sid[0]!;
    }
    if (cfg.deflate !== null) {
      const why = new Uint8Array(512);
      if (host.core.fh_ws_zlib(why, why.length) < 0) {
        throw new Error(`fasthttp: websocket.perMessageDeflate: ${Buffer.from(why.subarray(0, why.indexOf(0))).toString()}`);
      }
    }
    const h = cfg.handler;
    this.#opts =
      (cfg.sendPings ? WSO_PINGS : 0) |
      (cfg.closeOnBackpressureLimit ? WSO_CLOSE_ON_LIMIT : 0) |
      (typeof h.ping === "function" ? WSO_PING_ROWS : 0) |
      (typeof h.pong === "function" ? WSO_PONG_ROWS : 0);
  }

  /** Whether a socket is open (events may come). */
  get active(): boolean {
    return this.open > 0;
  }

  /**
   * Upgrades `req` (see `server.upgrade`): true when it is a valid WebSocket
   * upgrade (the handler's answer is then the 101), false when it is not.
   * A version other than 13 also marks the request, which is then answered
   * 426 with `Sec-WebSocket-Version: 13` whatever the handler returns.
   */
  upgrade(req: HttpRequest, options: UpgradeOptions | undefined): boolean {
    if (req._special !== null || req._wsRefused) return false;
    const offer = checkUpgrade({
      method: req.string(req.method),
      http10: (req._flags & REQ_HTTP10) !== 0,
      connectionUpgrade: (req._flags & REQ_UPGRADE) !== 0, // with GET, not CONNECT: the Connection token
      header: (n) => req.header(n),
    });
    if (offer === null) return false;
    if (offer === "version") {
      req._wsRefused = true;
      return false;
    }
    if (options !== undefined && (options === null || typeof options !== "object")) {
      throw new TypeError("fasthttp: upgrade() takes { data, headers }");
    }
    const user: [string, string][] = [];
    let protocol = "";
    const given = options?.headers;
    if (given !== undefined) {
      const list = given instanceof Headers ? given.entries() : entries(given as HeadersInit);
      for (const [n, v] of list) {
        if (n.toLowerCase() === "sec-websocket-protocol") protocol = v;
        else user.push([n, v]);
      }
    }
    const extra: [string, string][] = [
      ["Upgrade", "websocket"],
      ["Connection", "Upgrade"],
      ["Sec-WebSocket-Accept", acceptKey(offer.key)],
    ];
    if (protocol === "" && offer.protocols.length > 0) protocol = offer.protocols[0]!; // as Bun: the client's first choice
    if (protocol !== "") extra.push(["Sec-WebSocket-Protocol", protocol]);
    let opts = this.#opts;
    let zopts = 0;
    let negotiatedCompress = false;
    if (this.cfg.deflate !== null && offer.extensions !== null) {
      const agreed = answerOffers(offer.extensions, this.cfg.deflate);
      if (agreed !== null) {
        extra.push(["Sec-WebSocket-Extensions", agreed.header]);
        const p = agreed.params;
        opts |= WSO_DEFLATE;
        negotiatedCompress = p.compress;
        zopts =
          (p.serverMaxWindowBits & 15) |
          ((p.clientMaxWindowBits & 15) << 4) |
          (p.serverNoContextTakeover ? 0 : WSZ_SERVER_TAKEOVER) |
          (p.clientNoContextTakeover ? 0 : WSZ_CLIENT_TAKEOVER);
      }
    }
    const head = buildHead(req, 101, user, extra);
    const ws = new ServerWebSocket<unknown>(this, req.clientConnFd, req._gen, options?.data, protocol);
    ws._z = (opts & WSO_DEFLATE) !== 0 && negotiatedCompress;
    const sp: WebSocketSpecial = { kind: "websocket", head, ws, opts, zopts };
    const r = this.#accept(req, sp);
    if (r < 0) return false; // the client is gone (or zlib is missing): not upgraded
    req._special = sp;
    if (r > 0) this.#host.schedule();
    // As Bun.serve: the socket is open, and `open` has run, when upgrade() returns.
    this.#open(ws);
    return true;
  }

  /**
   * Hands an upgrade to the core: the 101 is the request's answer, and the
   * connection becomes a WebSocket once it reaches the head of the queue
   * (what is sent before goes out after it). Returns fh_ws_accept's result.
   */
  #accept(req: HttpRequest, sp: WebSocketSpecial): number {
    const core = this.#host.core;
    const srv = this.#host.srv();
    if (srv === null) return -1;
    const cfg = this.cfg;
    const r = core.fh_ws_accept(
      srv,
      req.clientConnFd | 0,
      req._gen | 0,
      req._seq | 0,
      req._slab | 0,
      req._outSlab | 0,
      req._outOff | 0,
      sp.head.length | 0,
      cfg.maxPayloadLength,
      cfg.backpressureLimit,
      cfg.idleTimeout * 1000,
      sp.opts | 0,
      sp.zopts | 0,
    );
    if (r === -ENOSYS) console.error("fasthttp: permessage-deflate needs the system zlib (libz.so.1), which could not be loaded; the upgrade failed");
    if (r < 0) return r;
    const ws = sp.ws;
    this.#socks[ws._fd] = ws;
    this.#byGen.set(ws._gen, ws);
    return r;
  }

  /** The socket of connection fd/gen, or undefined. */
  #of(fd: number, gen: number): ServerWebSocket<unknown> | undefined {
    const ws = this.#socks[fd];
    return ws !== undefined && ws._gen === gen ? ws : undefined;
  }

  #open(ws: ServerWebSocket<unknown>): void {
    this.open++;
    ws._state = 1;
    ws._keepAddress();
    const h = this.cfg.handler;
    if (h.open === undefined) return;
    try {
      const r = h.open(ws);
      if (r instanceof Promise) r.catch((e) => this.#failed("open", ws, e));
    } catch (e) {
      this.#failed("open", ws, e);
    }
  }

  /**
   * Bytes [at, at+len) of `buf` as the handlers get them, by `binaryType`: a
   * Buffer, an ArrayBuffer, a Uint8Array or a Blob, each a copy with memory
   * of its own (Hono reads `message.buffer`).
   */
  #binary(ws: ServerWebSocket<unknown>, buf: Buffer, at: number, len: number): unknown {
    switch (ws.binaryType) {
      case "arraybuffer":
        return buf.buffer.slice(buf.byteOffset + at, buf.byteOffset + at + len);
      case "uint8array":
        return new Uint8Array(buf.buffer.slice(buf.byteOffset + at, buf.byteOffset + at + len));
      case "blob":
        return new Blob([buf.subarray(at, at + len)]);
      default: {
        const b = Buffer.allocUnsafeSlow(len); // a Buffer with an ArrayBuffer of its own, not the pool's
        buf.copy(b, 0, at, at + len);
        return b;
      }
    }
  }

  /** Runs a WebSocket row of the batch (descriptor row `b`): a message, or a control frame. */
  row(d: Int32Array, b: number): void {
    const ws = this.#socks[d[b + D.FD]!];
    // Closed by the app meanwhile (or a new connection on the fd): what came is not delivered.
    if (ws === undefined || ws._gen !== d[b + D.GEN]! || ws._state !== 1) return;
    const op = d[b + D_WS_OP]!;
    const slab = d[b + D.SLAB]!;
    const off = d[b + D_WS_DATA]!;
    const len = d[b + D_WS_DATA + 1]!;
    let buf: Buffer;
    let at: number;
    if (slab < LARGE_BASE) {
      buf = this.#memBuf;
      at = slab * this.#slabSize + off;
    } else {
      const v = largeView(this.#host.arena, slab);
      buf = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      at = off;
    }
    const h = this.cfg.handler;
    let r: unknown;
    try {
      if (op === 1) r = h.message?.(ws, buf.toString("utf8", at, at + len));
      else if (op === 2) r = h.message?.(ws, this.#binary(ws, buf, at, len) as Buffer);
      else if (op === 9) r = h.ping?.(ws, this.#binary(ws, buf, at, len) as Buffer);
      else if (op === 10) r = h.pong?.(ws, this.#binary(ws, buf, at, len) as Buffer);
      else if (op === 8) {
        // The peer's close: the handler runs when the connection ends (its code comes with the event).
        ws._state = 2;
        ws._code = d[b + D_WS_CODE]!;
        ws._reason = buf.toString("utf8", at, at + len);
        return;
      }
    } catch (e) {
      this.#failed(op === 9 ? "ping" : op === 10 ? "pong" : "message", ws, e);
      return;
    }
    if (r instanceof Promise) r.catch((e) => this.#failed("message", ws, e));
  }

  /** A handler threw: `websocket.error(error, ws)` if there is one (as Bun's), else it is logged. The socket stays open. */
  #failed(name: string, ws: ServerWebSocket<unknown>, e: unknown): void {
    const onError = this.cfg.handler.error;
    if (onError === undefined) return logFailure(name, e);
    try {
      const r = onError(e instanceof Error ? e : new Error(String(e)), ws);
      if (r instanceof Promise) r.catch((e2) => logFailure("error", e2));
    } catch (e2) {
      logFailure("error", e2);
    }
  }

  /**
   * The socket is closed for the app: readyState 3, its topics dropped,
   * and the close handler run with `code` and `reason` (once).
   */
  #closed(ws: ServerWebSocket<unknown>, code: number, reason: string): void {
    if (ws._state === 3) return;
    this.open--; // every socket filed is open (upgrade() opens it before it returns)
    ws._state = 3;
    const topics = ws._topics;
    if (topics !== null) for (const t of topics) this.#drop(ws, t);
    ws._topics = null;
    const h = this.cfg.handler;
    if (h.close === undefined) return;
    try {
      const r = h.close(ws, code, reason);
      if (r instanceof Promise) r.catch((e) => this.#failed("close", ws, e));
    } catch (e) {
      this.#failed("close", ws, e);
    }
  }

  /** A WebSocket event from the core (src/events.ts): drain, or closed (`x`: its close code). */
  event(type: number, fd: number, gen: number, x: number): void {
    const ws = this.#of(fd, gen) ?? this.#byGen.get(gen);
    if (ws === undefined || ws._fd !== fd) return;
    const h = this.cfg.handler;
    if (type === EV_WS_DRAIN) {
      if (ws._state !== 1 || h.drain === undefined) return;
      try {
        const r = h.drain(ws);
        if (r instanceof Promise) r.catch((e) => this.#failed("drain", ws, e));
      } catch (e) {
        this.#failed("drain", ws, e);
      }
    } else if (type === EV_WS_CLOSED) {
      this.#byGen.delete(gen);
      if (this.#socks[fd] === ws) this.#socks[fd] = undefined;
      // The peer's close frame, if one came, says what the handler gets. Else it ended without one
      // (1006), or the core failed it for a violation: as Bun, the handler gets 1006 and the reason.
      if (ws._code !== 0) this.#closed(ws, ws._code, ws._code === 1005 ? "" : ws._reason);
      else if (x === 1001) this.#closed(ws, 1001, "Server closed"); // stop(true)
      else this.#closed(ws, 1006, FAILED[x] ?? "");
    }
  }

  /** @internal The client's address (text). */
  _peer(ws: ServerWebSocket<unknown>): string | null {
    return ws._state === 3 ? null : this.#host.peer(ws._fd, ws._gen);
  }

  /** @internal Sends a frame (op 2 binary, 9 ping, 10 pong; 1 text with bytes). */
  _send(ws: ServerWebSocket<unknown>, op: number, bytes: Uint8Array, compress: boolean): number {
    if (ws._state !== 1) return 0;
    const n = bytes.length;
    if (this.#sid >= 0 && n <= SCRATCH) {
      this.#out.set(bytes);
      return this.#sendOut(ws, op, null, n, compress);
    }
    return this.#sendOut(ws, op, bytes, n, compress);
  }

  /** @internal Sends a text message: encoded straight into the core's scratch when it fits (no copy). */
  _sendText(ws: ServerWebSocket<unknown>, s: string, compress: boolean): number {
    if (ws._state !== 1) return 0;
    if (this.#sid >= 0 && s.length * 3 <= SCRATCH) return this.#sendOut(ws, 1, null, enc.encodeInto(s, this.#out).written, compress);
    const bytes = this.#encode(s);
    return this.#sendOut(ws, 1, bytes, bytes.length, compress);
  }

  /**
   * Hands one frame of an open socket to the core: `bytes`, or (null) the n
   * bytes already in the core's scratch (fh_ws_send_s: no pointer crosses
   * bun:ffi). Returns fh_ws_send's result.
   */
  #sendOut(ws: ServerWebSocket<unknown>, op: number, bytes: Uint8Array | null, n: number, compress: boolean): number {
    const srv = this.#host.srv();
    if (srv === null) return 0;
    let flags = compress && ws._z ? WSS_COMPRESS : 0;
    if (this.#corking > 0) {
      flags |= WSS_CORK;
      this.#corked.push(ws);
    }
    const r =
      bytes === null
        ? this.#core.fh_ws_send_s(this.#sid, ws._fd | 0, ws._gen | 0, op | (flags << 8), n | 0)
        : this.#core.fh_ws_send(srv, ws._fd | 0, ws._gen | 0, op | 0, bytes, n | 0, flags);
    if (r === 0 && n > 0) this.#host.schedule(); // dropped: closeOnBackpressureLimit closes it at the next poll
    return r;
  }

  /** The UTF-8 bytes of `s`, in a scratch buffer (valid until the next call). */
  #encode(s: string): Uint8Array {
    let scratch = this.#scratch;
    if (s.length * 3 > scratch.length) {
      const r = enc.encodeInto(s, scratch);
      if (r.read === s.length) return scratch.subarray(0, r.written);
      scratch = this.#scratch = new Uint8Array(Math.max(s.length * 3, scratch.length * 2));
    }
    const r = enc.encodeInto(s, scratch);
    return scratch.subarray(0, r.written);
  }

  /**
   * @internal ws.close(code, reason) / ws.terminate(): the core sends the
   * close frame (a code of 1005 or 1006: one without a code) and ends the
   * connection after the handshake (`terminate`: at once); for the app the
   * socket is closed now, as in Bun: the close handler runs before this
   * returns.
   */
  _close(ws: ServerWebSocket<unknown>, code: number, reason: Uint8Array, terminate: boolean): void {
    if (ws._state === 3) return;
    const srv = this.#host.srv();
    const wire = code === 1005 || code === 1006 ? 0 : code;
    if (srv !== null) this.#host.core.fh_ws_close(srv, ws._fd | 0, ws._gen | 0, wire | 0, reason, reason.length | 0, terminate ? 1 : 0);
    this.#closed(ws, code, Buffer.from(reason.buffer, reason.byteOffset, reason.length).toString("utf8"));
  }

  /** @internal ws.pause() / ws.resume(). */
  _pause(ws: ServerWebSocket<unknown>, on: boolean): void {
    if (ws._state === 3 || ws._paused === on) return;
    ws._paused = on;
    const srv = this.#host.srv();
    if (srv !== null && this.#host.core.fh_ws_pause(srv, ws._fd | 0, ws._gen | 0, on ? 1 : 0) > 0) this.#host.schedule();
  }

  /** @internal ws.cork(cb). */
  _cork<R>(ws: ServerWebSocket<any>, cb: (ws: ServerWebSocket<any>) => R): R {
    if (typeof cb !== "function") throw new TypeError("fasthttp: ws.cork() takes a function");
    this.#corking++;
    try {
      return cb(ws);
    } finally {
      if (--this.#corking === 0) {
        const list = this.#corked;
        this.#corked = [];
        const srv = this.#host.srv();
        if (srv !== null) for (const s of list) this.#host.core.fh_ws_flush(srv, s._fd | 0, s._gen | 0);
      }
    }
  }

  /** @internal getBufferedAmount(). */
  _buffered(ws: ServerWebSocket<unknown>): number {
    const srv = this.#host.srv();
    if (srv === null || ws._state === 3) return 0;
    return this.#host.core.fh_ws_buffered(srv, ws._fd | 0, ws._gen | 0);
  }

  /** @internal ws.subscribe(topic): true (also when it already did), false once the socket is closed. */
  _subscribe(ws: ServerWebSocket<unknown>, topic: string): boolean {
    if (ws._state === 3) return false;
    (ws._topics ??= new Set()).add(topic);
    let set = this.#topics.get(topic);
    if (set === undefined) this.#topics.set(topic, (set = new Set()));
    set.add(ws);
    return true;
  }

  /** @internal ws.unsubscribe(topic): whether it did subscribe. */
  _unsubscribe(ws: ServerWebSocket<unknown>, topic: string): boolean {
    if (ws._topics === null || !ws._topics.delete(topic)) return false;
    this.#drop(ws, topic);
    return true;
  }

  #drop(ws: ServerWebSocket<unknown>, topic: string): void {
    const set = this.#topics.get(topic);
    if (set === undefined) return;
    set.delete(ws);
    if (set.size === 0) this.#topics.delete(topic);
  }

  /** How many sockets of this loop subscribe to `topic`. */
  subscriberCount(topic: string): number {
    return this.#topics.get(String(topic))?.size ?? 0;
  }

  /**
   * Sends a message to every subscriber of `topic` (but `from`, unless
   * publishToSelf), as Bun's publish: the message's bytes when some
   * subscriber got it, 0 when none did. With workers, the other workers'
   * subscribers get it too (through `onPublish`).
   */
  publish(topic: string, data: WebSocketData, compress: boolean, from: ServerWebSocket<unknown> | null = null): number {
    const text = typeof data === "string";
    const bytes = text ? this.#encode(data) : bytesOf(data, "publish()");
    const op = text ? 1 : 2;
    const n = this.deliver(topic, op, bytes, compress, from);
    if (this.onPublish !== null) this.onPublish(topic, op, bytes, compress);
    return n;
  }

  /** @internal Sends to this loop's subscribers of `topic` (a publish here, or from another worker). */
  deliver(topic: string, op: number, bytes: Uint8Array, compress: boolean, from: ServerWebSocket<unknown> | null): number {
    const set = this.#topics.get(topic);
    if (set === undefined) return 0;
    const srv = this.#host.srv();
    if (srv === null) return 0;
    const core = this.#host.core;
    const self = this.cfg.publishToSelf;
    const flags = (compress ? WSS_COMPRESS : 0) | (this.#corking > 0 ? WSS_CORK : 0);
    const n = bytes.length;
    // Through the scratch, copied there once for every subscriber (the core only reads it).
    const scratch = this.#sid >= 0 && n <= SCRATCH;
    if (scratch) this.#out.set(bytes);
    let any = false;
    for (const ws of set) {
      if ((ws === from && !self) || ws._state !== 1) continue;
      if (this.#corking > 0) this.#corked.push(ws);
      const f = ws._z ? flags : flags & ~WSS_COMPRESS;
      const r = scratch
        ? core.fh_ws_send_s(this.#sid, ws._fd | 0, ws._gen | 0, op | (f << 8), n | 0)
        : core.fh_ws_send(srv, ws._fd | 0, ws._gen | 0, op, bytes, n | 0, f);
      if (r !== 0 || n === 0) any = true;
    }
    return any ? n : 0;
  }
}
