/**
 * serve-bun.ts - an app of app.ts (Hono unless told) on Bun.serve: `Bun.serve({ fetch: app.fetch })`.
 * Usage: bun bench/adapter/serve-bun.ts [port] [hono|elysia]   (or PORT; prints "ready ..." once listening)
 */
import { appNamed } from "./app.ts";

const port = Number(process.argv[2] ?? process.env.PORT ?? 3000);
const app = appNamed(process.argv[3], "bun bench/adapter/serve-bun.ts [port] [hono|elysia]");
const server = Bun.serve({ port, hostname: "127.0.0.1", fetch: app.fetch });
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void server.stop(true).then(() => process.exit(0)));
console.log(`ready: ${app.label} on Bun.serve at http://127.0.0.1:${server.port}/`);
