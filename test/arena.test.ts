/**
 * Request arenas (issue 4): the slab pool, req.arena, req.response(), and the
 * lifetime rules — an arena is freed as a unit exactly when its response no
 * longer needs it, never twice, never leaked. Every scenario ends by counting
 * the slabs back in the pool.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { join } from "node:path";
import type { HttpRequest } from "../src/index.ts";
import { Client, cleanup, httpRequest, rawRequest, sleep, startServer, text, until, utf8 } from "./helpers/net.ts";

afterEach(cleanup);


describe("req.response() and req.arena", () => {
  test("a response built in the arena: status line, Date, headers, Content-Length, body", async () => {
    const s = await startServer((req) => req.response(201, "héllo", { "Content-Type": "text/plain; charset=utf-8", "X-A": "1" }));
    const c = await Client.connect(s.port);
    const res = await c.request(httpRequest("GET", "/"));
    expect(res.status).toBe(201);
    expect(res.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(res.headers["x-a"]).toBe("1");
    expect(res.headers["content-length"]).toBe(String(utf8("héllo").length));
    expect(res.headers["date"]).toMatch(/^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$/);
    expect(text(res.body)).toBe("héllo");
    expect(s.server.stats().slabsInUse).toBe(0);
  });

  test("HEAD keeps the headers and drops the body; 204 and 304 carry no Content-Length or body", async () => {
    const s = await startServer((req) => {
      const p = req.string(req.path);
      if (p === "/204") return req.response(204);
      if (p === "/304") return req.response(304, null, { ETag: '"x"' });
      return req.response(200, "twelve bytes");
    });
    const c = await Client.connect(s.port);
    const head = await c.request(httpRequest("HEAD", "/"), { noBody: true });
    expect(head.headers["content-length"]).toBe("12");
    expect(head.body.length).toBe(0);
    const r204 = await c.request(httpRequest("GET", "/204"));
    expect(r204.status).toBe(204);
    expect(r204.headers["content-length"]).toBeUndefined();
    const r304 = await c.request(httpRequest("GET", "/304"));
    expect(r304.status).toBe(304);
    expect(r304.headers["etag"]).toBe('"x"');
    const after = await c.request(httpRequest("GET", "/"));
    expect(text(after.body)).toBe("twelve bytes"); // the stream stayed in sync
  });

  test("HTTP/1.0 keep-alive says so; a closing response says Connection: close", async () => {
    const s = await startServer((req) => req.response(200, "x"));
    const c = await Client.connect(s.port);
    const ka = await c.request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    expect(ka.headers["connection"]).toBe("keep-alive");
    const close = await c.request("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(close.headers["connection"]).toBe("close");
    expect(await c.waitClosed(2000)).toBe(true);
  });

  test("header injection and server-owned headers are refused (500), the server carries on", async () => {
    const errors: unknown[] = [];
    const orig = console.error;
    console.error = (...a: unknown[]) => void errors.push(a);
    try {
      const s = await startServer((req) => {
        const p = req.string(req.path);
        if (p === "/crlf") return req.response(200, "x", { "X-A": "a\r\nSet-Cookie: evil=1" });
        if (p === "/cl") return req.response(200, "x", { "Content-Length": "99" });
        if (p === "/name") return req.response(200, "x", { "Bad Name": "v" });
        return req.response(200, "fine");
      });
      const c = await Client.connect(s.port);
      for (const p of ["/crlf", "/cl", "/name"]) {
        const r = await c.request(httpRequest("GET", p));
        expect(r.status).toBe(500);
        expect(r.headers["set-cookie"]).toBeUndefined();
      }
      expect(text((await c.request(httpRequest("GET", "/"))).body)).toBe("fine");
      expect(errors.length).toBe(3);
    } finally {
      console.error = orig;
    }
  });

  test("alloc and encode give arena memory; an arena that outgrows its slab takes more, all freed", async () => {
    let slabs = 0;
    const s = await startServer((req) => {
      const a = req.arena;
      const scratch = a.alloc(20000); // more than the rest of a 16 KiB slab
      scratch.fill(65);
      const name = a.encode("wörld");
      slabs = a.slabs;
      return req.response(200, `${text(name)} ${scratch.length} ${scratch[19999]}`);
    }, { arenaSlabSize: 16384 });
    const c = await Client.connect(s.port);
    const r = await c.request(httpRequest("GET", "/"));
    expect(text(r.body)).toBe("wörld 20000 65");
    expect(slabs).toBeGreaterThanOrEqual(2);
    expect(await until(() => s.server.stats().slabsInUse === 0 && s.server.stats().largeInUse === 0, 1000)).toBe(true);
  });

  test("a request head bigger than a slab gets a large slab of its own, freed after", async () => {
    const big = "z".repeat(40_000);
    let held = -1;
    const s = await startServer(
      (req) => {
        held = s.server.stats().largeInUse;
        return req.response(200, `${req.buffer.length > 40_000} ${req.header("x-big") === big} ${req.bodyStreamed}`);
      },
      { maxHeaderSize: 65536 },
    );
    const c = await Client.connect(s.port);
    const r = await c.request(httpRequest("GET", "/", { headers: { "X-Big": big } }));
    expect(text(r.body)).toBe("true true false");
    expect(held).toBe(1);
    expect(await until(() => s.server.stats().largeInUse === 0, 1000)).toBe(true);
  });

  test("a body bigger than a slab streams instead: the request's head alone is in its one slab", async () => {
    const body = "z".repeat(100_000);
    let seen = "";
    const s = await startServer(async (req) => {
      seen = `${req.bodyStreamed} ${req.buffer.length < 16384} ${s.server.stats().largeInUse}`;
      const got = await req.readBody();
      return req.response(200, `${got.length} ${new TextDecoder().decode(got) === body}`);
    });
    const c = await Client.connect(s.port);
    const r = await c.request(httpRequest("POST", "/", { body }));
    expect(text(r.body)).toBe("100000 true");
    expect(seen).toBe("true true 0");
  });

  test("a bad allocation size is a RangeError (answered 500)", async () => {
    let err: unknown;
    const s = await startServer((req) => {
      try {
        req.arena.alloc(-1);
      } catch (e) {
        err = e;
      }
      return req.response(200, "ok");
    });
    const c = await Client.connect(s.port);
    await c.request(httpRequest("GET", "/"));
    expect(err).toBeInstanceOf(RangeError);
  });
});

describe("arena lifetime", () => {
  test("sync handlers: every slab is back in the pool after each response", async () => {
    const s = await startServer((req) => req.response(200, req.string(req.path)));
    const c = await Client.connect(s.port);
    for (let i = 0; i < 50; i++) await c.request(httpRequest("GET", `/${i}`));
    await c.write(Array.from({ length: 16 }, (_, i) => httpRequest("GET", `/p${i}`)).map(text).join(""));
    await c.next(16);
    expect(s.server.stats().slabsInUse).toBe(0);
    expect(s.server.stats().slabsHighWater).toBeGreaterThanOrEqual(1);
  });

  test("an async handler keeps its arena across awaits, untouched by other requests", async () => {
    const s = await startServer(async (req: HttpRequest) => {
      if (req.string(req.path) !== "/slow") return req.response(200, "fast");
      const mine = req.arena.alloc(64);
      mine.fill(7);
      const path = req.bytes(req.path);
      await sleep(150); // meanwhile other requests take and return slabs
      const intact = mine.every((b) => b === 7) && text(path) === "/slow";
      return req.response(200, intact ? "intact" : "clobbered");
    });
    const slow = await Client.connect(s.port);
    await slow.write(httpRequest("GET", "/slow"));
    await sleep(20);
    expect(s.server.stats().slabsInUse).toBe(1); // held across the await
    const others = await Client.connect(s.port);
    for (let i = 0; i < 100; i++) await others.request(httpRequest("GET", `/other${i}`));
    const [r] = await slow.next(1);
    expect(text(r!.body)).toBe("intact");
    expect(await until(() => s.server.stats().slabsInUse === 0, 1000)).toBe(true);
  });

  test("a response the socket pushes back (EAGAIN) keeps its arena until written", async () => {
    const big = 8 * 1024 * 1024;
    const s = await startServer((req) => {
      const body = req.arena.alloc(big); // a large slab of the arena
      body.fill(97);
      return req.response(200, body);
    });
    const c = await Client.connect(s.port);
    c.pause();
    await c.write(httpRequest("GET", "/"));
    await sleep(200);
    const held = s.server.stats();
    expect(held.slabsInUse + held.largeInUse).toBeGreaterThanOrEqual(1); // still being written
    c.resume();
    const [r] = await c.next(1, { timeoutMs: 10000 });
    expect(r!.body.length).toBe(big);
    expect(r!.body.every((b) => b === 97)).toBe(true);
    expect(await until(() => s.server.stats().slabsInUse === 0 && s.server.stats().largeInUse === 0, 2000)).toBe(true);
  });

  test("a reset mid-write frees the arena once", async () => {
    const s = await startServer((req) => {
      const body = req.arena.alloc(8 * 1024 * 1024);
      body.fill(98);
      return req.response(200, body);
    });
    const c = await Client.connect(s.port);
    c.pause();
    await c.write(httpRequest("GET", "/"));
    await sleep(150);
    c.socket.resetAndDestroy();
    expect(await until(() => s.server.stats().connections === 0, 2000)).toBe(true);
    const st = s.server.stats();
    expect(st.slabsInUse).toBe(0);
    expect(st.largeInUse).toBe(0);
    // Freed once: the pool is consistent and serves on.
    const r = await rawRequest(s.port, httpRequest("GET", "/", { headers: { Connection: "close" } }), { timeoutMs: 5000 });
    expect(r.data.length).toBeGreaterThan(8 * 1024 * 1024);
    expect(s.server.stats().slabsInUse).toBe(0);
  });

  // epoll reports the reset at once (EPOLLERR needs no interest); kqueue reports nothing for a
  // connection it is not watching, so there the connection goes when the answer cannot be written.
  test("a client that resets before its async handler answers: the arena is held until the handler answers, then all is freed", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const s = await startServer(async (req) => {
      await gate;
      return req.response(200, "late");
    });
    const c = await Client.connect(s.port);
    await c.write(httpRequest("GET", "/"));
    await sleep(50);
    c.socket.resetAndDestroy();
    await sleep(100);
    expect(s.server.stats().slabsInUse).toBe(1); // still the handler's
    release();
    expect(await until(() => s.server.stats().slabsInUse === 0 && s.server.stats().connections === 0, 2000)).toBe(true);
  });

  test("a client that half-closes (FIN) before its async handler answers still gets the answer, then all is freed", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const s = await startServer(async (req) => {
      await gate;
      return req.response(200, "late");
    });
    const c = await Client.connect(s.port);
    c.end(httpRequest("GET", "/"));
    await sleep(100);
    expect(s.server.stats().connections).toBe(1); // a FIN is not a hang-up: the answer is owed
    expect(s.server.stats().slabsInUse).toBe(1);
    release();
    const [r] = await c.next(1);
    expect(text(r!.body)).toBe("late");
    expect(await until(() => s.server.stats().connections === 0 && s.server.stats().slabsInUse === 0, 2000)).toBe(true);
  });
});

function runChild(env: Record<string, string>, paths: string[]): Promise<{ bodies: string[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(import.meta.dir, "fixtures", "arena-child.ts")], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`child timed out; stderr: ${err}`));
    }, 15000);
    child.stderr.on("data", (d) => (err += d));
    child.stdout.on("data", async (d) => {
      out += d;
      const m = /PORT (\d+)/.exec(out);
      if (!m || (child as unknown as { started?: boolean }).started) return;
      (child as unknown as { started?: boolean }).started = true;
      try {
        const c = await Client.connect(Number(m[1]));
        const bodies: string[] = [];
        for (const p of paths) bodies.push(text((await c.request(httpRequest("GET", p))).body));
        c.destroy();
        await sleep(100);
        child.kill("SIGTERM");
        child.on("exit", () => {
          clearTimeout(timer);
          resolve({ bodies, stderr: err });
        });
      } catch (e) {
        child.kill("SIGKILL");
        reject(e);
      }
    });
  });
}

describe("debug and trace modes", () => {
  test("FASTHTTP_DEBUG_ARENA=1: a view kept past its request reads poison, never another request", async () => {
    const { bodies } = await runChild({ FASTHTTP_DEBUG_ARENA: "1" }, ["/keep", "/other", "/peek"]);
    expect(bodies[0]).toBe("kept");
    expect(bodies[2]).toBe("db,db,db,db,db,db,db,db");
  });

  test("without it the same stale view is just reused memory (which is why debug mode exists)", async () => {
    const { bodies } = await runChild({ FASTHTTP_DEBUG_ARENA: "0" }, ["/keep", "/other", "/peek"]);
    expect(bodies[2]).not.toBe("db,db,db,db,db,db,db,db");
  });

  test("FASTHTTP_TRACE_ARENA=1: one line per request with method, path, bytes used, slabs and time to free", async () => {
    const { stderr } = await runChild({ FASTHTTP_TRACE_ARENA: "1" }, ["/a", "/b?q=1"]);
    const lines = stderr.split("\n").filter((l) => l.startsWith("fasthttp arena:"));
    expect(lines.length).toBe(2);
    expect(lines[0]).toMatch(/^fasthttp arena: GET \/a used=\d+B slabs=1 freed_after=\d+\.\d{3}ms$/);
    expect(lines[1]).toMatch(/^fasthttp arena: GET \/b\?q=1 used=\d+B slabs=1 freed_after=\d+\.\d{3}ms$/);
    const used = Number(/used=(\d+)B/.exec(lines[0]!)![1]);
    expect(used).toBeGreaterThanOrEqual(100); // the handler's alloc(100), plus its response
  });
});
