/**
 * How a handler's failures are reported: one line on stderr naming the
 * request and what went wrong (the request itself is answered 500).
 * @module
 */
import { BodyError } from "./body.ts";
import type { HttpRequest } from "./request.ts";

/** `METHOD target` of a request, for a log line (never throws). */
export function describe(req: HttpRequest): string {
  try {
    return `${req.string(req.method)} ${req.string(req.target)}`;
  } catch {
    return "a request";
  }
}

/**
 * Logs a handler that threw or rejected. A {@link BodyError} is not logged:
 * the request's body failed (the client's doing), the server has answered it
 * already (400, 408, 413) or its client is gone, and nothing more is sent.
 */
export function logHandlerError(req: HttpRequest, e: unknown): void {
  if (e instanceof BodyError) return;
  console.error(`fasthttp: the handler failed on ${describe(req)}; answered 500:`, e);
}

/** What a value is, for a message: "null", its class's name, or its type. */
export function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return value.constructor?.name ?? "an object";
  return typeof value;
}

/** Logs a handler that returned (or resolved to) something other than a Uint8Array. */
export function logBadReturn(req: HttpRequest, res: unknown): void {
  console.error(`fasthttp: the handler returned ${kindOf(res)} for ${describe(req)}, not a Uint8Array; answered 500`);
}
