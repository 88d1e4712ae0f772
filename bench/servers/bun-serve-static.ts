/**
 * bun-serve-static.ts - Bun.serve answering hello world from a static route:
 * `routes: { "/": new Response("Hello, World!") }`, which Bun serves natively
 * (no JavaScript per request). The same object as fasthttp-static.ts.
 * Usage: bun bench/servers/bun-serve-static.ts [port]   (or PORT=...; default 3000)
 */
import { startLoopHealth } from "./loop-health.mjs";

const port = Number(process.argv[2] ?? process.env.PORT ?? 3000);
const server = Bun.serve({
  port,
  hostname: "127.0.0.1",
  routes: { "/": new Response("Hello, World!") },
  fetch: () => new Response("Not Found", { status: 404 }),
});
startLoopHealth({ onExit: () => server.stop(true) });
console.log(`ready: bun-serve (static route) listening on http://127.0.0.1:${server.port}/`);
