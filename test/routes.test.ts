/**
 * Bun.serve's `routes` (issue 18): the same routes object served by Bun.serve and by fasthttp in
 * this process (both on 127.0.0.1, port 0), the same raw requests sent to both, and the answers
 * compared with test/helpers/compare.ts (status, the headers that matter, framing, body). The
 * deliberate differences (README, "Routes") are asserted both ways where they show. Then what
 * only fasthttp has: raw routes, the table for the C fast path, workers, errors it refuses.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { utimesSync, writeFileSync, unlinkSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import net from "node:net";
import { join } from "node:path";
import { newServer, type HttpRequest, type Server } from "../src/index.ts";
import { exactStaticRoutes } from "../src/routes/render.ts";
import { compileRoutes } from "../src/routes/table.ts";
import { decodeParam } from "../src/routes/params.ts";
import { all, both, comparable, expectSame, exchange } from "./helpers/compare.ts";
import { httpRequest, parseResponses, rawRequest, text, utf8 } from "./helpers/net.ts";

const dir = mkdtempSync(join(tmpdir(), "fasthttp-routes-"));
const FILE = join(dir, "hello.txt");
writeFileSync(FILE, "hello file\n");
utimesSync(FILE, new Date("2024-01-02T03:04:05Z"), new Date("2024-01-02T03:04:05Z"));
const LATE = join(dir, "late.txt");

/** What a route's req.params is made of, beyond its entries. */
function paramsShape(p: Record<string, string>) {
  const proto = Object.getPrototypeOf(p);
  return {
    keys: Object.keys(p),
    values: Object.values(p),
    protoNull: proto === null,
    inherits: ["toString", "hasOwnProperty", "constructor", "valueOf"].filter((k) => k in p && !Object.hasOwn(p, k)),
    tag: Object.prototype.toString.call(p),
    json: JSON.stringify(p),
  };
}

/** What each handler saw, by route. */
const echo = (name: string) => (req: Request & { params?: unknown }) =>
  Response.json({ route: name, params: (req as { params?: unknown }).params ?? null, hasParams: "params" in req, method: req.method, url: new URL(req.url).pathname });

const routes = {
  "/": new Response("home", { headers: { "x-static": "1" } }),
  "/api/users": echo("/api/users"),
  "/api/users/:id": echo("/api/users/:id"),
  "/api/users/:id/posts": echo("/api/users/:id/posts"),
  "/api/*": echo("/api/*"),
  "/*": echo("/*"),
  "/a/": echo("/a/"),
  "/b": echo("/b"),
  "/x/:p/y": echo("/x/:p/y"),
  "/x/:q/z": echo("/x/:q/z"),
  "/k/lit/a": echo("/k/lit/a"),
  "/k/:x/b": echo("/k/:x/b"),
  "/e/*": echo("/e/*"),
  "/e/:x": echo("/e/:x"),
  "/g/:x/*": echo("/g/:x/*"),
  "/g/*": echo("/g/*"),
  "/d/:a": echo("/d/:a"),
  "/d/:b": echo("/d/:b"),
  "/c*": echo("/c*"),
  "/u/:id": echo("/u/:id"),
  // params inherit nothing (no toString, no hasOwnProperty: Object.prototype's names are free), and
  // names that are Object.prototype's are own keys
  "/p/:__proto__/:constructor/:toString": (req: Request & { params: Record<string, string> }) => Response.json(paramsShape(req.params)),
  "/p0": (req: Request & { params: Record<string, string> }) => Response.json(paramsShape(req.params)),
  "/text": () => new Response("hello-text"),
  "/m": { GET: echo("/m GET"), POST: new Response("m static post") },
  "/s/:a": { GET: echo("/s/:a GET") },
  "/s/*": echo("/s/*"),
  "/json": Response.json({ a: 1 }, { status: 201, headers: { "set-cookie": "a=1", "x-up": "U" } }),
  "/blob": new Response(new Blob(["blobby"], { type: "text/x-blob" })),
  "/empty": new Response(null, { status: 204 }),
  "/null": new Response(null),
  "/old": Response.redirect("/new"),
  "/perm": Response.redirect("https://example.com/", 301),
  "/file": Bun.file(FILE),
  "/file-headers": new Response(Bun.file(FILE), { headers: { "x-file": "1" } }),
  "/late": Bun.file(LATE),
  "/skip": false,
  "/off/:id": false,
  "/static/:name": new Response("static behind a param"),
  "/undefined": undefined,
} as const;

function fallback(req: Request) {
  return Response.json({ route: "fallback", hasParams: "params" in req, url: new URL(req.url).pathname });
}

let bun: ReturnType<typeof Bun.serve> & { port: number };
let fast: Server;
beforeAll(async () => {
  bun = <typeof bun>Bun.serve({ port: 0, hostname: "127.0.0.1", development: false, routes: routes as never, fetch: fallback });
  fast = newServer({ port: 0, host: "127.0.0.1", routes: routes as never, fetch: fallback });
  void fast.run();
});
afterAll(async () => {
  bun.stop(true);
  await fast.stop();
});

async function same(method: string, path: string, headers: [string, string][] = []) {
  const pair = await both(fast.port, bun.port, method, path, { headers });
  expectSame(pair, method === "HEAD");
  return pair;
}

describe("the same answers as Bun.serve", () => {
  const paths = [
    // precedence: exact > param > wildcard, the deeper wildcard first, backtracking
    "/", "/api/users", "/api/users/", "/api/users/123", "/api/users/123/", "/api/users/1/posts", "/api/users/1/2",
    "/api", "/api/", "/api/x/y", "/zzz", "/a", "/a/", "/b", "/b/", "/x/1/y", "/x/1/z", "/x//y", "/k/lit/a", "/k/lit/b",
    "/e/1", "/g/1/2", "/g/1", "/g/1/", "/d/1", "/c", "/c*", "/API/users", "/api/%75sers",
    // the query is not matched
    "/api/users?x=1", "/api/users/7?x=/y",
    // params, percent-decoded
    "/u/a%20b", "/u/a+b", "/u/a%2Fb", "/u/%41", "/u/%c3%a9", "/u/%F0%9F%A6%8A", "/u/user@example.com", "/u/a;b", "/u/..",
    "/u/%zz", "/u/a%zzb", "/u/%E9x", "/u/%C3", "/u/%", "/u/%4", "/u/a%", "/u/%ED%A0%80", "/u/%C0%AF", "/u/%F0%9F", "/u/%FF%FE",
    "/u/%80%80", "/u/%E9%zz", "/u/%00", "/p/a/b/c", "/p/%5F/x/y", "/p0",
    // static values
    "/json", "/blob", "/empty", "/null", "/old", "/perm", "/file", "/file-headers", "/static/anything",
    // false and undefined: to the fallback
    "/skip", "/off/7", "/undefined", "/late", "/text",
  ];
  for (const path of paths) test(`GET ${path}`, () => same("GET", path));

  test("methods: a method object's missing method goes on to the next route, then the fallback", async () => {
    await same("POST", "/m"); // static POST
    await same("PUT", "/m"); // → "/*"
    await same("POST", "/s/1"); // → "/s/*"
    await same("DELETE", "/u/1"); // a plain handler takes any method
    await same("PATCH", "/json"); // so does a static value
  });

  test("HEAD of a static route: the GET's headers and length, no body", async () => {
    for (const path of ["/", "/json", "/old", "/file", "/null"]) await same("HEAD", path);
  });

  test("If-None-Match on a static route: 304 with its headers, no body (weak comparison, lists, *); not for POST", async () => {
    const etag = `"${Bun.hash.xxHash64("home").toString(16).padStart(16, "0")}"`;
    for (const inm of [etag, `W/${etag}`, `"zz", ${etag}`, `"zz" , W/${etag}`, "*", etag.slice(1, -1), `"zz"`, `"FC6D"`, `w/${etag}`]) {
      const { fast: f } = await same("GET", "/", [["If-None-Match", inm]]);
      expect(f.status).toBe([`"zz"`, `"FC6D"`, `w/${etag}`].includes(inm) ? 200 : 304);
    }
    const head = await same("HEAD", "/", [["If-None-Match", etag]]);
    expect(head.fast.status).toBe(304);
    expect((await same("POST", "/", [["If-None-Match", etag]])).fast.status).toBe(200);
    // 304 keeps the etag and Content-Type, and has no Content-Length
    const { fast: f } = await same("GET", "/", [["If-None-Match", etag]]);
    expect(all(f, "etag")).toEqual([etag]);
    expect(all(f, "content-length")).toEqual([]);
  });

  test("a file route: Last-Modified, If-Modified-Since → 304, stat'ed per request", async () => {
    const { fast: f } = await same("GET", "/file");
    expect(all(f, "last-modified")).toEqual(["Tue, 02 Jan 2024 03:04:05 GMT"]);
    expect(all(f, "etag")).toEqual([]);
    for (const ims of ["Tue, 02 Jan 2024 03:04:05 GMT", "Tue, 01 Dec 2099 00:00:00 GMT", "Tue, 01 Dec 2000 00:00:00 GMT", "garbage"]) {
      const { fast: r } = await same("GET", "/file", [["If-Modified-Since", ims]]);
      expect(r.status).toBe(ims.includes("2000") || ims === "garbage" ? 200 : 304);
    }
    await same("GET", "/file", [["If-Modified-Since", "Tue, 02 Jan 2024 03:04:05 GMT"], ["If-None-Match", '"x"']]);
    // the file is read per request: a file made after start is served, its length followed
    writeFileSync(LATE, "late file, longer\n");
    try {
      const { fast: r } = await same("GET", "/late");
      expect(text(r.body)).toBe("late file, longer\n");
    } finally {
      unlinkSync(LATE);
    }
    await same("GET", "/late"); // gone again: to the fallback
  });

  test("req.params: the route's, decoded; absent on the fallback's request", async () => {
    const { fast: f } = await same("GET", "/api/users/a%20b/posts");
    expect(JSON.parse(text(f.body))).toEqual({ route: "/api/users/:id/posts", params: { id: "a b" }, hasParams: true, method: "GET", url: "/api/users/a%20b/posts" });
    const { fast: w } = await same("GET", "/api/whatever");
    expect(JSON.parse(text(w.body)).params).toEqual({});
    const { fast: fb } = await same("GET", "/skip");
    expect(JSON.parse(text(fb.body))).toEqual({ route: "fallback", hasParams: false, url: "/skip" });
  });

  test("difference: HEAD of a handler route carries the Content-Type GET would (Bun.serve leaves it out)", async () => {
    const { fast: f, bun: b } = await both(fast.port, bun.port, "HEAD", "/text", {});
    expect(f.status).toBe(b.status);
    expect(all(f, "content-length")).toEqual(all(b, "content-length"));
    expect(all(b, "content-type")).toEqual([]);
    expect(all(f, "content-type")).toEqual(["text/plain;charset=utf-8"]);
  });

  test("difference: a HEAD and a 304 carry Date (RFC 9110 §6.6.1); Bun.serve's static routes leave it out", async () => {
    const { fast: f, bun: b } = await both(fast.port, bun.port, "HEAD", "/", {});
    expect(all(b, "date")).toEqual([]);
    expect(all(f, "date").length).toBe(1);
    const etag = `"${Bun.hash.xxHash64("home").toString(16).padStart(16, "0")}"`;
    const c = await both(fast.port, bun.port, "GET", "/", { headers: [["If-None-Match", etag]] });
    expect(all(c.bun, "date")).toEqual([]);
    expect(all(c.fast, "date").length).toBe(1);
  });
});

describe("routes without fetch", () => {
  const only = { "/a": new Response("a"), "/p/:id": { POST: (req: Request & { params: { id: string } }) => new Response(req.params.id) }, "/off": false };
  test("what no route takes is 404 with no body, as in Bun.serve (a method object's missing method too)", async () => {
    const b = Bun.serve({ port: 0, hostname: "127.0.0.1", development: false, routes: only as never });
    await using f = newServer({ port: 0, host: "127.0.0.1", routes: only as never });
    void f.run();
    try {
      for (const [method, path] of [["GET", "/nothing"], ["GET", "/p/1"], ["HEAD", "/p/1"], ["POST", "/p/1"], ["GET", "/off"], ["GET", "/a"]] as const) {
        const pair = await both(f.port, b.port!, method, path, {});
        expectSame(pair, method === "HEAD");
      }
      const pair = await both(f.port, b.port!, "GET", "/nothing", {});
      expect(pair.fast.status).toBe(404);
      expect(pair.fast.body.length).toBe(0);
    } finally {
      b.stop(true);
    }
  });
});

describe("validation", () => {
  const ok = () => new Response("x");
  const refusedByBoth: [string, Record<string, unknown>][] = [
    ["a path without /", { api: ok }],
    ["a number", { "/a": 123 }],
    ["a string", { "/a": "hello" }],
    ["null", { "/a": null }],
    ["true", { "/a": true }],
    ["a Blob that is not a file", { "/a": new Blob(["x"]) }],
    ["a lower-case method", { "/a": { get: ok } }],
    ["an unknown method", { "/a": { FOO: ok } }],
    ["an empty method object", { "/a": {} }],
    ["a param name starting with a digit", { "/a/:1x": ok }],
    ["a repeated param name", { "/a/:x/:x": ok }],
    ["a stream body", { "/a": new Response(new ReadableStream({ start(c) { c.enqueue(new Uint8Array([1])); c.close(); } })) }],
  ];
  for (const [what, r] of refusedByBoth) {
    test(`${what}: refused by both, naming the route`, () => {
      expect(() => Bun.serve({ port: 0, routes: r as never, fetch: ok })).toThrow();
      expect(() => newServer({ port: 0, routes: r as never, fetch: ok })).toThrow(TypeError);
      try {
        newServer({ port: 0, routes: r as never, fetch: ok });
      } catch (e) {
        expect(String((e as Error).message)).toMatch(/routes/);
      }
    });
  }
  test("a used body is refused by both", () => {
    const used = new Response("x");
    void used.text();
    expect(() => Bun.serve({ port: 0, routes: { "/a": used }, fetch: ok })).toThrow();
    expect(() => newServer({ port: 0, routes: { "/a": used }, fetch: ok })).toThrow(/already been used/);
  });
  test("difference: fasthttp refuses what Bun.serve takes and never matches (a * before the end, a method value that is not a handler)", () => {
    for (const r of [{ "/a/*/b": ok }, { "/a": { GET: 1 } }, { "/a": { GET: false } }, { "/a/*": { dir: "/tmp" } }]) {
      const s = Bun.serve({ port: 0, routes: r as never, fetch: ok });
      s.stop(true);
      expect(() => newServer({ port: 0, routes: r as never, fetch: ok })).toThrow(TypeError);
    }
  });
  test("routes must be an object; an empty one needs fetch (as Bun)", () => {
    expect(() => Bun.serve({ port: 0, routes: {} } as never)).toThrow();
    expect(() => newServer({ port: 0, routes: {} } as never)).toThrow(/routes is empty/);
    expect(() => newServer({ port: 0, routes: "x" } as never)).toThrow(/routes must be an object/);
    expect(() => newServer({ port: 0, routes: { "/": ok }, handler: () => new Uint8Array(), fetch: ok } as never)).toThrow(/either handler or fetch/);
  });
});

describe("reload", () => {
  test("reload({ routes, fetch }) swaps both for the requests that follow; a bad table throws and the old stays; left out is kept", async () => {
    const b = Bun.serve({ port: 0, hostname: "127.0.0.1", development: false, routes: { "/t": () => new Response("original") }, fetch: () => new Response("fb1") });
    await using f = newServer({ port: 0, host: "127.0.0.1", routes: { "/t": () => new Response("original") }, fetch: () => new Response("fb1") });
    void f.run();
    const check = async (path: string, body: string) => {
      const pair = await both(f.port, b.port!, "GET", path, {});
      expectSame(pair);
      expect(text(pair.fast.body)).toBe(body);
    };
    try {
      await check("/t", "original");
      const next = { routes: { "/new": new Response("new route"), "/n/:id": (req: Request & { params: Record<string, string> }) => new Response(req.params.id!) }, fetch: () => new Response("fb2") };
      b.reload(next as never);
      f.reload(next);
      await check("/t", "fb2");
      await check("/new", "new route");
      await check("/n/9", "9");
      expect(() => b.reload({ routes: { "/bad": 5 } } as never)).toThrow();
      expect(() => f.reload({ routes: { "/bad": 5 } })).toThrow(TypeError);
      await check("/new", "new route");
      const routesOnly = { routes: { "/r": new Response("r") } };
      b.reload(routesOnly as never);
      f.reload(routesOnly);
      await check("/r", "r");
      await check("/zz", "fb2"); // fetch kept
    } finally {
      b.stop(true);
    }
  });
  test("the fetch app's server has reload() too, and a server without routes refuses it", async () => {
    await using f = newServer({
      port: 0,
      host: "127.0.0.1",
      routes: { "/flip": (_req, server) => (server.reload({ routes: { "/flip": new Response("flipped") } }), new Response("flipping")) },
    });
    void f.run();
    const one = await exchange(f.port, httpRequest("GET", "/flip"));
    expect(one.text).toBe("flipping");
    expect((await exchange(f.port, httpRequest("GET", "/flip"))).text).toBe("flipped");
    await using plain = newServer({ port: 0, handler: () => new Uint8Array() });
    expect(() => plain.reload({ routes: {} })).toThrow(/made with routes/);
  });
});

describe("WebSocket upgrade from a route", () => {
  test("server.upgrade(req) in a route handler: 101 and the open handler's message, on both", async () => {
    const config = {
      routes: {
        "/ws/:room": (req: Request & { params: { room: string } }, server: { upgrade(r: Request, o: unknown): boolean }) =>
          server.upgrade(req, { data: { room: req.params.room } }) ? undefined : new Response("no", { status: 400 }),
      },
      websocket: { open(ws: { send(s: string): void; data: { room: string } }) { ws.send(`room ${ws.data.room}`); }, message() {} },
    };
    const b = Bun.serve({ port: 0, hostname: "127.0.0.1", development: false, ...(config as object) } as never);
    await using f = newServer({ port: 0, host: "127.0.0.1", ...(config as object) } as never);
    void f.run();
    const upgrade = utf8("GET /ws/lobby HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    try {
      for (const port of [f.port, b.port!]) {
        const got = await new Promise<string>((resolve, reject) => {
          const sock = net.connect(port, "127.0.0.1");
          let data = "";
          const timer = setTimeout(() => (sock.destroy(), reject(new Error(`no WebSocket greeting: ${JSON.stringify(data)}`))), 3000);
          sock.on("data", (d) => {
            data += d.toString("latin1");
            if (data.includes("room lobby")) {
              clearTimeout(timer);
              sock.destroy();
              resolve(data);
            }
          });
          sock.on("error", reject);
          sock.write(upgrade);
        });
        expect(got).toStartWith("HTTP/1.1 101");
      }
    } finally {
      b.stop(true);
    }
  });
});

describe("raw routes: newServer({ routes, handler })", () => {
  const enc = new TextEncoder();
  test("a raw handler route gets req.params; static values and false work; handler is the fallback", async () => {
    await using f = newServer({
      port: 0,
      host: "127.0.0.1",
      routes: {
        "/users/:id": (req) => {
          // @ts-expect-error: the path declares no such param (req.params is typed from it, as BunRequest<Path>)
          void req.params.nope;
          return req.response(200, `user ${req.params.id}`);
        },
        "/files/*": (req) => req.response(200, `file ${req.string(req.path)} ${JSON.stringify(req.params)}`),
        "/static": new Response("static", { headers: { "x-s": "1" } }),
        "/post": { POST: (req) => req.response(201, "made") },
        "/off": false,
      },
      handler: (req: HttpRequest) => enc.encode(`fallback ${JSON.stringify(req.params)}`),
    });
    void f.run();
    const get = async (method: string, path: string) => {
      const r = await rawRequest(f.port, httpRequest(method, path, { headers: { Connection: "close" } }));
      return parseResponses(r.data, { closed: true }).responses[0]!;
    };
    expect((await get("GET", "/users/a%20b")).text).toBe("user a b");
    expect((await get("GET", "/files/x/y?q")).text).toBe('file /files/x/y?q {}');
    const s = await get("GET", "/static");
    expect(s.text).toBe("static");
    expect(comparable(s)["x-s"]).toEqual(["1"]);
    expect((await get("POST", "/post")).status).toBe(201);
    expect((await get("GET", "/post")).text).toBe("fallback {}");
    expect((await get("GET", "/off")).text).toBe("fallback {}");
    expect((await get("GET", "/nothing")).text).toBe("fallback {}");
  });
});

describe("with workers", () => {
  test("each worker compiles the routes; params, statics and the fallback answer in every worker", async () => {
    const server = newServer({
      port: 0,
      host: "127.0.0.1",
      workers: 2,
      workerEntry: join(import.meta.dir, "fixtures", "routes-worker.ts"),
      routes: { "/w/:id": () => new Response("main thread: never called") },
      fetch: () => new Response("main thread: never called"),
    });
    const done = server.run();
    try {
      const seen = new Set<number>();
      const deadline = Date.now() + 8000;
      while (seen.size < 2 && Date.now() < deadline) {
        const answers = await Promise.all(Array.from({ length: 8 }, () => exchange(server.port, httpRequest("GET", "/w/a%2Fb", { headers: { Connection: "close" } }))));
        for (const a of answers) {
          const j = JSON.parse(a.text) as { id: string; worker: number };
          expect(j.id).toBe("a/b");
          seen.add(j.worker);
        }
      }
      expect([...seen].sort()).toEqual([0, 1]);
      expect((await exchange(server.port, httpRequest("GET", "/static"))).text).toBe("static in a worker");
      expect((await exchange(server.port, httpRequest("GET", "/other"))).text).toBe("fallback in a worker");
      expect(() => server.reload({ routes: {} })).toThrow(/workers/);
    } finally {
      await server.stop();
      await done;
    }
  });
});

describe("the table for the C fast path", () => {
  test("exactStaticRoutes: the static routes without params or wildcards, rendered once", () => {
    const t = compileRoutes({
      "/": new Response("ok", { headers: { "x-a": "1" } }),
      "/file": Bun.file(FILE),
      "/old": Response.redirect("/new"),
      "/m": { GET: new Response("g"), POST: () => new Response("p") },
      "/p/:id": new Response("param"),
      "/w/*": new Response("wild"),
      "/fn": () => new Response("fn"),
      "/off": false,
    });
    const list = exactStaticRoutes(t);
    expect(list.map((r) => [r.path, r.methods])).toEqual([["/", null], ["/file", null], ["/old", null], ["/m", ["GET", "HEAD"]]]);
    const home = list[0]!.answer;
    const etag = `"${Bun.hash.xxHash64("ok").toString(16).padStart(16, "0")}"`;
    expect(home).toEqual({
      status: 200,
      headers: [["content-type", "text/plain;charset=utf-8"], ["x-a", "1"], ["etag", etag]],
      body: new TextEncoder().encode("ok"),
      etag,
      file: null,
      notModifiedHeaders: [["content-type", "text/plain;charset=utf-8"], ["x-a", "1"], ["etag", etag]],
    });
    expect(list[1]!.answer.file).toBe(FILE);
    expect(list[1]!.answer.etag).toBeNull();
    expect(list[2]!.answer).toMatchObject({ status: 302, headers: [["location", "/new"]], etag: null });
  });
  test("decodeParam: Bun's decoding of invalid escapes and UTF-8", () => {
    const d = (s: string) => decodeParam(utf8(s), 0, s.length);
    expect(d("plain")).toBe("plain");
    expect(d("a%20b")).toBe("a b");
    expect(d("%zz")).toBe("\ufffd");
    expect(d("%4")).toBe("\ufffd4");
    expect(d("%C0%AF")).toBe("\ufffd");
    expect(d("%FF%FE")).toBe("\ufffd\ufffd");
    expect(d("%F0%9F%A6%8A")).toBe("🦊");
  });
});
