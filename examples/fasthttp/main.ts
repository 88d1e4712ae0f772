/**
 * main.ts - a small fasthttp application: routes over a few controllers.
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
import { newServer, type HttpRequest, type RawRouteHandler } from "../../src/index.ts";
import { createUser, getUser, home, notFound } from "./controllers.ts";
import { withoutBody } from "./response.ts";

/** A GET controller, also for HEAD: raw responses are sent verbatim, so HEAD's body is cut here. */
function get<P extends string>(fn: RawRouteHandler<P>): RawRouteHandler<P> {
  return (req, state) => {
    const res = fn(req, state) as Uint8Array;
    return req.method.len === 4 ? withoutBody(res) : res; // GET is 3 letters, HEAD 4
  };
}

/** What no route takes: 404, naming the path (without the query). */
function fallback(req: HttpRequest): Uint8Array {
  return notFound(req.string(req.path).split("?", 1)[0]!);
}

// A method object's GET also answers HEAD; other methods on these paths go to the fallback.
const routes = {
  "/": { GET: get(home) },
  "/user/:id": { GET: get<"/user/:id">((req) => getUser(req.params.id)) },
  "/user": { POST: (req: HttpRequest) => createUser(req.string(req.body)) },
};

const server = newServer({ port: Number(process.env.PORT ?? 3000), routes, handler: fallback });
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
