/**
 * upload.ts - uploads of any size, streamed: `POST` or `PUT` a body to any path and the server
 * answers its size and SHA-256, computed as the bytes arrive.
 *
 * A body larger than one arena slab (16 KiB) reaches the handler as soon as its head is complete;
 * `req.bodyStream({ into })` then reads the socket straight into one buffer of the handler's own,
 * so an upload of a gigabyte costs neither memory nor garbage, and a client faster than the
 * hashing is held back by TCP, not buffered for. A smaller body has arrived whole (`req.body`);
 * `bodyStream()` serves it the same way. `maxRequestBodySize` caps an upload (here 4 GiB; 413
 * beyond); a body that stalls for `idleTimeout` is answered 408, a malformed chunked one 400.
 *
 * @example
 * bun examples/upload.ts                                    # listens on port 3000
 * curl -T big.iso http://localhost:3000/                    # 734003200 bytes, sha256 3b9f…
 * head -c 1G /dev/urandom | curl -T - http://localhost:3000/  # chunked, from a pipe
 */
import { newServer, type HttpRequest } from "../src/index.ts";

/** One buffer per request being read (a request holds it only while its body streams in). */
const BUFFER = 1024 * 1024;

async function handler(req: HttpRequest): Promise<Uint8Array> {
  const method = req.string(req.method);
  if (method !== "POST" && method !== "PUT") {
    return req.response(405, "POST or PUT a body to any path: its size and SHA-256 come back\n", { Allow: "POST, PUT" });
  }
  const hash = new Bun.CryptoHasher("sha256");
  let bytes = 0;
  for await (const chunk of req.bodyStream({ into: new Uint8Array(BUFFER) })) {
    hash.update(chunk); // the chunk is a view of the buffer: used before the next one is read
    bytes += chunk.length;
  }
  return req.response(200, `${bytes} bytes, sha256 ${hash.digest("hex")}\n`);
}

const server = newServer({ port: Number(process.env.PORT ?? 3000), maxRequestBodySize: 4 * 2 ** 30, handler });
const running = server.run(); // binds before it returns; settles once the server has stopped
// SIGINT or SIGTERM: uploads in flight are read to their end and answered, then it exits.
const stop = () => void server.stop();
process.once("SIGINT", stop).once("SIGTERM", stop);
console.log(`Listening on http://localhost:${server.port}/`);
await running.then(
  () => console.log("Stopped."),
  (err: Error) => {
    console.error(`upload: ${err.message}`);
    process.exit(1);
  },
);
