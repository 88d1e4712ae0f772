/**
 * The keep-alive and framing regression suite: when the server may keep a connection open after
 * a response (RFC 9112 §9.3), and that every answer the core makes itself carries no body for
 * HEAD (RFC 9110 §9.3.2), so that a kept-alive client never reads stray bytes as the start of
 * the next response.
 *
 * The rule after a response: the connection persists only when both sides agreed to it, i.e. an
 * HTTP/1.1 request with no `close` in the request's or the response's `Connection` header, or an
 * HTTP/1.0 request with `keep-alive` in both; a response whose status line says `HTTP/1.0` must
 * say `keep-alive` itself; a response framed by neither Content-Length nor chunked (a status with
 * a body, not to HEAD) is delimited by the close, so the server must close after it. Otherwise
 * the server closes after that response: FIN after its last byte.
 *
 * Every read is bounded by READ_TIMEOUT_MS: a server that keeps a connection open it should
 * close fails "then closes" cases after that long, and one that never answers fails "stays
 * open" cases (they require a second response on the same socket), so no case passes vacuously.
 *
 * A function, run once per backend (test/keepalive.test.ts; `npm test` runs it again with
 * FASTHTTP_BACKEND=kqueue).
 */
import { afterEach, describe, expect, spyOn, test } from "bun:test";
import type { Handler, HttpRequest, ServerConfig } from "../../src/index.ts";
import {
  Client,
  cleanup,
  concat,
  httpRequest,
  parseResponses,
  preview,
  rawRequest,
  serverHarness,
  sleep,
  text,
  utf8,
  type HttpResponse,
  type RawResult,
  type ServerFactory,
} from "../helpers/net.ts";

export interface KeepAliveSuiteOptions {
  /** The backend the server is expected to run on ("epoll", "kqueue"): checked by the first test. */
  backend: string;
  /** The implementation under test. */
  newServer: ServerFactory;
  /** Config merged into every server the suite starts. */
  config?: Partial<ServerConfig>;
}

/** How long any one wait on the server (a response, or its close) may take. */
const READ_TIMEOUT_MS = 2000;
/** How long a connection that must persist is watched for a close before it is used again. */
const STAYS_OPEN_MS = 150;
/** How long ab may run before it is killed. */
const AB_KILL_MS = 20_000;

/**
 * Connects, writes `bytes`, and reads until the server closes or READ_TIMEOUT_MS passes.
 * helpers/net.ts's rawRequest tells a reset apart from a FIN (`end`): after a response the
 * server must close cleanly, not drop the connection.
 */
function exchange(port: number, bytes: string | Uint8Array, timeoutMs = READ_TIMEOUT_MS): Promise<RawResult> {
  return rawRequest(port, bytes, { timeoutMs });
}

/**
 * Asserts the server sent exactly one complete response and then closed cleanly, and returns
 * it. `noBody`: it answers a HEAD request (so any byte after its head is a stray).
 */
function expectOneThenClose(result: RawResult, noBody = false): HttpResponse {
  const received = preview(result.data);
  // The first assertion says what arrived, so a hang reads as "open" with the response shown.
  expect({ end: result.end, received }).toEqual({ end: "fin", received });
  const { responses, rest } = parseResponses(result.data, { closed: true, noBody });
  expect(responses.length).toBe(1);
  expect(preview(rest)).toBe(preview(new Uint8Array(0))); // nothing after the one response
  return responses[0]!;
}

/** A raw response: these exact lines, CRLF-terminated, then a blank line, then the body. */
function raw(lines: string[], body = ""): Uint8Array {
  return utf8(lines.map((l) => `${l}\r\n`).join("") + "\r\n" + body);
}

const GET10 = (path = "/") => httpRequest("GET", path, { version: "HTTP/1.0" });
// ab's spelling: "Connection: Keep-Alive"; the token is case-insensitive.
const GET10_KEEP = (path = "/") => httpRequest("GET", path, { version: "HTTP/1.0", headers: { Connection: "Keep-Alive" } });
const GET11 = (path = "/") => httpRequest("GET", path);
const GET11_CLOSE = (path = "/") => httpRequest("GET", path, { headers: { Connection: "close" } });

/** A handler answering every request with the same bytes. */
const constant = (bytes: Uint8Array): Handler => () => bytes;
/** The same, from an async handler: the bytes come a macrotask later. */
const constantAsync = (bytes: Uint8Array): Handler => async () => {
  await sleep(1);
  return bytes;
};

/** Silences (and counts) the server's error log for one test: it logs every handler failure. */
function muteErrors() {
  const spy = spyOn(console, "error").mockImplementation(() => {});
  return { count: () => spy.mock.calls.length, restore: () => spy.mockRestore() };
}

/** `ab`'s path, or null; the ab tests are skipped (saying so) without it. */
const AB = Bun.which("ab");

/** Runs ab with `args` (killed after AB_KILL_MS) and returns its output, stdout then stderr. */
async function runAb(args: string[]): Promise<{ code: number | null; out: string; killed: boolean }> {
  const proc = Bun.spawn([AB!, ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    proc.kill("SIGKILL");
  }, AB_KILL_MS);
  try {
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, out: `${out}\n${err}`, killed };
  } finally {
    clearTimeout(timer);
  }
}

/** The number ab printed after `label` (e.g. "Complete requests:"), or null if it printed none. */
function abFigure(out: string, label: string): number | null {
  const m = new RegExp(`^${label}\\s+(\\d+)`, "m").exec(out);
  return m ? Number(m[1]) : null;
}

export function runKeepAliveSuite(options: KeepAliveSuiteOptions): void {
  const start = serverHarness(options.newServer, options.config);

  /** Asserts the connection is still open, then that a second request on it is answered. */
  async function expectStaysOpen(client: Client, second: Uint8Array, body: string): Promise<HttpResponse> {
    expect(await client.waitClosed(STAYS_OPEN_MS)).toBe(false);
    const res = await client.request(second, { timeoutMs: READ_TIMEOUT_MS });
    expect([res.status, res.text]).toEqual([200, body]);
    return res;
  }

  describe(`keep-alive and framing (${options.backend} backend)`, () => {
    afterEach(cleanup);

    test(`the server runs on the ${options.backend} backend`, async () => {
      const { server } = await start(() => new Uint8Array(0));
      expect(server.stats().backend).toBe(options.backend);
    });

    describe("after a raw response (bytes beginning HTTP/)", () => {
      test("HTTP/1.0 + Connection: keep-alive, raw response without keep-alive: the full response, then the server closes", async () => {
        const response = raw(["HTTP/1.1 200 OK", "Content-Length: 2"], "hi");
        const { port } = await start(constant(response));
        const res = expectOneThenClose(await exchange(port, GET10_KEEP()));
        expect(text(res.raw)).toBe(text(response)); // verbatim
      });

      test.each([
        ["Connection: keep-alive", "HTTP/1.1"],
        ["connection: Keep-Alive", "HTTP/1.1"],
        ["Connection: keep-alive", "HTTP/1.0"],
      ])("HTTP/1.0 + keep-alive, raw %s (status line %s) with Content-Length: stays open, a second request is answered", async (header, version) => {
        const response = raw([`${version} 200 OK`, header, "Content-Length: 2"], "hi");
        const { port } = await start(constant(response));
        const client = await Client.connect(port);
        const first = await client.request(GET10_KEEP("/a"), { timeoutMs: READ_TIMEOUT_MS });
        expect(text(first.raw)).toBe(text(response));
        await expectStaysOpen(client, GET10_KEEP("/b"), "hi");
      });

      test("HTTP/1.0 without keep-alive, raw response with Connection: keep-alive: closes", async () => {
        const response = raw(["HTTP/1.1 200 OK", "Connection: keep-alive", "Content-Length: 2"], "hi");
        const { port } = await start(constant(response));
        const res = expectOneThenClose(await exchange(port, GET10()));
        expect(text(res.raw)).toBe(text(response));
      });

      test("HTTP/1.1, raw response with Connection: close: closes", async () => {
        const response = raw(["HTTP/1.1 200 OK", "Connection: close", "Content-Length: 3"], "bye");
        const { port } = await start(constant(response));
        expect(expectOneThenClose(await exchange(port, GET11())).text).toBe("bye");
      });

      test("HTTP/1.1 request with Connection: close, raw response without it: closes", async () => {
        const response = raw(["HTTP/1.1 200 OK", "Content-Length: 2"], "hi");
        const { port } = await start(constant(response));
        expect(expectOneThenClose(await exchange(port, GET11_CLOSE())).text).toBe("hi");
      });

      test("HTTP/1.1 plain, raw response with Content-Length: stays open, a second request is answered", async () => {
        const response = raw(["HTTP/1.1 200 OK", "Content-Length: 2"], "hi");
        const { port } = await start(constant(response));
        const client = await Client.connect(port);
        const first = await client.request(GET11("/a"), { timeoutMs: READ_TIMEOUT_MS });
        expect(text(first.raw)).toBe(text(response));
        await expectStaysOpen(client, GET11("/b"), "hi");
      });

      test("raw response whose status line says HTTP/1.0 (with Content-Length), to an HTTP/1.1 request: closes", async () => {
        const response = raw(["HTTP/1.0 200 OK", "Content-Length: 2"], "hi");
        const { port } = await start(constant(response));
        const res = expectOneThenClose(await exchange(port, GET11()));
        expect([res.version, res.text]).toEqual(["HTTP/1.0", "hi"]);
      });

      test("raw response with neither Content-Length nor chunked (HTTP/1.1 200 OK, then body): the body, then the server closes", async () => {
        const response = raw(["HTTP/1.1 200 OK"], "body");
        const { port } = await start(constant(response));
        const result = await exchange(port, GET11());
        // Close-delimited: what the client reads as the body is everything up to the FIN.
        expect({ end: result.end, received: text(result.data) }).toEqual({ end: "fin", received: text(response) });
        const { responses } = parseResponses(result.data, { closed: true });
        expect(responses.map((r) => [r.status, r.text])).toEqual([[200, "body"]]);
      });

      // Guards for the rule above: only a response that has a body is delimited by the close.
      test("raw chunked response: stays open, a second request is answered", async () => {
        const response = raw(["HTTP/1.1 200 OK", "Transfer-Encoding: chunked"], "2\r\nhi\r\n0\r\n\r\n");
        const { port } = await start(constant(response));
        const client = await Client.connect(port);
        expect((await client.request(GET11("/a"), { timeoutMs: READ_TIMEOUT_MS })).text).toBe("hi");
        await expectStaysOpen(client, GET11("/b"), "hi");
      });

      test("raw 204 without Content-Length: stays open (a 204 has no body to delimit)", async () => {
        const { port } = await start((req: HttpRequest) =>
          req.string(req.path) === "/empty" ? raw(["HTTP/1.1 204 No Content"]) : raw(["HTTP/1.1 200 OK", "Content-Length: 2"], "hi"),
        );
        const client = await Client.connect(port);
        expect((await client.request(GET11("/empty"), { timeoutMs: READ_TIMEOUT_MS })).status).toBe(204);
        await expectStaysOpen(client, GET11("/b"), "hi");
      });

      test("raw head-only answer to HEAD without Content-Length: stays open (no body to delimit)", async () => {
        const { port } = await start((req: HttpRequest) =>
          req.string(req.method) === "HEAD" ? raw(["HTTP/1.1 200 OK"]) : raw(["HTTP/1.1 200 OK", "Content-Length: 2"], "hi"),
        );
        const client = await Client.connect(port);
        const head = await client.request(httpRequest("HEAD", "/"), { timeoutMs: READ_TIMEOUT_MS, noBody: true });
        expect(head.status).toBe(200);
        await expectStaysOpen(client, GET11("/b"), "hi");
      });
    });

    describe("after a plain body (the server builds the head)", () => {
      const echo: Handler = (req) => utf8(req.string(req.path));

      test("HTTP/1.0 + keep-alive: Connection: keep-alive in the head, stays open, a second request is answered", async () => {
        const { port } = await start(echo);
        const client = await Client.connect(port);
        const first = await client.request(GET10_KEEP("/a"), { timeoutMs: READ_TIMEOUT_MS });
        expect([first.status, first.text, first.headers["connection"]?.toLowerCase()]).toEqual([200, "/a", "keep-alive"]);
        await expectStaysOpen(client, GET10_KEEP("/b"), "/b");
      });

      test("HTTP/1.0 without keep-alive: the response, then the server closes", async () => {
        const { port } = await start(echo);
        const res = expectOneThenClose(await exchange(port, GET10("/old")));
        expect([res.status, res.text]).toEqual([200, "/old"]);
      });
    });

    describe("after a raw response from an async handler", () => {
      test("HTTP/1.0 + keep-alive, raw response without keep-alive: the full response, then the server closes", async () => {
        const response = raw(["HTTP/1.1 200 OK", "Content-Length: 2"], "hi");
        const { port } = await start(constantAsync(response));
        const res = expectOneThenClose(await exchange(port, GET10_KEEP()));
        expect(text(res.raw)).toBe(text(response));
      });

      test("HTTP/1.0 + keep-alive, raw response with Connection: keep-alive: stays open, a second request is answered", async () => {
        const response = raw(["HTTP/1.1 200 OK", "Connection: keep-alive", "Content-Length: 2"], "hi");
        const { port } = await start(constantAsync(response));
        const client = await Client.connect(port);
        expect((await client.request(GET10_KEEP("/a"), { timeoutMs: READ_TIMEOUT_MS })).text).toBe("hi");
        await expectStaysOpen(client, GET10_KEEP("/b"), "hi");
      });

      test("HTTP/1.1, raw response with neither Content-Length nor chunked: the body, then the server closes", async () => {
        const response = raw(["HTTP/1.1 200 OK"], "body");
        const { port } = await start(constantAsync(response));
        const result = await exchange(port, GET11());
        expect({ end: result.end, received: text(result.data) }).toEqual({ end: "fin", received: text(response) });
      });
    });

    describe("HEAD: the core's own answers carry no body", () => {
      const failing = {
        "a handler that throws": (() => {
          throw new Error("boom (expected by the test)");
        }) as Handler,
        "an async handler that rejects": (async () => {
          await sleep(1);
          throw new Error("boom (expected by the test)");
        }) as Handler,
        "a handler that returns a string, not a Uint8Array": (() => "not bytes") as unknown as Handler,
      };

      test.each(Object.keys(failing) as (keyof typeof failing)[])(
        "HEAD to %s: a 500 head (Content-Length as for GET) with no body, then a pipelined GET is answered",
        async (which) => {
          const fail = failing[which];
          const handler: Handler = (req, state) =>
            req.string(req.path) === "/boom" ? fail(req, state) : utf8("fine");
          const log = muteErrors();
          try {
            const { port } = await start(handler);
            const client = await Client.connect(port);
            // What GET gets: the reference for HEAD's Content-Length.
            const get = await client.request(GET11("/boom"), { timeoutMs: READ_TIMEOUT_MS });
            expect(get.status).toBe(500);
            const getLength = get.headers["content-length"];
            expect(Number(getLength)).toBe(get.body.length);

            await client.write(concat(httpRequest("HEAD", "/boom"), GET11("/ok")));
            // Strictly: the parser takes the 500's head alone, and the very next bytes after its
            // blank line must be the GET's response (a stray "Internal Server Error\n" body makes
            // it throw "expected a status line" / "bad status line").
            const [head, after] = await client.next(2, { timeoutMs: READ_TIMEOUT_MS, noBody: [true, false] });
            expect([head!.version, head!.status, head!.headers["content-length"]]).toEqual(["HTTP/1.1", 500, getLength]);
            expect(head!.headers["connection"]?.toLowerCase()).not.toBe("close");
            expect(text(after!.raw).slice(0, 12)).toBe("HTTP/1.1 200");
            expect(after!.text).toBe("fine");
            await sleep(50);
            expect(client.pendingBytes).toBe(0);
            expect(client.closed).toBe(false);
            expect(log.count()).toBeGreaterThanOrEqual(2); // each failure was logged
          } finally {
            log.restore();
          }
        },
        10_000,
      );

      test("HEAD with Content-Length over maxRequestBodySize: a 413 head (Content-Length as for GET), no body, then close", async () => {
        const { port } = await start(() => utf8("never called"), { maxRequestBodySize: 1024 });
        const over = { "Content-Length": "2048" };
        const get = expectOneThenClose(await exchange(port, httpRequest("GET", "/", { headers: over })));
        expect(get.status).toBe(413);
        expect(Number(get.headers["content-length"])).toBe(get.body.length);
        const head = expectOneThenClose(await exchange(port, httpRequest("HEAD", "/", { headers: over })), true);
        expect([head.status, head.headers["content-length"]]).toEqual([413, get.headers["content-length"]]);
      });
    });

    describe("ab (apache2-utils)", () => {
      if (!AB) console.log("keepalive: `ab` is not on PATH (apt-get install apache2-utils): the ab tests are skipped");

      // examples/hello.ts's answer: HTTP/1.1 200 OK with Content-Length, no Connection header.
      const HELLO = raw(["HTTP/1.1 200 OK", "Content-Type: text/plain; charset=utf-8", "Content-Length: 14"], "Hello, World!\n");
      const HELLO_KEEP = raw(
        ["HTTP/1.1 200 OK", "Content-Type: text/plain; charset=utf-8", "Connection: keep-alive", "Content-Length: 14"],
        "Hello, World!\n",
      );

      test.skipIf(!AB)(
        "ab -k -n 2000 -c 20 against a raw response without keep-alive: 2000 complete, 0 failed (the server closes each)",
        async () => {
          const { port } = await start(constant(HELLO));
          const ab = await runAb(["-k", "-n", "2000", "-c", "20", "-s", "5", `http://127.0.0.1:${port}/`]);
          const figures = {
            killed: ab.killed,
            complete: abFigure(ab.out, "Complete requests:"),
            failed: abFigure(ab.out, "Failed requests:"),
          };
          expect({ ...figures, tail: figures.complete === 2000 ? "" : ab.out.trim().split("\n").slice(-3).join(" | ") }).toEqual({
            killed: false,
            complete: 2000,
            failed: 0,
            tail: "",
          });
        },
        AB_KILL_MS + 5000,
      );

      test.skipIf(!AB)(
        "ab -k -n 2000 -c 20 against a raw response with Connection: keep-alive: 2000 keep-alive requests",
        async () => {
          const { port } = await start(constant(HELLO_KEEP));
          const ab = await runAb(["-k", "-n", "2000", "-c", "20", "-s", "5", `http://127.0.0.1:${port}/`]);
          expect({
            killed: ab.killed,
            complete: abFigure(ab.out, "Complete requests:"),
            failed: abFigure(ab.out, "Failed requests:"),
            keepAlive: abFigure(ab.out, "Keep-Alive requests:"),
          }).toEqual({ killed: false, complete: 2000, failed: 0, keepAlive: 2000 });
        },
        AB_KILL_MS + 5000,
      );
    });
  });
}
