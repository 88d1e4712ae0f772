/**
 * The web-standard adapter (issue 10): the Hono app of examples/hono.ts, and a few routes added
 * for the tests, served at once by fasthttp (`newServer({ fetch })`) and by Bun.serve in this
 * process, both on 127.0.0.1 port 0. The same raw requests go to both and the answers are
 * compared: status, the headers that matter (Content-Type, Set-Cookie in order, the app's own
 * headers), framing (one of Content-Length or chunked, and consistent) and body (the comparison is
 * test/helpers/compare.ts; test/frameworks.test.ts makes it for Elysia). Then what only
 * fasthttp is asked to do: HEAD without a body on a kept-alive connection, 500s for failing apps,
 * streams (order, chunking, backpressure, a client that leaves, a slow stream beside other
 * traffic), request bodies that outlive the request's memory, absolute-form targets, and the
 * example itself run with `bun run`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { Hono } from "hono";
import { app as exampleApp } from "../examples/hono.ts";
import { NativeResponse } from "../src/adapter/known-body.ts";
import { fetchHandler, newServer, type Server } from "../src/index.ts";
import {
  Client,
  cleanup,
  concat,
  freePort,
  httpRequest,
  parseResponses,
  rawRequest,
  sleep,
  startServer,
  text,
  withTimeout,
  type RequestOptions,
} from "./helpers/net.ts";
import { all, both as bothServers, exchange, expectSame, type Pair } from "./helpers/compare.ts";

const enc = new TextEncoder();

/** What the stream routes produce, so that the tests can check it arrived whole and in order. */
const CHUNKS = Array.from({ length: 40 }, (_, i) => `chunk ${String(i).padStart(2, "0")} ${"x".repeat(i * 7)}\n`);

/** The example app plus routes that exercise the adapter's corners; plain Hono throughout. */
function testApp(): Hono {
  const app = new Hono();
  app.get("/url/*", (c) => c.json({ url: c.req.url, path: c.req.path, query: c.req.queries(), host: c.req.header("host") }));
  app.get("/headers", (c) =>
    c.json({ accept: c.req.header("accept"), custom: c.req.header("x-custom"), dup: c.req.header("x-dup") }),
  );
  app.post("/length", async (c) => {
    const body = new Uint8Array(await c.req.arrayBuffer());
    let sum = 0;
    for (const b of body) sum = (sum + b) % 65521;
    return c.json({ length: body.length, sum, type: c.req.header("content-type") ?? null });
  });
  app.get("/readable", () => {
    let i = 0;
    return new Response(
      new ReadableStream({
        async pull(controller) {
          await sleep(1);
          if (i < CHUNKS.length) controller.enqueue(enc.encode(CHUNKS[i++]!));
          else controller.close();
        },
      }),
      { headers: { "content-type": "text/plain; charset=utf-8", "x-stream": "yes" } },
    );
  });
  app.get("/readable-sync", () => new Response(new ReadableStream({ start(c) { c.enqueue("one,"); c.enqueue(enc.encode("two")); c.close(); } })));
  app.all("/echo-headers", (c) => c.json(Object.fromEntries(c.req.raw.headers)));
  app.get("/late-header", () => {
    const res = new Response("headers added after the response was made");
    res.headers.set("x-late", "1");
    return res;
  });
  app.get("/bytes", (c) => c.body(new Uint8Array([0, 1, 2, 250, 255])));
  app.get("/buffer", () => new Response(new Uint8Array([104, 105]).buffer, { headers: { "content-type": "application/x-test" } }));
  app.get("/blob", () => new Response(new Blob(["blob body"], { type: "text/markdown" })));
  app.get("/form", () => new Response(new URLSearchParams({ a: "1", b: "two words" })));
  app.get("/response-json", () => Response.json({ plain: true }, { status: 202, headers: { "x-json": "1" } }));
  app.get("/empty", () => new Response(null, { status: 200, headers: { "x-empty": "1" } }));
  app.get("/no-content", () => new Response(null, { status: 204, headers: { "x-none": "1" } }));
  app.get("/redirect", (c) => c.redirect("/json", 302));
  app.get("/framing", () => new Response("hello", { headers: { "content-length": "999", "transfer-encoding": "chunked", "x-kept": "1" } }));
  app.get("/unicode", (c) => c.text("héllo wörld ✓ 😀"));
  app.get("/big", (c) => c.text("0123456789".repeat(20_000)));
  app.get("/async", async (c) => {
    await sleep(5);
    return c.json({ waited: true });
  });
  app.get("/clone", () => new Response("cloned body", { headers: { "content-type": "text/x-clone" } }).clone() as Response);
  app.route("/", exampleApp);
  return app;
}

let fast: Server;
let fastPort = 0;
let bun: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  const app = testApp();
  fast = newServer({ port: 0, host: "127.0.0.1", fetch: app.fetch });
  void fast.run();
  fastPort = fast.port;
  bun = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
});

afterAll(async () => {
  await fast.stop();
  await bun.stop(true);
});

afterEach(cleanup);

/** A request to both servers: fasthttp's and Bun.serve's answers. */
function both(method: string, path: string, options: RequestOptions = {}): Promise<Pair> {
  return bothServers(fastPort, bun.port!, method, path, options);
}

describe("fasthttp and Bun.serve give the same answers", () => {
  const cases: [string, string, RequestOptions?][] = [
    ["GET", "/"],
    ["GET", "/json"],
    ["GET", "/users/42?fields=name,age"],
    ["GET", "/cookies"],
    ["GET", "/nope"],
    ["GET", "/stream"],
    ["GET", "/error"],
    ["POST", "/echo", { headers: { "Content-Type": "application/json" }, body: JSON.stringify({ a: [1, "ü", null] }) }],
    ["POST", "/echo", { headers: { "Content-Type": "application/json" }, body: "{not json" }],
    ["GET", "/url/a%20b/%E2%9C%93?q=x%26y&q=2&empty=&plus=a+b"],
    ["GET", "/url/..%2F/x/%2e%2E/?q=%2e&r=%F0%9F%98%80"],
    ["GET", "/headers", { headers: [["X-Custom", "ünï"], ["X-Dup", "1"], ["X-Dup", "2"]] }],
    ["POST", "/length", { headers: { "Content-Type": "application/octet-stream" }, body: new Uint8Array(70_000).map((_, i) => i % 251) }],
    ["GET", "/readable"],
    ["GET", "/readable-sync"],
    ["GET", "/bytes"],
    ["GET", "/buffer"],
    ["GET", "/blob"],
    ["GET", "/form"],
    ["GET", "/response-json"],
    ["GET", "/empty"],
    ["GET", "/no-content"],
    ["GET", "/redirect"],
    ["GET", "/framing"],
    ["GET", "/unicode"],
    ["GET", "/big"],
    ["GET", "/async"],
    ["GET", "/clone"],
    ["GET", "/late-header"],
    ["DELETE", "/json"],
  ];
  for (const [method, path, options] of cases) {
    test(`${method} ${path}${options?.body === undefined ? "" : " (with a body)"}`, async () => {
      const spy = spyOn(console, "error").mockImplementation(() => {}); // Hono logs /error's exception
      try {
        expectSame(await both(method, path, options));
      } finally {
        spy.mockRestore();
      }
    });
  }

  test("HEAD: the GET's status and headers, no body", async () => {
    for (const path of ["/", "/json", "/nope"]) {
      const pair = await both("HEAD", path);
      expectSame(pair, true);
      expect(pair.fast.body.length).toBe(0);
    }
  });

  test("the URL the app sees keeps the query string and the percent-encoding", async () => {
    const { fast: f, bun: b } = await both("GET", "/url/a%20b/%E2%9C%93?q=x%26y&q=2");
    const seen = JSON.parse(f.text);
    expect(seen).toEqual(JSON.parse(b.text));
    expect(seen.url).toBe("http://app.example:8080/url/a%20b/%E2%9C%93?q=x%26y&q=2");
    expect(seen.query.q).toEqual(["x&y", "2"]);
    expect(seen.host).toBe("app.example:8080");
  });

  test("a target with an invalid percent-escape or '\"' '\\' '|' '{' '}' '^' '`': the URL Bun.serve's app sees", async () => {
    for (const path of ["/url/q?%zz=1", "/url/a%zz/%?b=%&c=%4", "/url/a\"b\\c|d{e}f^g`h?i=\"\\|{}^`"]) {
      const { fast: f, bun: b } = await both("GET", path);
      expect(f.status).toBe(200);
      expect(JSON.parse(f.text)).toEqual(JSON.parse(b.text));
    }
  });

  test("absolute-form: http and https name the app's URL as Bun.serve's; any other scheme is 400 from both", async () => {
    for (const target of ["http://app.example:8080/url/x?y=1", "HTTPS://app.example:8080/url/s"]) {
      const { fast: f, bun: b } = await both("GET", target);
      expect(f.status).toBe(200);
      expect(JSON.parse(f.text)).toEqual(JSON.parse(b.text));
    }
    for (const target of ["ftp://app.example/url/x", "zzz://app.example/url/x", "file://app.example/url/x"]) {
      const { fast: f, bun: b } = await both("GET", target);
      expect([target, f.status]).toEqual([target, 400]);
      expect(b.status).toBe(400);
    }
  });

  test("multiple Set-Cookie headers stay separate and in order", async () => {
    const { fast: f } = await both("GET", "/cookies");
    expect(all(f, "set-cookie")).toEqual(["session=abc; Path=/; HttpOnly", "theme=dark; Path=/"]);
  });
});

describe("fasthttp only", () => {
  test("HEAD leaves no body on a kept-alive connection; the next answer parses", async () => {
    const client = await Client.connect(fastPort);
    await client.write(concat(httpRequest("HEAD", "/json"), httpRequest("GET", "/json"), httpRequest("HEAD", "/stream"), httpRequest("GET", "/")));
    const [h1, g1, h2, g2] = await client.next(4, { noBody: [true, false, true, false], timeoutMs: 5000 });
    expect([h1!.status, h1!.body.length, g1!.status, JSON.parse(g1!.text).server]).toEqual([200, 0, 200, "fasthttp"]);
    expect([h2!.status, h2!.body.length]).toEqual([200, 0]);
    expect(g2!.text).toBe("Hello, Hono on fasthttp!\n");
    expect(client.pendingBytes).toBe(0);
  });

  test("an app that throws, rejects or returns no Response gets a 500, logged; the connection serves on", async () => {
    const errors: unknown[][] = [];
    const spy = spyOn(console, "error").mockImplementation((...args: unknown[]) => void errors.push(args));
    try {
      const s = await startServer(
        fetchHandler((req: Request) => {
          const path = new URL(req.url).pathname;
          if (path === "/throw") throw new Error("thrown");
          if (path === "/reject") return Promise.reject(new Error("rejected"));
          if (path === "/string") return "not a response" as unknown as Response;
          if (path === "/late-string") return Promise.resolve(42 as unknown as Response);
          return new Response("fine");
        }),
      );
      const client = await Client.connect(s.port);
      for (const path of ["/throw", "/reject", "/string", "/late-string"]) {
        const res = await client.request(httpRequest("GET", path));
        expect([path, res.status]).toEqual([path, 500]);
      }
      expect((await client.request(httpRequest("GET", "/ok"))).text).toBe("fine");
      const logged = errors.map((args) => args.map(String).join(" "));
      expect(logged.length).toBe(4);
      expect(logged[0]).toContain("thrown");
      expect(logged[1]).toContain("rejected");
      expect(logged[2]).toContain("returned string");
      expect(logged[3]).toContain("returned number");
    } finally {
      spy.mockRestore();
    }
  });

  test("a ReadableStream arrives whole, in order, chunked", async () => {
    const res = await exchange(fastPort, httpRequest("GET", "/readable"));
    expect(res.status).toBe(200);
    expect(res.headers["transfer-encoding"]).toBe("chunked");
    expect(res.headers["content-length"]).toBeUndefined();
    expect(res.headers["x-stream"]).toBe("yes");
    expect(res.text).toBe(CHUNKS.join(""));
    // Several chunks on the wire, not one buffered body.
    const raw = text(res.raw);
    expect(raw.split("\r\nchunk ").length).toBeGreaterThan(10);
  });

  test("a stream that is complete at once goes out with Content-Length, as on Bun.serve", async () => {
    const res = await exchange(fastPort, httpRequest("GET", "/readable-sync"));
    expect([res.headers["content-length"], res.text]).toEqual(["7", "one,two"]);
  });

  test("a slow stream on one connection does not hold up another", async () => {
    let ticks = 0;
    const s = await startServer(
      fetchHandler((req: Request) => {
        if (new URL(req.url).pathname !== "/slow") return new Response("quick");
        return new Response(
          new ReadableStream({
            async pull(c) {
              await sleep(150);
              if (++ticks > 4) c.close();
              else c.enqueue(enc.encode(`tick ${ticks}\n`));
            },
          }),
        );
      }),
    );
    const slow = await Client.connect(s.port);
    await slow.write(httpRequest("GET", "/slow"));
    await sleep(50); // the stream has begun and waits in its first pull
    const other = await Client.connect(s.port);
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) expect((await other.request(httpRequest("GET", "/q"))).text).toBe("quick");
    const elapsed = performance.now() - t0;
    expect(ticks).toBeLessThan(3); // the other connection finished while the stream was still going
    expect(elapsed).toBeLessThan(500);
    const [res] = await slow.next(1, { timeoutMs: 5000 });
    expect(res!.text).toBe("tick 1\ntick 2\ntick 3\ntick 4\n");
    expect(res!.headers["transfer-encoding"]).toBe("chunked");
  });

  test("backpressure: a client that stops reading stops the stream; one that leaves cancels it", async () => {
    let produced = 0;
    let cancelled = false;
    const CHUNK = new Uint8Array(64 * 1024).fill(97);
    const s = await startServer(
      fetchHandler(() =>
        new Response(
          new ReadableStream(
            {
              pull(c) {
                produced += CHUNK.length;
                c.enqueue(CHUNK);
              },
              cancel() {
                cancelled = true;
              },
            },
            { highWaterMark: 0 },
          ),
        ),
      ),
    );
    const client = await Client.connect(s.port);
    client.pause();
    await client.write(httpRequest("GET", "/"));
    await sleep(400);
    const atPause = produced;
    await sleep(300);
    expect(produced).toBe(atPause); // nothing more was made while the socket was full
    expect(produced).toBeLessThan(64 * 1024 * 1024); // bounded by the kernel's buffers, not by the stream
    client.destroy();
    await withTimeout(
      (async () => {
        while (!cancelled) await sleep(10);
      })(),
      3000,
      "the app's stream to be cancelled after the client left",
    );
    await sleep(50);
    expect(s.server.stats().connections).toBe(0);
  });

  test("an event stream whose client leaves is cancelled at its next event", async () => {
    let cancelled = false;
    let events = 0;
    const s = await startServer(
      fetchHandler(() =>
        new Response(
          new ReadableStream({
            async pull(c) {
              if (events > 0) await sleep(50);
              c.enqueue(enc.encode(`data: event ${++events}\n\n`));
            },
            cancel() {
              cancelled = true;
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        ),
      ),
    );
    const client = await Client.connect(s.port);
    await client.write(httpRequest("GET", "/events"));
    const deadline = Date.now() + 3000;
    while (client.pendingBytes < 100 && Date.now() < deadline) await sleep(10); // a few events arrived
    client.destroy();
    await withTimeout(
      (async () => {
        while (!cancelled) await sleep(10);
      })(),
      3000,
      "the event stream to be cancelled",
    );
    const at = events;
    await sleep(200);
    expect(events).toBeLessThanOrEqual(at + 1); // the source stopped
    expect(s.server.stats().connections).toBe(0);
  });

  test("the request body outlives the request: read after the response, while other requests reuse the memory", async () => {
    const stash: Request[] = [];
    const s = await startServer(
      fetchHandler(async (req: Request) => {
        const path = new URL(req.url).pathname;
        if (path === "/keep") {
          stash.push(req);
          return new Response(null, { status: 202 });
        }
        if (path === "/read") return Response.json(await Promise.all(stash.map((r) => r.text())));
        return new Response("churn ".repeat(100));
      }),
      { arenaMaxSlabs: 16 },
    );
    const client = await Client.connect(s.port);
    const bodies = ["first body ✓", "x".repeat(9000), JSON.stringify({ n: 3 })];
    for (const body of bodies) expect((await client.request(httpRequest("POST", "/keep", { body }))).status).toBe(202);
    // Churn: many requests through the same 16 slabs.
    const churn = await Client.connect(s.port);
    for (let i = 0; i < 50; i++) await churn.write(httpRequest("GET", `/churn/${i}`, { headers: { "X-Fill": "z".repeat(2000) } }));
    await churn.next(50, { timeoutMs: 5000 });
    const read = await client.request(httpRequest("GET", "/read"));
    expect(JSON.parse(read.text)).toEqual(bodies);
  });

  test("headers filled in on first read: whatever takes the Request apart sees them all", async () => {
    const seen: Record<string, unknown> = {};
    const stash: Request[] = [];
    const s = await startServer(
      fetchHandler(async (req: Request) => {
        const path = new URL(req.url).pathname;
        const upstream = `http://127.0.0.1:${bun.port}/echo-headers`;
        if (path === "/copy") seen.copy = Object.fromEntries(new Request(req).headers);
        if (path === "/init") seen.init = await (await fetch(new Request(upstream, req))).json();
        if (path === "/fetch-init") seen.fetchInit = await (await fetch(upstream, req)).json();
        if (path === "/clone") seen.clone = Object.fromEntries(req.clone().headers);
        if (path === "/inspect") seen.inspect = Bun.inspect(req);
        if (path === "/form") seen.form = Object.fromEntries(await req.formData());
        if (path === "/blob") seen.blob = (await req.blob()).type;
        if (path === "/later") {
          stash.push(req); // its headers are read only after other requests reuse the memory
          return new Response("kept");
        }
        if (path === "/read-later") seen.later = Object.fromEntries(stash[0]!.headers);
        return new Response("ok");
      }),
      { arenaMaxSlabs: 16 },
    );
    const client = await Client.connect(s.port);
    const extra: [string, string][] = [["X-One", "1"], ["Cookie", "a=b"], ["X-Two", "two words"]];
    for (const path of ["/copy", "/init", "/fetch-init", "/clone", "/inspect"]) {
      expect((await client.request(httpRequest("GET", path, { headers: [["Host", "h.example"], ...extra] }))).text).toBe("ok");
    }
    const multipart = "--B\r\nContent-Disposition: form-data; name=\"field\"\r\n\r\nvalue\r\n--B--\r\n";
    await client.request(httpRequest("POST", "/form", { headers: { "Content-Type": "multipart/form-data; boundary=B" }, body: multipart }));
    await client.request(httpRequest("POST", "/blob", { headers: { "Content-Type": "image/x-test" }, body: "xx" }));
    await client.request(httpRequest("GET", "/later", { headers: { "X-Kept": "still here" } }));
    for (let i = 0; i < 40; i++) await client.write(httpRequest("GET", `/churn/${i}`, { headers: { "X-Fill": "q".repeat(3000) } }));
    await client.next(40, { timeoutMs: 5000 });
    await client.request(httpRequest("GET", "/read-later"));
    const expected = { host: "h.example", "x-one": "1", cookie: "a=b", "x-two": "two words" };
    expect(seen.copy).toEqual(expected);
    expect(seen.clone).toEqual(expected);
    expect(seen.inspect).toContain('"x-two": "two words"');
    for (const via of ["init", "fetchInit"] as const) {
      expect(seen[via]).toMatchObject({ "x-one": "1", cookie: "a=b", "x-two": "two words" });
    }
    expect(seen.form).toEqual({ field: "value" });
    expect(seen.blob).toBe("image/x-test");
    expect(seen.later).toEqual({ host: "127.0.0.1", "x-kept": "still here" });
  });

  test("a chunked request body reaches the app decoded", async () => {
    const body = "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
    const res = await exchange(
      fastPort,
      httpRequest("POST", "/length", { headers: { "Transfer-Encoding": "chunked", "Content-Type": "text/plain" }, body }),
    );
    expect(JSON.parse(res.text)).toEqual({ length: 12, sum: [..."hello, world"].reduce((a, c) => a + c.charCodeAt(0), 0), type: "text/plain" });
  });

  test("an absolute-form target: the URL takes the target's authority, not the Host header", async () => {
    const res = await exchange(
      fastPort,
      httpRequest("GET", "http://other.example:8081/url/x%2Fy?a=1", { headers: { Host: "ignored.example" } }),
    );
    const seen = JSON.parse(res.text);
    expect(seen.url).toBe("http://other.example:8081/url/x%2Fy?a=1");
    expect(seen.host).toBe("ignored.example"); // the header itself is still there for the app
    const echo = await startServer(fetchHandler((req: Request) => new Response(req.url)));
    const bare = await exchange(echo.port, httpRequest("GET", "http://bare.example?q=1"));
    expect(bare.text).toBe("http://bare.example/?q=1");
    const v6 = await exchange(echo.port, httpRequest("GET", "/p", { headers: { Host: "[::1]:9" } }));
    expect(v6.text).toBe("http://[::1]:9/p");
  });

  test("HTTP/1.0 without Host: the URL says localhost; OPTIONS * is a 400", async () => {
    const r10 = await rawRequest(fastPort, "GET /url/ten HTTP/1.0\r\n\r\n");
    const [res] = parseResponses(r10.data, { closed: r10.closedByServer }).responses;
    expect(JSON.parse(res!.text).url).toBe("http://localhost/url/ten");
    const star = await exchange(fastPort, httpRequest("OPTIONS", "*"));
    expect(star.status).toBe(400);
  });

  test("the app's statusText is not sent, as Bun.serve does not: the standard reason phrase goes out", async () => {
    const s = await startServer(
      fetchHandler((req: Request) =>
        req.url.endsWith("/bad")
          ? new Response("x", { status: 200, statusText: "Evil\r\nInjected: 1" })
          : new Response("short and stout", { status: 418, statusText: "I'm a teapot" }),
      ),
    );
    const res = await exchange(s.port, httpRequest("GET", "/"));
    expect([res.status, res.reason, res.text]).toEqual([418, "I'm a Teapot", "short and stout"]);
    const bad = await exchange(s.port, httpRequest("GET", "/bad"));
    expect([bad.status, bad.reason, bad.headers.injected]).toEqual([200, "OK", undefined]);
  });

  test("the app's second argument is the server (Hono's env), and makeState's state is server.state", async () => {
    const app = new Hono<{ Bindings: { state: { name: string }; port: number } }>().get("/", (c) =>
      c.text(`hello from ${c.env.state.name} on ${c.env.port}`),
    );
    const server = newServer({ port: 0, host: "127.0.0.1", fetch: app.fetch, makeState: () => ({ name: "state" }) });
    void server.run();
    try {
      expect((await exchange(server.port, httpRequest("GET", "/"))).text).toBe(`hello from state on ${server.port}`);
    } finally {
      await server.stop();
    }
  });

  test("handler and fetch are exclusive; fetch must be a function", () => {
    const app = new Hono();
    expect(() => newServer({ fetch: app.fetch, handler: () => new Uint8Array(0) })).toThrow(/either handler or fetch/);
    expect(() => newServer({ fetch: "app" as never })).toThrow(TypeError);
    expect(() => newServer({} as never)).toThrow(/handler must be a function/);
    expect(() => fetchHandler(42 as never)).toThrow(TypeError);
  });

  test("trackResponses: false leaves globalThis.Response alone; every body is then read as a stream", async () => {
    // In a child process: this one's Response was replaced by the servers above.
    const script = `
      import { fetchHandler, newServer } from ${JSON.stringify(`${import.meta.dir}/../src/index.ts`)};
      const original = globalThis.Response;
      const server = newServer({ port: 0, host: "127.0.0.1", handler: fetchHandler(() => new Response("plain"), { trackResponses: false }) });
      void server.run();
      const res = await fetch("http://127.0.0.1:" + server.port + "/");
      console.log(JSON.stringify({ same: globalThis.Response === original, body: await res.text(), length: res.headers.get("content-length") }));
      await server.stop();
    `;
    const proc = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ same: true, body: "plain", length: "5" });
  });

  test("Responses stay Responses: instanceof, Bun.serve and clone() are unaffected", async () => {
    const made = new Response("x");
    const fetched = await fetch(`http://127.0.0.1:${bun.port}/`);
    expect(made instanceof Response).toBe(true);
    expect(fetched instanceof Response).toBe(true);
    expect(made.clone() instanceof Response).toBe(true);
    class Mine extends Response {}
    expect(new Mine("y") instanceof Mine).toBe(true);
    expect(made instanceof Mine).toBe(false);
    expect(await fetched.text()).toBe("Hello, Hono on fasthttp!\n");
  });
});

describe("the Response subclass (src/adapter/known-body.ts)", () => {
  /** Everything observable about a response, for comparing the subclass with the native class. */
  async function observe(make: () => Response): Promise<unknown> {
    let res: Response;
    try {
      res = make();
    } catch (e) {
      return { threw: (e as Error).constructor.name };
    }
    return { status: res.status, statusText: res.statusText, headers: [...res.headers], body: await res.text() };
  }
  const native = NativeResponse;
  const inits: [string, unknown, unknown][] = [
    ["a string, no init", "hello", undefined],
    ["Hono's c.json init", "{}", { status: undefined, headers: { "Content-Type": "application/json" } }],
    ["status and headers", "x", { status: 201, headers: { "X-A": "1", "x-b": 2, "Set-Cookie": "a=1" } }],
    ["status text", "x", { status: 299, statusText: "Custom" }],
    ["status text only", "x", { statusText: "Only" }],
    ["headers as pairs", "x", { headers: [["X-A", "1"], ["X-A", "2"]] }],
    ["headers as Headers", "x", { headers: new Headers({ "X-H": "1" }) }],
    ["null body, 204", null, { status: 204, headers: { "X-N": "1" } }],
    ["bytes", new Uint8Array([1, 2]), { headers: { "Content-Type": "application/x-bin" } }],
    ["a form (Content-Type from the body)", new URLSearchParams("a=1"), { headers: { "X-F": "1" } }],
    ["a form with its own Content-Type", new URLSearchParams("a=1"), { headers: { "Content-Type": "text/x-own" } }],
    ["a bad status", "x", { status: 99 }],
    ["a body with 204", "x", { status: 204 }],
    ["a bad header name", "x", { headers: { "bad name": "1" } }],
    ["an init with other keys", "x", { status: 202, headers: { "X-O": "1" }, extra: true }],
  ];
  for (const [what, body, init] of inits) {
    test(`same as the native class: ${what}`, async () => {
      const mine = await observe(() => new Response(body as string, init as ResponseInit));
      const theirs = await observe(() => new native(body as string, init as ResponseInit));
      expect(mine).toEqual(theirs);
    });
  }
  test("Response.json() is the subclass's and matches the native one", async () => {
    expect(Response).not.toBe(native); // the subclass is installed
    const made = Response.json({ a: [1, "x"] }, { status: 202, headers: { "X-J": "1" } });
    expect(await observe(() => made.clone() as Response)).toEqual(await observe(() => native.json({ a: [1, "x"] }, { status: 202, headers: { "X-J": "1" } })));
    expect(() => Response.json(undefined)).toThrow();
  });
});

describe("examples/hono.ts", () => {
  test("`bun run examples/hono.ts` serves the app and stops on SIGTERM", async () => {
    const port = await freePort();
    const proc = Bun.spawn([process.execPath, "run", `${import.meta.dir}/../examples/hono.ts`], {
      env: { ...process.env, PORT: String(port) },
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const r = await rawRequest(port, httpRequest("GET", "/", { headers: { Connection: "close" } }), { timeoutMs: 500 }).catch(() => null);
        if (r !== null && r.data.length > 0) {
          const [res] = parseResponses(r.data, { closed: r.closedByServer }).responses;
          expect(res!.text).toBe("Hello, Hono on fasthttp!\n");
          break;
        }
        if (Date.now() > deadline) throw new Error("examples/hono.ts did not answer within 10 s");
        await sleep(50);
      }
      const stream = await exchange(port, httpRequest("GET", "/stream"));
      expect(stream.text).toBe([1, 2, 3, 4, 5].map((i) => `line ${i} of 5\n`).join(""));
      proc.kill("SIGTERM");
      expect(await withTimeout(proc.exited, 5000, "examples/hono.ts to exit")).toBe(0);
      const out = await new Response(proc.stdout).text();
      expect(out).toContain(`http://localhost:${port}/`);
      expect(out).toContain("Stopped.");
    } finally {
      proc.kill("SIGKILL");
    }
  }, 20_000);
});
