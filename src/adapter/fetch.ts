/**
 * `fetchHandler`: runs a web-standard `(Request, server) => Response` app
 * (Hono, Elysia, a plain function) as a fasthttp handler, as Bun.serve runs
 * it.
 * @module
 */
import type { ErrorHandler, FetchHandler, FetchServer, Handler } from "../config.ts";
import { BodyError } from "../body.ts";
import { kindOf, logHandlerError } from "../errors.ts";
import { HANDED_OVER, type HttpRequest } from "../request.ts";
import type { Server } from "../server.ts";
import { NativeResponse, trackResponses } from "./known-body.ts";
import { toRequest, UNKNOWN_METHOD } from "./request.ts";
import { writeResponse } from "./response.ts";
import { AppServer } from "./server.ts";
import { refusedUpgrade } from "../ws/hub.ts";

/** Options of {@link fetchHandler}. */
export interface FetchOptions {
  /**
   * Install the `Response` subclass that lets a response made from a string
   * or bytes be written without reading it (see src/adapter/known-body.ts).
   * `false` leaves `globalThis.Response` alone; every body is then read as
   * a stream, which costs a few microseconds per response. Default true.
   */
  trackResponses?: boolean;
  /**
   * As Bun.serve's `error`: called with what the app threw (or rejected
   * with); the Response it returns is sent instead of the 500. If it throws
   * too, or returns no Response, the 500 is sent.
   */
  error?: ErrorHandler;
}

const PLAIN = { "content-type": "text/plain" };
const BAD_REQUEST = { "Content-Type": "text/plain" };
/** Bun.serve's answer (in production) to an app that failed. */
const FAILED = "Something went wrong!";

/** The 500 Bun.serve sends for a failed app, after logging the failure. */
function failed(req: HttpRequest, e: unknown): Uint8Array {
  if (e instanceof BodyError) throw e; // the body failed: the core has answered (or the client is gone)
  logHandlerError(req, e);
  return req.response(500, FAILED, PLAIN);
}

/**
 * Turns a fetch handler into a fasthttp {@link Handler}: each request becomes
 * a standard `Request` (method, URL, headers, body, a `signal` that aborts
 * when the client leaves), the app is called with it and a
 * {@link FetchServer} (Bun's `server` argument), and the `Response` it
 * returns is written as Bun.serve writes it (src/adapter/response.ts). An app
 * that throws or rejects, or returns anything but a Response, gets Bun's
 * 500 (`Something went wrong!`), and the failure is logged; `options.error`
 * may answer instead, as Bun.serve's `error` does.
 *
 * `newServer({ fetch })` does the same; this is for composing it with other
 * handlers. The per-loop `state` of `makeState` is `server.state`.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { newServer, fetchHandler } from "fasthttp";
 *
 * const app = new Hono().get("/", (c) => c.text("Hello, World!"));
 * const api = fetchHandler(app.fetch);
 * const server = newServer({
 *   port: 3000,
 *   handler: (req) => (req.string(req.path) === "/raw" ? req.response(200, "raw\n") : api(req)),
 * });
 * await server.run();
 * ```
 */
export function fetchHandler<S = void>(fetch: FetchHandler<S>, options: FetchOptions = {}): Handler<S> {
  if (typeof fetch !== "function") {
    throw new TypeError(`fasthttp: fetchHandler needs a (request, server) => Response function (got ${kindOf(fetch)})`);
  }
  const onError = options.error;
  if (onError !== undefined && typeof onError !== "function") {
    throw new TypeError(`fasthttp: error must be a function (got ${kindOf(onError)})`);
  }
  if (options.trackResponses !== false) trackResponses();
  // One FetchServer per loop (per worker): the last one made is nearly always the one asked for.
  let last: AppServer<S> | null = null;
  let lastServer: Server | null = null;
  const servers = new WeakMap<Server, AppServer<S>>();
  const serverOf = (req: HttpRequest, state: S): AppServer<S> => {
    const server = req._server;
    if (server === lastServer && last!.state === state) return last!;
    let made = servers.get(server);
    if (made === undefined || made.state !== state) servers.set(server, (made = new AppServer<S>(server, state, fetch)));
    lastServer = server;
    return (last = made);
  };

  /** The app's failure answered: by `options.error` if it gives a Response, else the 500. */
  const fail: Failure<S> = (req, request, server, e) => {
    if (onError === undefined || e instanceof BodyError) return failed(req, e);
    logHandlerError(req, e);
    let alt: unknown;
    try {
      alt = onError(e instanceof Error ? e : new Error(String(e)));
    } catch (e2) {
      return failed(req, e2);
    }
    const write = (r: unknown): Uint8Array | Promise<Uint8Array> => {
      if (!(r instanceof NativeResponse)) return req.response(500, FAILED, PLAIN);
      server._begin();
      return respond(req, request, server, r, lastResort);
    };
    if (alt instanceof Promise) return alt.then(write, (e2) => failed(req, e2));
    return write(alt);
  };

  /** The app threw, rejected, or gave no Response: its request is no longer pending, and is answered by `fail`. */
  const appFailed: Failure<S> = (req, request, server, e) => {
    server._end();
    return fail(req, request, server, e);
  };

  /** The app's result, which must be a Response. */
  const settle = (req: HttpRequest, request: Request, server: AppServer<S>, res: unknown): Uint8Array | Promise<Uint8Array> => {
    if (req._special !== null && req._special.kind === "websocket") {
      server._end(); // upgraded: the 101 is the answer (Bun.serve sends nothing the app returns after it)
      return HANDED_OVER;
    }
    if (req._wsRefused) {
      server._end();
      return refusedUpgrade(req);
    }
    if (res instanceof NativeResponse) return respond(req, request, server, res, fail);
    const e = new TypeError(`fasthttp: the fetch handler returned ${kindOf(res)} for ${request.method} ${request.url}, not a Response`);
    return appFailed(req, request, server, e);
  };

  return (req: HttpRequest, state: S): Uint8Array | Promise<Uint8Array> => {
    const request = toRequest(req);
    if (request === null) return req.response(400, "Bad Request\n", BAD_REQUEST);
    if (request === UNKNOWN_METHOD) return req.response(501, "Not Implemented\n", BAD_REQUEST);
    const server = serverOf(req, state);
    server._begin();
    let res: unknown;
    try {
      res = fetch(request, server);
    } catch (e) {
      return appFailed(req, request, server, e);
    }
    // An async function that never awaited has already settled: no need to wait a turn.
    if (res instanceof Promise && Bun.peek.status(res) === "fulfilled") res = Bun.peek(res);
    if (res !== null && typeof res === "object" && typeof (res as PromiseLike<unknown>).then === "function") {
      // A promise (Promise.resolve() returns it as it is) or another thenable.
      return Promise.resolve(res as PromiseLike<unknown>).then(
        (r) => settle(req, request, server, r),
        (e: unknown) => appFailed(req, request, server, e),
      );
    }
    return settle(req, request, server, res);
  };
}

/** How a failure is answered: the request, its Request, the loop's server, what was thrown. */
type Failure<S> = (req: HttpRequest, request: Request, server: AppServer<S>, e: unknown) => Uint8Array | Promise<Uint8Array>;

/** The answer when the `error` option's own Response could not be written: the 500. */
const lastResort: Failure<any> = (req, _request, _server, e) => failed(req, e);

/**
 * Writes the app's Response. Its request stays pending (`server`) until the
 * bytes are made, or a stream's last chunk is written (writeResponse tells
 * `server` then: its bytes are HANDED_OVER); a throw or a rejection ends it
 * too, and `onFail` answers instead. The usual answer costs no closure.
 */
function respond<S>(
  req: HttpRequest,
  request: Request,
  server: AppServer<S>,
  res: Response,
  onFail: Failure<S>,
): Uint8Array | Promise<Uint8Array> {
  let out: Uint8Array | Promise<Uint8Array>;
  try {
    out = writeResponse(req, request, res, server);
  } catch (e) {
    server._end();
    return onFail(req, request, server, e);
  }
  if (out instanceof Promise) {
    return out.then(
      (bytes) => {
        if (bytes !== HANDED_OVER) server._end();
        return bytes;
      },
      (e) => {
        server._end();
        return onFail(req, request, server, e);
      },
    );
  }
  if (out !== HANDED_OVER) server._end();
  return out;
}
