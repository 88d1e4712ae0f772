/**
 * serve-raw.ts - the references: the same two routes without a framework, on fasthttp
 * (`req.response()`, built per request in the arena) or on Bun.serve (`new Response()` per
 * request), to show what the adapter and Hono cost on each server.
 * Usage: bun bench/adapter/serve-raw.ts fasthttp|bun [port]
 */
import { newServer, type HttpRequest } from "../../src/index.ts";

const which = process.argv[2];
const port = Number(process.argv[3] ?? process.env.PORT ?? 3000);
const TEXT = { "content-type": "text/plain;charset=utf-8" };
const JSON_TYPE = { "content-type": "application/json" };
let stop: () => Promise<unknown>;
if (which === "fasthttp") {
  const handler = (req: HttpRequest) =>
    req.string(req.path) === "/json"
      ? req.response(200, JSON.stringify({ message: "Hello, World!" }), JSON_TYPE)
      : req.response(200, "Hello, World!", TEXT);
  const server = newServer({ port, host: "127.0.0.1", handler });
  void server.run();
  stop = () => server.stop(true);
} else {
  const server = Bun.serve({
    port,
    hostname: "127.0.0.1",
    fetch: (req) =>
      req.url.endsWith("/json") ? Response.json({ message: "Hello, World!" }) : new Response("Hello, World!", { headers: TEXT }),
  });
  stop = () => server.stop(true);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void stop().then(() => process.exit(0)));
console.log(`ready: raw ${which} at http://127.0.0.1:${port}/`);
