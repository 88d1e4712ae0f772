/**
 * fasthttp.ts - fasthttp answering hello world with a precomputed raw response.
 *
 * The handler returns the same complete `HTTP/1.1 ...` bytes every time, which the
 * server sends verbatim (see notes/API-CONTRACT.md): this measures the server, not
 * response formatting. The headers match the C limit's canned response byte for byte.
 * Usage: bun bench/servers/fasthttp.ts [port]   (or PORT=...; default 3000)
 */
import { newServer } from "../../src/index.ts";
import { startLoopHealth } from "./loop-health.mjs";

const port = Number(process.argv[2] ?? process.env.PORT ?? 3000);

const RESPONSE = new TextEncoder().encode(
  "HTTP/1.1 200 OK\r\n" +
    "Content-Length: 13\r\n" +
    "Content-Type: text/plain;charset=utf-8\r\n" +
    "\r\n" +
    "Hello, World!",
);

const server = newServer({ port, host: "127.0.0.1", handler: () => RESPONSE });
const running = server.run();
running.catch((err) => {
  console.error(`fasthttp failed: ${err?.stack ?? err}`);
  process.exit(1);
});

startLoopHealth({ onExit: () => server.stop(true) });
console.log(`ready: fasthttp listening on http://127.0.0.1:${server.port}/`);
