/**
 * hello.ts - fasthttp's quick start.
 *
 * `/` answers `Hello, World!`; any other path answers 404 with `<path> not found`. Handlers may
 * return a plain body (fasthttp wraps it in `200 OK`), but here every answer is a complete RAW
 * response, status line and headers included, and the constant one is built once at start-up:
 * serving `/` then costs no allocation at all.
 *
 * @example
 * bun examples/hello.ts            # listens on port 3000
 * PORT=8080 bun examples/hello.ts  # or on $PORT
 * curl http://localhost:3000/      # Hello, World!
 */
import { newServer, type HttpRequest } from "../src/index.ts";

const encoder = new TextEncoder();

/**
 * A complete HTTP/1.1 response: status line, headers with Content-Length, then the body.
 * A raw response is sent verbatim, so for HEAD the body is left out here (headers unchanged).
 */
function rawResponse(status: string, body: string, head = false): Uint8Array {
  const bytes = encoder.encode(body);
  const lines = `HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${bytes.length}\r\n\r\n`;
  const out = new Uint8Array(lines.length + (head ? 0 : bytes.length));
  encoder.encodeInto(lines, out); // the head is ASCII: one byte per character
  if (!head) out.set(bytes, lines.length);
  return out;
}

// Built once: every `/` request is answered with these same bytes.
const HELLO = rawResponse("200 OK", "Hello, World!\n");
const HELLO_HEAD = rawResponse("200 OK", "Hello, World!\n", true);

function handler(req: HttpRequest): Uint8Array {
  const head = req.string(req.method) === "HEAD";
  const path = req.string(req.path).split("?", 1)[0]!; // route on the path, not the query string
  if (path === "/") return head ? HELLO_HEAD : HELLO;
  return rawResponse("404 Not Found", `${path} not found\n`, head);
}

const server = newServer({ port: Number(process.env.PORT ?? 3000), handler });
const running = server.run(); // binds before it returns; settles once the server has stopped

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    console.log(`${signal}: stopping...`);
    await server.stop(); // finishes in-flight responses, then closes every connection
  });
}

if (server.port > 0) console.log(`Listening on http://localhost:${server.port}/`);
try {
  await running;
  console.log("Stopped.");
} catch (err) {
  console.error(`hello: ${(err as Error).message}`);
  process.exit(1);
}
