/**
 * A server in a process of its own for the streamed-body tests, so that its
 * peak RSS is its own: it answers every POST with `<bytes> <sha256 hex>` of
 * the body, read as a stream, and prints `port <n>` once listening.
 *
 *   bun test/helpers/body-server.ts raw|raw-into|hono|hono-byob <maxRequestBodySize>
 *
 * `raw`: a handler that hashes `req.bodyStream()` (a new chunk per read);
 * `raw-into`: the same with `req.bodyStream({ into })` (reads into one buffer
 * of its own). `hono`: a Hono app served through `fetch` that hashes
 * `c.req.raw.body` chunk by chunk; `hono-byob`: the same through a BYOB
 * reader (`getReader({ mode: "byob" })`) over one buffer.
 * @module
 */
import { Hono } from "hono";
import { newServer } from "../../src/index.ts";
import { hashChunks } from "./upload-server.ts";

const [mode = "raw", max = String(2 ** 31)] = process.argv.slice(2);
const maxRequestBodySize = Number(max);

/** A BYOB reader's chunks, each read into the buffer the last one came back in. */
async function* byob(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader({ mode: "byob" });
  let buf = new Uint8Array(256 * 1024);
  for (;;) {
    const { value, done } = await reader.read(buf);
    if (done) return;
    yield value;
    buf = new Uint8Array(value.buffer);
  }
}

async function hashOf(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const { bytes, hex } = await hashChunks(chunks);
  return `${bytes} ${hex}`;
}

const into = new Uint8Array(256 * 1024);
const server = mode.startsWith("hono")
  ? newServer({
      host: "127.0.0.1",
      port: 0,
      maxRequestBodySize,
      fetch: new Hono().post("*", async (c) => c.text(await hashOf(mode === "hono-byob" ? byob(c.req.raw.body!) : c.req.raw.body!))).fetch,
    })
  : newServer({
      host: "127.0.0.1",
      port: 0,
      maxRequestBodySize,
      handler: async (req) => req.response(200, await hashOf(req.bodyStream(mode === "raw-into" ? { into } : {}))),
    });
const done = server.run();
console.log(`port ${server.port}`);
await done;
