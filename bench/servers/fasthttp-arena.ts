/**
 * fasthttp-arena.ts - fasthttp answering hello world with a response built per
 * request in the request's arena (`req.response()`): status line, Date,
 * Content-Type, Content-Length, body — written to the socket without a copy
 * and with no JS-heap allocation per request. Compare with fasthttp.ts (a
 * constant response) for the cost of building, and with Bun.serve, which
 * builds a Response object per request.
 * Usage: bun bench/servers/fasthttp-arena.ts [port]   (or PORT=...; default 3000)
 */
import { newServer } from "../../src/index.ts";
import { startLoopHealth } from "./loop-health.mjs";

const port = Number(process.argv[2] ?? process.env.PORT ?? 3000);
const headers = { "Content-Type": "text/plain;charset=utf-8" };

const server = newServer({ port, host: "127.0.0.1", handler: (req) => req.response(200, "Hello, World!", headers) });
const running = server.run();
running.catch((err) => {
  console.error(`fasthttp-arena failed: ${err?.stack ?? err}`);
  process.exit(1);
});

startLoopHealth({ onExit: () => server.stop(true) });
console.log(`ready: fasthttp-arena listening on http://127.0.0.1:${server.port}/`);
