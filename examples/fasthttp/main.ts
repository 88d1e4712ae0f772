/**
 * main.ts - a small fasthttp application: a router over a few controllers.
 *
 *   GET  /          -> 200 text
 *   GET  /user/:id  -> 200 JSON (404 unless id is a positive integer)
 *   POST /user      -> 201 JSON echo of the posted object (400 if it is not a JSON object)
 *   HEAD            -> the GET answer without its body
 *   anything else   -> 404 JSON
 *
 * @example
 * PORT=3000 bun examples/fasthttp/main.ts
 */
import { newServer, type HttpRequest } from "../../src/index.ts";
import { createUser, getUser, home, notFound } from "./controllers.ts";
import { withoutBody } from "./response.ts";

function route(method: string, path: string, req: HttpRequest): Uint8Array {
  if (method === "GET") {
    if (path === "/") return home();
    if (path.startsWith("/user/")) return getUser(path.slice("/user/".length));
  } else if (method === "POST" && path === "/user") {
    return createUser(req.string(req.body));
  }
  return notFound(path);
}

function handler(req: HttpRequest): Uint8Array {
  const method = req.string(req.method);
  const path = req.string(req.path).split("?", 1)[0]!; // route on the path, not the query string
  // HEAD is GET without the body. Raw responses are sent verbatim, so the body is cut here.
  if (method === "HEAD") return withoutBody(route("GET", path, req));
  return route(method, path, req);
}

const server = newServer({ port: Number(process.env.PORT ?? 3000), handler });
const running = server.run(); // binds before it returns; settles once the server has stopped

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    console.log(`${signal}: stopping...`);
    await server.stop();
  });
}

if (server.port > 0) console.log(`Listening on http://localhost:${server.port}/`);
try {
  await running;
  console.log("Stopped.");
} catch (err) {
  console.error(`fasthttp example: ${(err as Error).message}`);
  process.exit(1);
}
