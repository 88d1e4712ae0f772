/**
 * Takeovers, streams and files (issue 8), over real sockets: a manual
 * takeover (the connection leaves HTTP: the handler's bytes go out, the
 * client's reach conn.ondata), a reusable takeover (the handler writes one
 * response, the connection serves on), req.stream() (chunked framing, HEAD,
 * HTTP/1.0, backpressure, a client that leaves mid-stream) and
 * req.sendFile() (bytes and headers, a large file to a slow reader, a client
 * that leaves mid-file, 404/403 decided before any byte). Every scenario ends
 * with the server's connections and arena slabs back to 0.
 *
 * The same file runs on the kqueue backend too (package.json's test script).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HANDED_OVER, type Connection, type HttpRequest } from "../src/index.ts";
import {
  Client,
  cleanup,
  concat,
  httpRequest,
  parseResponses,
  rawRequest,
  rawResponse,
  sleep,
  startServer,
  text,
  utf8,
  withTimeout,
  type TestServer,
} from "./helpers/net.ts";

afterEach(cleanup);

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Waits until the server holds no connection and no arena slab. */
async function settled(s: TestServer, ms = 3000): Promise<void> {
  await until(() => {
    const st = s.server.stats();
    return st.connections === 0 && st.slabsInUse === 0 && st.largeInUse === 0;
  }, ms, `connections and slabs back to 0 (now ${JSON.stringify(s.server.stats())})`);
}

/** Captures console.error while `fn` runs. */
async function capturingErrors<T>(fn: (errors: string[]) => Promise<T>): Promise<T> {
  const errors: string[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => void errors.push(a.map(String).join(" "));
  try {
    return await fn(errors);
  } finally {
    console.error = orig;
  }
}

/** A plain TCP client that keeps every byte: for what is not HTTP after a takeover. */
class Raw {
  chunks: Uint8Array[] = [];
  length = 0;
  closed = false;
  readonly socket: net.Socket;
  #onData: ((chunk: Uint8Array) => void) | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (c: Buffer) => {
      const chunk = new Uint8Array(c.buffer, c.byteOffset, c.length);
      this.length += chunk.length;
      if (this.#onData !== null) this.#onData(chunk);
      else this.chunks.push(chunk.slice());
    });
    socket.on("close", () => (this.closed = true));
    socket.on("error", () => (this.closed = true));
  }

  static connect(port: number): Promise<Raw> {
    const socket = net.connect({ port, host: "127.0.0.1" });
    const raw = new Raw(socket);
    live.add(raw);
    return withTimeout(
      new Promise<Raw>((resolve, reject) => {
        socket.once("connect", () => {
          socket.setNoDelay(true);
          resolve(raw);
        });
        socket.once("error", reject);
      }),
      3000,
      "a connection",
    );
  }

  /** Streams the bytes to `fn` instead of keeping them. */
  onData(fn: (chunk: Uint8Array) => void): void {
    this.#onData = fn;
  }

  write(data: string | Uint8Array): void {
    this.socket.write(utf8(data));
  }

  bytes(): Uint8Array {
    return concat(...this.chunks);
  }

  text(): string {
    return new TextDecoder("latin1").decode(this.bytes());
  }

  waitText(s: string, ms = 3000): Promise<void> {
    return until(() => this.text().includes(s), ms, `${JSON.stringify(s)} (got ${JSON.stringify(this.text().slice(-300))})`);
  }

  waitClosed(ms = 3000): Promise<void> {
    return until(() => this.closed, ms, "the server to close the connection");
  }

  destroy(): void {
    this.socket.destroy();
    live.delete(this);
  }
}
const live = new Set<Raw>();
afterEach(() => {
  for (const r of live) r.destroy();
});

const enc = new TextEncoder();
const SWITCH = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n";

// ---------------------------------------------------------------------------------------------

describe("manual takeover", () => {
  test("the handler's bytes go out, the client's reach ondata (those sent with the request too), the server closes", async () => {
    let conn: Connection | undefined;
    const got: string[] = [];
    const s = await startServer((req) =>
      req.takeover((c) => {
        conn = c;
        void c.write(SWITCH);
        c.ondata = (chunk) => {
          const t = text(chunk);
          got.push(t);
          if (t.includes("bye")) {
            void c.write("BYE").then(() => c.close());
          } else {
            void c.write(t.toUpperCase());
          }
        };
      }),
    );
    const r = await Raw.connect(s.port);
    r.write(concat(httpRequest("GET", "/echo"), "hello"));
    await r.waitText("HELLO");
    expect(r.text().startsWith(SWITCH)).toBe(true);
    expect(got.join("")).toBe("hello"); // exactly the bytes after the request, not the request
    r.write("again");
    await r.waitText("AGAIN");
    expect(s.server.stats().connections).toBe(1);
    expect(s.server.stats().slabsInUse).toBe(0); // the arena went back at the hand-over
    r.write("bye");
    await r.waitClosed();
    expect(r.text()).toBe(`${SWITCH}HELLOAGAINBYE`);
    await withTimeout(conn!.closed, 2000, "conn.closed");
    expect(conn!.isClosed).toBe(true);
    expect(conn!.mode).toBe("takeover");
    await settled(s);
  });

  // Once a core bug (fh_parse's error paths kept the dispatched requests' bytes in the buffer).
  test("bytes after the request that are not HTTP (a binary frame) reach ondata exactly, and nothing else does", async () => {
    const got: Uint8Array[] = [];
    const s = await startServer((req) =>
      req.takeover((c) => {
        c.ondata = (chunk) => {
          got.push(chunk);
          if (concat(...got).length >= 7) void c.write("ok").then(() => c.close());
        };
      }),
    );
    const frame = new Uint8Array([0x81, 0x85, 0x00, 0xff, 0x0d, 0x0a, 0x7f]);
    const r = await Raw.connect(s.port);
    r.write(concat(httpRequest("GET", "/ws"), frame));
    await r.waitClosed();
    expect(r.text()).toBe("ok");
    expect([...concat(...got)]).toEqual([...frame]);
    await settled(s);
  });

  test("after a Connection: Upgrade request nothing more is parsed: a request-shaped frame reaches ondata, not the handler", async () => {
    const got: Uint8Array[] = [];
    let calls = 0;
    const s = await startServer((req) => {
      calls++;
      return req.takeover((c) => {
        c.ondata = (chunk) => {
          got.push(chunk);
          if (text(concat(...got)).endsWith("\r\n\r\n")) void c.write("ok").then(() => c.close());
        };
      });
    });
    const follower = httpRequest("GET", "/not-a-request");
    const r = await Raw.connect(s.port);
    r.write(concat(httpRequest("GET", "/ws", { headers: { Connection: "Upgrade", Upgrade: "x-proto" } }), follower));
    await r.waitClosed();
    expect(r.text()).toBe("ok");
    expect(text(concat(...got))).toBe(text(follower));
    expect(calls).toBe(1);
    await settled(s);
  });

  test("a client that closes resolves conn.closed; later writes reject; everything is freed", async () => {
    let conn: Connection | undefined;
    const s = await startServer((req) =>
      req.takeover((c) => {
        conn = c;
        void c.write("hi");
      }),
    );
    const r = await Raw.connect(s.port);
    r.write(httpRequest("GET", "/"));
    await r.waitText("hi");
    r.destroy();
    await withTimeout(conn!.closed, 2000, "conn.closed after the client left");
    expect(conn!.isClosed).toBe(true);
    await expect(conn!.write("late")).rejects.toThrow(/closed/);
    conn!.close(); // harmless now
    await settled(s);
  });

  test("a client that half-closes: the bytes it sent first still reach ondata, then the connection closes", async () => {
    let conn: Connection | undefined;
    const got: string[] = [];
    const s = await startServer((req) =>
      req.takeover((c) => {
        conn = c;
        c.ondata = (chunk) => got.push(text(chunk));
      }),
    );
    const r = await Raw.connect(s.port);
    r.write(httpRequest("GET", "/"));
    await until(() => conn !== undefined, 2000, "the takeover");
    r.socket.end("last words");
    await withTimeout(conn!.closed, 2000, "conn.closed after the client's FIN");
    expect(got.join("")).toBe("last words");
    await r.waitClosed();
    await settled(s);
  });

  test("a takeover behind a pipelined response not yet sent waits for it: that response first, complete, then the handler's bytes", async () => {
    let slowDone = 0;
    let takenAt = 0;
    const s = await startServer((req) => {
      if (req.string(req.path) === "/slow") {
        return sleep(150).then(() => {
          slowDone = performance.now();
          return rawResponse(200, "OK", { "Content-Type": "text/plain" }, "first, slowly");
        });
      }
      return req.takeover((c) => {
        takenAt = performance.now();
        void c.write("TAKEN").then(() => c.close());
      });
    });
    const r = await Raw.connect(s.port);
    r.write(concat(httpRequest("GET", "/slow"), httpRequest("GET", "/take")));
    await r.waitClosed();
    const all = r.bytes();
    expect(text(all).endsWith("TAKEN")).toBe(true);
    const { responses, rest } = parseResponses(all.subarray(0, all.length - 5));
    expect(responses.length).toBe(1);
    expect(rest.length).toBe(0);
    expect(responses[0]!.status).toBe(200);
    expect(responses[0]!.text).toBe("first, slowly");
    // The hand-over follows the earlier response at once, not at the loop's next timer tick.
    const lag = takenAt - slowDone;
    console.log(`takeover behind an async response: fn called ${lag.toFixed(1)} ms after that response`);
    expect(lag).toBeLessThan(50);
    await settled(s);
  });

  test("a takeover pipelined behind a stream starts as soon as the stream ends", async () => {
    let endedAt = 0;
    let takenAt = 0;
    const s = await startServer((req) => {
      if (req.string(req.path) === "/stream") {
        return req.stream(200, {}, async (c) => {
          await c.write("streamed");
          await sleep(100);
          endedAt = performance.now();
          c.end();
        });
      }
      return req.takeover((c) => {
        takenAt = performance.now();
        void c.write("TAKEN").then(() => c.close());
      });
    });
    const r = await Raw.connect(s.port);
    r.write(concat(httpRequest("GET", "/stream"), httpRequest("GET", "/take")));
    await r.waitClosed();
    const all = r.bytes();
    expect(text(all).endsWith("TAKEN")).toBe(true);
    const { responses, rest } = parseResponses(all.subarray(0, all.length - 5));
    expect(rest.length).toBe(0);
    expect(responses.map((x) => x.text)).toEqual(["streamed"]);
    const lag = takenAt - endedAt;
    console.log(`takeover behind a stream: fn called ${lag.toFixed(1)} ms after conn.end()`);
    expect(lag).toBeLessThan(50);
    await settled(s);
  });

  test("a request pipelined behind a takeover never gets an HTTP response in the taken-over stream; all is freed at close", async () => {
    // The core parses every complete request of a read before any handler runs, so a request
    // sent right behind the takeover request is dispatched before the takeover is known. What
    // must hold whatever the core does with it: no response of it reaches the client, and
    // nothing is leaked. What happens to it is logged (see the README).
    let afterRan = false;
    let held = -1;
    const got: Uint8Array[] = [];
    let conn: Connection | undefined;
    const s = await startServer((req) => {
      if (req.string(req.path) === "/after") {
        afterRan = true;
        return req.response(200, "MUST NOT APPEAR");
      }
      return req.takeover((c) => {
        conn = c;
        c.ondata = (chunk) => got.push(chunk);
        void c.write("TAKEN");
      });
    });
    const r = await Raw.connect(s.port);
    r.write(concat(httpRequest("GET", "/take"), httpRequest("GET", "/after")));
    await r.waitText("TAKEN");
    await sleep(50);
    held = s.server.stats().slabsInUse;
    conn!.close();
    await r.waitClosed();
    expect(r.text()).toBe("TAKEN");
    console.log(
      `request pipelined behind a takeover: handler ran=${afterRan}, its slabs held while taken over=${held}, ` +
        `its bytes reached ondata=${text(concat(...got)).includes("/after")}`,
    );
    await settled(s);
  });

  test("the arena is released at the hand-over (poisoned with FASTHTTP_DEBUG_ARENA=1)", async () => {
    const prev = process.env.FASTHTTP_DEBUG_ARENA;
    process.env.FASTHTTP_DEBUG_ARENA = "1";
    let s: TestServer;
    try {
      let seen: number[] = [];
      let inUse = -1;
      s = await startServer((req) => {
        const r = req;
        return req.takeover((c) => {
          seen = [...r.buffer.subarray(0, 4)];
          inUse = s.server.stats().slabsInUse;
          c.close();
        });
      });
      const res = await rawRequest(s.port, httpRequest("GET", "/"));
      expect(res.closedByServer).toBe(true);
      expect(inUse).toBe(0);
      expect(seen).toEqual([0xdb, 0xdb, 0xdb, 0xdb]);
      await settled(s);
    } finally {
      if (prev === undefined) delete process.env.FASTHTTP_DEBUG_ARENA;
      else process.env.FASTHTTP_DEBUG_ARENA = prev;
    }
  });

  test("idle and header timeouts do not apply to a taken-over connection or a stream", async () => {
    const s = await startServer(
      (req) => {
        if (req.string(req.path) === "/stream") {
          return req.stream(200, {}, async (c) => {
            await c.write("a");
            await sleep(600);
            await c.write("b");
          });
        }
        return req.takeover((c) => {
          c.ondata = (chunk) => void c.write(chunk);
        });
      },
      { idleTimeout: 0.2, headerTimeout: 0.2 },
    );
    const r = await Raw.connect(s.port);
    r.write(concat(httpRequest("GET", "/take"), "partial HTTP-looking head without an end"));
    await r.waitText("without an end");
    await sleep(600);
    expect(r.closed).toBe(false);
    r.write("still here");
    await r.waitText("still here");
    r.destroy();
    const c = await Client.connect(s.port);
    const res = await c.request(httpRequest("GET", "/stream"), { timeoutMs: 3000 });
    expect(res.text).toBe("ab");
    c.destroy();
    await settled(s);
  });

  test("server.stop() closes a taken-over connection", async () => {
    let conn: Connection | undefined;
    const s = await startServer((req) => req.takeover((c) => void (conn = c)));
    const r = await Raw.connect(s.port);
    r.write(httpRequest("GET", "/"));
    await until(() => conn !== undefined, 2000, "the takeover");
    await s.stop();
    await withTimeout(conn!.closed, 2000, "conn.closed at stop()");
    await r.waitClosed();
  });
});

describe("reusable takeover", () => {
  test("the handler writes its response; the next pipelined request is served on the same connection", async () => {
    let conn: Connection | undefined;
    const s = await startServer((req) => {
      if (req.string(req.path) === "/own") {
        return req.takeover(
          async (c) => {
            conn = c;
            await c.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
            await sleep(30);
            await c.write("by my");
            await c.write("self");
            await c.write("\n");
          },
          { reusable: true },
        );
      }
      return req.response(200, `next ${req.string(req.path)}`);
    });
    const c = await Client.connect(s.port);
    await c.write(concat(httpRequest("GET", "/own"), httpRequest("GET", "/after")));
    const [own, after] = await c.next(2);
    expect(own!.status).toBe(200);
    expect(own!.text).toBe("by myself\n");
    expect(after!.text).toBe("next /after");
    expect(conn!.mode).toBe("reusable");
    await withTimeout(conn!.closed, 1000, "the reusable takeover to end");
    expect(await c.waitClosed(100)).toBe(false);
    const again = await c.request(httpRequest("GET", "/again"));
    expect(again.text).toBe("next /again");
    c.destroy();
    await settled(s);
  });

  test("conn.end() hands the connection back before the callback settles", async () => {
    const s = await startServer((req) => {
      if (req.string(req.path) === "/own") {
        return req.takeover(
          (c) => {
            void c.write(rawResponse(200, "OK", {}, "mine"));
            c.end();
            return new Promise(() => {}); // never settles
          },
          { reusable: true },
        );
      }
      return req.response(200, "theirs");
    });
    const c = await Client.connect(s.port);
    await c.write(concat(httpRequest("GET", "/own"), httpRequest("GET", "/x")));
    const [a, b] = await c.next(2);
    expect(a!.text).toBe("mine");
    expect(b!.text).toBe("theirs");
    c.destroy();
    await settled(s);
  });
});

describe("misuse", () => {
  test("takeover() called but something else returned: 500, logged, the connection carries on", async () => {
    await capturingErrors(async (errors) => {
      let called = false;
      const s = await startServer((req) => {
        if (req.string(req.path) === "/bad") {
          req.takeover(() => void (called = true));
          return req.response(200, "not the marker");
        }
        return req.response(200, "fine");
      });
      const c = await Client.connect(s.port);
      const bad = await c.request(httpRequest("GET", "/bad"));
      expect(bad.status).toBe(500);
      expect(errors.join("\n")).toMatch(/takeover\(\) for GET \/bad but did not return its result/);
      const fine = await c.request(httpRequest("GET", "/fine"));
      expect(fine.text).toBe("fine");
      expect(called).toBe(false);
      c.destroy();
      await settled(s);
    });
  });

  test("HANDED_OVER returned without a takeover: 500, logged", async () => {
    await capturingErrors(async (errors) => {
      const s = await startServer((req) => (req.string(req.path) === "/bad" ? HANDED_OVER : req.response(200, "fine")));
      const c = await Client.connect(s.port);
      expect((await c.request(httpRequest("GET", "/bad"))).status).toBe(500);
      expect(errors.join("\n")).toMatch(/returned HANDED_OVER for GET \/bad without handing the request over/);
      expect((await c.request(httpRequest("GET", "/"))).text).toBe("fine");
      c.destroy();
      await settled(s);
    });
  });

  test("a second takeover(), stream() or sendFile() on the same request throws; the first stands", async () => {
    const thrown: string[] = [];
    const s = await startServer((req) => {
      const first = req.takeover((c) => void c.write(rawResponse(200, "OK", {}, "first")).then(() => c.end()), { reusable: true });
      for (const again of [
        () => req.takeover(() => {}),
        () => req.stream(200, {}, () => {}),
        () => req.sendFile(import.meta.path),
      ]) {
        try {
          again();
          thrown.push("no throw");
        } catch (e) {
          thrown.push((e as Error).message);
        }
      }
      return first;
    });
    const c = await Client.connect(s.port);
    const res = await c.request(httpRequest("GET", "/"));
    expect(res.text).toBe("first");
    expect(thrown).toEqual(Array(3).fill("fasthttp: this request was already handed over (takeover, stream or sendFile)"));
    c.destroy();
    await settled(s);
  });

  test("a takeover callback that throws: logged, the connection closed", async () => {
    await capturingErrors(async (errors) => {
      const s = await startServer((req) =>
        req.takeover(() => {
          throw new Error("boom");
        }),
      );
      const res = await rawRequest(s.port, httpRequest("GET", "/"));
      expect(res.closedByServer).toBe(true);
      expect(res.data.length).toBe(0);
      expect(errors.join("\n")).toMatch(/takeover callback failed/);
      await settled(s);
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe("req.stream()", () => {
  test("chunked framing, parseable; the connection serves the next request", async () => {
    const big = new Uint8Array(5000).map((_, i) => i % 251);
    const s = await startServer((req) => {
      if (req.string(req.path) !== "/s") return req.response(200, "after");
      return req.stream(200, { "Content-Type": "application/octet-stream", "X-Kind": "stream" }, async (c) => {
        await c.write("a");
        await c.write("");
        await c.write("héllo");
        await sleep(10);
        await c.write(big);
      });
    });
    const c = await Client.connect(s.port);
    await c.write(concat(httpRequest("GET", "/s"), httpRequest("GET", "/next")));
    const [res, after] = await c.next(2);
    expect(res!.status).toBe(200);
    expect(res!.headers["transfer-encoding"]).toBe("chunked");
    expect(res!.headers["content-length"]).toBeUndefined();
    expect(res!.headers["x-kind"]).toBe("stream");
    expect(res!.headers["date"]).toBeDefined();
    expect([...res!.body]).toEqual([...concat("a", "héllo", big)]);
    // The exact wire framing: one chunk per non-empty write, then the last chunk.
    const raw = text(res!.raw);
    const body = raw.slice(raw.indexOf("\r\n\r\n") + 4);
    expect(body.startsWith(`1\r\na\r\n6\r\nhéllo\r\n${(5000).toString(16)}\r\n`)).toBe(true);
    expect(body.endsWith("\r\n0\r\n\r\n")).toBe(true);
    expect(after!.text).toBe("after");
    c.destroy();
    await settled(s);
  });

  test("the arena is kept while the stream runs, released when it ends", async () => {
    let during = -1;
    const s = await startServer((req) =>
      req.stream(200, {}, async (c) => {
        await c.write("x");
        during = s.server.stats().slabsInUse;
      }),
    );
    const c = await Client.connect(s.port);
    const res = await c.request(httpRequest("GET", "/"));
    expect(res.text).toBe("x");
    expect(during).toBe(1);
    c.destroy();
    await settled(s);
  });

  test("HEAD gets the head only; the next response follows at once", async () => {
    let wrote = false;
    const s = await startServer((req) => {
      if (req.string(req.path) !== "/s") return req.response(200, "next");
      return req.stream(200, { "Content-Type": "text/plain" }, async (c) => {
        await c.write("body that must not be sent");
        wrote = true;
      });
    });
    const r = await Raw.connect(s.port);
    r.write(concat(httpRequest("HEAD", "/s"), httpRequest("GET", "/n")));
    await r.waitText("next");
    expect(wrote).toBe(true);
    const { responses, rest } = parseResponses(r.bytes(), { noBody: [true, false] });
    expect(responses.length).toBe(2);
    expect(rest.length).toBe(0);
    expect(responses[0]!.status).toBe(200);
    expect(responses[0]!.headers["content-type"]).toBe("text/plain");
    expect(r.text()).not.toContain("must not");
    expect(responses[1]!.text).toBe("next");
    r.destroy();
    await settled(s);
  });

  test("HTTP/1.0 gets the body unframed, Connection: close, and the connection closes after it", async () => {
    const s = await startServer((req) =>
      req.stream(200, {}, async (c) => {
        await c.write("one ");
        await c.write("two");
      }),
    );
    for (const extra of ["", "Connection: keep-alive\r\n"]) {
      const res = await rawRequest(s.port, `GET / HTTP/1.0\r\n${extra}\r\n`);
      expect(res.closedByServer).toBe(true);
      const { responses } = parseResponses(res.data, { closed: true });
      expect(responses.length).toBe(1);
      expect(responses[0]!.headers["transfer-encoding"]).toBeUndefined();
      expect(responses[0]!.headers["connection"]).toBe("close");
      expect(responses[0]!.headerList.filter(([n]) => n.toLowerCase() === "connection").length).toBe(1);
      expect(responses[0]!.text).toBe("one two");
    }
    await settled(s);
  });

  test("backpressure: awaiting write() waits for a paused client; on resume every byte arrives intact", async () => {
    const CHUNK = 64 * 1024;
    const COUNT = 160; // 10 MiB
    let resolved = 0;
    let finished = false;
    const s = await startServer((req) =>
      req.stream(200, { "Content-Type": "application/octet-stream" }, async (c) => {
        for (let i = 0; i < COUNT; i++) {
          await c.write(new Uint8Array(CHUNK).fill(i & 0xff));
          resolved++;
        }
        finished = true;
      }),
    );
    const r = await Raw.connect(s.port);
    r.socket.pause();
    r.write(httpRequest("GET", "/"));
    // Let the writer run until the kernel's buffers are full and it stops.
    let last = -1;
    for (let i = 0; i < 100 && resolved !== last; i++) {
      last = resolved;
      await sleep(100);
    }
    const whilePaused = resolved;
    console.log(`backpressure: ${whilePaused} of ${COUNT} writes (${((whilePaused * CHUNK) / 2 ** 20).toFixed(1)} MiB) resolved while the client was paused`);
    expect(whilePaused).toBeLessThan(COUNT / 2);
    expect(finished).toBe(false);
    r.socket.resume();
    await until(() => finished, 10000, "the writer to finish after resume");
    await until(() => r.text().endsWith("\r\n0\r\n\r\n"), 10000, "the last chunk");
    const { responses, rest } = parseResponses(r.bytes());
    expect(rest.length).toBe(0);
    const body = responses[0]!.body;
    expect(body.length).toBe(CHUNK * COUNT);
    for (let i = 0; i < COUNT; i++) {
      const part = body.subarray(i * CHUNK, (i + 1) * CHUNK);
      if (part[0] !== (i & 0xff) || part[CHUNK - 1] !== (i & 0xff) || part.some((b) => b !== (i & 0xff))) {
        throw new Error(`chunk ${i} arrived damaged`);
      }
    }
    r.destroy();
    await settled(s);
  });

  test("a client that disconnects while the stream is blocked: write() rejects, conn.closed resolves, all freed", async () => {
    let conn: Connection | undefined;
    let failure: unknown;
    const s = await startServer((req) =>
      req.stream(200, {}, async (c) => {
        conn = c;
        try {
          for (;;) await c.write(new Uint8Array(256 * 1024));
        } catch (e) {
          failure = e;
        }
      }),
    );
    const r = await Raw.connect(s.port);
    r.socket.pause();
    r.write(httpRequest("GET", "/"));
    await sleep(200);
    r.destroy();
    await until(() => failure !== undefined, 3000, "write() to reject");
    expect(String(failure)).toMatch(/closed/);
    await withTimeout(conn!.closed, 2000, "conn.closed");
    await settled(s);
  });

  test("a client that disconnects between slow writes (an SSE-like stream): the next writes reject, conn.closed resolves", async () => {
    let conn: Connection | undefined;
    let failure: unknown;
    const s = await startServer((req) =>
      req.stream(200, { "Content-Type": "text/event-stream" }, async (c) => {
        conn = c;
        try {
          for (let i = 0; ; i++) {
            await c.write(`data: ${i}\n\n`);
            await sleep(20);
          }
        } catch (e) {
          failure = e;
        }
        await c.closed; // a writer that waits for the end must not wait forever
      }),
    );
    const r = await Raw.connect(s.port);
    r.write(httpRequest("GET", "/"));
    await r.waitText("data: 2");
    r.destroy();
    await until(() => failure !== undefined, 3000, "write() to reject");
    const failedAt = performance.now();
    await withTimeout(conn!.closed, 2000, "conn.closed");
    // A write that finds the connection gone settles `closed` at once, on either backend.
    expect(performance.now() - failedAt).toBeLessThan(50);
    await settled(s);
  });

  test("writeTimeout drops a stream whose client stopped reading: write() rejects, all freed", async () => {
    let failure: unknown;
    const s = await startServer(
      (req) =>
        req.stream(200, {}, async (c) => {
          try {
            for (;;) await c.write(new Uint8Array(256 * 1024));
          } catch (e) {
            failure = e;
          }
        }),
      { writeTimeout: 1 },
    );
    const r = await Raw.connect(s.port);
    r.socket.pause();
    r.write(httpRequest("GET", "/"));
    await until(() => failure !== undefined, 4000, "the write timeout to drop the connection");
    await settled(s);
  });

  test("stop() lets a running stream finish, then stops", async () => {
    let ended = false;
    const s = await startServer((req) =>
      req.stream(200, {}, async (c) => {
        for (let i = 0; i < 5; i++) {
          await c.write(`${i}`);
          await sleep(40);
        }
        ended = true;
      }),
    );
    const c = await Client.connect(s.port);
    await c.write(httpRequest("GET", "/"));
    await sleep(50);
    await s.stop();
    expect(ended).toBe(true);
    const [res] = await c.next(1);
    expect(res!.text).toBe("01234");
    expect(await c.waitClosed(1000)).toBe(true);
  });

  test("a stream whose callback fails mid-body: logged, the body left incomplete, the connection closed", async () => {
    await capturingErrors(async (errors) => {
      const s = await startServer((req) =>
        req.stream(200, {}, async (c) => {
          await c.write("partial");
          throw new Error("broke mid-stream");
        }),
      );
      const res = await rawRequest(s.port, httpRequest("GET", "/"));
      expect(res.closedByServer).toBe(true);
      const t = text(res.data);
      expect(t).toContain("\r\n\r\n7\r\npartial\r\n");
      expect(t.endsWith("0\r\n\r\n")).toBe(false); // no last chunk: the client knows it is incomplete
      expect(errors.join("\n")).toMatch(/a stream callback failed.*broke mid-stream/s);
      await settled(s);
    });
  });

  test("a request with Connection: close gets its stream, then the connection closes", async () => {
    const s = await startServer((req) => req.stream(200, {}, (c) => c.write("bye")));
    const res = await rawRequest(s.port, httpRequest("GET", "/", { headers: { Connection: "close" } }));
    expect(res.closedByServer).toBe(true);
    const { responses, rest } = parseResponses(res.data);
    expect(rest.length).toBe(0);
    expect(responses[0]!.headers["connection"]).toBe("close");
    expect(responses[0]!.headers["transfer-encoding"]).toBe("chunked");
    expect(responses[0]!.text).toBe("bye");
    await settled(s);
  });
});

// ---------------------------------------------------------------------------------------------

describe("req.sendFile()", () => {
  let dir = "";
  const BIG = 50 * 1024 * 1024;
  let bigPath = "";
  let bigHash = "";
  const small = "hello, file\n".repeat(100);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "fasthttp-files-"));
    writeFileSync(join(dir, "a.txt"), small);
    writeFileSync(join(dir, "data.json"), '{"a":1}');
    writeFileSync(join(dir, "blob"), "xyz");
    writeFileSync(join(dir, "x.constructor"), "c");
    writeFileSync(join(dir, "empty.txt"), "");
    mkdirSync(join(dir, "sub"));
    // Position-dependent content: a byte out of place is caught by the hash.
    const big = new Uint8Array(BIG);
    const words = new Uint32Array(big.buffer);
    for (let i = 0; i < words.length; i++) words[i] = i * 2654435761;
    bigPath = join(dir, "big.bin");
    writeFileSync(bigPath, big);
    bigHash = new Bun.CryptoHasher("sha256").update(big).digest("hex");
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const fileServer = (extra: (req: HttpRequest, p: string) => Uint8Array | undefined = () => undefined) =>
    startServer((req) => {
      const p = req.string(req.path);
      const r = extra(req, p);
      if (r !== undefined) return r;
      if (p === "/plain") return req.response(200, "plain");
      return req.sendFile(join(dir, p.slice(1)));
    });

  /** Open descriptors of this process that point at `path`. */
  const fdsOn = (path: string) =>
    readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === path;
      } catch {
        return false;
      }
    }).length;

  test("the bytes, Content-Length and a Content-Type from the extension; a pipelined request after it is served", async () => {
    const s = await fileServer();
    const c = await Client.connect(s.port);
    await c.write(concat(httpRequest("GET", "/a.txt"), httpRequest("GET", "/data.json"), httpRequest("GET", "/blob"), httpRequest("GET", "/plain")));
    const [a, json, blob, plain] = await c.next(4);
    expect(a!.status).toBe(200);
    expect(a!.text).toBe(small);
    expect(a!.headers["content-length"]).toBe(String(small.length));
    expect(a!.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(a!.headers["date"]).toBeDefined();
    expect(json!.headers["content-type"]).toBe("application/json");
    expect(json!.text).toBe('{"a":1}');
    expect(blob!.headers["content-type"]).toBe("application/octet-stream");
    expect(plain!.text).toBe("plain");
    c.destroy();
    await settled(s);
    expect(fdsOn(join(dir, "a.txt"))).toBe(0);
  });

  test("status and headers from the options; an empty file; an extension that names an Object property", async () => {
    const s = await fileServer((req, p) => {
      if (p === "/custom") return req.sendFile(join(dir, "blob"), { status: 203, headers: { "Content-Type": "text/x-custom", "X-A": "1" } });
      if (p === "/304" || p === "/204") return req.sendFile(join(dir, "a.txt"), { status: Number(p.slice(1)) });
      return undefined;
    });
    const c = await Client.connect(s.port);
    const custom = await c.request(httpRequest("GET", "/custom"));
    expect(custom.status).toBe(203);
    expect(custom.headers["content-type"]).toBe("text/x-custom");
    expect(custom.headerList.filter(([n]) => n.toLowerCase() === "content-type").length).toBe(1);
    expect(custom.headers["x-a"]).toBe("1");
    expect(custom.text).toBe("xyz");
    const empty = await c.request(httpRequest("GET", "/empty.txt"));
    expect(empty.headers["content-length"]).toBe("0");
    expect(empty.body.length).toBe(0);
    // A status without a body: the head only, or the file's bytes would be read as the next response.
    const r304 = await c.request(httpRequest("GET", "/304"));
    expect(r304.status).toBe(304);
    const r204 = await c.request(httpRequest("GET", "/204"));
    expect(r204.status).toBe(204);
    expect(r204.headers["content-length"]).toBeUndefined();
    const odd = await c.request(httpRequest("GET", "/x.constructor"));
    expect(odd.status).toBe(200);
    expect(odd.headers["content-type"]).toBe("application/octet-stream");
    expect(odd.text).toBe("c");
    c.destroy();
    await settled(s);
  });

  test("HEAD: the headers only (with the file's Content-Length); the next request is served", async () => {
    const s = await fileServer();
    const c = await Client.connect(s.port);
    await c.write(concat(httpRequest("HEAD", "/a.txt"), httpRequest("GET", "/plain")));
    const [head, plain] = await c.next(2, { noBody: [true, false] });
    expect(head!.status).toBe(200);
    expect(head!.headers["content-length"]).toBe(String(small.length));
    expect(head!.body.length).toBe(0);
    expect(plain!.text).toBe("plain"); // nothing of the file came between
    c.destroy();
    await settled(s);
    expect(fdsOn(join(dir, "a.txt"))).toBe(0);
  });

  test("missing file and directory: 404 before any byte; the connection carries on", async () => {
    const s = await fileServer();
    const c = await Client.connect(s.port);
    for (const p of ["/nope.txt", "/sub", "/sub/"]) {
      const res = await c.request(httpRequest("GET", p));
      expect(res.status).toBe(404);
      expect(res.headers["content-length"]).toBe(String(res.body.length));
    }
    expect((await c.request(httpRequest("GET", "/plain"))).text).toBe("plain");
    c.destroy();
    await settled(s);
  });

  test("a bad header in the options: 500, and the file is not left open", async () => {
    await capturingErrors(async (errors) => {
      const target = join(dir, "blob");
      const s = await fileServer((req, p) => (p === "/bad" ? req.sendFile(target, { headers: { "X-A": "a\r\nb" } }) : undefined));
      const c = await Client.connect(s.port);
      const res = await c.request(httpRequest("GET", "/bad"));
      expect(res.status).toBe(500);
      expect(errors.length).toBeGreaterThan(0);
      expect(fdsOn(target)).toBe(0);
      c.destroy();
      await settled(s);
    });
  });

  test("a 50 MiB file to a slow reader arrives intact, while another connection is served meanwhile", async () => {
    const s = await fileServer();
    const r = await Raw.connect(s.port);
    const hasher = new Bun.CryptoHasher("sha256");
    let head = null as string | null;
    let pending: Uint8Array = new Uint8Array(0);
    let bodyBytes = 0;
    r.onData((chunk) => {
      if (head === null) {
        pending = concat(pending, chunk);
        const at = text(pending).indexOf("\r\n\r\n");
        if (at < 0) return;
        head = text(pending.subarray(0, at));
        chunk = pending.subarray(at + 4);
      }
      bodyBytes += chunk.length;
      hasher.update(chunk);
    });
    r.socket.pause();
    r.write(httpRequest("GET", "/big.bin"));
    await sleep(300);
    const whilePaused = s.server.stats();
    expect(whilePaused.connections).toBe(1);
    // Meanwhile another client is served at once.
    const t0 = performance.now();
    const other = await rawRequest(s.port, concat(httpRequest("GET", "/a.txt", { headers: { Connection: "close" } })));
    const otherMs = performance.now() - t0;
    expect(parseResponses(other.data).responses[0]!.text).toBe(small);
    expect(otherMs).toBeLessThan(1000);
    r.socket.resume();
    await until(() => bodyBytes >= BIG, 15000, `the whole file (got ${bodyBytes} bytes)`);
    expect(head).toContain(`Content-Length: ${BIG}`);
    expect(head).toContain("Content-Type: application/octet-stream");
    expect(bodyBytes).toBe(BIG);
    expect(hasher.digest("hex")).toBe(bigHash);
    r.destroy();
    await settled(s);
    expect(fdsOn(bigPath)).toBe(0);
  });

  test("a client that disconnects mid-file: connection, slabs and the file's descriptor are all freed", async () => {
    const s = await fileServer();
    const baseline = readdirSync("/proc/self/fd").length;
    const r = await Raw.connect(s.port);
    r.socket.pause();
    r.write(httpRequest("GET", "/big.bin"));
    await until(() => fdsOn(bigPath) === 1, 2000, "the file to be open");
    await sleep(200);
    expect(s.server.stats().connections).toBe(1);
    r.destroy();
    await settled(s);
    await until(() => fdsOn(bigPath) === 0, 2000, "the file's descriptor to be closed");
    await until(() => readdirSync("/proc/self/fd").length <= baseline, 2000, "the descriptor count back to its baseline");
  });

  test("a FIFO is refused (404) without blocking the loop on open()", async () => {
    const fifo = join(dir, "fifo");
    const mk = spawn("mkfifo", [fifo]);
    const ok = await new Promise<boolean>((resolve) => {
      mk.on("exit", (code) => resolve(code === 0));
      mk.on("error", () => resolve(false));
    });
    if (!ok) {
      console.warn("mkfifo is unavailable: the FIFO case is not checked");
      return;
    }
    // open() on a FIFO blocks until a writer comes: run the server in a child, bounded.
    const code = `
      import { newServer } from ${JSON.stringify(join(import.meta.dir, "../src/index.ts"))};
      const s = newServer({ port: 0, host: "127.0.0.1", handler: (req) => req.sendFile(${JSON.stringify(fifo)}) });
      s.run();
      const res = await fetch("http://127.0.0.1:" + s.port + "/");
      console.log("status " + res.status);
      await s.stop();
      process.exit(0);
    `;
    const child = Bun.spawn([process.execPath, "-e", code], { stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => child.kill(9), 4000);
    const out = await new Response(child.stdout).text();
    await child.exited;
    clearTimeout(timer);
    expect(out.trim()).toBe("status 404");
  });

  test("an unreadable file: 403 before any byte (served after dropping root, since root reads mode 000)", async () => {
    const isRoot = process.getuid?.() === 0;
    const locked = join(dir, "locked.txt");
    writeFileSync(locked, "secret");
    chmodSync(locked, 0o000);
    chmodSync(dir, 0o755);
    // Root reads a mode-000 file, so a root child loads the modules and compiles the core
    // first (the checkout may sit in a directory only root can read, e.g. a 0700 mktemp -d)
    // and then drops to uid/gid 65534 before the request, as a server dropping privileges
    // after start-up does: open() then runs as nobody.
    const drop = isRoot ? "process.setgid(65534); process.setgroups([]); process.setuid(65534);" : "";
    const code = `
      import { newServer } from ${JSON.stringify(join(import.meta.dir, "../src/index.ts"))};
      const s = newServer({ port: 0, host: "127.0.0.1", handler: (req) => req.sendFile(${JSON.stringify(locked)}) });
      s.run();
      ${drop}
      if (${isRoot} && process.geteuid() !== 65534) throw new Error("still root");
      const res = await fetch("http://127.0.0.1:" + s.port + "/");
      console.log("status " + res.status + " " + JSON.stringify(await res.text()));
      await s.stop();
      process.exit(0);
    `;
    const child = Bun.spawn([process.execPath, "-e", code], { stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => child.kill(9), 10000);
    const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
    await child.exited;
    clearTimeout(timer);
    expect({ out: out.trim(), err: err.trim() }).toEqual({ out: 'status 403 "Forbidden\\n"', err: "" });
  });
});
