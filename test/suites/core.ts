/**
 * The core conformance suite: everything notes/API-CONTRACT.md promises about connections,
 * framing, handler results, errors, limits, lifecycle and the request view, checked over real
 * sockets on 127.0.0.1 with ephemeral ports.
 *
 * It is a function so that the same tests run against every implementation (one run per event
 * loop backend, and one with the loops in Workers), in the manner of Hono's shared router tests.
 * Its handlers come from ./core-handlers.ts by name (`H.echoPath()`, ...), and what they observe
 * reaches the tests through a probe, so that a run whose handlers execute in other threads
 * (test/workers.test.ts) runs these same tests.
 *
 * @example
 * // test/core.test.ts
 * import { newServer } from "../src/index.ts";
 * runCoreSuite({ name: "default backend", newServer });
 */
import { afterEach, describe, expect, spyOn, test } from "bun:test";
import type { ServerConfig } from "../../src/index.ts";
import {
  Client,
  cleanup,
  concat,
  httpRequest,
  parseResponses,
  rawRequest,
  rawResponse,
  serverHarness,
  sleep,
  text,
  tryConnect,
  utf8,
  withTimeout,
  type HttpResponse,
  type ServerFactory,
} from "../helpers/net.ts";
import { handlerSet, LocalProbe, pattern, type BadResult, type Failure, type Probe } from "./core-handlers.ts";

export interface CoreSuiteOptions {
  /** Shown in the describe block, e.g. the backend's name. */
  name: string;
  /** The implementation under test. */
  newServer: ServerFactory;
  /** Config merged into every server the suite starts (e.g. a backend choice). */
  config?: Partial<ServerConfig>;
  /** How the handlers report to the tests; default: in this thread ({@link LocalProbe}). */
  probe?: Probe;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Asserts a server-generated response is complete: Content-Length present and equal to the body. */
function expectFramed(res: HttpResponse): void {
  expect(res.headers["content-length"]).toBeDefined();
  expect(Number(res.headers["content-length"])).toBe(res.body.length);
}

/**
 * Silences the server's error log for one test and collects it (the server logs handler errors):
 * console.error in this thread, or the probe's "console.error" values when the server runs in
 * workers. `calls(n)` waits (bounded) until n lines have arrived and returns them all.
 */
function captureConsoleError(probe: Probe) {
  const spy = spyOn(console, "error").mockImplementation(() => {});
  probe.muteLogs(true);
  return {
    async calls(count: number): Promise<string[]> {
      const here = (spy.mock.calls as unknown[][]).map((args) => args.map(String).join(" "));
      if (here.length >= count) return here;
      return [...here, ...((await probe.values("console.error", count)) as string[])];
    },
    restore: () => {
      spy.mockRestore();
      probe.muteLogs(false);
    },
  };
}

export function runCoreSuite(options: CoreSuiteOptions): void {
  const start = serverHarness(options.newServer, options.config);
  const newServer = (config: ServerConfig) => options.newServer({ ...options.config, ...config });
  const probe = options.probe ?? new LocalProbe();
  const H = handlerSet(probe);
  const echoPath = H.echoPath();

  describe(`fasthttp core (${options.name})`, () => {
    afterEach(async () => {
      await cleanup();
      probe.reset();
    });

    describe("connections", () => {
      test("keep-alive: two requests on one connection are both answered and it stays open", async () => {
        const { port } = await start(echoPath);
        const client = await Client.connect(port);
        const first = await client.request(httpRequest("GET", "/first"));
        const second = await client.request(httpRequest("GET", "/second"));
        expect([first.status, first.text, second.status, second.text]).toEqual([200, "/first", 200, "/second"]);
        expect(second.headers["connection"]?.toLowerCase()).not.toBe("close");
        expect(await client.waitClosed(150)).toBe(false);
      });

      test("three pipelined requests in one write are answered in order", async () => {
        const { port } = await start(echoPath);
        const client = await Client.connect(port);
        await client.write(concat(httpRequest("GET", "/one"), httpRequest("GET", "/two"), httpRequest("GET", "/three")));
        const responses = await client.next(3);
        expect(responses.map((r) => [r.status, r.text])).toEqual([
          [200, "/one"],
          [200, "/two"],
          [200, "/three"],
        ]);
        expect(await client.waitClosed(100)).toBe(false);
      });

      test("a request written one byte at a time is assembled and answered once complete", async () => {
        const { port } = await start(echoPath);
        const client = await Client.connect(port);
        const request = httpRequest("GET", "/trickle?x=1", { headers: { "X-Slow": "yes" } });
        for (let i = 0; i < request.length - 1; i++) {
          await client.write(request.subarray(i, i + 1));
          await sleep(1);
        }
        await sleep(30);
        expect(client.pendingBytes).toBe(0); // nothing may be answered before the blank line ends
        await client.write(request.subarray(request.length - 1));
        const [res] = await client.next();
        expect([res!.status, res!.text]).toEqual([200, "/trickle?x=1"]);
      });

      test("HTTP/1.0 without keep-alive: response, then the server closes", async () => {
        const { port } = await start(echoPath);
        const result = await rawRequest(port, "GET /old HTTP/1.0\r\n\r\n");
        expect(result.closedByServer).toBe(true);
        const { responses, rest } = parseResponses(result.data, { closed: true });
        expect(responses.map((r) => [r.status, r.text])).toEqual([[200, "/old"]]);
        expect(responses[0]!.headers["connection"]?.toLowerCase()).toBe("close");
        expect(rest.length).toBe(0);
      });

      test("HTTP/1.0 with Connection: keep-alive stays open and serves a second request", async () => {
        const { port } = await start(echoPath);
        const client = await Client.connect(port);
        const request = (path: string) => httpRequest("GET", path, { version: "HTTP/1.0", headers: { Connection: "keep-alive" } });
        const first = await client.request(request("/a"));
        expect([first.status, first.text]).toEqual([200, "/a"]);
        expect(first.headers["connection"]?.toLowerCase()).toBe("keep-alive");
        expect(await client.waitClosed(150)).toBe(false);
        const second = await client.request(request("/b"));
        expect([second.status, second.text]).toEqual([200, "/b"]);
      });

      test("Connection: close from the client: one response, then closed (a pipelined follower is not answered)", async () => {
        const { port } = await start(echoPath);
        const result = await rawRequest(
          port,
          concat(httpRequest("GET", "/last", { headers: { Connection: "close" } }), httpRequest("GET", "/ignored")),
        );
        expect(result.closedByServer).toBe(true);
        const { responses } = parseResponses(result.data, { closed: true });
        expect(responses.map((r) => [r.status, r.text])).toEqual([[200, "/last"]]);
        expect(responses[0]!.headers["connection"]?.toLowerCase()).toBe("close");
      });

      test.each(["Connection: close", "connection: close"])(
        "a raw response with %p closes the connection after it",
        async (header) => {
          const [name, value] = header.split(": ") as [string, string];
          const response = rawResponse(200, "OK", [[name, value]], "bye");
          const { port } = await start(H.constant(response));
          const result = await rawRequest(port, concat(httpRequest("GET", "/"), httpRequest("GET", "/again")));
          expect(result.closedByServer).toBe(true);
          const { responses } = parseResponses(result.data, { closed: true });
          expect(responses.map((r) => [r.status, r.text])).toEqual([[200, "bye"]]);
        },
      );

      test("FIN right after the request (socket.end(request)) still gets the full response", async () => {
        const body = "x".repeat(100_000);
        const { port } = await start(H.constant(utf8(body)));
        const result = await rawRequest(port, httpRequest("GET", "/"), { end: true });
        const { responses } = parseResponses(result.data, { closed: result.closedByServer });
        expect(responses.length).toBe(1);
        expect(responses[0]!.status).toBe(200);
        expect(responses[0]!.text).toBe(body);
        expect(result.closedByServer).toBe(true);
      });

      test("FIN after two pipelined requests: both are answered in order", async () => {
        const { port } = await start(echoPath);
        const result = await rawRequest(port, concat(httpRequest("GET", "/p1"), httpRequest("GET", "/p2")), { end: true });
        const { responses } = parseResponses(result.data, { closed: result.closedByServer });
        expect(responses.map((r) => [r.status, r.text])).toEqual([
          [200, "/p1"],
          [200, "/p2"],
        ]);
      });
    });

    describe("response framing", () => {
      test.each([
        ["text", utf8("hello, world")],
        ["empty", new Uint8Array(0)],
        ["bytes starting with HTTP but not HTTP/", utf8("HTTPS is not a status line")],
        ["all 256 byte values", Uint8Array.from({ length: 256 }, (_, i) => i)],
      ])("a plain body (%s) is wrapped in 200 OK with Content-Length and Date", async (_, body) => {
        const { port } = await start(H.constant(body));
        const client = await Client.connect(port);
        const res = await client.request(httpRequest("GET", "/"));
        expect(res.version).toBe("HTTP/1.1");
        expect(res.status).toBe(200);
        expect(res.headers["content-length"]).toBe(String(body.length));
        expect(res.headers["date"]).toBeDefined();
        expect(sameBytes(res.body, body)).toBe(true);
      });

      test("a raw response (starting with HTTP/) is sent verbatim", async () => {
        const response = rawResponse(418, "I'm a teapot", [["X-Custom", "yes"], ["Content-Type", "text/plain"]], "short and stout");
        const { port } = await start(H.constant(response));
        const client = await Client.connect(port);
        const res = await client.request(httpRequest("GET", "/"));
        expect(text(res.raw)).toBe(text(response));
      });

      test("HEAD on a wrapped body: Content-Length of the body, no body bytes; the next request parses", async () => {
        const body = "hello from GET\n";
        const { port } = await start(H.constant(utf8(body)));
        const client = await Client.connect(port);
        const head = await client.request(httpRequest("HEAD", "/"), { noBody: true });
        expect(head.status).toBe(200);
        expect(head.headers["content-length"]).toBe(String(body.length));
        await sleep(50);
        expect(client.pendingBytes).toBe(0); // no stray body bytes after the head
        const get = await client.request(httpRequest("GET", "/"));
        expect([get.status, get.text]).toEqual([200, body]);
        // The same pair pipelined in one write.
        await client.write(concat(httpRequest("HEAD", "/"), httpRequest("GET", "/")));
        const [h, g] = await client.next(2, { noBody: [true, false] });
        expect([h!.status, h!.headers["content-length"], h!.body.length]).toEqual([200, String(body.length), 0]);
        expect([g!.status, g!.text]).toEqual([200, body]);
      });

      test("a POST body is framed by Content-Length: the handler sees it exactly and a pipelined request follows", async () => {
        const { port } = await start(H.recordBody());
        // The body looks like a request, so a server that mis-frames it answers three times.
        const body = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
        const client = await Client.connect(port);
        await client.write(concat(httpRequest("POST", "/submit", { body }), httpRequest("GET", "/after")));
        const responses = await client.next(2);
        expect(responses.map((r) => [r.status, r.text])).toEqual([
          [200, `POST /submit ${body.length}`],
          [200, "GET /after 0"],
        ]);
        expect(await probe.values("body", 2)).toEqual([body, ""]);
        await sleep(50);
        expect(client.pendingBytes).toBe(0);
      });

      test("a 10 MB response reaches a slow reader intact while another connection is served", async () => {
        const big = pattern(10 * 1024 * 1024);
        const { port } = await start(H.bigOrFast(big.length));
        const slow = await Client.connect(port);
        slow.pause();
        await slow.write(httpRequest("GET", "/big"));
        await sleep(300); // the server has filled the socket buffers and must wait for the reader

        const other = await Client.connect(port);
        const started = Date.now();
        const fast = await other.request(httpRequest("GET", "/fast"), { timeoutMs: 1000 });
        expect([fast.status, fast.text]).toEqual([200, "fast"]);
        expect(Date.now() - started).toBeLessThan(1000);

        await sleep(300);
        slow.resume();
        const [res] = await slow.next(1, { timeoutMs: 10_000 });
        expect(res!.status).toBe(200);
        expect(res!.headers["content-length"]).toBe(String(big.length));
        expect(res!.body.length).toBe(big.length);
        expect(sameBytes(res!.body, big)).toBe(true);
        // The connection is still usable afterwards.
        const after = await slow.request(httpRequest("GET", "/fast"));
        expect(after.text).toBe("fast");
      }, 15_000);
    });

    describe("handler results and errors", () => {
      test("a handler throw answers 500 for that request only; the next request on the connection gets 200", async () => {
        const log = captureConsoleError(probe);
        try {
          const { port } = await start(H.throwOn("/throw"));
          const client = await Client.connect(port);
          const failed = await client.request(httpRequest("GET", "/throw"));
          expect(failed.status).toBe(500);
          expectFramed(failed);
          const ok = await client.request(httpRequest("GET", "/ok"));
          expect([ok.status, ok.text]).toEqual([200, "fine"]);
          expect((await log.calls(1)).length).toBe(1); // logged once
        } finally {
          log.restore();
        }
      });

      test.each(["an async handler that throws", "a rejected promise"] satisfies Failure[])(
        "%s answers 500 and the connection stays usable", async (failing) => {
        const log = captureConsoleError(probe);
        try {
          const { port } = await start(H.failOn("/fail", failing));
          const client = await Client.connect(port);
          const failed = await client.request(httpRequest("GET", "/fail"));
          expect(failed.status).toBe(500);
          expectFramed(failed);
          const ok = await client.request(httpRequest("GET", "/ok"));
          expect([ok.status, ok.text]).toEqual([200, "fine"]);
          expect((await log.calls(1)).length).toBe(1);
        } finally {
          log.restore();
        }
      });

      test.each([
        "a string",
        "a number",
        "undefined",
        "a plain object",
        "an ArrayBuffer",
        "a promise of a string",
      ] satisfies BadResult[])("returning %s (not a Uint8Array) answers 500", async (what) => {
        const log = captureConsoleError(probe);
        try {
          const { port } = await start(H.badOn("/bad", what));
          const client = await Client.connect(port);
          const failed = await client.request(httpRequest("GET", "/bad"));
          expect(failed.status).toBe(500);
          expectFramed(failed);
          const ok = await client.request(httpRequest("GET", "/ok"));
          expect([ok.status, ok.text]).toEqual([200, "fine"]);
          const calls = await log.calls(1);
          expect(calls.length).toBe(1);
          if (what === "a string") expect(calls[0]).toContain("string");
        } finally {
          log.restore();
        }
      });

      test("an async handler does not block another connection", async () => {
        const { port } = await start(H.gated("slow", "slow done", "/slow", "fast"));
        const a = await Client.connect(port);
        await a.write(httpRequest("GET", "/slow"));
        await probe.entered("slow"); // the slow handler has been called
        const b = await Client.connect(port);
        // B must be answered while A's handler is still waiting: A is released only afterwards.
        const fast = await b.request(httpRequest("GET", "/fast"), { timeoutMs: 2000 });
        expect([fast.status, fast.text]).toEqual([200, "fast"]);
        expect(a.pendingBytes).toBe(0);
        probe.release("slow");
        const [slow] = await a.next();
        expect([slow!.status, slow!.text]).toEqual([200, "slow done"]);
      });

      test("pipelined slow-async then fast-sync requests are answered in request order", async () => {
        const { port } = await start(H.slowThenEcho());
        const client = await Client.connect(port);
        await client.write(concat(httpRequest("GET", "/slow"), httpRequest("GET", "/fast"), httpRequest("GET", "/fast2")));
        const responses = await client.next(3);
        expect(responses.map((r) => r.text)).toEqual(["slow", "/fast", "/fast2"]);
      });
    });

    describe("bad requests and limits", () => {
      test.each([
        ["no spaces", "GARBAGE\r\n\r\n"],
        ["an unknown protocol", "GET / FOO/1.1\r\n\r\n"],
        ["a control character in the method", "G\x01T / HTTP/1.1\r\n\r\n"],
      ])("a malformed request line (%s) gets 400 and close; the server still serves new connections", async (_, line) => {
        const { port } = await start(echoPath);
        const result = await rawRequest(port, line);
        expect(result.closedByServer).toBe(true);
        const { responses } = parseResponses(result.data, { closed: true });
        expect(responses.length).toBe(1);
        expect(responses[0]!.status).toBe(400);
        expect(responses[0]!.headers["connection"]?.toLowerCase()).toBe("close");
        expectFramed(responses[0]!);

        const client = await Client.connect(port);
        const ok = await client.request(httpRequest("GET", "/still-up"));
        expect([ok.status, ok.text]).toEqual([200, "/still-up"]);
      });

      test.each([
        ["the default 8192", undefined, 10_000],
        ["a configured 1024", 1024, 1500],
      ])("a head larger than maxHeaderSize (%s) gets 431 and close", async (_, maxHeaderSize, padding) => {
        const config = maxHeaderSize === undefined ? {} : { maxHeaderSize };
        const { port } = await start(echoPath, config);
        const result = await rawRequest(port, httpRequest("GET", "/", { headers: { "X-Padding": "p".repeat(padding) } }));
        expect(result.closedByServer).toBe(true);
        const { responses } = parseResponses(result.data, { closed: true });
        expect(responses.length).toBe(1);
        expect(responses[0]!.status).toBe(431);
        expectFramed(responses[0]!);
      });

      test("a head well under maxHeaderSize is served", async () => {
        const { port } = await start(echoPath, { maxHeaderSize: 1024 });
        const client = await Client.connect(port);
        const res = await client.request(httpRequest("GET", "/", { headers: { "X-Padding": "p".repeat(600) } }));
        expect(res.status).toBe(200);
      });

      test("a Content-Length above maxRequestBodySize gets 413 and close, without waiting for the body", async () => {
        const { port } = await start(H.countCalls(), { maxRequestBodySize: 1000 });
        const result = await rawRequest(port, httpRequest("POST", "/upload", { headers: { "Content-Length": "1001" } }));
        expect(result.closedByServer).toBe(true);
        const { responses } = parseResponses(result.data, { closed: true });
        expect(responses.map((r) => r.status)).toEqual([413]);
        expectFramed(responses[0]!);
        expect(await probe.values("called", 0)).toEqual([]);
      });

      test("a Content-Length equal to maxRequestBodySize is accepted", async () => {
        const { port } = await start(H.bodyLength(), { maxRequestBodySize: 1000 });
        const client = await Client.connect(port);
        const res = await client.request(httpRequest("POST", "/upload", { body: "b".repeat(1000) }));
        expect([res.status, res.text]).toEqual([200, "1000"]);
      });
    });

    describe("the request view", () => {
      test("method, path, version, body, headers and buffer describe the request", async () => {
        const request =
          "POST /a/b?c=1&d=%20 HTTP/1.1\r\n" +
          "Host: 127.0.0.1\r\n" +
          "X-Custom-Header:   padded value  \r\n" +
          "X-Dup: first\r\n" +
          "X-Dup: second\r\n" +
          "Content-Length: 11\r\n" +
          "\r\n" +
          "hello body!";
        const { port } = await start(H.describeRequest());
        const client = await Client.connect(port);
        const res = await client.request(request);
        expect(res.status).toBe(200);
        const [seen] = (await probe.values("seen", 1)) as (Record<string, unknown> | undefined)[];
        expect(seen).toBeDefined();
        expect(seen!).toMatchObject({
          method: "POST",
          path: "/a/b?c=1&d=%20",
          version: "HTTP/1.1",
          body: "hello body!",
          bodyBytes: "hello body!",
          headerFields: "Host: 127.0.0.1\r\nX-Custom-Header:   padded value  \r\nX-Dup: first\r\nX-Dup: second\r\nContent-Length: 11",
          exact: "padded value",
          lower: "padded value",
          upper: "padded value",
          dup: "first",
          absent: undefined,
          buffer: request,
        });
        expect(Number.isInteger(seen!.fd) && (seen!.fd as number) > 0).toBe(true);
      });
    });

    describe("lifecycle", () => {
      test("port 0 binds a real port that serves, readable as soon as run() returns", async () => {
        const server = newServer({ port: 0, host: "127.0.0.1", handler: H.constant(utf8("zero")) });
        const done = server.run();
        done.catch(() => {});
        try {
          expect(server.port).toBeGreaterThan(0);
          const result = await rawRequest(server.port, httpRequest("GET", "/", { headers: { Connection: "close" } }));
          expect(parseResponses(result.data, { closed: true }).responses.map((r) => r.text)).toEqual(["zero"]);
        } finally {
          await withTimeout(server.stop(), 5000, "server.stop()");
          await withTimeout(done, 5000, "run() to settle");
        }
      });

      test("stop() with a request in flight delivers it, resolves, settles run(), then refuses connections", async () => {
        const { server, port, done } = await start(H.gated("flight", "finished in flight"));
        const client = await Client.connect(port);
        await client.write(httpRequest("GET", "/slow"));
        await probe.entered("flight"); // the handler has been called

        let stopped = false;
        const stopping = server.stop().then(() => {
          stopped = true;
        });
        let runSettled = false;
        done.then(
          () => (runSettled = true),
          () => (runSettled = true),
        );
        await sleep(50);
        expect(stopped).toBe(false); // it waits for the in-flight response
        probe.release("flight");

        const [res] = await client.next(1, { timeoutMs: 2000 });
        expect([res!.status, res!.text]).toEqual([200, "finished in flight"]);
        expect(await client.waitClosed(2000)).toBe(true);
        await withTimeout(stopping, 3000, "stop() to resolve");
        await withTimeout(done, 3000, "run()'s promise to resolve");
        expect(runSettled).toBe(true);
        expect(await tryConnect(port)).toBe("refused");
      });

      test("stop() with pipelined async requests in flight delivers every answer, in order, then closes", async () => {
        const { server, port, done } = await start(H.delayedEcho(100));
        const client = await Client.connect(port);
        await client.write(concat(...["/1", "/2", "/3", "/4", "/5"].map((p) => httpRequest("GET", p))));
        // In flight: every handler has started (a fixed sleep left a loop under load not yet reading them).
        expect(await probe.values("delayed", 5)).toEqual(["/1", "/2", "/3", "/4", "/5"]);
        const stopping = server.stop();
        const res = await client.next(5, { timeoutMs: 3000 });
        expect(res.map((r) => r.text)).toEqual(["/1", "/2", "/3", "/4", "/5"]);
        expect(await client.waitClosed(2000)).toBe(true);
        await withTimeout(stopping, 3000, "stop() to resolve");
        await withTimeout(done, 3000, "run()'s promise to resolve");
      });

      test("stop() closes idle keep-alive connections and resolves promptly", async () => {
        const { server, port, done } = await start(echoPath);
        const client = await Client.connect(port);
        await client.request(httpRequest("GET", "/idle"));
        await withTimeout(server.stop(), 2000, "stop() with an idle connection");
        expect(await client.waitClosed(1000)).toBe(true);
        await withTimeout(done, 2000, "run()'s promise to resolve");
      });

      test("Symbol.asyncDispose stops the server", async () => {
        const { server, port, done } = await start(echoPath);
        await withTimeout(server[Symbol.asyncDispose](), 2000, "asyncDispose");
        await withTimeout(done, 2000, "run()'s promise to resolve");
        expect(await tryConnect(port)).toBe("refused");
      });

      test("a bind failure (port in use) rejects run() with an Error naming the host, port and reason", async () => {
        const first = await start(echoPath);
        const second = newServer({ port: first.port, host: "127.0.0.1", handler: echoPath });
        let run: Promise<void> | undefined;
        expect(() => {
          run = second.run();
        }).not.toThrow();
        let error: unknown;
        try {
          await withTimeout(run!, 2000, "run() to reject");
        } catch (err) {
          error = err;
        } finally {
          // Harmless after a failed bind; needed if run() wrongly succeeded or hung.
          await withTimeout(second.stop(true), 2000, "the second server to stop").catch(() => {});
        }
        expect(error).toBeInstanceOf(Error);
        const message = (error as Error).message;
        expect(message).not.toContain("timed out after");
        expect(message).toContain(String(first.port));
        expect(message).toContain("127.0.0.1");
        expect(message).toMatch(/EADDRINUSE|in use/i);
        // The first server is unaffected.
        const client = await Client.connect(first.port);
        expect((await client.request(httpRequest("GET", "/first"))).text).toBe("/first");
      });

      test.each([
        ["port -1", { port: -1 }, "port", "-1"],
        ["port 70000", { port: 70000 }, "port", "70000"],
        ['port "abc"', { port: "abc" }, "port", "abc"],
        ["port 1.5", { port: 1.5 }, "port", "1.5"],
        ["handler missing", { handler: undefined }, "handler", undefined],
        ["handler not a function", { handler: "nope" }, "handler", "nope"],
        ["host 123", { host: 123 }, "host", "123"],
      ] as const)("config validation: %s throws a TypeError/RangeError naming the field", (_, override, field, value) => {
        const config: Record<string, unknown> = { port: 0, host: "127.0.0.1", handler: H.constant(utf8("x")), ...override };
        if (config.handler === undefined) delete config.handler;
        let error: unknown;
        try {
          newServer(config as unknown as ServerConfig);
        } catch (err) {
          error = err;
        }
        expect(error).toBeDefined();
        expect(error instanceof TypeError || error instanceof RangeError).toBe(true);
        const message = (error as Error).message;
        expect(message).toContain(field);
        if (value !== undefined) expect(message).toContain(value);
      });
    });

    describe("the event loop", () => {
      test("timers keep firing while a client hammers the server with pipelined keep-alive requests", async () => {
        const { port } = await start(echoPath);
        const ticks: number[] = [];
        const interval = setInterval(() => ticks.push(Date.now()), 10);
        try {
          // The load comes from a child process, so this process's loop runs only the server and the timer.
          const child = Bun.spawn([process.execPath, `${import.meta.dir}/../helpers/hammer.ts`, String(port), "20000", "4", "64", "1000"], {
            stdout: "pipe",
            stderr: "pipe",
          });
          const exitCode = await withTimeout(child.exited, 15_000, "the load generator to finish").catch((err) => {
            child.kill(9);
            throw err;
          });
          const out = await new Response(child.stdout).text();
          const err = await new Response(child.stderr).text();
          expect({ exitCode, err }).toEqual({ exitCode: 0, err: "" });
          const report = JSON.parse(out) as { start: number; end: number; responses: number };
          expect(report.responses).toBeGreaterThanOrEqual(20_000);

          const during = ticks.filter((t) => t >= report.start && t <= report.end);
          const points = [report.start, ...during, report.end];
          const maxGap = Math.max(...points.slice(1).map((t, i) => t - points[i]!));
          const elapsed = report.end - report.start;
          // Loose bounds: they fail only if the server's loop starves Bun's event loop.
          expect(during.length).toBeGreaterThanOrEqual(Math.floor(elapsed / 10 / 4));
          expect(maxGap).toBeLessThan(200);
        } finally {
          clearInterval(interval);
        }
      }, 20_000);
    });
  });
}
