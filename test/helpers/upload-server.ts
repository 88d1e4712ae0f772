/**
 * The upload server of test/body-clients.test.ts: a raw handler that reads the request body as
 * a stream (`for await (const chunk of req.bodyStream())`) and answers `${bytes} ${sha256hex}`,
 * saying in headers how the body came (`X-Body-Streamed`, `X-Body-Framing`). `GET /` serves the
 * page the browser test uploads from; it defines `bytesOf`, the same generator the test uses.
 *
 * Imported by the test, or run as a child process (so that FASTHTTP_BACKEND can differ from the
 * test runner's):
 *
 *   bun test/helpers/upload-server.ts [maxRequestBodySize]
 *
 * prints `listening <port> <backend>` once it listens on 127.0.0.1 (a free port) and stops on
 * SIGTERM.
 * @module
 */
import { newServer, type HttpRequest, type Server } from "../../src/index.ts";

/**
 * `n` deterministic pseudo-random bytes (xorshift32 from `seed`, which must not be 0). The page
 * at `GET /` runs this very function (its source is put in the page), so the browser and the
 * test make the same bytes.
 */
export function bytesOf(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** The page served at `GET /`. */
export const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>upload</title></head>
<body><p id="status">ready</p>
<script>
${bytesOf.toString()}
</script></body></html>`;

/** How the body was framed on the wire, from the head: `chunked`, `length <n>` or `none`. */
function framing(req: HttpRequest): string {
  const te = req.header("transfer-encoding");
  if (te !== undefined) return te.toLowerCase();
  const cl = req.header("content-length");
  return cl !== undefined ? `length ${cl}` : "none";
}

/** The size, SHA-256 (hex) and number of the chunks of a body, read as it streams. */
export async function hashChunks(chunks: AsyncIterable<Uint8Array>): Promise<{ bytes: number; hex: string; count: number }> {
  const hash = new Bun.CryptoHasher("sha256");
  let bytes = 0;
  let count = 0;
  for await (const chunk of chunks) {
    hash.update(chunk);
    bytes += chunk.length;
    count++;
  }
  return { bytes, hex: hash.digest("hex"), count };
}

/** `${bytes} ${sha256hex}` of a body read with bodyStream(); `GET /` is the page. */
export async function uploadHandler(req: HttpRequest): Promise<Uint8Array> {
  const method = req.string(req.method);
  const path = req.string(req.path);
  if (method === "GET") {
    return path === "/" ? req.response(200, page, { "Content-Type": "text/html; charset=utf-8" }) : req.response(404, "not found\n");
  }
  if (method !== "POST" && method !== "PUT") return req.response(405, "POST or PUT a body\n");
  const streamed = req.bodyStreamed;
  const how = framing(req);
  const { bytes, hex, count: chunks } = await hashChunks(req.bodyStream());
  return req.response(200, `${bytes} ${hex}`, {
    "Content-Type": "text/plain",
    "X-Body-Streamed": String(streamed),
    "X-Body-Framing": how,
    "X-Body-Chunks": String(chunks),
  });
}

/** A server on 127.0.0.1 and a free port running `handler` (uploadHandler by default). */
export function uploadServer(
  maxRequestBodySize: number,
  handler: (req: HttpRequest) => Promise<Uint8Array> = uploadHandler,
): { server: Server; running: Promise<void> } {
  const server = newServer({ host: "127.0.0.1", port: 0, maxRequestBodySize, handler });
  const running = server.run();
  return { server, running };
}

if (import.meta.main) {
  const { server, running } = uploadServer(Number(process.argv[2] ?? 64 * 1024 * 1024));
  running.then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
  console.log(`listening ${server.port} ${server.stats().backend}`);
  process.on("SIGTERM", () => void server.stop(true));
}
