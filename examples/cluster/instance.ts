/**
 * instance.ts - one instance of the cluster: a fasthttp server that says who it is.
 *
 * @example
 * ID=a PORT=3001 bun examples/cluster/instance.ts
 * ID=b PORT=3002 WORKERS=2 bun examples/cluster/instance.ts   # this instance on two cores
 */
import { newServer, type Server } from "../../src/index.ts";
import { instanceHandler } from "./app.ts";

const id = process.env.ID ?? "a";
const server: Server = newServer({
  port: Number(process.env.PORT ?? 3001),
  host: "127.0.0.1", // only nginx talks to the instances
  workers: Number(process.env.WORKERS ?? 1),
  handler: instanceHandler(id, () => server.stats()),
});
const running = server.run();

if (Bun.isMainThread) {
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void server.stop());
  console.log(`instance ${id} listening on http://127.0.0.1:${server.port}/`);
}
try {
  await running;
  if (Bun.isMainThread) console.log(`instance ${id} stopped`);
} catch (err) {
  console.error(`instance ${id}: ${(err as Error).message}`);
  process.exit(1);
}
