/**
 * fasthttp-static.ts - fasthttp answering hello world from a static route
 * (c/routes.c): the core answers every request itself, without JavaScript.
 *
 * The route is what Bun.serve makes of `routes: { "/": new Response("Hello, World!") }`:
 * Content-Type and etag, then Date and Content-Length. The handler (never
 * called for "/") counts what reaches JavaScript; it is printed at exit.
 * With STATIC_PLAIN=1 the route has the C limit's headers (Content-Type only,
 * no etag): the answer is then the C limit's bytes plus the Date line.
 * Usage: bun bench/servers/fasthttp-static.ts [port]   (or PORT=...; default 3000)
 */
import { newServer } from "../../src/index.ts";
import { startLoopHealth } from "./loop-health.mjs";

const port = Number(process.argv[2] ?? process.env.PORT ?? 3000);
const tag = '"c49aacf8080fe47f"';
const plain = process.env.STATIC_PLAIN === "1";
const headers: [string, string][] = plain
  ? [["Content-Type", "text/plain;charset=utf-8"]]
  : [
      ["Content-Type", "text/plain;charset=utf-8"],
      ["etag", tag],
    ];
let calls = 0;
const server = newServer({ port, host: "127.0.0.1", handler: () => (calls++, new TextEncoder().encode("not found")) });
const running = server.run();
running.catch((err) => {
  console.error(`fasthttp failed: ${err?.stack ?? err}`);
  process.exit(1);
});
const installed = server._staticRoutes([
  {
    path: "/",
    methods: null,
    answer: { status: 200, headers, body: new TextEncoder().encode("Hello, World!"), etag: plain ? null : tag, file: null, notModifiedHeaders: headers },
  },
]);
if (installed !== 1) throw new Error("the static route was not installed");
startLoopHealth({
  onExit: () => {
    console.error(`handler calls: ${calls}; static answers: ${server.stats().staticAnswers}`);
    return server.stop(true);
  },
});
console.log(`ready: fasthttp (static route) listening on http://127.0.0.1:${server.port}/`);
