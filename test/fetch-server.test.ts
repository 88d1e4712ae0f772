/**
 * The fetch app's second argument (issue 16): `fetch(request, server)` gets Bun's server surface
 * for the loop serving it: requestIP, timeout, pendingRequests, port/hostname/url, stop, ref/unref,
 * fetch, and the WebSocket members that say WebSockets are not served yet; makeState's state is
 * `server.state`. And Bun.serve's `error` option. (test/parity.test.ts compares the surface's
 * shape with Bun.serve's; this file checks what each member does.)
 */
import { afterEach, describe, expect, test } from "bun:test";
import * as net from "node:net";
import { Hono } from "hono";
import { getConnInfo } from "hono/bun";
import { newServer, type FetchServer, type Server } from "../src/index.ts";
import { Client, cleanup, httpRequest, sleep, until } from "./helpers/net.ts";

afterEach(cleanup);

let servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop(true)));
  servers = [];
});

/** A fetch server on 127.0.0.1, port 0. */
function serve(fetch: (request: Request, server: FetchServer<any>) => Response | Promise<Response>, extra: Record<string, unknown> = {}): Server {
  const server = newServer({ host: "127.0.0.1", port: 0, fetch, ...extra });
  void server.run();
  servers.push(server);
  return server;
}

describe("fetch(request, server)", () => {
  test("requestIP is the client's address and port; null for a Request the server did not make", async () => {
    let seen: unknown;
    let foreign: unknown = "unset";
    const s = serve((request, server) => {
      seen = server.requestIP(request);
      foreign = server.requestIP(new Request("http://x/"));
      return new Response("ok");
    });
    const client = await Client.connect(s.port);
    try {
      await client.request(httpRequest("GET", "/"));
      expect(seen).toEqual({ address: "127.0.0.1", family: "IPv4", port: client.socket.localPort! });
      expect(foreign).toBeNull();
    } finally {
      client.destroy();
    }
  });

  test("Hono's getConnInfo (hono/bun) reads the server from c.env", async () => {
    const app = new Hono().get("/", (c) => c.json(getConnInfo(c).remote));
    const s = serve(app.fetch as never);
    const client = await Client.connect(s.port);
    try {
      const res = await client.request(httpRequest("GET", "/"));
      expect(JSON.parse(res.text)).toEqual({ address: "127.0.0.1", addressType: "IPv4", port: client.socket.localPort! });
    } finally {
      client.destroy();
    }
  });

  test("requestIP on a dual-stack socket gives an IPv4 client's mapped address, as Bun does", async () => {
    let seen: { address: string; family: string } | null = null;
    const server = newServer({ host: "::", port: 0, fetch: (request, srv) => ((seen = srv.requestIP(request)), new Response("ok")) });
    void server.run();
    servers.push(server);
    await (await fetch(`http://127.0.0.1:${server.port}/`)).text();
    expect(seen!).toMatchObject({ address: "::ffff:127.0.0.1", family: "IPv6" });
  });

  test("requestIP after the client left is null", async () => {
    let later: unknown = "unset";
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let done = false;
    const s = serve(async (request, server) => {
      await gate;
      await sleep(50);
      later = server.requestIP(request);
      done = true;
      return new Response("late");
    });
    const sock = net.connect({ port: s.port, host: "127.0.0.1" });
    await new Promise<void>((r) => sock.once("connect", () => r()));
    sock.write(httpRequest("GET", "/"));
    await sleep(30);
    sock.resetAndDestroy();
    release();
    expect(await until(() => done, 3000)).toBe(true);
    expect(later).toBeNull();
  });

  test("timeout(request, seconds) sets that connection's idle timeout", async () => {
    const s = serve((request, server) => {
      if (new URL(request.url).pathname === "/short") server.timeout(request, 1);
      return new Response("ok");
    }, { idleTimeout: 30 });
    const short = await Client.connect(s.port);
    const other = await Client.connect(s.port);
    try {
      await short.request(httpRequest("GET", "/short"));
      await other.request(httpRequest("GET", "/"));
      // The short one closes after about a second idle; the other (30 s) stays open.
      expect(await until(() => short.closed, 4000)).toBe(true);
      expect(other.closed).toBe(false);
      expect((await other.request(httpRequest("GET", "/"))).text).toBe("ok");
    } finally {
      short.destroy();
      other.destroy();
    }
  });

  test("timeout() refuses a bad number of seconds", async () => {
    let error: unknown;
    const s = serve((request, server) => {
      try {
        server.timeout(request, -1);
      } catch (e) {
        error = e;
      }
      return new Response("ok");
    });
    await (await fetch(`http://127.0.0.1:${s.port}/`)).text();
    expect(error).toBeInstanceOf(RangeError);
    expect(String(error)).toContain("-1");
  });

  test("pendingRequests counts the requests being answered, a stream until its end", async () => {
    const counts: number[] = [];
    let finish!: () => void;
    const streamDone = new Promise<void>((r) => (finish = r));
    let srv: FetchServer<any> | undefined;
    const s = serve(async (request, server) => {
      srv = server;
      counts.push(server.pendingRequests);
      if (new URL(request.url).pathname === "/stream") {
        return new Response(
          new ReadableStream({
            async start(c) {
              c.enqueue("a");
              await streamDone;
              c.close();
            },
          }),
        );
      }
      return new Response("ok");
    });
    const c = await Client.connect(s.port);
    try {
      c.socket.write(httpRequest("GET", "/stream"));
      expect(await until(() => srv !== undefined, 3000)).toBe(true);
      await sleep(20);
      expect(srv!.pendingRequests).toBe(1); // the stream is still going
      await (await fetch(`http://127.0.0.1:${s.port}/`)).text();
      expect(counts).toEqual([1, 2]);
      finish();
      expect(await until(() => srv!.pendingRequests === 0, 3000)).toBe(true);
    } finally {
      c.destroy();
    }
  });

  test("port, hostname, url, address, protocol, development; makeState's state", async () => {
    let got: Record<string, unknown> = {};
    const s = serve(
      (_request, server) => {
        got = {
          port: server.port, hostname: server.hostname, url: server.url.href, address: server.address,
          protocol: server.protocol, development: server.development, state: server.state, pendingWebSockets: server.pendingWebSockets,
        };
        return new Response("ok");
      },
      { makeState: () => ({ db: "made once" }) },
    );
    await (await fetch(`http://127.0.0.1:${s.port}/`)).text();
    expect(got).toEqual({
      port: s.port, hostname: "127.0.0.1", url: `http://127.0.0.1:${s.port}/`, address: { address: "127.0.0.1", family: "IPv4", port: s.port },
      protocol: "http", development: false, state: { db: "made once" }, pendingWebSockets: 0,
    });
  });

  test("upgrade() throws as Bun.serve's does without a websocket handler; publish and subscriberCount report none", async () => {
    let out: unknown[] = [];
    const s = serve((request, server) => {
      let thrown: unknown;
      try {
        server.upgrade(request);
      } catch (e) {
        thrown = e;
      }
      out = [thrown instanceof TypeError, String(thrown).includes("websocket"), server.publish("t", "x"), server.subscriberCount("t")];
      return new Response("ok");
    });
    await (await fetch(`http://127.0.0.1:${s.port}/`)).text();
    expect(out).toEqual([true, true, 0, 0]);
  });

  test("server.fetch() calls the app", async () => {
    let inner: string | undefined;
    const s = serve(async (request, server) => {
      const path = new URL(request.url).pathname;
      if (path === "/inner") return new Response("from inside");
      inner = await (await server.fetch("http://localhost/inner")).text();
      return new Response("outer");
    });
    await (await fetch(`http://127.0.0.1:${s.port}/`)).text();
    expect(inner).toBe("from inside");
  });

  test("server.stop() from the app stops the server", async () => {
    const s = serve((_request, server) => {
      setTimeout(() => void server.stop(), 10);
      return new Response("bye");
    });
    expect(await (await fetch(`http://127.0.0.1:${s.port}/`)).text()).toBe("bye");
    const stopped = await new Promise<string>((resolve) => {
      const deadline = Date.now() + 3000;
      const tryIt = () => {
        const sock = net.connect({ port: s.port, host: "127.0.0.1" });
        sock.once("error", () => resolve("refused"));
        sock.once("connect", () => {
          sock.destroy();
          if (Date.now() > deadline) resolve("still accepting");
          else setTimeout(tryIt, 20);
        });
      };
      tryIt();
    });
    expect(stopped).toBe("refused");
  });

  test("unref() lets the process exit while the server runs; ref() undoes it", async () => {
    const script = (ref: boolean) => `
      import { newServer } from ${JSON.stringify(`${import.meta.dir}/../src/index.ts`)};
      const s = newServer({ host: "127.0.0.1", port: 0, fetch: () => new Response("x") });
      void s.run();
      s.unref();
      ${ref ? "s.ref(); setTimeout(() => { console.log('still running'); process.exit(0); }, 300);" : ""}
    `;
    for (const ref of [false, true]) {
      const proc = Bun.spawn([process.execPath, "-e", script(ref)], { stdout: "pipe", stderr: "pipe" });
      const timer = setTimeout(() => proc.kill(), 5000);
      const code = await proc.exited;
      clearTimeout(timer);
      expect(code).toBe(0);
      expect((await new Response(proc.stdout).text()).trim()).toBe(ref ? "still running" : "");
    }
  });
});

describe("the error option (Bun.serve's error)", () => {
  test("answers what the app threw; its own failure, or no Response, falls back to the 500", async () => {
    const s = serve(
      (request) => {
        const path = new URL(request.url).pathname;
        if (path === "/async") return Promise.reject(new Error("later"));
        throw new Error(path);
      },
      {
        error: (e: Error) => {
          if (e.message === "/bad-handler") throw new Error("the error handler failed too");
          if (e.message === "/nothing") return undefined;
          return new Response(`handled: ${e.message}`, { status: 503 });
        },
      },
    );
    const get = async (p: string) => {
      const r = await fetch(`http://127.0.0.1:${s.port}${p}`);
      return [r.status, await r.text()];
    };
    expect(await get("/x")).toEqual([503, "handled: /x"]);
    expect(await get("/async")).toEqual([503, "handled: later"]);
    expect(await get("/bad-handler")).toEqual([500, "Something went wrong!"]);
    expect(await get("/nothing")).toEqual([500, "Something went wrong!"]);
  });

  test("error must be a function, and goes with fetch", () => {
    expect(() => newServer({ fetch: () => new Response(""), error: 1 as never })).toThrow(/error must be a function \(got 1\)/);
    expect(() => newServer({ handler: () => new Uint8Array(0), error: () => undefined })).toThrow(/error goes with fetch/);
  });
});
