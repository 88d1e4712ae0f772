/**
 * Frameworks on fasthttp and on Bun.serve, over real sockets on 127.0.0.1 (port 0).
 *
 * First the Elysia app of examples/elysia.ts, served at once by `newServer({ fetch: app.fetch })`
 * and by `Bun.serve({ fetch: app.fetch })`: the same raw requests go to both and the answers are
 * compared as test/adapter.test.ts compares Hono's (test/helpers/compare.ts).
 *
 * Then the frameworks' streaming helpers, each test run on both servers, since what a streaming
 * app relies on is what Bun.serve does:
 * - each chunk reaches the client as it is written: Hono's `stream()`, `streamSSE()` and
 *   `streamText()` (hono/streaming), and an Elysia generator's yields (plain, and `sse()`). The
 *   app writes one chunk, then waits on a gate that only the test opens once that chunk has
 *   arrived, so a chunk held back until the next one is produced fails the test (after a bounded
 *   wait) rather than passing by timing;
 * - a client that leaves: Hono's `stream.onAbort()` callback fires, for an idle stream and for one
 *   that keeps writing; an Elysia generator stops, its `finally` block running, whether it keeps
 *   yielding (Elysia's stream is cancelled and calls the generator's return()) or waits for an
 *   event, when only `request.signal` can wake it (a pending await does not see return()).
 *   Every effect is polled for with a bounded wait (3 s); the client leaves with a plain close.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { Elysia, sse } from "elysia";
import { Hono } from "hono";
import { stream, streamSSE, streamText } from "hono/streaming";
import { app as elysiaApp } from "../examples/elysia.ts";
import { newServer, type Server } from "../src/index.ts";
import { both, expectSame } from "./helpers/compare.ts";
import { httpRequest, parseResponses, withTimeout, type HttpResponse, type RequestOptions } from "./helpers/net.ts";

// ---------------------------------------------------------------------------------------------
// The Elysia example on both servers

describe("examples/elysia.ts: fasthttp and Bun.serve give the same answers", () => {
  let fast: Server;
  let bun: ReturnType<typeof Bun.serve>;
  beforeAll(() => {
    fast = newServer({ port: 0, host: "127.0.0.1", fetch: elysiaApp.fetch });
    void fast.run();
    bun = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: elysiaApp.fetch });
  });
  afterAll(async () => {
    await fast.stop();
    await bun.stop(true);
  });

  const json = { "Content-Type": "application/json" };
  const cases: [string, string, RequestOptions?][] = [
    ["GET", "/"],
    ["GET", "/json"],
    ["GET", "/users/42?fields=name,age"],
    ["GET", "/users/7"],
    ["POST", "/echo", { headers: json, body: JSON.stringify({ a: [1, "ü", null] }) }],
    ["POST", "/echo", { headers: json, body: "{not json" }],
    ["POST", "/echo", { headers: json, body: "42" }],
    ["GET", "/nope"],
    ["DELETE", "/json"],
    ["GET", "/error"],
    ["GET", "/stream"],
  ];
  for (const [method, path, options] of cases) {
    test(`${method} ${path}${options?.body === undefined ? "" : ` (${options.body})`}`, async () => {
      expectSame(await both(fast.port, bun.port!, method, path, options));
    });
  }

  test("what the app answers is the example's", async () => {
    const { fast: f } = await both(fast.port, bun.port!, "GET", "/users/42?fields=name,age");
    expect([f.status, f.headers["content-type"], JSON.parse(f.text)]).toEqual([
      200,
      "application/json;charset=utf-8",
      { id: 42, fields: ["name", "age"] },
    ]);
    const { fast: echo } = await both(fast.port, bun.port!, "POST", "/echo", { headers: json, body: '{"a":1}' });
    expect([echo.status, echo.headers["x-echo"], JSON.parse(echo.text)]).toEqual([201, "1", { received: { a: 1 } }]);
    const { fast: missing } = await both(fast.port, bun.port!, "GET", "/nope");
    expect([missing.status, missing.text]).toEqual([404, "/nope not found\n"]);
    const { fast: failed } = await both(fast.port, bun.port!, "GET", "/error");
    expect([failed.status, failed.text]).toEqual([500, "this route fails on purpose"]);
    const { fast: lines } = await both(fast.port, bun.port!, "GET", "/stream");
    expect([lines.headers["transfer-encoding"], lines.text]).toEqual(["chunked", [1, 2, 3, 4, 5].map((i) => `line ${i} of 5\n`).join("")]);
  });

  // Elysia answers HEAD itself: for a GET route, the GET's headers with a null body and the GET
  // body's length as Content-Length, which Bun.serve sends as it is (RFC 9110 §8.6: the length the
  // GET would have).
  test("HEAD of a GET route: the GET's status, headers and Content-Length, without a body", async () => {
    for (const path of ["/", "/json"]) {
      const pair = await both(fast.port, bun.port!, "HEAD", path);
      expect(pair.fast.body.length).toBe(0);
      expectSame(pair, true);
    }
  });

  // Without a route Elysia answers the 404 with its body; Bun.serve then leaves out the
  // Content-Type it adds for the same answer to GET, which fasthttp keeps: not compared.
  test("HEAD without a route: 404 with the body's Content-Length, without the body", async () => {
    const { fast: f, bun: b } = await both(fast.port, bun.port!, "HEAD", "/nope");
    expect([f.status, f.headers["content-length"], f.body.length]).toEqual([404, "16", 0]);
    expect([b.status, b.headers["content-length"], b.body.length]).toEqual([404, "16", 0]);
  });
});

// ---------------------------------------------------------------------------------------------
// Streaming helpers on both servers

type Kind = "fasthttp" | "Bun.serve";
const KINDS: Kind[] = ["fasthttp", "Bun.serve"];

/** How long a chunk, or the effect of a client leaving, may take; a bound, never a pass criterion. */
const ARRIVAL_MS = 2000;
const GONE_MS = 3000;

const stops = new Set<() => Promise<void>>();

/** A web-standard app's entry point, as both servers take it. */
type Fetch = (request: Request) => Response | Promise<Response>;

/** Serves `fetch` on 127.0.0.1, port 0, with the server of that kind; stopped after the test. */
function serve(kind: Kind, fetch: Fetch): number {
  if (kind === "fasthttp") {
    const server = newServer({ port: 0, host: "127.0.0.1", fetch });
    const done = server.run();
    done.catch(() => {});
    stops.add(() => withTimeout(server.stop(true), 2000, "fasthttp to stop"));
    return server.port;
  }
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (request) => fetch(request) });
  stops.add(() => withTimeout(server.stop(true), 2000, "Bun.serve to stop"));
  return server.port!;
}

/** A client on a raw socket: what has arrived so far, waits for more, and leaving. */
interface Wire {
  /** Everything received, as text. */
  got(): string;
  /** Waits (bounded) until what has arrived contains `s`; fails saying what did arrive. */
  waitFor(s: string, what: string, ms?: number): Promise<void>;
  /** The whole response, once it is complete (bounded). */
  response(): Promise<HttpResponse>;
  /** The client leaves: closes its socket. */
  leave(): void;
}

const wires = new Set<net.Socket>();

afterEach(async () => {
  for (const sock of wires) sock.destroy();
  wires.clear();
  const pending = [...stops];
  stops.clear();
  await Promise.all(pending.map((stop) => stop()));
});

/** Connects, sends `GET path` and collects the answer. */
async function get(port: number, path: string): Promise<Wire> {
  const sock = net.connect({ port, host: "127.0.0.1" });
  wires.add(sock);
  const chunks: Buffer[] = [];
  let closed = false;
  const wakers = new Set<() => void>();
  const wake = () => {
    for (const w of wakers) w();
  };
  sock.on("data", (b: Buffer) => {
    chunks.push(b);
    wake();
  });
  sock.on("error", () => {});
  sock.on("close", () => {
    closed = true;
    wake();
  });
  await withTimeout(new Promise<void>((resolve) => sock.once("connect", () => resolve())), 2000, `a connection to port ${port}`);
  sock.setNoDelay(true);
  sock.write(httpRequest("GET", path));
  const bytes = () => new Uint8Array(Buffer.concat(chunks));
  const got = () => Buffer.concat(chunks).toString("utf8");
  /** Waits until `cond` holds or the connection closes, at most `ms`; returns whether it held. */
  const waitUntil = async (cond: () => boolean, ms: number): Promise<boolean> => {
    const end = Date.now() + ms;
    while (!cond() && !closed && Date.now() < end) {
      await new Promise<void>((resolve) => {
        const w = () => {
          clearTimeout(timer);
          wakers.delete(w);
          resolve();
        };
        const timer = setTimeout(w, Math.max(1, end - Date.now()));
        wakers.add(w);
      });
    }
    return cond();
  };
  const complete = () => parseResponses(bytes(), { closed }).responses.length > 0;
  return {
    got,
    async waitFor(s, what, ms = ARRIVAL_MS) {
      if (!(await waitUntil(() => got().includes(s), ms))) {
        throw new Error(`${what}: ${JSON.stringify(s)} did not arrive within ${ms} ms${closed ? " (the server closed)" : ""}; got ${JSON.stringify(got())}`);
      }
    },
    async response() {
      if (!(await waitUntil(complete, ARRIVAL_MS))) throw new Error(`no complete response within ${ARRIVAL_MS} ms; got ${JSON.stringify(got())}`);
      return parseResponses(bytes(), { closed }).responses[0]!;
    },
    leave() {
      sock.destroy();
    },
  };
}

/** A promise that only the test settles. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Polls (every 10 ms, at most `ms`) until `cond` holds; fails naming `what` otherwise. */
async function eventually(cond: () => boolean, what: string, ms = GONE_MS): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The Hono helpers, each with the bytes one written piece becomes and the headers it sets. */
const HONO_HELPERS = [
  {
    name: "stream()",
    route: (gates: Promise<void>[], onAbort?: () => void) =>
      new Hono().get("/", (c) =>
        stream(c, async (s) => {
          if (onAbort) s.onAbort(onAbort);
          for (let i = 0; i < gates.length; i++) {
            await s.write(`piece ${i}\n`);
            await gates[i];
          }
        }),
      ),
    wire: (i: number) => `piece ${i}\n`,
    headers: {} as Record<string, string>,
  },
  {
    name: "streamSSE()",
    route: (gates: Promise<void>[], onAbort?: () => void) =>
      new Hono().get("/", (c) =>
        streamSSE(c, async (s) => {
          if (onAbort) s.onAbort(onAbort);
          for (let i = 0; i < gates.length; i++) {
            await s.writeSSE({ event: "tick", id: String(i), data: `piece ${i}` });
            await gates[i];
          }
        }),
      ),
    wire: (i: number) => `event: tick\ndata: piece ${i}\nid: ${i}\n\n`,
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } as Record<string, string>,
  },
  {
    name: "streamText()",
    route: (gates: Promise<void>[], onAbort?: () => void) =>
      new Hono().get("/", (c) =>
        streamText(c, async (s) => {
          if (onAbort) s.onAbort(onAbort);
          for (let i = 0; i < gates.length; i++) {
            await s.write(`piece ${i}\n`);
            await gates[i];
          }
        }),
      ),
    wire: (i: number) => `piece ${i}\n`,
    headers: { "content-type": "text/plain; charset=UTF-8", "x-content-type-options": "nosniff" } as Record<string, string>,
  },
];

/** Elysia generators: plain yields (text/plain) and `sse()` events (text/event-stream). */
const ELYSIA_GENERATORS = [
  {
    name: "a generator",
    route: (gates: Promise<void>[]) =>
      new Elysia().get("/", async function* () {
        for (let i = 0; i < gates.length; i++) {
          yield `piece ${i}\n`;
          await gates[i];
        }
      }),
    wire: (i: number) => `piece ${i}\n`,
    headers: { "content-type": "text/plain", "cache-control": "no-cache" } as Record<string, string>,
  },
  {
    name: "an sse() generator",
    route: (gates: Promise<void>[]) =>
      new Elysia().get("/", async function* () {
        for (let i = 0; i < gates.length; i++) {
          yield sse({ event: "tick", id: i, data: `piece ${i}` });
          await gates[i];
        }
      }),
    wire: (i: number) => `id: ${i}\nevent: tick\ndata: piece ${i}\n\n`,
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } as Record<string, string>,
  },
];

/**
 * The app writes piece 0, waits on gate 0, writes piece 1, waits on gate 1, writes piece 2 and
 * ends. Each piece must arrive while the app waits on the gate after it; the gate is opened only
 * then. At the end the response is whole, chunked, with the helper's headers.
 */
async function piecesArriveAsWritten(
  port: number,
  wire: (i: number) => string,
  headers: Record<string, string>,
  gates: { open: () => void }[],
): Promise<void> {
  const client = await get(port, "/");
  for (let i = 0; i < gates.length; i++) {
    await client.waitFor(wire(i), `piece ${i} (the app is waiting for the test before it writes piece ${i + 1})`);
    expect(client.got()).not.toContain(wire(i + 1));
    gates[i]!.open();
  }
  const res = await client.response();
  expect(res.status).toBe(200);
  expect(res.headers["transfer-encoding"]).toBe("chunked");
  expect(res.headers["content-length"]).toBeUndefined();
  for (const [name, value] of Object.entries(headers)) expect([name, res.headers[name]]).toEqual([name, value]);
  expect(res.text).toBe([0, 1, 2].map(wire).join(""));
}

for (const kind of KINDS) {
  describe(`streaming helpers on ${kind}: each chunk arrives as it is written`, () => {
    for (const helper of HONO_HELPERS) {
      test(`Hono ${helper.name}: a piece arrives before the next is produced`, async () => {
        const gates = [gate(), gate()];
        const app = helper.route([...gates.map((g) => g.promise), Promise.resolve()]);
        await piecesArriveAsWritten(serve(kind, app.fetch), helper.wire, helper.headers, gates);
      });
    }
    for (const gen of ELYSIA_GENERATORS) {
      test(`Elysia, ${gen.name}: a yield arrives before the next is produced`, async () => {
        const gates = [gate(), gate()];
        const app = gen.route([...gates.map((g) => g.promise), Promise.resolve()]);
        await piecesArriveAsWritten(serve(kind, app.fetch), gen.wire, gen.headers, gates);
      });
    }
  });

  describe(`streaming helpers on ${kind}: a client that leaves`, () => {
    for (const helper of HONO_HELPERS) {
      test(`Hono ${helper.name}, idle when the client leaves: onAbort fires`, async () => {
        let aborted = 0;
        const forever = new Promise<void>(() => {}); // the next piece never comes
        const app = helper.route([forever], () => (aborted = Date.now()));
        const client = await get(serve(kind, app.fetch), "/");
        await client.waitFor(helper.wire(0), "the first piece");
        client.leave();
        await eventually(() => aborted > 0, "stream.onAbort() after the client left");
      });
    }

    test("Hono stream() that keeps writing: onAbort fires, the callback sees it and stops", async () => {
      let aborted = false;
      let writes = 0;
      let ended = false;
      const app = new Hono().get("/", (c) =>
        stream(c, async (s) => {
          s.onAbort(() => {
            aborted = true;
          });
          try {
            while (!s.aborted) {
              await s.write(`tick ${++writes}\n`);
              await s.sleep(20); // pacing only
            }
          } finally {
            ended = true;
          }
        }),
      );
      const client = await get(serve(kind, app.fetch), "/");
      await client.waitFor("tick 3\n", "three ticks");
      client.leave();
      await eventually(() => aborted && ended, "onAbort, then the callback's end, after the client left");
      const at = writes;
      await new Promise((r) => setTimeout(r, 100));
      expect(writes).toBe(at);
    });

    test("Elysia generator that keeps yielding: it stops, its finally block runs", async () => {
      let yields = 0;
      let finalized = false;
      const app = new Elysia().get("/", async function* () {
        try {
          for (;;) {
            yield `tick ${++yields}\n`;
            await Bun.sleep(20); // pacing only
          }
        } finally {
          finalized = true;
        }
      });
      const client = await get(serve(kind, app.fetch), "/");
      await client.waitFor("tick 3\n", "three ticks");
      client.leave();
      await eventually(() => finalized, "the generator's finally block after the client left");
      const at = yields;
      await new Promise((r) => setTimeout(r, 100));
      expect(yields).toBe(at);
    });

    test("Elysia generator waiting for an event: request.signal aborts, the generator ends, its finally block runs", async () => {
      let signalled = false;
      let finalized = false;
      let woke = false;
      const app = new Elysia().get("/", async function* ({ request }) {
        const signal = request.signal;
        try {
          yield "event 1\n";
          yield "event 2\n";
          // Waiting for the next event: Elysia's return() cannot interrupt this await; the signal can.
          await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
          signalled = signal.aborted;
          woke = true;
          yield "never sent\n";
        } finally {
          finalized = true;
        }
      });
      const client = await get(serve(kind, app.fetch), "/");
      await client.waitFor("event 2\n", "two events");
      client.leave();
      await eventually(() => finalized, "request.signal to abort and the generator's finally block to run after the client left");
      expect([signalled, woke]).toEqual([true, true]);
    });
  });
}
