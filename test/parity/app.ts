/**
 * The app of the side-by-side suite (test/parity.test.ts): one plain fetch
 * function, served unchanged by Bun.serve and by fasthttp in separate
 * processes (./serve.ts). Each route is one way an app can answer; `/seen`
 * echoes what the app was shown. `/log` reports what the app observed after
 * the fact (a stream's cancel(), a request's signal): keyed by `?key=`.
 * @module
 */

import { Readable } from "node:stream";
import { Hono } from "hono";

const enc = new TextEncoder();

/** A Hono app for the routes that show how Hono's helpers build their Responses. */
const hono = new Hono().get("/hono-stream", (c) =>
  c.body(
    new ReadableStream({
      start(controller) {
        controller.enqueue(enc.encode("hono "));
        controller.enqueue(enc.encode("stream"));
        controller.close();
      },
    }),
  ),
);

/** What the app observed, by key: `/log?key=k` reads it. */
const log = new Map<string, string[]>();
/** Streams waiting to be let go: `/release?key=k` resolves them. */
const gates = new Map<string, () => void>();

function note(key: string, what: string): void {
  let list = log.get(key);
  if (list === undefined) log.set(key, (list = []));
  list.push(what);
}

function gate(key: string): Promise<void> {
  return new Promise((resolve) => gates.set(key, resolve));
}

/** A Response subclass, as frameworks make. */
class JsonResponse extends Response {
  constructor(data: unknown) {
    super(JSON.stringify(data), { headers: { "content-type": "application/json" } });
  }
}

type Route = (request: Request, url: URL, server: unknown) => Response | Promise<Response>;

const routes: Record<string, Route> = {
  "/ping": () => new Response("pong"),
  "/seen": async (request) => {
    const body = request.body === null ? null : await request.text();
    const headers: [string, string][] = [];
    request.headers.forEach((v, k) => headers.push([k, v]));
    return Response.json({ method: request.method, url: request.url, headers, body });
  },
  "/throw": () => {
    throw new Error("the app failed (expected by the parity suite)");
  },
  "/reject": async () => {
    await Bun.sleep(1);
    throw new Error("the app failed later (expected by the parity suite)");
  },
  "/not-response": () => ({ status: 200 }) as unknown as Response,
  "/status": (_r, url) => new Response(url.searchParams.get("body") ?? "body", { status: Number(url.searchParams.get("s")) }),
  "/status-null": (_r, url) => new Response(null, { status: Number(url.searchParams.get("s")) }),
  "/status-text": () => new Response("x", { status: 200, statusText: "Fine Thanks" }),
  "/null-length": () => new Response(null, { headers: { "content-length": "42" } }),
  "/null-nan-length": () => new Response(null, { headers: { "content-length": "NaN" } }),
  "/stream-nan-length": () => new Response(new ReadableStream({ start(c) { c.enqueue("x"); c.close(); } }), { headers: { "content-length": "NaN" } }),
  "/null-te": () => new Response(null, { headers: { "transfer-encoding": "chunked" } }),
  "/text-length": () => new Response("hello", { headers: { "content-length": "5" } }),
  "/304": () => new Response(null, { status: 304, headers: { "content-length": "10", etag: '"v1"', "cache-control": "max-age=1", "content-type": "text/plain" } }),
  "/304-body": () => new Response("not sent", { status: 304, headers: { etag: '"v1"' } }),
  "/205": () => new Response("reset", { status: 205 }),
  "/204-body": () => new Response("none", { status: 204 }),
  "/empty-string": () => new Response(""),
  "/empty-bytes": () => new Response(new Uint8Array(0)),
  "/clone": () => new Response("cloned", { headers: { "content-type": "text/x-clone", "x-a": "1" } }).clone() as Response,
  "/clone-json": () => Response.json({ a: 1 }).clone() as Response,
  "/json": () => Response.json({ a: 1 }, { status: 201, headers: { "x-j": "1" } }),
  "/redirect": () => Response.redirect("http://example.com/elsewhere", 301),
  "/redirect-default": () => Response.redirect("/there"),
  "/error": () => Response.error(),
  "/subclass": () => new JsonResponse({ sub: true }),
  "/blob": () => new Response(new Blob(["blob body"], { type: "text/markdown" })),
  "/blob-untyped": () => new Response(new Blob(["blob body"])),
  "/blob-stream": () => new Response(new Blob(["streamed blob"]).stream()),
  "/file": () => new Response(Bun.file(new URL("./app.ts", import.meta.url).pathname)),
  "/file-stream": () => new Response(Bun.file(new URL("./app.ts", import.meta.url).pathname).stream()),
  "/form": () => new Response(new URLSearchParams({ a: "1", b: "two words" })),
  "/bytes": () => new Response(new Uint8Array([0, 1, 2, 255])),
  "/cookies": () => {
    const h = new Headers();
    h.append("set-cookie", "a=1; Path=/");
    h.append("set-cookie", "b=2; Path=/");
    h.set("x-Mixed-Case", "v");
    return new Response("c", { headers: h });
  },
  "/stream-sync": () =>
    new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(enc.encode("one,"));
          c.enqueue("two");
          c.close();
        },
      }),
    ),
  "/stream-late": () =>
    new Response(
      new ReadableStream({
        async pull(c) {
          await Bun.sleep(5);
          c.enqueue(enc.encode("late"));
          c.close();
        },
      }),
    ),
  "/stream-empty": () => new Response(new ReadableStream({ start(c) { c.close(); } })),
  "/stream-typed": () =>
    new Response(new ReadableStream({ start(c) { c.enqueue(enc.encode("typed")); c.close(); } }), {
      headers: { "content-type": "text/event-stream" },
    }),
  "/async-iter": () =>
    new Response(
      (async function* () {
        yield "a";
        await Bun.sleep(1);
        yield "b";
      })() as unknown as ConstructorParameters<typeof Response>[0],
    ),
  // The first event goes out at once; the second waits for /release?key=...
  "/sse": (_r, url) => {
    const key = url.searchParams.get("key") ?? "sse";
    return new Response(
      new ReadableStream({
        async start(c) {
          c.enqueue(enc.encode("data: first\n\n"));
          await gate(key);
          c.enqueue(enc.encode("data: second\n\n"));
          c.close();
        },
        cancel() {
          note(key, "cancel");
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    );
  },
  "/stream-fail-late": () =>
    new Response(
      new ReadableStream({
        async start(c) {
          c.enqueue(enc.encode("partial"));
          await Bun.sleep(2);
          c.error(new Error("the stream failed (expected by the parity suite)"));
        },
      }),
    ),
  "/stream-fail-sync": () =>
    new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(enc.encode("partial"));
          c.error(new Error("the stream failed (expected by the parity suite)"));
        },
      }),
    ),
  "/stream-fail-first": () =>
    new Response(
      new ReadableStream({
        pull(c) {
          c.error(new Error("the stream failed (expected by the parity suite)"));
        },
      }),
    ),
  // Waits for the client to leave: the signal and the stream's cancel() are noted.
  "/hang": (request, url) => {
    const key = url.searchParams.get("key") ?? "hang";
    request.signal.addEventListener("abort", () => note(key, "abort"));
    return new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(enc.encode("waiting\n"));
        },
        cancel() {
          note(key, "cancel");
        },
      }),
    );
  },
  "/slow-answer": async (request, url) => {
    const key = url.searchParams.get("key") ?? "slow";
    request.signal.addEventListener("abort", () => note(key, "abort"));
    await gate(key);
    return new Response("late");
  },
  "/release": (_r, url) => {
    const key = url.searchParams.get("key") ?? "";
    const g = gates.get(key);
    gates.delete(key);
    g?.();
    return new Response(g ? "released" : "none");
  },
  "/log": (_r, url) => Response.json(log.get(url.searchParams.get("key") ?? "") ?? []),
  "/server": (request, _u, server) => {
    const s = server as { requestIP?(r: Request): unknown; port?: number; hostname?: string; development?: boolean; url?: URL } | undefined;
    return Response.json({
      has: s !== undefined && s !== null,
      ip: s?.requestIP?.(request) ?? null,
      port: typeof s?.port,
      url: s?.url instanceof URL,
      upgrade: typeof (s as { upgrade?: unknown } | undefined)?.upgrade,
      timeout: typeof (s as { timeout?: unknown } | undefined)?.timeout,
    });
  },
  "/node-readable": () => new Response(Readable.from(["node ", "readable"]) as unknown as ConstructorParameters<typeof Response>[0]),
  "/hono-stream": (request) => hono.fetch(request),
  "/headers-big": () => new Response("x", { headers: { "x-long": "v".repeat(4000) } }),
};

/** The app: routes by path; the status is a reason phrase probe for `/reason/NNN`. */
export function fetch(request: Request, server?: unknown): Response | Promise<Response> {
  const url = new URL(request.url);
  const route = routes[url.pathname];
  if (route !== undefined) return route(request, url, server);
  const reason = /^\/reason\/(\d{3})$/.exec(url.pathname);
  if (reason !== null) return new Response("r", { status: Number(reason[1]) });
  if (url.pathname.startsWith("/q")) return new Response(`${request.method} ${url.pathname}${url.search}`);
  return new Response("not found", { status: 404 });
}
