/**
 * examples/cluster: two fasthttp instances behind nginx, with keep-alive connections from nginx
 * to the instances. Runs nginx (examples/cluster/nginx.ts: config in a temp dir, loopback only,
 * `daemon off`, stopped at the end) in front of two servers made with the example's handler,
 * sends requests through it, and checks that both instances answered and that nginx reused its
 * upstream connections: between nginx and each instance sits a small TCP relay that counts the
 * connections nginx opens (many requests, few connections), and the instances still hold the
 * pooled connections open afterwards (server.stats()).
 *
 * Skipped, saying so, where nginx is not installed (CI installs nginx-light: see .ci/run).
 */
import { afterAll, expect, test } from "bun:test";
import net from "node:net";
import { instanceHandler } from "../examples/cluster/app.ts";
import { findNginx, startNginx, type Nginx } from "../examples/cluster/nginx.ts";
import { newServer, type Server } from "../src/index.ts";
import { Client, freePort, httpRequest, withTimeout } from "./helpers/net.ts";

const haveNginx = findNginx() !== undefined;
if (!haveNginx) console.warn("test/cluster.test.ts: skipped: nginx is not installed (Debian: apt-get install nginx-light)");

/** A TCP relay to 127.0.0.1:target that counts the connections it accepts. */
function countingRelay(target: number) {
  const relay = {
    accepted: 0,
    port: 0,
    server: net.createServer((client) => {
      relay.accepted++;
      const upstream = net.connect(target, "127.0.0.1");
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
    }),
  };
  return new Promise<typeof relay>((resolve) =>
    relay.server.listen(0, "127.0.0.1", () => {
      relay.port = (relay.server.address() as net.AddressInfo).port;
      resolve(relay);
    }),
  );
}

const servers: Server[] = [];
const relays: Awaited<ReturnType<typeof countingRelay>>[] = [];
let nginx: Nginx | undefined;
const clients: Client[] = [];

afterAll(async () => {
  for (const c of clients) c.destroy();
  await nginx?.stop();
  for (const r of relays) r.server.close();
  await Promise.all(servers.map((s) => s.stop(true)));
});

test.skipIf(!haveNginx)(
  "two instances behind nginx: both serve, and nginx reuses a few keep-alive connections to them",
  async () => {
    for (const id of ["a", "b"]) {
      const server: Server = newServer({ port: 0, host: "127.0.0.1", handler: instanceHandler(id, () => server.stats()) });
      void server.run();
      servers.push(server);
      relays.push(await countingRelay(server.port));
    }
    nginx = await startNginx({ port: await freePort(), upstreams: relays.map((r) => r.port), keepalive: 16, freshLocation: true });

    // 8 keep-alive clients, 50 requests each: 400 requests through nginx.
    const counts: Record<string, number> = {};
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        const client = await Client.connect(nginx!.port);
        clients.push(client);
        for (let i = 0; i < 50; i++) {
          const res = await client.request(httpRequest("GET", `/r${i}`));
          expect(res.status).toBe(200);
          counts[res.text] = (counts[res.text] ?? 0) + 1;
        }
      }),
    );
    expect(Object.keys(counts).sort()).toEqual(["instance a\n", "instance b\n"]);
    expect(counts["instance a\n"]! + counts["instance b\n"]!).toBe(400);
    expect(Math.min(counts["instance a\n"]!, counts["instance b\n"]!)).toBeGreaterThan(100); // round robin

    const opened = relays.map((r) => r.accepted);
    for (const n of opened) expect(n).toBeGreaterThanOrEqual(1);
    // At most 8 requests were in flight at once: a handful of connections served all 400.
    expect(opened[0]! + opened[1]!).toBeLessThanOrEqual(24);
    // The pool stays open: each instance still holds nginx's idle connections.
    for (const s of servers) expect(s.stats().connections).toBeGreaterThanOrEqual(1);

    // The same through an upstream without keep-alive: one new connection per request, so the
    // count above is measuring what it claims.
    const client = await Client.connect(nginx.port);
    clients.push(client);
    for (let i = 0; i < 20; i++) expect((await client.request(httpRequest("GET", `/fresh/r${i}`))).status).toBe(200);
    expect(relays[0]!.accepted + relays[1]!.accepted - opened[0]! - opened[1]!).toBe(20);

    expect(nginx.errors()).not.toMatch(/\[(error|crit|alert|emerg)\]/);
    await withTimeout(nginx.stop(), 6000, "nginx to stop");
    nginx = undefined;
  },
  20_000,
);
