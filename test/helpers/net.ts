/**
 * Raw-TCP helpers for fasthttp's tests.
 *
 * Tests talk to the server the way a client on the wire does: exact bytes written to a socket on
 * 127.0.0.1, and the bytes that come back split into HTTP/1.1 responses by a small parser that
 * frames bodies by Content-Length (or chunked, or until close). Nothing here goes through an HTTP
 * client library, so what a test asserts is what the server really sent.
 *
 * Every wait is bounded: a broken server makes a test fail with a message saying what it was
 * waiting for and what had arrived so far, never hang the run.
 *
 * @example
 * const { port } = await startServer(() => utf8("hi"));
 * const client = await Client.connect(port);
 * await client.write(httpRequest("GET", "/"));
 * const [res] = await client.next();
 * expect(res.status).toBe(200);
 * // afterEach(cleanup) destroys the client and stops the server.
 */
import net from "node:net";
import { newServer, type Handler, type Server, type ServerConfig } from "../../src/index.ts";

const encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();
const latin1Decoder = new TextDecoder("latin1");

/** How long a helper waits by default before giving up. */
export const DEFAULT_TIMEOUT_MS = 3000;
/** How long stopping a server may take before the helper reports it as stuck. */
const STOP_TIMEOUT_MS = 2000;
/** A response head larger than this is treated as garbage rather than waited for. */
const MAX_RESPONSE_HEAD = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Small utilities

/** Polls `cond` every `every` ms until it holds or `ms` pass; returns whether it held. */
export async function until(cond: () => boolean, ms: number, every = 10): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, every));
  }
  return cond();
}

/** Encodes text as UTF-8 bytes; bytes pass through unchanged. */
export function utf8(data: string | Uint8Array): Uint8Array {
  return typeof data === "string" ? encoder.encode(data) : data;
}

/** Decodes bytes as UTF-8 text. */
export function text(data: Uint8Array): string {
  return utf8Decoder.decode(data);
}

/** Concatenates byte arrays (or strings, encoded as UTF-8) into one new array. */
export function concat(...parts: (string | Uint8Array)[]): Uint8Array {
  const bytes = parts.map(utf8);
  const out = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of bytes) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Settles like `promise`, or rejects with an Error naming `what` once `ms` milliseconds pass.
 * The timer is cleared either way, so a settled wait leaves nothing behind.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** Shows bytes for an error message: printable ASCII kept, CR/LF escaped, long input cut. */
export function preview(data: Uint8Array, max = 200): string {
  const shown = latin1Decoder.decode(data.subarray(0, max)).replace(/\r/g, "\\r").replace(/\n/g, "\\n");
  return JSON.stringify(shown) + (data.length > max ? ` ...(${data.length} bytes)` : "");
}

// ---------------------------------------------------------------------------------------------
// Building requests and responses

export type HeaderList = Record<string, string> | [string, string][];

export interface RequestOptions {
  /** "HTTP/1.1" unless given. */
  version?: string;
  /** Extra headers, in order. A Host header is added for HTTP/1.1 unless one is given. */
  headers?: HeaderList;
  /** A body; Content-Length is added for it unless a Content-Length or Transfer-Encoding is given. */
  body?: string | Uint8Array;
}

/**
 * The bytes of one HTTP request.
 *
 * @example
 * httpRequest("POST", "/user", { headers: { "Content-Type": "application/json" }, body: "{}" });
 */
export function httpRequest(method: string, path: string, options: RequestOptions = {}): Uint8Array {
  const version = options.version ?? "HTTP/1.1";
  const headers = Array.isArray(options.headers) ? [...options.headers] : Object.entries(options.headers ?? {});
  const has = (name: string) => headers.some(([n]) => n.toLowerCase() === name);
  if (version === "HTTP/1.1" && !has("host")) headers.unshift(["Host", "127.0.0.1"]);
  const body = options.body === undefined ? undefined : utf8(options.body);
  if (body !== undefined && !has("content-length") && !has("transfer-encoding")) {
    headers.push(["Content-Length", String(body.length)]);
  }
  const head = `${method} ${path} ${version}\r\n` + headers.map(([n, v]) => `${n}: ${v}\r\n`).join("") + "\r\n";
  return body === undefined ? utf8(head) : concat(head, body);
}

/**
 * The bytes of a complete raw response, as a handler may return it (Content-Length is added
 * unless a header list already has one).
 */
export function rawResponse(status: number, reason: string, headers: HeaderList, body: string | Uint8Array = ""): Uint8Array {
  const list = Array.isArray(headers) ? [...headers] : Object.entries(headers);
  const bytes = utf8(body);
  if (!list.some(([n]) => n.toLowerCase() === "content-length")) list.push(["Content-Length", String(bytes.length)]);
  return concat(`HTTP/1.1 ${status} ${reason}\r\n` + list.map(([n, v]) => `${n}: ${v}\r\n`).join("") + "\r\n", bytes);
}

// ---------------------------------------------------------------------------------------------
// Parsing responses

/** One parsed HTTP/1.x response. */
export interface HttpResponse {
  version: string;
  status: number;
  reason: string;
  /** Header values by lower-case name; a repeated header's values are joined with ", ". */
  headers: Record<string, string>;
  /** Every header line as sent, in order. */
  headerList: [string, string][];
  /** The body after framing (chunked bodies decoded). */
  body: Uint8Array;
  /** The body decoded as UTF-8. */
  readonly text: string;
  /** The exact bytes of the whole response, head and body. */
  raw: Uint8Array;
}

/** The server sent bytes that are not a well-formed HTTP/1.x response. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/** Which responses were to requests that can have no body (HEAD): one flag for all, or one per response. */
export type NoBody = boolean | boolean[];

function noBodyAt(noBody: NoBody | undefined, index: number): boolean {
  return Array.isArray(noBody) ? noBody[index] === true : noBody === true;
}

function indexOfSequence(buf: Uint8Array, from: number, end: number, seq: readonly number[]): number {
  for (let i = buf.indexOf(seq[0]!, from); i >= 0 && i + seq.length <= end; i = buf.indexOf(seq[0]!, i + 1)) {
    let match = true;
    for (let k = 1; k < seq.length; k++) {
      if (buf[i + k] !== seq[k]) {
        match = false;
        break;
      }
    }
    if (match) return i;
  }
  return -1;
}
const CRLF = [13, 10] as const;
const CRLFCRLF = [13, 10, 13, 10] as const;

/**
 * An incremental splitter of a byte stream into HTTP/1.x responses. Bytes are pushed as they
 * arrive; `next()` returns the next complete response, or undefined until enough has arrived.
 * Framing follows RFC 9112 section 6.3: no body for HEAD, 1xx, 204 and 304; chunked; then
 * Content-Length; otherwise the body runs until the server closes.
 */
export class ResponseParser {
  #buf = new Uint8Array(16 * 1024);
  #start = 0; // the first byte not yet returned in a response
  #end = 0; // one past the last buffered byte
  #scanFrom = 0; // where the search for the end of the current head resumes

  /** Appends received bytes. */
  push(chunk: Uint8Array): void {
    if (this.#end + chunk.length > this.#buf.length) this.#makeRoom(chunk.length);
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** How many received bytes have not been returned as part of a response. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** The received bytes not yet returned as part of a response. */
  unparsed(): Uint8Array {
    return this.#buf.slice(this.#start, this.#end);
  }

  /**
   * The next complete response, or undefined if more bytes are needed. `noBody` says the
   * response answers a HEAD request; `eof` says the server has closed, which completes a body
   * that runs until close. Throws ProtocolError on bytes that cannot be a response.
   */
  next(noBody = false, eof = false): HttpResponse | undefined {
    const buf = this.#buf;
    const start = this.#start;
    const end = this.#end;
    if (start === end) return undefined;
    const headEnd = indexOfSequence(buf, Math.max(this.#scanFrom, start), end, CRLFCRLF);
    if (headEnd < 0) {
      this.#scanFrom = Math.max(start, end - 3);
      if (end - start > MAX_RESPONSE_HEAD) throw new ProtocolError(`no end of response head in ${preview(this.unparsed())}`);
      // Fail early on garbage rather than waiting for a blank line that will never come.
      if (end - start >= 5 && latin1Decoder.decode(buf.subarray(start, start + 5)) !== "HTTP/") {
        throw new ProtocolError(`expected a status line, got ${preview(this.unparsed())}`);
      }
      return undefined;
    }
    this.#scanFrom = start; // the head is known; a later call finds it again at once

    const lines = latin1Decoder.decode(buf.subarray(start, headEnd)).split("\r\n");
    const statusLine = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]!);
    if (!statusLine) throw new ProtocolError(`bad status line ${JSON.stringify(lines[0])} in ${preview(this.unparsed())}`);
    const status = Number(statusLine[2]);
    const headerList: [string, string][] = [];
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) throw new ProtocolError(`bad header line ${JSON.stringify(line)} in ${preview(this.unparsed())}`);
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      headerList.push([name, value]);
      const key = name.toLowerCase();
      headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
    }

    const bodyStart = headEnd + 4;
    let body: Uint8Array;
    let next: number;
    if (noBody || (status >= 100 && status < 200) || status === 204 || status === 304) {
      body = new Uint8Array(0);
      next = bodyStart;
    } else if (/(^|,)\s*chunked\s*$/i.test(headers["transfer-encoding"] ?? "")) {
      const chunked = this.#dechunk(bodyStart);
      if (!chunked) return undefined;
      [body, next] = chunked;
    } else if (headers["content-length"] !== undefined) {
      const values = headers["content-length"].split(",").map((v) => v.trim());
      if (!values.every((v) => /^\d+$/.test(v) && v === values[0])) {
        throw new ProtocolError(`bad Content-Length ${JSON.stringify(headers["content-length"])}`);
      }
      const length = Number(values[0]);
      if (end - bodyStart < length) return undefined;
      body = buf.slice(bodyStart, bodyStart + length);
      next = bodyStart + length;
    } else {
      if (!eof) return undefined;
      body = buf.slice(bodyStart, end);
      next = end;
    }

    const raw = buf.slice(start, next);
    this.#start = next;
    this.#scanFrom = next;
    return {
      version: statusLine[1]!,
      status,
      reason: statusLine[3] ?? "",
      headers,
      headerList,
      body,
      get text() {
        return text(body);
      },
      raw,
    };
  }

  /** Decodes a chunked body starting at `at`: [body, index after it], or undefined if incomplete. */
  #dechunk(at: number): [Uint8Array, number] | undefined {
    const buf = this.#buf;
    const end = this.#end;
    const parts: Uint8Array[] = [];
    for (;;) {
      const lineEnd = indexOfSequence(buf, at, end, CRLF);
      if (lineEnd < 0) return undefined;
      const size = latin1Decoder.decode(buf.subarray(at, lineEnd)).split(";")[0]!.trim();
      if (!/^[0-9a-fA-F]+$/.test(size)) throw new ProtocolError(`bad chunk size ${JSON.stringify(size)}`);
      const length = parseInt(size, 16);
      at = lineEnd + 2;
      if (length === 0) break;
      if (end - at < length + 2) return undefined;
      parts.push(buf.subarray(at, at + length));
      at += length;
      if (buf[at] !== 13 || buf[at + 1] !== 10) throw new ProtocolError("chunk not followed by CRLF");
      at += 2;
    }
    for (;;) {
      // Trailer fields, up to an empty line.
      const lineEnd = indexOfSequence(buf, at, end, CRLF);
      if (lineEnd < 0) return undefined;
      const empty = lineEnd === at;
      at = lineEnd + 2;
      if (empty) break;
    }
    return [concat(...parts), at];
  }

  #makeRoom(extra: number): void {
    const live = this.#end - this.#start;
    let capacity = this.#buf.length;
    while (capacity < live + extra) capacity *= 2;
    if (capacity === this.#buf.length) {
      this.#buf.copyWithin(0, this.#start, this.#end);
    } else {
      const grown = new Uint8Array(capacity);
      grown.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = grown;
    }
    this.#scanFrom -= this.#start;
    this.#start = 0;
    this.#end = live;
  }
}

/**
 * Splits a whole captured byte stream into responses. `closed` says the server closed after
 * these bytes (completing a body that runs until close). `rest` holds trailing bytes that did
 * not make a complete response. Throws ProtocolError on malformed bytes.
 */
export function parseResponses(
  data: Uint8Array,
  options: { noBody?: NoBody; closed?: boolean } = {},
): { responses: HttpResponse[]; rest: Uint8Array } {
  const parser = new ResponseParser();
  parser.push(data);
  const responses: HttpResponse[] = [];
  for (;;) {
    const res = parser.next(noBodyAt(options.noBody, responses.length), options.closed ?? false);
    if (!res) break;
    responses.push(res);
  }
  return { responses, rest: parser.unparsed() };
}

// ---------------------------------------------------------------------------------------------
// One-shot requests

export interface RawResult {
  /** Everything the server sent. */
  data: Uint8Array;
  /** The server closed (or reset) the connection; false when the wait timed out instead. */
  closedByServer: boolean;
  /** The wait ended because timeoutMs passed, with the connection still open. */
  timedOut: boolean;
  /** How the server's side ended: "fin" (a clean close), "reset" (ECONNRESET or another error), "open" (timed out). */
  end: "fin" | "reset" | "open";
}

/**
 * Connects to 127.0.0.1:port, writes `bytes`, and collects everything the server sends until it
 * closes the connection or `timeoutMs` passes (then the socket is destroyed). With `end: true`
 * the client half-closes (sends FIN) right after writing. Rejects only if connecting fails.
 */
export function rawRequest(
  port: number,
  bytes: string | Uint8Array,
  options: { timeoutMs?: number; end?: boolean; host?: string } = {},
): Promise<RawResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let connected = false;
    let finished = false;
    const socket = net.connect({ port, host: options.host ?? "127.0.0.1" });
    const finish = (end: RawResult["end"]) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: concat(...chunks), closedByServer: end !== "open", timedOut: end === "open", end });
    };
    const timer = setTimeout(() => {
      if (connected) finish("open");
      else {
        finished = true;
        socket.destroy();
        reject(new Error(`connecting to port ${port} timed out after ${timeoutMs} ms`));
      }
    }, timeoutMs);
    socket.on("connect", () => {
      connected = true;
      socket.setNoDelay(true);
      if (options.end) socket.end(utf8(bytes));
      else socket.write(utf8(bytes));
    });
    socket.on("data", (chunk) => chunks.push(utf8(chunk)));
    socket.on("end", () => finish("fin"));
    socket.on("close", () => finish("reset")); // "end" comes first on a clean close
    socket.on("error", (err) => {
      if (connected) return finish("reset"); // a reset is the server closing too
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * Tries to open a connection: "connected" (then closes it), "refused", "timeout", or another
 * error code. Used to show that a stopped server no longer accepts.
 */
export function tryConnect(port: number, timeoutMs = 1000, host = "127.0.0.1"): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (outcome: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done("timeout"), timeoutMs);
    socket.once("connect", () => done("connected"));
    socket.once("error", (err: NodeJS.ErrnoException) => done(err.code === "ECONNREFUSED" ? "refused" : (err.code ?? String(err))));
  });
}

/** A port that was free a moment ago: bind a throwaway listener on port 0, read it, close it. */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const probe = net.createServer();
      probe.once("error", reject);
      probe.listen(0, host, () => {
        const { port } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(port));
      });
    }),
    DEFAULT_TIMEOUT_MS,
    "a free port",
  );
}

// ---------------------------------------------------------------------------------------------
// Persistent connections

const liveClients = new Set<Client>();

/**
 * A persistent client connection: write bytes, await the next N parsed responses, and watch
 * whether the server closed. Received bytes are buffered and parsed only when asked, so a test
 * can say which responses answer HEAD requests.
 *
 * @example
 * const client = await Client.connect(port);
 * await client.write(concat(httpRequest("GET", "/a"), httpRequest("GET", "/b")));
 * const [a, b] = await client.next(2);
 * expect(await client.waitClosed(100)).toBe(false); // still open
 */
export class Client {
  readonly socket: net.Socket;
  #parser = new ResponseParser();
  #closed = false;
  #error: Error | undefined;
  #wakers = new Set<() => void>();

  private constructor(socket: net.Socket) {
    this.socket = socket;
    liveClients.add(this);
    socket.on("data", (chunk) => {
      this.#parser.push(utf8(chunk));
      this.#wake();
    });
    const closed = () => {
      this.#closed = true;
      this.#wake();
    };
    socket.on("end", closed);
    socket.on("close", () => {
      liveClients.delete(this);
      closed();
    });
    socket.on("error", (err) => {
      this.#error = err;
      closed();
    });
  }

  /** Opens a connection to host:port (127.0.0.1 by default) with Nagle off. */
  static connect(port: number, options: { timeoutMs?: number; host?: string } = {}): Promise<Client> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const socket = net.connect({ port, host: options.host ?? "127.0.0.1" });
    const client = new Client(socket);
    return withTimeout(
      new Promise<Client>((resolve, reject) => {
        socket.once("connect", () => {
          socket.setNoDelay(true);
          resolve(client);
        });
        socket.once("error", reject);
      }),
      timeoutMs,
      `a connection to port ${port}`,
    ).catch((err) => {
      socket.destroy();
      throw err;
    });
  }

  /** True once the server has closed or reset the connection (or it was destroyed). */
  get closed(): boolean {
    return this.#closed;
  }

  /** The socket error that ended the connection, if any (e.g. ECONNRESET). */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Bytes received but not yet returned by next(). */
  get pendingBytes(): number {
    return this.#parser.buffered;
  }

  /** Writes bytes; resolves once they are handed to the kernel (bounded by timeoutMs). */
  write(data: string | Uint8Array, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    const written = new Promise<void>((resolve, reject) => {
      this.socket.write(utf8(data), (err) => (err ? reject(err) : resolve()));
    });
    return withTimeout(written, timeoutMs, "a write to be flushed");
  }

  /** Writes optional final bytes and half-closes the connection (sends FIN); reading goes on. */
  end(data?: string | Uint8Array): void {
    if (data === undefined) this.socket.end();
    else this.socket.end(utf8(data));
  }

  /** Stops reading from the socket, so the kernel buffers fill and the server meets backpressure. */
  pause(): void {
    this.socket.pause();
  }

  /** Starts reading again after pause(). */
  resume(): void {
    this.socket.resume();
  }

  /**
   * Waits for the next `n` responses. Rejects if the server closes first, if the bytes are not
   * responses, or after timeoutMs, each time saying how far it got and what was unparsed.
   */
  async next(n = 1, options: { timeoutMs?: number; noBody?: NoBody } = {}): Promise<HttpResponse[]> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const out: HttpResponse[] = [];
    while (out.length < n) {
      const res = this.#parser.next(noBodyAt(options.noBody, out.length), this.#closed);
      if (res) {
        out.push(res);
        continue;
      }
      const where = `response ${out.length + 1} of ${n}; ${this.#parser.buffered} unparsed bytes ${preview(this.#parser.unparsed())}`;
      if (this.#closed) {
        const why = this.#error ? ` (${this.#error.message})` : "";
        throw new Error(`the server closed the connection${why} before ${where}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${where}`);
      await this.#activity(left);
    }
    return out;
  }

  /** Writes one request and waits for its response. */
  async request(data: string | Uint8Array, options: { timeoutMs?: number; noBody?: boolean } = {}): Promise<HttpResponse> {
    await this.write(data, options.timeoutMs);
    const [res] = await this.next(1, options);
    return res!;
  }

  /**
   * Waits up to timeoutMs for the server to close the connection: true if it did. A test that
   * expects the connection to stay open asserts false after a short wait.
   */
  async waitClosed(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await this.#activity(left);
    }
    return true;
  }

  /** Closes the connection at once. */
  destroy(): void {
    this.socket.destroy();
    liveClients.delete(this);
  }

  #activity(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wakers.add(wake);
    });
  }

  #wake(): void {
    for (const wake of [...this.#wakers]) wake();
  }
}

// ---------------------------------------------------------------------------------------------
// Servers under test

/** A running server on an ephemeral loopback port, tracked so cleanup() can stop it. */
export interface TestServer extends AsyncDisposable {
  server: Server;
  port: number;
  /** The promise returned by run(). */
  done: Promise<void>;
  /** stop() and then run()'s promise, each bounded; idempotent. Falls back to stop(true) if stuck. */
  stop(force?: boolean): Promise<void>;
}

export type ServerFactory = (config: ServerConfig) => Server;

const liveServers = new Set<TestServer>();

/**
 * Returns a `start(handler, extraConfig?)` bound to a server factory and a base config, so one
 * conformance suite can run against each implementation (see test/suites/core.ts).
 */
export function serverHarness(factory: ServerFactory, base: Partial<ServerConfig> = {}) {
  return async function start(handler: Handler, extraConfig: Partial<ServerConfig> = {}): Promise<TestServer> {
    const server = factory({ port: 0, host: "127.0.0.1", ...base, ...extraConfig, handler });
    const done = server.run();
    done.catch(() => {}); // observed here; tests that care await `done` themselves
    const port = server.port;
    if (!Number.isInteger(port) || port <= 0) {
      await withTimeout(done, 2000, "run() to settle after it returned without a port");
      throw new Error(`run() returned but server.port is ${port}`);
    }
    let stopping: Promise<void> | undefined;
    const testServer: TestServer = {
      server,
      port,
      done,
      stop(force = false) {
        stopping ??= (async () => {
          liveServers.delete(testServer);
          try {
            await withTimeout(server.stop(force), STOP_TIMEOUT_MS, "server.stop()");
          } catch (err) {
            if (!force) await withTimeout(server.stop(true), STOP_TIMEOUT_MS, "server.stop(true)").catch(() => {});
            throw err;
          }
          await withTimeout(done, STOP_TIMEOUT_MS, "run()'s promise to settle after stop()");
        })();
        return stopping;
      },
      [Symbol.asyncDispose]() {
        return testServer.stop();
      },
    };
    liveServers.add(testServer);
    return testServer;
  };
}

/**
 * Starts `handler` on 127.0.0.1 with an ephemeral port (plus any extra config) and waits until
 * run() has returned with server.port set. Rejects if binding fails.
 *
 * @example
 * const s = await startServer((req) => utf8(req.string(req.path)), { maxHeaderSize: 1024 });
 * // ... s.port ...; await s.stop() or afterEach(cleanup)
 */
export const startServer = serverHarness(newServer);

/**
 * Destroys every client connection and stops every server the helpers started and that is still
 * running. Call it from afterEach so one failing test cannot leak servers into the next.
 * Rejects (after trying them all) if a server could not be stopped.
 */
export async function cleanup(): Promise<void> {
  for (const client of [...liveClients]) client.destroy();
  const results = await Promise.allSettled([...liveServers].map((s) => s.stop()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}
