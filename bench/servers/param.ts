/**
 * param.ts - a parameter route, `/users/:id`, answered with `Hello, <id>!`
 * (load.ts requests `/users/World`: hello world's 13-byte body).
 *
 * Usage: bun bench/servers/param.ts KIND [port]   (or PORT=...; default 3000)
 *   bun-serve      Bun.serve({ routes: { "/users/:id": (req) => new Response(...) } })
 *   fasthttp       the same routes object on fasthttp (a fetch app: Request, Response)
 *   fasthttp-raw   fasthttp's raw routes: `(req) => req.response(200, ...)`, req.params.id
 *   fasthttp-hand  a raw handler that finds the route and the id in the path's bytes
 *                  itself: the least an app can do without a router
 *   fasthttp-strings  a raw handler that routes on the path as a string, as
 *                  examples/fasthttp/main.ts did before it had routes (split, startsWith, slice)
 * Anything else gets 404 in all four.
 */
import { newServer } from "../../src/index.ts";
import { usersIdByBytes, usersIdByStrings } from "../lib/by-hand.ts";
import { startLoopHealth } from "./loop-health.mjs";

const kind = process.argv[2] ?? "";
const port = Number(process.argv[3] ?? process.env.PORT ?? 3000);
const notFound = () => new Response("Not Found", { status: 404 });
const fetchRoutes = {
  "/users/:id": (req: Request & { params: { id: string } }) => new Response(`Hello, ${req.params.id}!`),
};

let stop: () => unknown;
let listening: number;
if (kind === "bun-serve") {
  const s = Bun.serve({ port, hostname: "127.0.0.1", routes: fetchRoutes, fetch: notFound });
  stop = () => s.stop(true);
  listening = s.port!;
} else if (kind === "fasthttp" || kind === "fasthttp-raw" || kind === "fasthttp-hand" || kind === "fasthttp-strings") {
  const s =
    kind === "fasthttp"
      ? newServer({ port, host: "127.0.0.1", routes: fetchRoutes, fetch: notFound })
      : kind === "fasthttp-raw"
        ? newServer({
            port,
            host: "127.0.0.1",
            routes: { "/users/:id": (req) => req.response(200, `Hello, ${req.params.id}!`) },
            handler: (req) => req.response(404, "Not Found"),
          })
        : newServer({
            port,
            host: "127.0.0.1",
            handler: (req) => {
              const id = kind === "fasthttp-hand" ? usersIdByBytes(req) : usersIdByStrings(req); // any method, as a route's function takes any
              return id === null ? req.response(404, "Not Found") : req.response(200, `Hello, ${id}!`);
            },
          });
  s.run().catch((err) => {
    console.error(`fasthttp failed: ${err?.stack ?? err}`);
    process.exit(1);
  });
  stop = () => s.stop(true);
  listening = s.port;
} else {
  console.error(`param.ts: unknown kind ${JSON.stringify(kind)} (bun-serve, fasthttp, fasthttp-raw, fasthttp-hand, fasthttp-strings)`);
  process.exit(2);
}
startLoopHealth({ onExit: stop });
console.log(`ready: ${kind} (parameter route) listening on http://127.0.0.1:${listening}/users/World`);
