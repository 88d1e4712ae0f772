/**
 * bun-serve.ts - the reference: Bun.serve answering hello world from a JS fetch handler.
 *
 * Every request crosses into JavaScript (no static route), as with fasthttp.
 * Usage: bun bench/servers/bun-serve.ts [port]   (or PORT=...; default 3000)
 */
import { startLoopHealth } from "./loop-health.mjs";

const port = Number(process.argv[2] ?? process.env.PORT ?? 3000);

const server = Bun.serve({
  port,
  hostname: "127.0.0.1",
  fetch() {
    return new Response("Hello, World!");
  },
});

startLoopHealth({ onExit: () => server.stop(true) });
console.log(`ready: bun-serve listening on http://127.0.0.1:${server.port}/`);
