/**
 * Static routes answered by the C core (c/routes.c, installed by
 * src/routes/native.ts): the exact wire bytes (all but the Date's value), HEAD,
 * 304s, keep-alive against HTTP/1.0 and Connection: close, pipelined mixes
 * with requests JavaScript answers (in order, also behind a slow one), and
 * everything that must fall through to JavaScript. The handler counts its
 * calls and the core counts its static answers (stats().staticAnswers): a
 * static hit runs no JavaScript. Runs on the backend FASTHTTP_BACKEND chooses.
 * test/c/routes_test.c checks the parsers and the table in C (gcc -Wall
 * -Wextra -Werror, and clang with ASan and UBSan where installed).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asan, asanNote, build, clang, gcc, run } from "./helpers/cbuild.ts";
import { newServer, type HttpRequest, type Server } from "../src/index.ts";
import type { StaticAnswer, StaticRoute } from "../src/routes/native.ts";

const enc = new TextEncoder();
const TAG = '"c49aacf8080fe47f"';
const CT: [string, string] = ["Content-Type", "text/plain;charset=utf-8"];
const DATE = /Date: ([A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT)\r\n/g;
const BIG = "x".repeat(10_000); // a large answer (far over FH_GATHER_EACH): sent from its route's block, not gathered

function answer(body: string, extra: Partial<StaticAnswer> = {}): StaticAnswer {
  return { status: 200, headers: [CT, ["etag", TAG]], body: enc.encode(body), etag: TAG, file: null, notModifiedHeaders: [CT, ["etag", TAG]], ...extra };
}

const ROUTES: StaticRoute[] = [
  { path: "/", methods: null, answer: answer("Hello, World!") },
  { path: "/h", methods: ["GET", "HEAD"], answer: answer("x", { status: 201, headers: [["Content-Type", "text/html"], ["X-A", "1"]], etag: null, notModifiedHeaders: [] }) },
  { path: "/big", methods: ["GET"], answer: answer(BIG, { etag: null, headers: [CT] }) },
  { path: "/file", methods: null, answer: answer("", { file: "/etc/hostname" }) },
];

/** What the core sends for "/" (Date value as D). */
function hello(conn = "", head = false): string {
  return `HTTP/1.1 200 OK\r\nContent-Type: text/plain;charset=utf-8\r\netag: ${TAG}\r\nDate: D\r\nContent-Length: 13\r\n${conn}\r\n${head ? "" : "Hello, World!"}`;
}
const NOT_MODIFIED = `HTTP/1.1 304 Not Modified\r\nContent-Type: text/plain;charset=utf-8\r\netag: ${TAG}\r\nDate: D\r\n\r\n`;
/** What the JavaScript handler answers for `path`. */
function js(path: string, conn = ""): string {
  const body = `js ${path}`;
  return `HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: ${body.length}\r\n${conn}\r\n${body}`;
}

let server: Server;
let port = 0;
let calls = 0;

function handler(req: HttpRequest): Uint8Array | Promise<Uint8Array> {
  calls++;
  const path = req.string(req.target);
  const out = req.response(200, `js ${path}`);
  if (path === "/slow") return new Promise((r) => setTimeout(() => r(out), 80));
  return out;
}

/** Replaces every Date value by "D", checking each is a current IMF-fixdate. */
function normalize(text: string): string {
  return text.replace(DATE, (_, d: string) => {
    expect(Math.abs(Date.parse(d) - Date.now())).toBeLessThan(5000);
    return "Date: D\r\n";
  });
}

/**
 * Writes `bytes` (in one write) and reads until `want` bytes came (a Date's
 * value is 29 bytes, as "D" is 1: 28 more per Date) or the server closed.
 * Returns the normalized text and whether the server closed.
 */
function exchange(bytes: string, expected: string, waitClose = 150): Promise<{ text: string; closed: boolean }> {
  const want = expected.length + 28 * (expected.match(/Date: D\r\n/g)?.length ?? 0);
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    let closed = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const s = net.connect({ port, host: "127.0.0.1" }, () => s.write(bytes));
    const done = () => {
      clearTimeout(timer);
      clearTimeout(limit);
      s.destroy();
      resolve({ text: normalize(data.toString("latin1")), closed });
    };
    const limit = setTimeout(done, 3000);
    s.on("data", (d) => {
      data = Buffer.concat([data, d as Buffer]);
      if (data.length >= want && timer === undefined) timer = setTimeout(done, waitClose); // a close, or more bytes than expected
    });
    s.on("end", () => {
      closed = true;
      done();
    });
    s.on("error", reject);
  });
}

async function expectExchange(bytes: string, expected: string, closes: boolean): Promise<void> {
  const r = await exchange(bytes, expected);
  expect(r.text).toBe(expected);
  expect(r.closed).toBe(closes);
}

/** The calls the handler got and the core's static answers during `fn`. */
async function counting(fn: () => Promise<void>): Promise<{ calls: number; statics: number }> {
  const c0 = calls;
  const s0 = server.stats().staticAnswers;
  await fn();
  return { calls: calls - c0, statics: server.stats().staticAnswers - s0 };
}

const get = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;

beforeAll(() => {
  server = newServer({ port: 0, host: "127.0.0.1", handler });
  void server.run();
  port = server.port;
  expect(server._staticRoutes(ROUTES)).toBe(3); // the file route stays JavaScript's
});

afterAll(async () => {
  await server.stop(true);
});

describe(`static routes answered by the core (${process.env.FASTHTTP_BACKEND || "default"} backend)`, () => {
  test("GET: Bun's bytes (headers in order, Date, Content-Length), kept alive, no JavaScript", async () => {
    const n = await counting(() => expectExchange(get("/"), hello(), false));
    expect(n).toEqual({ calls: 0, statics: 1 });
  });

  test("a query is not part of the path; another status and headers", async () => {
    await expectExchange(get("/?a=1&b"), hello(), false);
    await expectExchange(get("/h"), "HTTP/1.1 201 Created\r\nContent-Type: text/html\r\nX-A: 1\r\nDate: D\r\nContent-Length: 1\r\n\r\nx", false);
  });

  test("HEAD: the head alone, with GET's Content-Length", async () => {
    const n = await counting(async () => {
      await expectExchange(`HEAD / HTTP/1.1\r\nHost: x\r\n\r\n`, hello("", true), false);
      await expectExchange(`HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n`, "HTTP/1.1 201 Created\r\nContent-Type: text/html\r\nX-A: 1\r\nDate: D\r\nContent-Length: 1\r\n\r\n", false);
    });
    expect(n).toEqual({ calls: 0, statics: 2 });
  });

  test("HTTP/1.0 closes (Connection: close), HTTP/1.0 keep-alive stays, Connection: close closes", async () => {
    await expectExchange("GET / HTTP/1.0\r\n\r\n", hello("Connection: close\r\n"), true);
    await expectExchange("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", hello("Connection: keep-alive\r\n"), false);
    await expectExchange(get("/", "Connection: close\r\n"), hello("Connection: close\r\n"), true);
    await expectExchange("HEAD / HTTP/1.0\r\n\r\n", hello("Connection: close\r\n", true), true);
  });

  test("If-None-Match: a list, weak comparison, *, several fields; 304 with its headers and Date", async () => {
    const n = await counting(async () => {
      await expectExchange(get("/", `If-None-Match: "nope", W/${TAG}\r\n`), NOT_MODIFIED, false);
      await expectExchange(get("/", `If-None-Match: ${TAG}\r\n`), NOT_MODIFIED, false);
      await expectExchange(get("/", "If-None-Match: *\r\n"), NOT_MODIFIED, false);
      await expectExchange(get("/", `if-none-match: "a"\r\nIf-None-Match: ,${TAG} ,\r\n`), NOT_MODIFIED, false);
      await expectExchange(`HEAD / HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${TAG}\r\n\r\n`, NOT_MODIFIED, false);
      await expectExchange(`GET / HTTP/1.0\r\nIf-None-Match: ${TAG}\r\n\r\n`, NOT_MODIFIED.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n"), true);
      await expectExchange(get("/", `If-None-Match: "c49aacf8080fe47e"\r\n`), hello(), false);
      await expectExchange(get("/", `If-None-Match:\r\n`), hello(), false);
      // Not GET or HEAD: the precondition is not evaluated (as Bun).
      await expectExchange(`POST / HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\nContent-Length: 0\r\n\r\n`, hello(), false);
    });
    expect(n).toEqual({ calls: 0, statics: 9 });
  });

  test("what the core does not answer goes to JavaScript", async () => {
    const cases: [string, string][] = [
      [get("/%68"), js("/%68")], // percent-encoded: JavaScript decodes
      [get("/h/"), js("/h/")], // not the same bytes
      [get("/H"), js("/H")],
      [get("/hx"), js("/hx")],
      [`POST /h HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`, js("/h")], // a method outside the route's
      [`PROPFIND / HTTP/1.1\r\nHost: x\r\n\r\n`, js("/")], // a method the core does not know
      [`GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n`, js("http://x/")], // not origin-form
      [get("/", 'If-None-Match: "a" "b"\r\n'), js("/")], // malformed If-None-Match
      [get("/", "If-None-Match: abc\r\n"), js("/")],
      [`POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n`, js("/")], // not a fixed length
      [`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nab`, js("/")],
      [get("/file"), js("/file")], // a file route: JavaScript's
    ];
    for (const [req, res] of cases) {
      const n = await counting(() => expectExchange(req, res, false));
      expect({ req, ...n }).toEqual({ req, calls: 1, statics: 0 });
    }
  });

  test("a complete Content-Length body is skipped, and the next request is parsed after it", async () => {
    const n = await counting(() =>
      expectExchange(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello${get("/x")}`, hello() + js("/x"), false),
    );
    expect(n).toEqual({ calls: 1, statics: 1 });
  });

  test("pipelined: static and JavaScript answers in request order, also behind a slow handler", async () => {
    const reqs = [get("/slow"), get("/"), get("/a"), get("/", `If-None-Match: ${TAG}\r\n`), get("/h"), get("/b"), get("/")];
    const expected = [
      js("/slow"),
      hello(),
      js("/a"),
      NOT_MODIFIED,
      "HTTP/1.1 201 Created\r\nContent-Type: text/html\r\nX-A: 1\r\nDate: D\r\nContent-Length: 1\r\n\r\nx",
      js("/b"),
      hello(),
    ];
    const n = await counting(() => expectExchange(reqs.join(""), expected.join(""), false));
    expect(n).toEqual({ calls: 3, statics: 4 });
  });

  test("pipelined: many static answers in one write (gathered into few sends), then a close", async () => {
    const count = 200;
    const n = await counting(() =>
      expectExchange(get("/").repeat(count) + get("/", "Connection: close\r\n") + get("/"), hello().repeat(count) + hello("Connection: close\r\n"), true),
    );
    expect(n).toEqual({ calls: 0, statics: count + 1 });
  });

  test("a large body (written from the route's block), pipelined with small ones", async () => {
    const big = `HTTP/1.1 200 OK\r\nContent-Type: text/plain;charset=utf-8\r\nDate: D\r\nContent-Length: ${BIG.length}\r\n\r\n${BIG}`;
    await expectExchange(get("/big") + get("/") + get("/big") + get("/x") + get("/big"), big + hello() + big + js("/x") + big, false);
  });

  test("the Date follows the clock (a route's blocks are rewritten when the second changes)", async () => {
    const dates = async (bytes: string, until: string): Promise<number[]> => {
      const s = net.connect({ port, host: "127.0.0.1" });
      await new Promise((r) => s.on("connect", r));
      let data = "";
      s.on("data", (d) => (data += d.toString("latin1")));
      s.write(bytes);
      const deadline = Date.now() + 3000;
      while (!data.endsWith(until) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      s.destroy();
      return [...data.matchAll(DATE)].map((m) => Date.parse(m[1]!));
    };
    const [first] = await dates(get("/"), "Hello, World!");
    await new Promise((r) => setTimeout(r, 1100));
    const later = await dates(get("/big") + get("/") + get("/h"), "\r\n\r\nx");
    expect(later.length).toBe(3);
    for (const d of later) expect(d).toBeGreaterThan(first!);
    expect(Math.abs(later[0]! - Date.now())).toBeLessThan(3000);
  });

  test("reload: the new table replaces the old one; an empty one sends everything to JavaScript", async () => {
    try {
      expect(server._staticRoutes([{ path: "/", methods: ["GET"], answer: answer("bye", { etag: null, headers: [] }) }])).toBe(1);
      await expectExchange(get("/"), "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 3\r\n\r\nbye", false);
      await expectExchange(get("/h"), js("/h"), false);
      expect(server._staticRoutes([])).toBe(0);
      const n = await counting(() => expectExchange(get("/"), js("/"), false));
      expect(n).toEqual({ calls: 1, statics: 0 });
    } finally {
      server._staticRoutes(ROUTES);
    }
    await expectExchange(get("/"), hello(), false);
  });

  test("the first route for a path and method wins; methods of several routes on one path", async () => {
    try {
      server._staticRoutes([
        { path: "/m", methods: ["GET"], answer: answer("get", { etag: null, headers: [] }) },
        { path: "/m", methods: ["POST", "GET"], answer: answer("post", { etag: null, headers: [] }) },
      ]);
      await expectExchange(get("/m"), "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 3\r\n\r\nget", false);
      await expectExchange(`POST /m HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`, "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 4\r\n\r\npost", false);
      await expectExchange(`HEAD /m HTTP/1.1\r\nHost: x\r\n\r\n`, js("/m").replace("js /m", ""), false);
    } finally {
      server._staticRoutes(ROUTES);
    }
  });
});

describe("a stopping server's static answers close the connection", () => {
  test("requests read after stop() get Connection: close", async () => {
    const srv = newServer({ port: 0, host: "127.0.0.1", handler: (req) => req.response(200, "js") });
    const done = srv.run();
    srv._staticRoutes(ROUTES);
    const s = net.connect({ port: srv.port, host: "127.0.0.1" });
    await new Promise((r) => s.on("connect", r));
    let data = "";
    let ended = false;
    s.on("data", (d) => (data += d.toString("latin1")));
    s.on("end", () => (ended = true));
    s.write(get("/"));
    const deadline = Date.now() + 3000;
    while (!data.includes("Hello, World!") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const stopped = srv.stop();
    while (!ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    s.destroy();
    await stopped;
    await done;
    expect(normalize(data)).toBe(hello());
    expect(ended).toBe(true);
  });
});

/** A client in its own process (so that a loop the core kept busy could not slow it): `conns`
 * connections each keeping 8 writes of 16 `GET /` in flight for `ms`, so that the server
 * always has requests to read; prints the answers it got. */
const PIPELINER = `
const net = require("node:net");
const [port, conns, ms] = process.argv.slice(-3).map(Number);
const batch = "GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n".repeat(16);
let answers = 0, open = conns;
const end = Date.now() + ms;
for (let i = 0; i < conns; i++) {
  const s = net.connect({ port, host: "127.0.0.1" }, () => { for (let k = 0; k < 8; k++) s.write(batch); });
  let text = "", got = 0, done = 0;
  s.on("data", (d) => {
    text += d.toString("latin1");
    let at;
    while ((at = text.indexOf("Hello, World!")) >= 0) { text = text.slice(at + 13); got++; answers++; }
    while (got >= 16) { got -= 16; if (Date.now() < end) s.write(batch); else if (++done === 8) s.end(); }
  });
  s.on("close", () => { if (--open === 0) console.log(answers); });
}`;

describe("the loop while the core answers by itself", () => {
  test("a client pipelining static requests without pause: answered by the core, and JavaScript's timers still fire", async () => {
    let jsCalls = 0;
    const srv = newServer({ port: 0, host: "127.0.0.1", handler: (req) => (jsCalls++, req.response(200, "js")) });
    const done = srv.run();
    srv._staticRoutes(ROUTES);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const t0 = performance.now();
    const child = Bun.spawn([process.execPath, "-e", PIPELINER, String(srv.port), "64", "600"], { stdout: "pipe", stderr: "inherit" });
    const answers = Number((await new Response(child.stdout).text()).trim());
    const elapsed = performance.now() - t0;
    clearInterval(timer);
    const statics = srv.stats().staticAnswers;
    await srv.stop(true);
    await done;
    expect(await child.exited).toBe(0);
    expect(answers % 16).toBe(0); // every batch answered whole
    expect(answers).toBeGreaterThan(16 * 64);
    expect(statics).toBe(answers);
    expect(jsCalls).toBe(0);
    // fh_poll serves on by itself while only static answers come, and hands the loop back when a
    // poll brings none, and at the latest after FH_POLL_BUSY_US (1 ms): a 10 ms interval keeps
    // ticking (here about elapsed / 10 times; a loop the core kept would tick not at all).
    expect(ticks).toBeGreaterThanOrEqual(Math.floor(elapsed / 10 / 4));
  });
});

// Backend-independent (no loop): built and run once, in the default backend's pass of npm test.
describe.skipIf(process.env.FASTHTTP_BACKEND === "kqueue")("the route table and If-None-Match in C (test/c/routes_test.c)", () => {
  const source = join(import.meta.dir, "c", "routes_test.c");
  const flags = ["-std=gnu99", "-Wall", "-Wextra", "-Wshadow", "-Werror", "-pthread", "-g"];
  const work = mkdtempSync(join(tmpdir(), "fasthttp-routes-c-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const expectPassed = (r: { code: number | null; stdout: string; stderr: string }) => {
    if (r.code !== 0 || r.stderr !== "") console.error(`${r.stdout}\n${r.stderr}`);
    expect(r.stdout.split("\n").filter((l) => l.startsWith("FAIL"))).toEqual([]);
    expect(r.stdout).toMatch(/^\d{4,} passed, 0 failed$/m);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  };
  test("gcc -Wall -Wextra -Werror: every case passes", () => {
    if (!gcc) throw new Error("gcc is required");
    build([gcc, ...flags, "-O2", source, "-o", join(work, "routes_test_gcc")]);
    expectPassed(run([join(work, "routes_test_gcc")]));
  }, 60_000);
  test.skipIf(!asan)(`clang -fsanitize=address,undefined: every case passes, no overread, no UB${asanNote}`, () => {
    build([clang!, ...flags, "-O1", "-fsanitize=address,undefined", "-fno-omit-frame-pointer", source, "-o", join(work, "routes_test_asan")]);
    expectPassed(run([join(work, "routes_test_asan")]));
  }, 90_000);
});
