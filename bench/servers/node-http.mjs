/**
 * node-http.mjs - node:http answering hello world, run under Node (not Bun).
 *
 * Usage: node bench/servers/node-http.mjs [port]   (or PORT=...; default 3000)
 */
import { createServer } from "node:http";
import { startLoopHealth } from "./loop-health.mjs";

const port = Number(process.argv[2] ?? process.env.PORT ?? 3000);
const body = Buffer.from("Hello, World!");

const server = createServer((req, res) => {
  res.writeHead(200, { "Content-Type": "text/plain;charset=utf-8", "Content-Length": body.length });
  res.end(body);
});
// Never cut a benchmark connection for idling between runs.
server.keepAliveTimeout = 60_000;

server.listen(port, "127.0.0.1", () => {
  startLoopHealth({
    onExit: () =>
      new Promise((resolve) => {
        server.close(resolve);
        // close() waits for open keep-alive connections; at exit there is nothing to wait for.
        server.closeAllConnections();
      }),
  });
  console.log(`ready: node-http listening on http://127.0.0.1:${server.address().port}/`);
});
