/**
 * The side-by-side harness: test/parity/app.ts served by Bun.serve and by
 * fasthttp, each in a process of its own (test/parity/serve.ts), and the
 * same raw request sent to both. What comes back is reduced to what a client
 * can observe (an {@link Observation}) so that the two can be compared field
 * by field.
 * @module
 */
import * as net from "node:net";
import { join } from "node:path";
import { concat, parseResponses, ProtocolError, utf8, type HttpResponse } from "./net.ts";
import { spawnWithPort } from "./port-child.ts";

const ROOT = join(import.meta.dir, "..", "..");
const PING = utf8("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");

/** Which server. */
export type Side = "bun" | "fasthttp";

/** A served copy of the parity app. */
export interface ParityServer {
  side: Side;
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts the app under `side` on 127.0.0.1 (NODE_ENV=production, so that Bun.serve
 * answers a failed app as it does in production, not with its development error page).
 */
export async function startParity(side: Side, env: Record<string, string> = {}): Promise<ParityServer> {
  const { proc, port } = await spawnWithPort([process.execPath, join(ROOT, "test", "parity", "serve.ts"), side], {
    label: `the ${side} parity server`,
    cwd: ROOT,
    stderr: "ignore", // the app's failures are logged there on purpose
    env: { ...process.env, NODE_ENV: "production", ...env },
  });
  return {
    side,
    port,
    async stop() {
      proc.kill();
      await proc.exited;
    },
  };
}

/** What a client saw of one exchange. */
export interface Observation {
  /** The status code, or 0 if no complete head came. */
  status: number;
  reason: string;
  /** Header lines as [lower-case name, value], sorted by name (the order of equal names kept), Date left out. */
  headers: [string, string][];
  /** "length", "chunked", "none" (neither: a body-less status or HEAD), or "close" (a body read to the close). */
  framing: string;
  /** The body as latin1 (so any bytes compare), after framing. */
  body: string;
  /** Whether the response arrived complete (a chunked body's last chunk, all Content-Length bytes). */
  complete: boolean;
  /** After the response: "kept" (a next request on the connection was answered), "closed" (FIN), "reset". */
  after: "kept" | "closed" | "reset" | "open";
}

function framingOf(res: HttpResponse, head: boolean): string {
  const names = res.headerList.map(([n]) => n.toLowerCase());
  if (names.includes("transfer-encoding")) return head ? "chunked (head)" : "chunked";
  if (names.includes("content-length")) return head ? "length (head)" : "length";
  return head || res.status < 200 || res.status === 204 || res.status === 304 ? "none" : "close";
}

function observationOf(res: HttpResponse, head: boolean, complete: boolean, after: Observation["after"]): Observation {
  const headers = res.headerList
    .filter(([n]) => n.toLowerCase() !== "date")
    .map(([n, v]): [string, string] => [n.toLowerCase(), v]);
  headers.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return {
    status: res.status,
    reason: res.reason,
    headers,
    framing: framingOf(res, head),
    body: Buffer.from(res.body).toString("latin1"),
    complete,
    after,
  };
}

/** The head of a response whose body never completed: the status line and headers, the body bytes so far. */
function partial(data: Uint8Array, head: boolean, after: Observation["after"]): Observation {
  const text = Buffer.from(data).toString("latin1");
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return { status: 0, reason: "", headers: [], framing: "none", body: text, complete: false, after };
  const lines = text.slice(0, end).split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0]!);
  const list: [string, string][] = lines.slice(1).map((l) => {
    const c = l.indexOf(":");
    return [l.slice(0, c), l.slice(c + 1).trim()];
  });
  const res = { status: m ? Number(m[1]) : 0, reason: m?.[2] ?? "", headerList: list, body: new Uint8Array(0) } as unknown as HttpResponse;
  const o = observationOf(res, head, false, after);
  o.body = text.slice(end + 4); // raw: chunk framing included
  return o;
}

/**
 * Sends `request` on a new connection to `port`, reads the response, then asks
 * `GET /ping` on the same connection to learn whether it was kept. Gives up
 * after `timeoutMs` (the connection is then reported "open").
 */
export function observe(port: number, request: string | Uint8Array, options: { head?: boolean; timeoutMs?: number } = {}): Promise<Observation> {
  const head = options.head ?? (typeof request === "string" && request.startsWith("HEAD "));
  const timeoutMs = options.timeoutMs ?? 3000;
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    let data: Uint8Array = new Uint8Array(0);
    let first: HttpResponse | null = null;
    let firstComplete = false;
    let done = false;
    const finish = (after: Observation["after"]): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (first !== null) return resolve(observationOf(first, head, firstComplete, after));
      // No complete response: read what came as a body that ran to the close (or stopped short).
      try {
        const { responses } = parseResponses(data, { noBody: head, closed: true });
        if (responses.length > 0 && after === "closed") return resolve(observationOf(responses[0]!, head, true, after));
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
      }
      resolve(partial(data, head, after));
    };
    const timer = setTimeout(() => finish("open"), timeoutMs);
    socket.on("connect", () => {
      socket.setNoDelay(true);
      socket.write(utf8(request));
    });
    socket.on("data", (chunk) => {
      data = concat(data, utf8(chunk));
      let responses: HttpResponse[];
      try {
        responses = parseResponses(data, { noBody: [head, false] }).responses;
      } catch {
        return; // not parseable yet (or ever): what came is reported at the end
      }
      if (first === null && responses.length >= 1) {
        first = responses[0]!;
        firstComplete = true;
        socket.write(PING);
      }
      if (responses.length >= 2) finish("kept");
    });
    socket.on("end", () => finish("closed"));
    socket.on("error", () => finish("reset"));
    socket.on("close", () => finish("closed"));
  });
}

/** Reads `/log?key=` from a parity server: what the app noted (a stream's cancel(), a signal's abort). */
export async function logOf(port: number, key: string): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${port}/log?key=${encodeURIComponent(key)}`);
  return (await res.json()) as string[];
}

/** Lets the stream or answer waiting on `key` go on (`/release?key=`). */
export async function release(port: number, key: string): Promise<string> {
  return await (await fetch(`http://127.0.0.1:${port}/release?key=${encodeURIComponent(key)}`)).text();
}
