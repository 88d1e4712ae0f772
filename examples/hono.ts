/**
 * hono.ts - a Hono app served by fasthttp: `newServer({ fetch: app.fetch })`, where Bun.serve
 * would take `Bun.serve({ fetch: app.fetch })`. The app is ordinary Hono; nothing in it knows
 * which server runs it (test/adapter.test.ts runs this same app on both and compares).
 *
 * @example
 * bun run examples/hono.ts             # listens on port 3000 (PORT=8080 for another)
 * curl localhost:3000/                 # Hello, Hono on fasthttp!
 * curl localhost:3000/json             # {"message":"Hello, World!","server":"fasthttp"}
 * curl localhost:3000/users/42?fields=name
 * curl -X POST localhost:3000/echo -H 'content-type: application/json' -d '{"a":1}'
 * curl -N localhost:3000/stream        # five lines, 100 ms apart (chunked)
 * curl -i localhost:3000/nope          # 404
 */
import { Hono } from "hono";
import { stream } from "hono/streaming";
import { newServer } from "../src/index.ts";

/** The app: plain Hono, exported so that the tests can serve it on Bun.serve too. */
export const app = new Hono();

app.get("/", (c) => c.text("Hello, Hono on fasthttp!\n"));

app.get("/json", (c) => c.json({ message: "Hello, World!", server: "fasthttp" }));

app.get("/users/:id", (c) => {
  const fields = c.req.query("fields")?.split(",") ?? [];
  return c.json({ id: Number(c.req.param("id")), fields });
});

app.post("/echo", async (c) => {
  const body = await c.req.json().catch(() => null);
  if (body === null) return c.json({ error: "the body must be JSON" }, 400);
  c.header("X-Echo", "1");
  return c.json({ received: body }, 201);
});

app.get("/cookies", (c) => {
  c.header("Set-Cookie", "session=abc; Path=/; HttpOnly");
  c.header("Set-Cookie", "theme=dark; Path=/", { append: true });
  return c.text("two cookies\n");
});

app.get("/stream", (c) =>
  stream(c, async (s) => {
    for (let i = 1; i <= 5; i++) {
      await s.write(`line ${i} of 5\n`);
      if (i < 5) await s.sleep(100);
    }
  }),
);

app.get("/error", () => {
  throw new Error("this route fails on purpose");
});

app.notFound((c) => c.text(`${c.req.path} not found\n`, 404));

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
    console.error(`hono: ${(err as Error).message}`);
    process.exit(1);
  }
}
