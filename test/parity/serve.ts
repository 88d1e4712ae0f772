/**
 * Serves ./app.ts with Bun.serve (`bun serve.ts bun`) or with fasthttp
 * (`bun serve.ts fasthttp`) on 127.0.0.1, a free port, and prints
 * `PORT <n>` once it listens. The side-by-side suite runs one of each.
 * @module
 */
import { fetch } from "./app.ts";

const which = process.argv[2];
if (which === "bun") {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch, error: undefined });
  console.log(`PORT ${server.port}`);
} else if (which === "fasthttp") {
  const { newServer } = await import("../../src/index.ts");
  const server = newServer({ host: "127.0.0.1", port: 0, fetch });
  const running = server.run(); // bound when run() returns
  console.log(`PORT ${server.port}`);
  await running;
} else {
  throw new Error(`serve.ts: say bun or fasthttp (got ${which})`);
}
