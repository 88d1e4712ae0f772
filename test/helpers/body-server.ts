/**
 * A server in a process of its own for the streamed-body tests, so that its
 * peak RSS is its own: it answers every POST with `<bytes> <sha256 hex>` of
 * the body, read as a stream, and prints `port <n>` once listening.
 *
 *   bun test/helpers/body-server.ts raw|hono <maxRequestBodySize>
 *
 * `raw`: a handler that hashes `req.bodyStream()`. `hono`: a Hono app served
 * through `fetch`, that hashes `c.req.raw.body` chunk by chunk.
 * @module
 */
import { Hono } from "hono";
import { newServer } from "../../src/index.ts";

const [mode = "raw", max = String(2 ** 31)] = process.argv.slice(2);
const maxRequestBodySize = Number(max);

async function hashOf(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const h = new Bun.CryptoHasher("sha256");
  let n = 0;
  for await (const c of chunks) {
    h.update(c);
    n += c.length;
  }
  return `${n} ${h.digest("hex")}`;
}

const server =
  mode === "hono"
    ? newServer({
        host: "127.0.0.1",
        port: 0,
        maxRequestBodySize,
        fetch: new Hono().post("/", async (c) => c.text(await hashOf(c.req.raw.body!))).fetch,
      })
    : newServer({
        host: "127.0.0.1",
        port: 0,
        maxRequestBodySize,
        handler: async (req) => req.response(200, await hashOf(req.bodyStream())),
      });
const done = server.run();
console.log(`port ${server.port}`);
await done;
