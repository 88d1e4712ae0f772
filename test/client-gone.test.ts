/**
 * Clients that leave (core v2): a connection with an open stream, a handler
 * still at work or a taken-over socket keeps a read/hang-up watch, so a
 * client that leaves is noticed at once, not at the next failed write.
 * `conn.closed` resolves, a graceful stop() does not wait on it, a pending
 * handler's request is aborted (`req.signal`) and its late answer dropped
 * with its arena freed, and a fetch app's `request.signal` aborts and its
 * stream is cancelled. A client that only half-closes (FIN) after a
 * complete request aborts it too (as Bun.serve does), but an answer given
 * anyway is still written to it. Runs on the kqueue backend too.
 */
import { afterEach, describe, expect, test } from "bun:test";
import net from "node:net";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { newServer, type Connection, type HttpRequest } from "../src/index.ts";
import { cleanup, httpRequest, sleep, startServer, text, withTimeout, type TestServer } from "./helpers/net.ts";

afterEach(cleanup);

const backend = process.env.FASTHTTP_BACKEND === "kqueue" ? "kqueue" : "epoll";

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Waits until the server holds no connection and no arena slab. */
async function settled(s: { server: { stats(): { connections: number; slabsInUse: number; largeInUse: number } } }, ms = 3000) {
  await until(() => {
    const st = s.server.stats();
    return st.connections === 0 && st.slabsInUse === 0 && st.largeInUse === 0;
  }, ms, `connections and slabs back to 0 (now ${JSON.stringify(s.server.stats())})`);
}

/** A raw client socket that collects what it receives. */
async function connect(port: number): Promise<{ sock: net.Socket; got: () => string; ended: Promise<void> }> {
  const sock = net.connect({ port, host: "127.0.0.1" });
  let data = "";
  sock.on("data", (b) => (data += b.toString("latin1")));
  sock.on("error", () => {});
  const ended = new Promise<void>((r) => sock.on("close", () => r()));
  await new Promise<void>((r, j) => {
    sock.once("connect", () => r());
    sock.once("error", j);
  });
  return { sock, got: () => data, ended };
}

describe(`clients that leave (${backend} backend)`, () => {
  test("the server under test runs on the expected backend", async () => {
    const s = await startServer(() => new Uint8Array(0));
    expect(s.server.stats().backend).toBe(backend);
  });

  for (const how of ["FIN", "reset"] as const) {
    test(`an idle stream whose client leaves (${how}): conn.closed resolves at once, everything is freed`, async () => {
      let conn: Connection | undefined;
      const s = await startServer((req) =>
        req.stream(200, { "Content-Type": "text/event-stream" }, async (c) => {
          conn = c;
          await c.write("data: first\n\n");
          await c.closed; // idle until the client goes
        }),
      );
      const c = await connect(s.port);
      c.sock.write(httpRequest("GET", "/events"));
      await until(() => c.got().includes("data: first"), 2000, "the first event");
      const left = Date.now();
      if (how === "FIN") c.sock.end();
      else c.sock.resetAndDestroy();
      await withTimeout(conn!.closed, 1000, "conn.closed after the client left");
      expect(Date.now() - left).toBeLessThan(1000);
      expect(conn!.isClosed).toBe(true);
      await settled(s);
    });
  }

  test("a graceful stop() does not wait on a stream whose client left", async () => {
    let opened = false;
    const s = await startServer((req) =>
      req.stream(200, {}, async (c) => {
        opened = true;
        await c.write("x");
        await c.closed;
      }),
    );
    const c = await connect(s.port);
    c.sock.write(httpRequest("GET", "/"));
    await until(() => opened && c.got().includes("\r\n\r\n"), 2000, "the stream's head");
    c.sock.end();
    await sleep(50);
    const t0 = Date.now();
    await withTimeout(s.server.stop(), 1500, "a graceful stop()");
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  test("a handler still at work when its client resets: req.signal aborts, the late answer is dropped, the arena freed", async () => {
    let seen: HttpRequest | undefined;
    let abortedAt = 0;
    let settle!: () => void;
    const handlerDone = new Promise<void>((r) => (settle = r));
    const s = await startServer(async (req) => {
      seen = req;
      req.signal.addEventListener("abort", () => (abortedAt = Date.now()));
      await sleep(400);
      const aborted = req.aborted;
      settle();
      return req.response(200, aborted ? "aborted" : "not aborted");
    });
    const c = await connect(s.port);
    c.sock.write(httpRequest("GET", "/slow"));
    await until(() => seen !== undefined, 2000, "the handler to start");
    await sleep(50);
    const reset = Date.now();
    c.sock.resetAndDestroy();
    await until(() => abortedAt > 0, 1000, "req.signal to abort");
    expect(abortedAt - reset).toBeLessThan(300);
    await handlerDone;
    await settled(s);
    expect(c.got()).toBe("");
  });

  test("a client that half-closes (FIN) while its handler works: the request is aborted, and an answer given anyway is still delivered", async () => {
    let abortedAtAnswer: boolean | undefined;
    let signalled = false;
    const s = await startServer(async (req) => {
      req.signal.addEventListener("abort", () => (signalled = true));
      await until(() => signalled, 2000, "the abort"); // prompt, not at the next write
      abortedAtAnswer = req.aborted;
      return req.response(200, "late but delivered");
    });
    const c = await connect(s.port);
    c.sock.end(httpRequest("GET", "/"));
    await withTimeout(c.ended, 3000, "the server to answer and close");
    expect(abortedAtAnswer).toBe(true);
    expect(c.got()).toStartWith("HTTP/1.1 200 OK");
    expect(c.got()).toEndWith("late but delivered");
    await settled(s);
  });

  test("a takeover whose client leaves: conn.closed resolves", async () => {
    let conn: Connection | undefined;
    const s = await startServer((req) =>
      req.takeover((c) => {
        conn = c;
        void c.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n");
      }),
    );
    const c = await connect(s.port);
    c.sock.write(httpRequest("GET", "/ws", { headers: { Connection: "Upgrade", Upgrade: "x" } }));
    await until(() => c.got().includes("101"), 2000, "the 101");
    c.sock.resetAndDestroy();
    await withTimeout(conn!.closed, 1000, "conn.closed");
    await settled(s);
  });

  test("a stream writer that never awaits is bounded: a write past the buffer limit rejects with a clear error", async () => {
    let error: Error | undefined;
    let writes = 0;
    const chunk = new Uint8Array(1 << 20).fill(120);
    const s = await startServer((req) =>
      req.stream(200, {}, async (c) => {
        for (let i = 0; i < 64 && error === undefined; i++) {
          writes++;
          c.write(chunk).catch((e: Error) => (error ??= e));
          await sleep(0);
        }
        c.close();
      }),
    );
    const c = await connect(s.port);
    c.sock.pause(); // never reads: the socket buffers fill
    c.sock.write(httpRequest("GET", "/"));
    await until(() => error !== undefined, 5000, "a write to be refused");
    expect(error!.message).toMatch(/buffer/i);
    expect(writes).toBeLessThan(40); // refused well before 64 MiB were buffered
    c.sock.destroy();
    await settled(s);
  });
});

describe(`fetch apps whose clients leave (${backend} backend)`, () => {
  async function serve(fetch: (r: Request) => Response | Promise<Response>): Promise<TestServer & { server: ReturnType<typeof newServer> }> {
    const server = newServer({ port: 0, host: "127.0.0.1", fetch });
    const done = server.run();
    done.catch(() => {});
    const t = {
      server,
      port: server.port,
      done,
      stop: async () => {
        await server.stop(true);
        await done;
      },
      [Symbol.asyncDispose]: () => server.stop(true),
    };
    return t as unknown as TestServer & { server: ReturnType<typeof newServer> };
  }

  test("request.signal aborts when the client resets during a slow handler", async () => {
    let aborted = 0;
    let started = false;
    const s = await serve(async (request) => {
      started = true;
      request.signal.addEventListener("abort", () => (aborted = Date.now()));
      await sleep(400);
      return new Response("late");
    });
    try {
      const c = await connect(s.port);
      c.sock.write(httpRequest("GET", "/"));
      await until(() => started, 2000, "the app to start");
      await sleep(30);
      const reset = Date.now();
      c.sock.resetAndDestroy();
      await until(() => aborted > 0, 1000, "request.signal to abort");
      expect(aborted - reset).toBeLessThan(300);
      await sleep(450);
      await settled(s);
    } finally {
      await s.stop();
    }
  });

  // (The head and first chunk wait for a second chunk today: issue 16. Two are sent here.)
  test("an idle ReadableStream body is cancelled when the client leaves", async () => {
    let cancelled = 0;
    const s = await serve(
      () =>
        new Response(
          new ReadableStream({
            start(ctrl) {
              ctrl.enqueue(new TextEncoder().encode("data: one\n\n"));
              setTimeout(() => ctrl.enqueue(new TextEncoder().encode("data: two\n\n")), 30);
            },
            cancel() {
              cancelled = Date.now();
            },
          }),
          { headers: { "Content-Type": "text/event-stream" } },
        ),
    );
    try {
      const c = await connect(s.port);
      c.sock.write(httpRequest("GET", "/"));
      await until(() => c.got().includes("data: two"), 3000, "the events");
      const left = Date.now();
      c.sock.end();
      await until(() => cancelled > 0, 1000, "the stream's cancel()");
      expect(cancelled - left).toBeLessThan(1000);
      await settled(s);
    } finally {
      await s.stop();
    }
  });

  test("Hono's streamSSE: onAbort fires when the client leaves", async () => {
    let abortedAt = 0;
    const app = new Hono();
    app.get("/sse", (ctx) =>
      streamSSE(ctx, async (stream) => {
        stream.onAbort(() => {
          abortedAt = Date.now();
        });
        await stream.writeSSE({ data: "hello" });
        while (!stream.aborted) await stream.sleep(20);
      }),
    );
    const s = await serve(app.fetch);
    try {
      const c = await connect(s.port);
      c.sock.write(httpRequest("GET", "/sse"));
      await until(() => text(new TextEncoder().encode(c.got())).includes("data: hello"), 3000, "the first event");
      const left = Date.now();
      c.sock.end();
      await until(() => abortedAt > 0, 1000, "onAbort");
      expect(abortedAt - left).toBeLessThan(1000);
    } finally {
      await s.stop();
    }
  });
});

