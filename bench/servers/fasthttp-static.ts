/**
 * fasthttp-static.ts - fasthttp answering hello world from a static route:
 * `routes: { "/": new Response("Hello, World!") }`, the same object as
 * bun-serve-static.ts. The core answers every request itself (c/routes.c),
 * without JavaScript; `fetch` (never called for "/") counts what reaches
 * JavaScript, printed at exit with the core's count of static answers.
 * Usage: bun bench/servers/fasthttp-static.ts [port]   (or PORT=...; default 3000)
 */
import { newServer } from "../../src/index.ts";
import { startLoopHealth } from "./loop-health.mjs";

const port = Number(process.argv[2] ?? process.env.PORT ?? 3000);
let calls = 0;
const server = newServer({
  port,
  host: "127.0.0.1",
  routes: { "/": new Response("Hello, World!") },
  fetch: () => (calls++, new Response("Not Found", { status: 404 })),
});
const running = server.run();
running.catch((err) => {
  console.error(`fasthttp failed: ${err?.stack ?? err}`);
  process.exit(1);
});
startLoopHealth({
  onExit: () => {
    console.error(`fetch calls: ${calls}; static answers: ${server.stats().staticAnswers}`);
    return server.stop(true);
  },
});
console.log(`ready: fasthttp (static route) listening on http://127.0.0.1:${server.port}/`);
