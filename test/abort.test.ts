/**
 * `req.signal` and `req.aborted`: a client that resets while its async
 * handler is at work aborts the request at once (the core's FH_EV_GONE); the
 * signal is made on first access (already aborted if the client has left);
 * the late answer is dropped and the arena freed; a request whose client
 * stays is never aborted, and a pooled request object starts fresh.
 */
import { afterEach, describe, expect, test } from "bun:test";
import net from "node:net";
import type { HttpRequest } from "../src/index.ts";
import { cleanup, httpRequest, sleep, startServer, until } from "./helpers/net.ts";

afterEach(cleanup);

const backend = process.env.FASTHTTP_BACKEND === "kqueue" ? "kqueue" : "epoll";

/** Connects, sends one request, and resolves once it is sent. */
async function send(port: number, path: string): Promise<{ sock: net.Socket; got: () => string }> {
  const sock = net.connect({ port, host: "127.0.0.1" });
  let data = "";
  sock.on("data", (b) => (data += b.toString("latin1")));
  sock.on("error", () => {});
  await new Promise<void>((r) => sock.once("connect", () => r()));
  sock.write(httpRequest("GET", path));
  return { sock, got: () => data };
}

describe(`req.signal (${backend} backend)`, () => {
  test("aborts within 100 ms of the client's reset; the late answer is dropped and everything freed", async () => {
    let started = false;
    let abortedAt = 0;
    let reason: unknown;
    let answered = false;
    const s = await startServer(async (req) => {
      started = true;
      req.signal.addEventListener("abort", () => {
        abortedAt = performance.now();
        reason = req.signal.reason;
      });
      await sleep(300);
      answered = true;
      return req.response(200, req.aborted ? "aborted\n" : "not aborted\n");
    });
    const c = await send(s.port, "/slow");
    expect(await until(() => started, 2000)).toBe(true);
    await sleep(30);
    const reset = performance.now();
    c.sock.resetAndDestroy();
    expect(await until(() => abortedAt > 0, 1000, 2)).toBe(true);
    expect(abortedAt - reset).toBeLessThan(100);
    expect((reason as DOMException).name).toBe("AbortError");
    expect(await until(() => answered, 2000)).toBe(true);
    expect(await until(() => s.server.stats().slabsInUse === 0 && s.server.stats().connections === 0, 2000)).toBe(true);
    expect(c.got()).toBe("");
  });

  test("first asked for after the client left: already aborted", async () => {
    let req: HttpRequest | undefined;
    let seen: { aborted: boolean; signal: boolean } | undefined;
    const s = await startServer(async (r) => {
      req = r;
      await sleep(250);
      seen = { aborted: r.aborted, signal: r.signal.aborted };
      return r.response(200, "late\n");
    });
    const c = await send(s.port, "/");
    expect(await until(() => req !== undefined, 2000)).toBe(true);
    c.sock.resetAndDestroy();
    expect(await until(() => seen !== undefined, 2000)).toBe(true);
    expect(seen).toEqual({ aborted: true, signal: true });
  });

  test("a client that stays: never aborted; the pooled request starts the next one fresh", async () => {
    const states: boolean[] = [];
    let first = true;
    const s = await startServer(async (req) => {
      if (first) {
        first = false;
        req.signal; // made for this request only
      }
      await sleep(20);
      states.push(req.aborted, req.signal.aborted);
      return req.response(200, "ok\n");
    });
    for (let i = 0; i < 3; i++) {
      const c = await send(s.port, `/${i}`);
      expect(await until(() => c.got().includes("ok\n"), 2000)).toBe(true);
      c.sock.destroy();
    }
    expect(states).toEqual([false, false, false, false, false, false]);
  });

  test("a synchronous handler's request is not aborted", async () => {
    let aborted: boolean | undefined;
    const s = await startServer((req) => {
      aborted = req.aborted;
      return req.response(200, "sync\n");
    });
    const c = await send(s.port, "/");
    expect(await until(() => c.got().includes("sync\n"), 2000)).toBe(true);
    c.sock.destroy();
    expect(aborted).toBe(false);
  });
});
