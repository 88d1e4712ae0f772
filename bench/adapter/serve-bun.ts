/**
 * serve-bun.ts - the Hono app of app.ts on Bun.serve: `Bun.serve({ fetch: app.fetch })`.
 * Usage: bun bench/adapter/serve-bun.ts [port]   (or PORT; prints "ready ..." once listening)
 */
import { app } from "./app.ts";

const port = Number(process.argv[2] ?? process.env.PORT ?? 3000);
const server = Bun.serve({ port, hostname: "127.0.0.1", fetch: app.fetch });
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void server.stop(true).then(() => process.exit(0)));
console.log(`ready: Hono on Bun.serve at http://127.0.0.1:${server.port}/`);
