/**
 * Serves a WebSocket app module with Bun.serve or with fasthttp, for the
 * WebSocket suites: `bun test/ws/serve.ts <bun|fasthttp> <module> [workers]`.
 * The module exports `fetch` and `websocket` (and optionally `options`, extra
 * fields for both servers' config, such as `maxRequestBodySize`). It listens
 * on 127.0.0.1, a free port, and prints `PORT <n>` once it does. The same
 * module runs unchanged on both: that is the point.
 * @module
 */
import { resolve } from "node:path";

const [which, modulePath, workersArg] = process.argv.slice(2);
if (modulePath === undefined) throw new Error("serve.ts: say bun or fasthttp, then the app module");
const mod = await import(resolve(modulePath));
const options = (mod.options ?? {}) as Record<string, unknown>;
if (which === "bun") {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: mod.fetch, websocket: mod.websocket, ...options });
  console.log(`PORT ${server.port}`);
} else if (which === "fasthttp") {
  const { newServer } = await import("../../src/index.ts");
  const workers = workersArg === undefined ? undefined : Number(workersArg);
  const server = newServer({
    host: "127.0.0.1",
    port: 0,
    fetch: mod.fetch,
    websocket: mod.websocket,
    ...(workers === undefined ? {} : { workers }),
    ...options,
  } as never);
  const running = server.run(); // bound when run() returns
  console.log(`PORT ${server.port}`);
  await running;
} else {
  throw new Error(`serve.ts: say bun or fasthttp (got ${which})`);
}
