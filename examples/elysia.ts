/**
 * elysia.ts - an Elysia app served by fasthttp: `newServer({ fetch: app.fetch })`, where Elysia's
 * own `app.listen()` would call `Bun.serve({ fetch: app.fetch })`. The app is ordinary Elysia;
 * nothing in it knows which server runs it (test/frameworks.test.ts runs this same app on both and
 * compares).
 *
 * @example
 * bun run examples/elysia.ts           # listens on port 3000 (PORT=8080 for another)
 * curl localhost:3000/                 # Hello, Elysia on fasthttp!
 * curl localhost:3000/json             # {"message":"Hello, World!","server":"fasthttp"}
 * curl localhost:3000/users/42?fields=name
 * curl -X POST localhost:3000/echo -H 'content-type: application/json' -d '{"a":1}'
 * curl -N localhost:3000/stream        # five lines, 100 ms apart (chunked): a generator's yields
 * curl -i localhost:3000/error         # 500
 * curl -i localhost:3000/nope          # 404
 */
import { Elysia } from "elysia";
import { newServer } from "../src/index.ts";

/** The app: plain Elysia, exported so that the tests can serve it on Bun.serve too. */
export const app = new Elysia()
  .onError(({ code, path, set }) => {
    if (code === "NOT_FOUND") {
      set.status = 404;
      return `${path} not found\n`;
    }
  })
  .get("/", () => "Hello, Elysia on fasthttp!\n")
  .get("/json", () => ({ message: "Hello, World!", server: "fasthttp" }))
  .get("/users/:id", ({ params, query }) => ({
    id: Number(params.id),
    fields: typeof query.fields === "string" ? query.fields.split(",") : [],
  }))
  .post("/echo", ({ body, set }) => {
    if (body === null || typeof body !== "object") {
      set.status = 400;
      return { error: "the body must be a JSON object" };
    }
    set.status = 201;
    set.headers["x-echo"] = "1";
    return { received: body };
  })
  .get("/stream", async function* () {
    for (let i = 1; i <= 5; i++) {
      yield `line ${i} of 5\n`;
      if (i < 5) await Bun.sleep(100);
    }
  })
  .get("/error", () => {
    throw new Error("this route fails on purpose");
  });

if (import.meta.main) {
  const server = newServer({ port: Number(process.env.PORT ?? 3000), fetch: app.fetch });
  const running = server.run(); // binds before it returns; settles once the server has stopped
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, async () => {
      console.log(`${signal}: stopping...`);
      await server.stop(); // finishes in-flight responses (a stream runs to its end), then closes
    });
  }
  console.log(`Listening on http://localhost:${server.port}/`);
  try {
    await running;
    console.log("Stopped.");
  } catch (err) {
    console.error(`elysia: ${(err as Error).message}`);
    process.exit(1);
  }
}
