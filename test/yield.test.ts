/**
 * The batch loop yields to Bun's event loop in the middle of a batch: a long
 * batch (slow handlers, many pipelined requests) lets timers run every few
 * milliseconds, answers every request in order, and survives a stop(), a
 * stop(true) or a close (what a worker does when its thread exits) that comes
 * during one of its yields.
 */
import { afterEach, describe, expect, test } from "bun:test";
import net from "node:net";
import { cleanup, httpRequest, sleep, startServer, until } from "./helpers/net.ts";

afterEach(cleanup);

/** A handler that takes about `us` microseconds and answers with its path. */
function slow(us: number, seen: string[]) {
  return (req: import("../src/index.ts").HttpRequest) => {
    const end = performance.now() + us / 1000;
    while (performance.now() < end) {}
    const path = req.string(req.path);
    seen.push(path);
    return req.response(200, `${path}\n`);
  };
}

/** Sends `n` pipelined GETs in one write; collects what comes back. */
async function pipeline(port: number, n: number): Promise<{ sock: net.Socket; got: () => string; closed: Promise<void> }> {
  const sock = net.connect({ port, host: "127.0.0.1" });
  let data = "";
  sock.on("data", (b) => (data += b.toString("latin1")));
  sock.on("error", () => {});
  const closed = new Promise<void>((r) => sock.on("close", () => r()));
  await new Promise<void>((r) => sock.once("connect", () => r()));
  const reqs: Uint8Array[] = [];
  for (let i = 0; i < n; i++) reqs.push(httpRequest("GET", `/${i}`));
  sock.write(Buffer.concat(reqs));
  return { sock, got: () => data, closed };
}

const count = (s: string) => s.split("HTTP/1.1 200 OK").length - 1;

describe("yielding in the middle of a batch", () => {
  test("a 5 ms timer keeps firing through a 400-request batch of 100 µs handlers; every answer, in order", async () => {
    const seen: string[] = [];
    const s = await startServer(slow(100, seen));
    const gaps: number[] = [];
    let last = performance.now();
    const t = setInterval(() => {
      const now = performance.now();
      gaps.push(now - last);
      last = now;
    }, 5);
    const c = await pipeline(s.port, 400);
    const all = await until(() => count(c.got()) === 400, 10000);
    clearInterval(t);
    expect(all).toBe(true);
    // Without a yield inside the batch the timer would wait for the whole batch (~40 ms).
    expect(gaps.length).toBeGreaterThan(3);
    expect(Math.max(...gaps)).toBeLessThan(25);
    const paths = [...c.got().matchAll(/\r\n\r\n(\/\d+)\n/g)].map((m) => m[1]);
    expect(paths).toEqual(Array.from({ length: 400 }, (_, i) => `/${i}`));
    c.sock.destroy();
  });

  test("stop() during a yield: the rest of the batch is answered, then the server stops", async () => {
    const seen: string[] = [];
    const s = await startServer(slow(100, seen));
    const c = await pipeline(s.port, 300);
    expect(await until(() => seen.length > 0, 5000, 1)).toBe(true);
    await sleep(3); // the batch has yielded at least once
    const atStop = seen.length;
    expect(atStop).toBeLessThan(300);
    await s.server.stop();
    await s.done;
    await c.closed;
    // Every request already handed to JavaScript is answered (those the core had not parsed yet are not in flight).
    expect(seen.length).toBeGreaterThan(atStop);
    expect(count(c.got())).toBe(seen.length);
    expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => `/${i}`));
  });

  test("stop() from a handler in the middle of a pipelined batch: every request of the batch is answered", async () => {
    const seen: string[] = [];
    let stopped = false;
    const work = slow(10, seen);
    const s = await startServer((req) => {
      const res = work(req);
      if (seen.length === 20 && !stopped) {
        stopped = true;
        void s.server.stop();
      }
      return res;
    });
    const c = await pipeline(s.port, 60);
    await s.done;
    await c.closed;
    expect(stopped).toBe(true);
    expect(seen.length).toBeGreaterThan(20);
    expect(count(c.got())).toBe(seen.length);
  });

  test("stop(true) during a yield: the server stops at once and nothing is left held", async () => {
    const seen: string[] = [];
    const s = await startServer(slow(100, seen));
    const c = await pipeline(s.port, 300);
    expect(await until(() => seen.length > 0, 5000, 1)).toBe(true);
    await sleep(3);
    await s.server.stop(true);
    await s.done;
    await c.closed;
    expect(count(c.got())).toBeLessThan(300);
    expect(s.server.stats().connections).toBe(0);
  });

  test("closed during a yield (a worker's exit): no handler runs after it, nothing touches the freed server", async () => {
    const seen: string[] = [];
    const s = await startServer(slow(100, seen));
    const c = await pipeline(s.port, 300);
    expect(await until(() => seen.length > 0, 5000, 1)).toBe(true);
    await sleep(3);
    (s.server as unknown as { _closeNow(): void })._closeNow();
    const ran = seen.length;
    expect(ran).toBeLessThan(300);
    await s.done;
    await sleep(50);
    expect(seen.length).toBe(ran);
    await c.closed;
  });
});
