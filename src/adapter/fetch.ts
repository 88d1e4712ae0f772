/**
 * `fetchHandler`: runs a web-standard `(Request) => Response` app (Hono,
 * Elysia, a plain function) as a fasthttp handler.
 * @module
 */
import type { FetchHandler, Handler } from "../config.ts";
import { kindOf } from "../errors.ts";
import type { HttpRequest } from "../request.ts";
import { NativeResponse, trackResponses } from "./known-body.ts";
import { toRequest } from "./request.ts";
import { writeResponse } from "./response.ts";

/** Options of {@link fetchHandler}. */
export interface FetchOptions {
  /**
   * Install the `Response` subclass that lets a response made from a string
   * or bytes be written without reading it (see src/adapter/known-body.ts).
   * `false` leaves `globalThis.Response` alone; every body is then read as
   * a stream, which costs a few microseconds per response. Default true.
   */
  trackResponses?: boolean;
}

const BAD_REQUEST_HEADERS = { "Content-Type": "text/plain" };

/** The app's result, which must be a Response; a TypeError (answered 500 and logged) otherwise. */
function settle(req: HttpRequest, request: Request, res: unknown): Uint8Array | Promise<Uint8Array> {
  if (!(res instanceof NativeResponse)) {
    throw new TypeError(`fasthttp: the fetch handler returned ${kindOf(res)} for ${request.method} ${request.url}, not a Response`);
  }
  return writeResponse(req, request, res);
}

/**
 * Turns a fetch handler into a fasthttp {@link Handler}: each request becomes
 * a standard `Request` (method, URL, headers, body), and the `Response` the
 * app returns is written as it says (status, headers, body; a stream is sent
 * with chunked transfer coding). An app that throws or rejects gets a 500,
 * logged, as a raw handler does; so does one that returns anything but a
 * Response. `state` (from `makeState`) is the app's second argument: Hono's
 * `env`.
 *
 * `newServer({ fetch })` does the same; this is for composing it with other
 * handlers.
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
    throw new TypeError(`fasthttp: fetchHandler needs a (request) => Response function (got ${kindOf(fetch)})`);
  }
  if (options.trackResponses !== false) trackResponses();
  return (req: HttpRequest, state: S): Uint8Array | Promise<Uint8Array> => {
    const request = toRequest(req);
    if (request === null) return req.response(400, "Bad Request\n", BAD_REQUEST_HEADERS);
    const res: unknown = fetch(request, state); // a throw: the server logs it and answers 500
    if (res instanceof NativeResponse) return writeResponse(req, request, res);
    if (res instanceof Promise) {
      // An async function that never awaited has already settled: no need to wait a turn.
      if (Bun.peek.status(res) === "fulfilled") return settle(req, request, Bun.peek(res));
      return res.then((r: unknown) => settle(req, request, r));
    }
    if (res !== null && typeof res === "object" && typeof (res as PromiseLike<unknown>).then === "function") {
      return Promise.resolve(res as PromiseLike<unknown>).then((r) => settle(req, request, r));
    }
    return settle(req, request, res);
  };
}
