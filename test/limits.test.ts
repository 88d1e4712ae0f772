/**
 * Timeouts and connection limits (issue 3): the slowloris defence
 * (headerTimeout), idle keep-alive connections, stalled bodies, peers that
 * stop reading (writeTimeout), and maxConnections. Timeouts are set short
 * here; the sweep that enforces them runs four times per shortest timeout.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { newServer } from "../src/index.ts";
import { Client, cleanup, httpRequest, rawRequest, sleep, startServer, text, until, utf8 } from "./helpers/net.ts";

afterEach(cleanup);

const ok = () => utf8("ok");


describe("headerTimeout", () => {
  test("a head trickled byte by byte gets 408 and close, while other clients are served", async () => {
    const s = await startServer(ok, { headerTimeout: 0.3 });
    const slow = await Client.connect(s.port);
    const head = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + "a".repeat(100);
    let i = 0;
    const started = Date.now();
    const trickle = setInterval(() => {
      if (!slow.closed && i < head.length) slow.socket.write(head[i++]!);
    }, 50);
    try {
      // Meanwhile a normal client gets its answer at once.
      const other = await Client.connect(s.port);
      const res = await other.request(httpRequest("GET", "/"));
      expect(res.status).toBe(200);
      expect(await slow.waitClosed(3000)).toBe(true);
    } finally {
      clearInterval(trickle);
    }
    const elapsed = Date.now() - started;
    const [res] = await slow.next(1).catch(() => [undefined]);
    expect(res?.status).toBe(408);
    expect(res?.headers["connection"]).toBe("close");
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(i).toBeLessThan(head.length); // cut off before the head could ever complete
  });

  test("0 disables it: a half-sent head is still waited for", async () => {
    const s = await startServer(ok, { headerTimeout: 0, idleTimeout: 0 });
    const c = await Client.connect(s.port);
    await c.write("GET / HTTP/1.1\r\nHost: x\r\n");
    expect(await c.waitClosed(600)).toBe(false);
    const [res] = await (async () => {
      await c.write("\r\n");
      return c.next(1);
    })();
    expect(res!.status).toBe(200);
  });
});

describe("idleTimeout", () => {
  test("an idle keep-alive connection is closed; a busy one is not", async () => {
    const s = await startServer(ok, { idleTimeout: 0.3 });
    const idle = await Client.connect(s.port);
    expect((await idle.request(httpRequest("GET", "/"))).status).toBe(200);
    const busy = await Client.connect(s.port);
    const started = Date.now();
    // The busy client sends a request every 100 ms for 900 ms: never idle for 300 ms.
    while (Date.now() - started < 900) {
      expect((await busy.request(httpRequest("GET", "/"))).status).toBe(200);
      await sleep(100);
    }
    expect(idle.closed).toBe(true);
    expect(busy.closed).toBe(false);
    expect(await until(() => s.server.stats().connections === 1, 1000)).toBe(true);
  });

  test("a body that stops arriving gets 408 and close", async () => {
    const s = await startServer(ok, { idleTimeout: 0.3, headerTimeout: 5 });
    const c = await Client.connect(s.port);
    await c.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    expect(await c.waitClosed(3000)).toBe(true);
    const [res] = await c.next(1);
    expect(res!.status).toBe(408);
  });
});

describe("writeTimeout", () => {
  test("a peer that never reads a large response is dropped and its arena comes back", async () => {
    const big = new Uint8Array(32 * 1024 * 1024).fill(120);
    const s = await startServer(() => big, { writeTimeout: 0.4 });
    const c = await Client.connect(s.port);
    c.pause(); // never read
    await c.write(httpRequest("GET", "/"));
    expect(await until(() => s.server.stats().connections === 1, 1000)).toBe(true);
    await sleep(200);
    expect(s.server.stats().connections).toBe(1); // still trying to write
    expect(await until(() => s.server.stats().connections === 0, 3000)).toBe(true);
    expect(s.server.stats().slabsInUse).toBe(0);
    c.destroy();
    // And the server still serves.
    const r = await rawRequest(s.port, httpRequest("GET", "/", { headers: { Connection: "close" } }), { timeoutMs: 3000 });
    expect(text(r.data.subarray(0, 15))).toBe("HTTP/1.1 200 OK");
  });
});

describe("maxConnections", () => {
  test("past the cap a new connection gets 503 and close; the others keep working", async () => {
    const s = await startServer(ok, { maxConnections: 2 });
    const a = await Client.connect(s.port);
    const b = await Client.connect(s.port);
    expect((await a.request(httpRequest("GET", "/"))).status).toBe(200);
    expect((await b.request(httpRequest("GET", "/"))).status).toBe(200);
    const third = await rawRequest(s.port, httpRequest("GET", "/"), { timeoutMs: 2000 });
    expect(third.closedByServer).toBe(true);
    expect(text(third.data)).toStartWith("HTTP/1.1 503 ");
    expect((await a.request(httpRequest("GET", "/"))).status).toBe(200);
    b.destroy();
    expect(await until(() => s.server.stats().connections <= 1, 2000)).toBe(true);
    const fourth = await Client.connect(s.port);
    expect((await fourth.request(httpRequest("GET", "/"))).status).toBe(200);
  });
});

describe("config validation of limits", () => {
  const handler = ok;
  test.each([
    ["headerTimeout", -1],
    ["headerTimeout", "10"],
    ["idleTimeout", Number.NaN],
    ["writeTimeout", 1e9],
    ["maxConnections", -1],
    ["maxConnections", 1.5],
    ["maxHeaderSize", 10],
    ["maxRequestBodySize", -5],
  ] as [string, unknown][])("%p = %p throws, naming the field", (field, value) => {
    expect(() => newServer({ handler, [field]: value } as never)).toThrow(field);
  });
  test("an unknown option is refused by name", () => {
    expect(() => newServer({ handler, prot: 3000 } as never)).toThrow("prot");
  });
});
