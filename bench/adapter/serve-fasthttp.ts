/**
 * serve-fasthttp.ts - an app of app.ts (Hono unless told) on fasthttp: `newServer({ fetch: app.fetch })`.
 * Usage: bun bench/adapter/serve-fasthttp.ts [port] [hono|elysia]   (or PORT; prints "ready ..." once listening)
 * With BENCH_PROFILE=<ms>, JavaScript is sampled (bun:jsc) for that long once the first request
 * has come in, and the heaviest frames are printed on stderr (see profile.ts).
 */
import { newServer } from "../../src/index.ts";
import { appNamed } from "./app.ts";
import { profileAfterFirstRequest } from "./profile.ts";

const port = Number(process.argv[2] ?? process.env.PORT ?? 3000);
const app = appNamed(process.argv[3], "bun bench/adapter/serve-fasthttp.ts [port] [hono|elysia]");
const profileMs = Number(process.env.BENCH_PROFILE ?? 0);
const fetch = profileMs > 0 ? profileAfterFirstRequest(app.fetch, profileMs) : app.fetch;
const server = newServer({ port, host: "127.0.0.1", fetch });
const running = server.run();
running.catch((err) => {
  console.error(`fasthttp failed: ${err?.stack ?? err}`);
  process.exit(1);
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void server.stop(true).then(() => process.exit(0)));
console.log(`ready: ${app.label} on fasthttp at http://127.0.0.1:${server.port}/`);
