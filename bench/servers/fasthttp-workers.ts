/**
 * fasthttp-workers.ts - bench/servers/fasthttp.ts's hello world, served by workers.
 *
 * WORKERS=N (default 2) loops; MODE chooses how they share the port:
 * - `shared` (default): `newServer({ workers: N })`, one listening socket made by the main
 *   thread, watched by every worker's loop (what fasthttp does);
 * - `reuseport`: N plain Bun Workers, each binding its own socket with `reusePort: true`
 *   (SO_REUSEPORT: the kernel spreads connections by a hash of their addresses). Here only to
 *   compare with; see the README's Workers section.
 * Prints `ready ...` once every worker is serving.
 * Usage: WORKERS=2 MODE=shared bun bench/servers/fasthttp-workers.ts [port]
 */
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { newServer } from "../../src/index.ts";

const port = Number(process.argv[2] ?? process.env.PORT ?? 3000);
const workers = Number(process.env.WORKERS ?? 2);
const mode = process.env.MODE ?? "shared";

const RESPONSE = new TextEncoder().encode(
  "HTTP/1.1 200 OK\r\n" + "Content-Length: 13\r\n" + "Content-Type: text/plain;charset=utf-8\r\n" + "\r\n" + "Hello, World!",
);

if (mode === "reuseport") {
  if (isMainThread) {
    let ready = 0;
    const threads = Array.from({ length: workers }, () => new Worker(Bun.main, { workerData: { reuseport: true }, argv: process.argv.slice(2) }));
    for (const t of threads) t.on("message", () => ++ready === workers && console.log(`ready: ${workers} SO_REUSEPORT workers on ${port}`));
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => threads.forEach((t) => t.postMessage("stop")));
  } else if (workerData?.reuseport) {
    const server = newServer({ port, host: "127.0.0.1", reusePort: true, handler: () => RESPONSE });
    const done = server.run();
    parentPort!.postMessage("ready");
    parentPort!.on("message", () => void server.stop(true).then(() => process.exit(0)));
    await done;
  }
} else {
  const server = newServer({ port, host: "127.0.0.1", workers, handler: () => RESPONSE });
  const done = server.run();
  if (Bun.isMainThread) {
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void server.stop(true));
    // Connections wait in the backlog until a worker takes them; give the workers time to start.
    await Bun.sleep(1000);
    console.log(`ready: fasthttp ${workers === 1 ? "without workers" : `${workers} workers`} on ${server.port}`);
  }
  await done;
}
