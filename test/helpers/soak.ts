/**
 * The soak load: many keep-alive connections, each sending pipelined batches
 * of mixed requests (plain and large bodies, Content-Length and chunked
 * uploads, raw and async responses, handler errors, `Connection: close` and
 * a malformed request that the server answers 400 and closes), reconnecting
 * when the server closes. Used by test/faults.test.ts (CI-sized) and by
 * bench/soak.ts (a million requests).
 */
import type { Socket } from "bun";
import { ResponseCounter } from "./response-counter.ts";

const HOST = "Host: soak\r\n";
const chunkedBody = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n";
/** Requests that keep the connection open; a batch picks from these in turn. */
const KEEP = [
  `GET / HTTP/1.1\r\n${HOST}\r\n`,
  `POST /echo HTTP/1.1\r\n${HOST}Content-Length: 1000\r\n\r\n${"b".repeat(1000)}`,
  `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n${chunkedBody}`,
  `GET /big/30000 HTTP/1.1\r\n${HOST}\r\n`,
  `GET /raw/1000 HTTP/1.1\r\n${HOST}\r\n`,
  `GET /async/0 HTTP/1.1\r\n${HOST}\r\n`,
  `GET /big/200 HTTP/1.1\r\n${HOST}\r\n`,
  `GET /throw HTTP/1.1\r\n${HOST}\r\n`,
  `GET /reject HTTP/1.1\r\n${HOST}\r\n`,
  `GET /async-big/0/50000 HTTP/1.1\r\n${HOST}\r\n`,
].map((s) => Buffer.from(s, "latin1"));
/** Requests after which the server closes: they end a batch. */
const CLOSE = [`GET /close HTTP/1.1\r\n${HOST}\r\n`, `GET /x HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`, "GET\r\n\r\n"].map((s) =>
  Buffer.from(s, "latin1"),
);

export interface SoakOptions {
  port: number;
  /** Requests to send in all. */
  total: number;
  /** Connections at once. */
  connections?: number;
  /** Requests per pipelined batch. */
  depth?: number;
  /** One batch in `closeEvery` ends with a request after which the server closes. */
  closeEvery?: number;
  /** Gives up (with an error) after this long. */
  timeoutMs?: number;
  /** Called about every `progressEvery` requests. */
  onProgress?: (done: number) => void;
  progressEvery?: number;
}

export interface SoakResult {
  requests: number;
  responses: number;
  statuses: Record<string, number>;
  reconnects: number;
  /** Batches that failed: the connection closed or reset before all answers came. */
  failures: number;
  /** What happened to the first few failed batches. */
  failureNotes: string[];
  ms: number;
}

interface ConnState {
  counter: ResponseCounter;
  want: number;
  resolve?: (ok: boolean) => void;
  why?: string;
}

function connect(port: number): Promise<Socket<ConnState> | null> {
  return new Promise((resolve) => {
    const settle = (s: Socket<ConnState>, ok: boolean) => {
      const r = s.data.resolve;
      s.data.resolve = undefined;
      r?.(ok);
    };
    Bun.connect<ConnState>({
      hostname: "127.0.0.1",
      port,
      data: { counter: new ResponseCounter(), want: 0 },
      socket: {
        open: (s) => resolve(s),
        data(s, chunk) {
          s.data.counter.push(chunk);
          if (s.data.counter.count >= s.data.want) settle(s, true);
        },
        close: (s) => {
          s.data.why ??= "closed";
          settle(s, s.data.counter.count >= s.data.want);
        },
        error: (s, e) => {
          s.data.why = `error ${(e as NodeJS.ErrnoException).code ?? e}`;
          settle(s, false);
        },
        connectError: () => resolve(null),
      },
    }).catch(() => resolve(null));
  });
}

/** Runs the soak; resolves when `total` requests have been answered (or failed). */
export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const conns = o.connections ?? 16;
  const depth = o.depth ?? 16;
  const closeEvery = o.closeEvery ?? 25;
  const deadline = Date.now() + (o.timeoutMs ?? 120_000);
  const progressEvery = o.progressEvery ?? 50_000;
  const statuses = new Map<number, number>();
  let sent = 0;
  let responses = 0;
  let reconnects = 0;
  let failures = 0;
  let nextProgress = progressEvery;
  let batchNo = 0;
  const failureNotes: string[] = [];
  const start = Date.now();

  const worker = async () => {
    let s: Socket<ConnState> | null = null;
    while (sent < o.total) {
      if (Date.now() > deadline) throw new Error(`soak: timed out after ${sent} requests`);
      if (s === null) {
        s = await connect(o.port);
        if (s === null) {
          failures++;
          await Bun.sleep(10);
          continue;
        }
      }
      const n = Math.min(depth, o.total - sent);
      if (n <= 0) break; // the others sent the rest while this one connected
      sent += n;
      const closing = ++batchNo % closeEvery === 0;
      const parts: Buffer[] = [];
      for (let i = 0; i < n; i++) {
        parts.push(closing && i === n - 1 ? CLOSE[batchNo % CLOSE.length]! : KEEP[(batchNo + i) % KEEP.length]!);
      }
      const before = s.data.counter.count;
      const conn = s;
      const ok = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          conn.data.why = "timed out";
          resolve(false);
        }, 10_000);
        conn.data.want = before + n;
        conn.data.resolve = (v) => {
          clearTimeout(timer);
          resolve(v);
        };
        conn.write(Buffer.concat(parts));
      });
      responses += conn.data.counter.count - before;
      if (!ok) {
        failures++;
        const got = conn.data.counter.count - before;
        const why = `${conn.data.why ?? "?"} after ${got} of ${n} responses (batch: ${parts.map((p) => p.toString("latin1").split(" ")[1]).join(" ")})`;
        if (failureNotes.length < 10) failureNotes.push(why);
      }
      if (closing || !ok) {
        merge(conn.data.counter);
        conn.end();
        s = null;
        reconnects++;
      }
      if (o.onProgress && sent >= nextProgress) {
        nextProgress += progressEvery;
        o.onProgress(sent);
      }
    }
    if (s) {
      merge(s.data.counter);
      s.end();
    }
  };
  const merge = (c: ResponseCounter) => {
    for (const [k, v] of c.statuses) statuses.set(k, (statuses.get(k) ?? 0) + v);
  };
  await Promise.all(Array.from({ length: conns }, worker));
  return {
    requests: sent,
    responses,
    statuses: Object.fromEntries(statuses),
    reconnects,
    failures,
    failureNotes,
    ms: Date.now() - start,
  };
}
