/**
 * A Hono app using Hono's Bun WebSocket helper (`upgradeWebSocket` and
 * `websocket` from "hono/bun"), for test/ws-api.test.ts: served unchanged by
 * Bun.serve and by fasthttp (test/ws/serve.ts). hono/bun finds the server in
 * `c.env` (fetch's second argument) and keeps its events in `ws.data`, so
 * this checks that both servers hand Hono what it expects. What the handlers
 * observe is noted by connection id (`?id=`) and `GET /log?id=` reads it.
 * @module
 */
import { Hono } from "hono";
import { upgradeWebSocket, websocket as honoWebsocket } from "hono/bun";

const log = new Map<string, unknown[]>();

function note(id: string, ...event: unknown[]): void {
  let list = log.get(id);
  if (list === undefined) log.set(id, (list = []));
  list.push(event);
}

/** A message's data as JSON can tell it (Hono hands binary messages over as ArrayBuffers). */
function describe(data: unknown): Record<string, unknown> {
  if (typeof data === "string") return { type: "string", length: data.length, text: data };
  if (data instanceof ArrayBuffer) return { type: "ArrayBuffer", byteLength: data.byteLength, bytes: [...new Uint8Array(data).subarray(0, 16)] };
  return { type: (data as object | null)?.constructor?.name ?? String(data) };
}

const app = new Hono();

app.get("/log", (c) => c.json(log.get(c.req.query("id") ?? "") ?? []));
app.get("/hello", (c) => c.text("hi from hono"));
app.get(
  "/ws",
  upgradeWebSocket((c) => {
    const id = c.req.query("id") ?? "none";
    return {
      onOpen(_evt, ws) {
        const raw = ws.raw as { readyState: number; remoteAddress: string; data: { events?: unknown }; send: unknown; publish: unknown };
        note(id, "onOpen", {
          raw: {
            readyState: raw.readyState,
            remoteAddress: raw.remoteAddress,
            hasEvents: typeof raw.data.events === "object",
            send: typeof raw.send,
            publish: typeof raw.publish,
          },
          protocol: ws.protocol,
          path: ws.url?.pathname,
        });
      },
      onMessage(evt, ws) {
        note(id, "onMessage", describe(evt.data));
        ws.send(typeof evt.data === "string" ? `echo: ${evt.data}` : (evt.data as ArrayBuffer));
      },
      onClose(evt) {
        note(id, "onClose", { code: evt.code, reason: evt.reason });
      },
    };
  }),
  (c) => c.text("not a websocket", 426),
);

/** hono/bun's `websocket` handlers, as its docs say to pass them to Bun.serve. */
export const websocket = honoWebsocket;
/** The Hono app's fetch. */
export const fetch = app.fetch;
