/**
 * Holds thousands of keep-alive connections to a server, in a process of its
 * own (so its descriptor limit can be raised apart from the test runner's).
 * Started by the fault tests with IPC; every command answers once done:
 *
 *   { cmd: "open", port, n, concurrency }  opens n connections, each sends
 *       "GET /" and waits for its response; answers { opened, answered, failed, ms }
 *   { cmd: "again" }   one more request on every open connection (they are
 *       still alive and served); answers { answered, failed, ms }
 *   { cmd: "close" }   closes them all; answers { closed }
 *
 * Every wait is bounded by `timeoutMs` (default 15 s).
 */
import type { Socket } from "bun";
import { ResponseCounter } from "./response-counter.ts";

const REQUEST = Buffer.from("GET / HTTP/1.1\r\nHost: flood\r\n\r\n");

interface Conn {
  counter: ResponseCounter;
  want: number;
  resolve?: (ok: boolean) => void;
  closed: boolean;
}

const open = new Set<Socket<Conn>>();

function answered(s: Socket<Conn>, ok: boolean): void {
  const r = s.data.resolve;
  s.data.resolve = undefined;
  r?.(ok);
}

function connectOne(port: number, timeoutMs: number): Promise<Socket<Conn> | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), timeoutMs);
    Bun.connect<Conn>({
      hostname: "127.0.0.1",
      port,
      data: { counter: new ResponseCounter(), want: 0, closed: false },
      socket: {
        open(s) {
          clearTimeout(timer);
          resolve(s);
        },
        data(s, chunk) {
          s.data.counter.push(chunk);
          if (s.data.counter.count >= s.data.want) answered(s, true);
        },
        close(s) {
          s.data.closed = true;
          open.delete(s);
          answered(s, false);
        },
        error(s) {
          s.data.closed = true;
          answered(s, false);
        },
        connectError() {
          clearTimeout(timer);
          resolve(null);
        },
      },
    }).catch(() => {
      clearTimeout(timer);
      resolve(null);
    });
  });
}

function request(s: Socket<Conn>, timeoutMs: number): Promise<boolean> {
  if (s.data.closed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => answered(s, false), timeoutMs);
    s.data.want++;
    s.data.resolve = (ok) => {
      clearTimeout(timer);
      resolve(ok);
    };
    s.write(REQUEST);
  });
}

async function openAll(port: number, n: number, concurrency: number, timeoutMs: number) {
  const start = Date.now();
  let next = 0;
  let opened = 0;
  let ok = 0;
  let failed = 0;
  const worker = async () => {
    while (next < n && Date.now() - start < timeoutMs) {
      next++;
      const s = await connectOne(port, timeoutMs);
      if (!s) {
        failed++;
        continue;
      }
      open.add(s);
      opened++;
      if (await request(s, timeoutMs)) ok++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { opened, answered: ok, failed, ms: Date.now() - start };
}

async function again(timeoutMs: number) {
  const start = Date.now();
  const results = await Promise.all([...open].map((s) => request(s, timeoutMs)));
  const ok = results.filter(Boolean).length;
  return { answered: ok, failed: results.length - ok, ms: Date.now() - start };
}

process.on("message", async (m: { cmd: string; port?: number; n?: number; concurrency?: number; timeoutMs?: number }) => {
  const timeoutMs = m.timeoutMs ?? 15_000;
  if (m.cmd === "open") process.send!(await openAll(m.port!, m.n!, m.concurrency ?? 200, timeoutMs));
  else if (m.cmd === "again") process.send!(await again(timeoutMs));
  else if (m.cmd === "close") {
    const n = open.size;
    for (const s of open) s.end();
    open.clear();
    process.send!({ closed: n });
  }
});
process.send!({ ready: true });
