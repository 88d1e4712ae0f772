/**
 * Events from the core: what happens, over time, to the connections handed
 * to user code (streams, reusable and manual takeovers). The core queues
 * `EV_*` events (type, fd, gen, seq); {@link CoreEvents.pump} takes them and
 * tells the {@link Connection} each one is about: a takeover reached the head
 * of its queue, bytes arrived, the socket drained, the peer sent FIN, the
 * connection is gone. And for requests whose async handler is still at
 * work: the client left (EV_GONE) or half-closed (EV_FIN), so the request is
 * aborted (`req.signal`).
 * @module
 */
import type { Pointer } from "bun:ffi";
import type { BodyReader } from "./body.ts";
import { Connection, type ConnectionHost, type ConnectionMode } from "./connection.ts";
import type { Core } from "./ffi.ts";
import type { StreamSpecial, TakeoverSpecial } from "./handover.ts";
import { EV_BODY, EV_CLOSED, EV_DATA, EV_DRAIN, EV_END, EV_FIN, EV_GONE, EV_SIZE, EV_TAKEN, EV_WS_DRAIN } from "./layout.ts";
import type { HttpRequest } from "./request.ts";
import type { Serving } from "./serving.ts";
import type { WsHub } from "./ws/hub.ts";

/** Events taken from the core per call. */
const EVENTS = 64;

/** @internal The connections of one server that user code holds, and the events about them. */
export class CoreEvents {
  /** Streams and taken-over connections, by "fd:gen:seq". */
  #conns = new Map<string, Connection>();
  /** Manual takeovers not yet at the head of their queue, and the functions that take them. */
  #takers = new Map<string, (conn: Connection) => unknown>();
  /** Requests whose async handler is still at work, by "fd:gen:seq" (none on the synchronous path). */
  #waiting = new Map<string, HttpRequest>();
  /** Readers of streamed request bodies waiting for the core's EV_BODY, by "fd:gen:seq". */
  #bodies = new Map<string, BodyReader>();
  #ev = new Int32Array(EVENTS * EV_SIZE);
  #scratch = new Uint8Array(65536);
  #connHost: ConnectionHost;
  #ws: WsHub | null;

  /** @internal */
  constructor(ctx: Serving, ws: WsHub | null) {
    this.#ws = ws;
    this.#connHost = {
      core: ctx.core,
      srv: () => ctx.srv,
      poke: ctx.schedule,
      forget: (conn: Connection) => void this.#conns.delete(conn._key),
    };
  }

  /** Whether some connection is in user code's hands, or some handler at work (events may come). */
  get active(): boolean {
    return this.#conns.size > 0 || this.#waiting.size > 0 || this.#bodies.size > 0 || (this.#ws !== null && this.#ws.active);
  }

  /** `reader` waits for its body: woken on the core's next EV_BODY for its request. */
  waitBody(reader: BodyReader): void {
    this.#bodies.set(reader._key, reader);
  }

  /** The server is gone: every body reader still waiting is woken (and finds it gone). */
  wakeBodies(): void {
    const readers = [...this.#bodies.values()];
    this.#bodies.clear();
    for (const r of readers) r._wake();
  }

  /** An async handler is at work on `req`: a client that leaves meanwhile aborts it. */
  wait(req: HttpRequest): void {
    this.#waiting.set(`${req.clientConnFd}:${req._gen}:${req._seq}`, req);
  }

  /** `req` (filed by {@link wait}) has its answer. */
  answered(req: HttpRequest): void {
    this.#waiting.delete(`${req.clientConnFd}:${req._gen}:${req._seq}`);
  }

  /**
   * Files a connection the core has just opened a stream or takeover for,
   * and starts `fn` on it: now for a stream or reusable takeover, once the
   * connection is the handler's (EV_TAKEN) for a manual takeover.
   */
  open(req: HttpRequest, sp: TakeoverSpecial | StreamSpecial, closeOnEnd: boolean): void {
    const mode: ConnectionMode = sp.kind;
    const chunked = sp.kind === "stream" && sp.chunked;
    const bodyless = sp.kind === "stream" && sp.bodyless;
    const conn = new Connection(this.#connHost, req.clientConnFd, req._gen, req._seq, mode, chunked, bodyless, closeOnEnd);
    this.#conns.set(conn._key, conn);
    if (mode === "takeover") this.#takers.set(conn._key, sp.fn);
    else run(conn, sp.fn, mode);
  }

  /** Takes every event the core has queued and acts on each; returns how many there were. */
  pump(core: Core, srv: Pointer): number {
    const ev = this.#ev;
    let taken = 0;
    for (;;) {
      const n = core.fh_events_take(srv, ev, EVENTS);
      taken += n;
      for (let k = 0; k < n; k++) {
        const e = k * EV_SIZE;
        const type = ev[e]!;
        const fd = ev[e + 1]!;
        const gen = ev[e + 2]!;
        if (type >= EV_WS_DRAIN) {
          this.#ws?.event(type, fd, gen, ev[e + 3]!); // the fourth int: the upgrade's seq, or the close code
          continue;
        }
        const key = `${fd}:${gen}:${ev[e + 3]!}`;
        if (type === EV_BODY) {
          const reader = this.#bodies.get(key);
          this.#bodies.delete(key);
          reader?._wake(); // it reads again (after this pump: the wake-up is a promise)
          continue;
        }
        if (type === EV_GONE) {
          const req = this.#waiting.get(key);
          this.#waiting.delete(key);
          req?._abort(); // its answer, when it comes, is dropped by the core
          continue;
        }
        if (type === EV_FIN) {
          this.#waiting.get(key)?._abort(); // its answer, if it gives one, is still written
          continue;
        }
        const conn = this.#conns.get(key);
        if (conn === undefined) continue;
        if (type === EV_TAKEN) {
          const fn = this.#takers.get(key);
          this.#takers.delete(key);
          if (fn !== undefined) run(conn, fn, "takeover");
        } else if (type === EV_DATA) {
          const scratch = this.#scratch;
          for (;;) {
            const got = core.fh_raw_take(srv, fd, gen, scratch, scratch.length);
            if (got <= 0) break;
            conn._data(scratch.slice(0, got));
            if (got < scratch.length) break;
          }
        } else if (type === EV_DRAIN) {
          conn._drained();
        } else if (type === EV_CLOSED) {
          this.#conns.delete(key);
          this.#takers.delete(key);
          conn._closed();
        } else if (type === EV_END) {
          conn.close(); // the client sent FIN: the conversation is over
        }
      }
      if (n < EVENTS) break;
    }
    return taken;
  }
}

/** Runs a hand-over's function; a throw or rejection closes the connection, a stream's end ends it. */
function run(conn: Connection, fn: (conn: Connection) => unknown, mode: ConnectionMode): void {
  const fail = (e: unknown) => {
    console.error(`fasthttp: a ${mode} callback failed; the connection is closed:`, e);
    conn.close();
  };
  let r: unknown;
  try {
    r = fn(conn);
  } catch (e) {
    fail(e);
    return;
  }
  Promise.resolve(r).then(() => {
    if (mode !== "takeover") conn.end();
  }, fail);
}
