// RFC 9112 strictness suite: every case of test/cases/requests.ts is sent as raw bytes on its own
// connection to a real server, plus incomplete-prefix, split-write, pipelining and Expect checks.
//
// The handler answers every request with a JSON body describing what it saw, so each connection's
// responses tell which requests reached the handler (no per-connection bookkeeping on the server side
// is needed, and the cases can run in parallel).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { newServer } from "../src/index.ts";
import { cases, type HandledExpect, type RequestCase } from "./cases/requests.ts";

const CASE_TIMEOUT_MS = 2500; // longest wait for one exchange (bounded; a hung server fails, not blocks)
const SETTLE_MS = 150; // quiet time after the expected responses, to catch an extra (smuggled) one
const KEEP_OPEN_MS = 300; // how long a connection that must stay open is watched after its response
const PREFIX_WAIT_MS = 300; // how long an incomplete prefix is left alone before the rest is sent
const CONCURRENCY = 48; // connections in flight at once

// ─────────────────────────────── server ───────────────────────────────

interface Seen {
  __seen: 1;
  m: string; // method
  p: string; // path (request-target as the server reports it)
  bl: number; // body length in bytes
  b: string; // body text (only when short)
  x: string | null; // req.header("x-probe")
}

const handlerLog: Seen[] = [];
const encoder = new TextEncoder();

let server: ReturnType<typeof newServer> | undefined;
let running: Promise<void> | undefined;
let port = 0;

beforeAll(() => {
  server = newServer({
    host: "127.0.0.1",
    port: 0,
    // A body larger than a slab streams: it is read whole first (a body that fails, e.g. 413, rejects,
    // and the server's own answer is what the client sees).
    handler: (req) => {
      const answer = (body: Uint8Array) => {
        const seen: Seen = {
          __seen: 1,
          m: req.string(req.method),
          p: req.string(req.path),
          bl: body.length,
          b: body.length <= 4096 ? new TextDecoder().decode(body) : "",
          x: req.header("x-probe") ?? null,
        };
        handlerLog.push(seen);
        return encoder.encode(JSON.stringify(seen));
      };
      if (req.bodyStreamed) return req.readBody().then(answer);
      return answer(req.bytes(req.body));
    },
  });
  running = server.run();
  running.catch(() => {});
  port = server.port;
  if (!port) throw new Error("server did not report a bound port after run()");
});

afterAll(async () => {
  if (!server) return;
  const stopped = Promise.all([server.stop(true), running]).catch(() => {});
  await Promise.race([stopped, Bun.sleep(3000)]);
});

// ─────────────────────────── response parsing ───────────────────────────

interface Resp {
  status: number;
  statusLine: string;
  body: Buffer;
  seen?: Seen; // set when the response came from the test handler
}

function parseResponses(buf: Buffer, atEof: boolean): { responses: Resp[]; leftover: number } {
  const responses: Resp[] = [];
  let off = 0;
  while (off < buf.length) {
    const headEnd = buf.indexOf("\r\n\r\n", off, "latin1");
    if (headEnd < 0) break;
    const lines = buf.subarray(off, headEnd).toString("latin1").split("\r\n");
    const m = /^HTTP\/\d\.\d (\d{3})/.exec(lines[0] ?? "");
    if (!m) break; // not a response: stop (the leftover is reported)
    const status = Number(m[1]);
    let contentLength: number | undefined;
    let chunked = false;
    for (const line of lines.slice(1)) {
      const i = line.indexOf(":");
      if (i < 0) continue;
      const name = line.slice(0, i).trim().toLowerCase();
      const value = line.slice(i + 1).trim();
      if (name === "content-length") contentLength = Number(value);
      if (name === "transfer-encoding" && /chunked/i.test(value)) chunked = true;
    }
    const bodyStart = headEnd + 4;
    let body: Buffer;
    if (status < 200 || status === 204 || status === 304) {
      body = Buffer.alloc(0);
      off = bodyStart;
    } else if (contentLength !== undefined && Number.isFinite(contentLength)) {
      if (buf.length < bodyStart + contentLength) break;
      body = buf.subarray(bodyStart, bodyStart + contentLength);
      off = bodyStart + contentLength;
    } else if (chunked) {
      const parts: Buffer[] = [];
      let p = bodyStart;
      let done = false;
      for (;;) {
        const le = buf.indexOf("\r\n", p, "latin1");
        if (le < 0) break;
        const size = Number.parseInt(buf.subarray(p, le).toString("latin1"), 16);
        if (!Number.isFinite(size)) break;
        if (size === 0) {
          const end = buf.indexOf("\r\n\r\n", le, "latin1");
          if (end < 0) break;
          p = end + 4;
          done = true;
          break;
        }
        if (buf.length < le + 2 + size + 2) break;
        parts.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
      if (!done) break;
      body = Buffer.concat(parts);
      off = p;
    } else {
      if (!atEof) break; // body runs to the close
      body = buf.subarray(bodyStart);
      off = buf.length;
    }
    const resp: Resp = { status, statusLine: lines[0]!, body };
    if (status === 200 && body.length > 0 && body[0] === 0x7b) {
      try {
        const j = JSON.parse(body.toString("utf8"));
        if (j && j.__seen === 1) resp.seen = j as Seen;
      } catch {}
    }
    responses.push(resp);
  }
  return { responses, leftover: buf.length - off };
}

// ─────────────────────────────── exchange ───────────────────────────────

interface ExchangeResult {
  responses: Resp[];
  closed: boolean; // the server closed (FIN or reset) within the wait
  error?: string;
  received: Buffer;
  leftover: number; // trailing bytes that did not parse as a complete response
  beforeSecondWrite?: { bytes: number; closed: boolean }; // state just before the second write
}

interface ExchangeOptions {
  gapMs?: number; // delay between consecutive parts
  want: number; // final responses that complete the exchange
  waitClose: boolean; // keep waiting until the server closes (up to the timeout)
  quietMs: number; // after `want` final responses, finish once no data arrived for this long
  timeoutMs?: number;
}

function exchange(parts: Buffer[], opts: ExchangeOptions): Promise<ExchangeResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = Buffer.alloc(0);
    let closed = false;
    let error: string | undefined;
    let allSent = parts.length <= 1;
    let finished = false;
    let quietTimer: ReturnType<typeof setTimeout> | undefined;
    let beforeSecondWrite: ExchangeResult["beforeSecondWrite"];
    const timers: ReturnType<typeof setTimeout>[] = [];

    const sock = net.createConnection({ host: "127.0.0.1", port });
    sock.setNoDelay(true);

    const finish = () => {
      if (finished) return;
      finished = true;
      for (const t of timers) clearTimeout(t);
      if (quietTimer) clearTimeout(quietTimer);
      sock.destroy();
      received = Buffer.concat(chunks);
      const { responses, leftover } = parseResponses(received, closed);
      resolve({ responses, closed, error, received, leftover, beforeSecondWrite });
    };

    const check = () => {
      if (finished || !allSent || opts.waitClose) return;
      const { responses } = parseResponses(Buffer.concat(chunks), false);
      const finals = responses.filter((r) => r.status >= 200).length;
      if (finals >= opts.want) {
        if (quietTimer) clearTimeout(quietTimer);
        quietTimer = setTimeout(finish, opts.quietMs);
      }
    };

    sock.on("connect", () => {
      let t = 0;
      parts.forEach((part, i) => {
        if (i === 0) {
          sock.write(part);
          return;
        }
        t += opts.gapMs ?? 0;
        timers.push(
          setTimeout(() => {
            if (finished) return;
            if (i === 1) beforeSecondWrite = { bytes: chunks.reduce((n, c) => n + c.length, 0), closed };
            if (!closed && !sock.destroyed) sock.write(part, () => {});
            if (i === parts.length - 1) {
              allSent = true;
              check();
            }
          }, t),
        );
      });
    });
    sock.on("data", (d: Buffer) => {
      chunks.push(d);
      check();
    });
    sock.on("end", () => {
      closed = true;
      if (allSent) finish();
    });
    sock.on("close", () => {
      closed = true;
      if (allSent) finish();
    });
    sock.on("error", (e: NodeJS.ErrnoException) => {
      error ??= e.code ?? e.message;
      closed = true;
      if (allSent) finish();
    });
    timers.push(setTimeout(finish, opts.timeoutMs ?? CASE_TIMEOUT_MS + (opts.gapMs ?? 0) * parts.length));
  });
}

async function inPool<T, R>(items: T[], n: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

const bytes = (s: string) => Buffer.from(s, "latin1");

function preview(buf: Buffer, max = 400): string {
  const s = JSON.stringify(buf.subarray(0, max).toString("latin1"));
  return buf.length > max ? `${s}… (${buf.length} bytes)` : s;
}

function describeOutcome(r: ExchangeResult): string {
  return `received ${preview(r.received)}; closed=${r.closed}${r.error ? ` (${r.error})` : ""}`;
}

// ─────────────────────────────── judging ───────────────────────────────

function judge(c: RequestCase, r: ExchangeResult): { expected: Record<string, unknown>; actual: Record<string, unknown> } {
  const finals = r.responses.filter((x) => x.status >= 200);
  const fromHandler = r.responses.filter((x) => x.seen).map((x) => x.seen!);
  const first = finals[0];
  const firstStatus = first ? first.status : r.closed ? "closed with no response" : "no response";
  const expected: Record<string, unknown> = {};
  const actual: Record<string, unknown> = {};
  if ("status" in c.expect) {
    expected.status = c.expect.status;
    actual.status = firstStatus;
    // Smuggling guard: nothing on this connection reached the handler.
    expected.handlerSaw = 0;
    actual.handlerSaw = fromHandler.length;
  } else {
    const e = c.expect as HandledExpect;
    expected.status = 200;
    actual.status = firstStatus;
    expected.firstFromHandler = true;
    actual.firstFromHandler = Boolean(first?.seen);
    expected.handlerSaw = e.count ?? 1;
    actual.handlerSaw = fromHandler.length;
    const h = fromHandler[0];
    if (e.method !== undefined) (expected.method = e.method), (actual.method = h?.m);
    if (e.path !== undefined) (expected.path = e.path), (actual.path = h?.p);
    if (e.body !== undefined) (expected.body = e.body), (actual.body = h?.b);
    if (e.probe !== undefined) (expected.probe = e.probe), (actual.probe = h?.x);
    if (e.bodyLength !== undefined) (expected.bodyLength = e.bodyLength), (actual.bodyLength = h?.bl);
    if (e.paths !== undefined) (expected.paths = e.paths), (actual.paths = fromHandler.map((s) => s.p));
    if (e.bodies !== undefined) (expected.bodies = e.bodies), (actual.bodies = fromHandler.map((s) => s.b));
    if (e.statuses !== undefined) (expected.statuses = e.statuses), (actual.statuses = finals.map((x) => x.status));
  }
  if (c.closes !== undefined) {
    expected.closed = c.closes;
    actual.closed = r.closed;
  }
  return { expected, actual };
}

function planFor(c: RequestCase): ExchangeOptions {
  if ("status" in c.expect) return { want: 1, waitClose: c.closes === true, quietMs: SETTLE_MS };
  const e = c.expect as HandledExpect;
  return { want: e.count ?? 1, waitClose: c.closes === true, quietMs: c.closes === false ? KEEP_OPEN_MS : SETTLE_MS };
}

// ──────────────────────────── the case table ────────────────────────────

describe("raw-byte request cases (test/cases/requests.ts)", () => {
  const results = new Map<RequestCase, ExchangeResult>();
  let handlerCallsDuringRun = 0;

  beforeAll(async () => {
    const before = handlerLog.length;
    const out = await inPool(cases, CONCURRENCY, (c) => exchange([bytes(c.raw)], planFor(c)));
    cases.forEach((c, i) => results.set(c, out[i]!));
    handlerCallsDuringRun = handlerLog.length - before;
  }, 120_000);

  test("the table is broad and well-formed", () => {
    expect(cases.length).toBeGreaterThanOrEqual(150);
    for (const c of cases) {
      expect(c.source.length).toBeGreaterThan(0);
      if ("status" in c.expect) expect(c.closes).toBe(true);
    }
  });

  for (const c of cases) {
    test(`${c.category} | ${c.name}`, () => {
      const r = results.get(c);
      if (!r) throw new Error("case did not run");
      const { expected, actual } = judge(c, r);
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        throw new Error(
          `expected ${JSON.stringify(expected)}\n     got ${JSON.stringify(actual)}\n` +
            `    sent ${preview(bytes(c.raw), 200)}\n    ${describeOutcome(r)}\n    source: ${c.source}`,
        );
      }
      expect(actual).toEqual(expected);
    });
  }

  test("every handler call during the case run produced a response the client saw", () => {
    let seenByClients = 0;
    for (const r of results.values()) seenByClients += r.responses.filter((x) => x.seen).length;
    // A larger handler count means some request reached the handler without its answer reaching the
    // client (e.g. a smuggled request handled just before an error close).
    expect(handlerCallsDuringRun).toBe(seenByClients);
  });
});

// ──────────────────────── incomplete prefixes & splits ────────────────────────

interface SplitRequest {
  name: string;
  raw: string;
  seen: [method: string, path: string, body: string][]; // what the handler must see, in order
}

const SPLIT_REQUESTS: SplitRequest[] = [
  {
    name: "GET with headers",
    raw: "GET /split/get?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: strict-test\r\nAccept: */*\r\n\r\n",
    seen: [["GET", "/split/get?x=1", ""]],
  },
  {
    name: "POST with a Content-Length body",
    raw: "POST /split/cl HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n\r\nhello world",
    seen: [["POST", "/split/cl", "hello world"]],
  },
  {
    name: "POST chunked with an extension and trailers",
    raw: "POST /split/chunked HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n",
    seen: [["POST", "/split/chunked", "hello world"]],
  },
];

// Used only for the split test: the last request of the pair is complete only at its last byte.
const PIPELINED_SPLIT: SplitRequest = {
  name: "chunked body with trailers, then a pipelined GET",
  raw: `${SPLIT_REQUESTS[2]!.raw}GET /split/after?y=2 HTTP/1.1\r\nHost: example.com\r\n\r\n`,
  seen: [
    ["POST", "/split/chunked", "hello world"],
    ["GET", "/split/after?y=2", ""],
  ],
};

// Error cases from the table, re-sent split at every byte boundary: the verdict must not depend on
// where the reads happen to break.
const SPLIT_ERROR_CASES = [
  "request-line: two SP between method and target",
  "header: bare LF between fields",
  "header: obs-fold (SP continuation)",
  "content-length: two different values",
  "transfer-encoding: CL then TE chunked (CL.TE)",
  "chunked-body: size '0_2e' (longest-prefix parse, smuggling)",
  "chunked-body: chunk data not followed by CRLF",
].map((key) => {
  const c = cases.find((x) => `${x.category}: ${x.name}` === key);
  if (!c) throw new Error(`split error case not in the table: ${key}`);
  return c;
});

const SPLIT_ERROR_GAP_MS = 40;

describe("incomplete prefixes and split writes", () => {
  // For every request and every split point i (1..len-1): send raw[0, i), wait PREFIX_WAIT_MS, record
  // what came back (must be nothing, connection open), then send raw[i, len) and read the responses.
  const runs = new Map<string, { i: number; r: ExchangeResult }[]>();
  const errorRuns = new Map<RequestCase, { i: number; r: ExchangeResult }[]>();

  beforeAll(async () => {
    type Job = { key: string; raw: string; i: number; want: number; error?: RequestCase };
    const jobs: Job[] = [];
    for (const q of [...SPLIT_REQUESTS, PIPELINED_SPLIT]) {
      for (let i = 1; i < q.raw.length; i++) jobs.push({ key: q.name, raw: q.raw, i, want: q.seen.length });
    }
    for (const c of SPLIT_ERROR_CASES) {
      for (let i = 1; i < c.raw.length; i++) jobs.push({ key: c.name, raw: c.raw, i, want: 1, error: c });
    }
    const out = await inPool(jobs, CONCURRENCY * 2, (j) =>
      exchange(
        [bytes(j.raw.slice(0, j.i)), bytes(j.raw.slice(j.i))],
        j.error
          ? { gapMs: SPLIT_ERROR_GAP_MS, want: 1, waitClose: true, quietMs: SETTLE_MS }
          : { gapMs: PREFIX_WAIT_MS, want: j.want, waitClose: false, quietMs: SETTLE_MS },
      ),
    );
    jobs.forEach((j, k) => {
      if (j.error) {
        const list = errorRuns.get(j.error) ?? [];
        list.push({ i: j.i, r: out[k]! });
        errorRuns.set(j.error, list);
      } else {
        const list = runs.get(j.key) ?? [];
        list.push({ i: j.i, r: out[k]! });
        runs.set(j.key, list);
      }
    });
  }, 120_000);

  const checkSplits = (q: SplitRequest) => {
    const bad: string[] = [];
    for (const { i, r } of runs.get(q.name) ?? []) {
      const finals = r.responses.filter((x) => x.status >= 200);
      const seen = r.responses.filter((x) => x.seen).map((x) => [x.seen!.m, x.seen!.p, x.seen!.b]);
      const ok = finals.length === q.seen.length && JSON.stringify(seen) === JSON.stringify(q.seen);
      if (!ok) bad.push(`split at ${i}: ${describeOutcome(r)}`);
    }
    if (bad.length) throw new Error(`${bad.length} of ${q.raw.length - 1} splits misbehaved:\n  ${bad.slice(0, 25).join("\n  ")}`);
  };

  for (const q of SPLIT_REQUESTS) {
    test(`every strict prefix of "${q.name}" gets no response and no close`, () => {
      const bad: string[] = [];
      for (const { i, r } of runs.get(q.name) ?? []) {
        const s = r.beforeSecondWrite;
        if (!s || s.bytes > 0 || s.closed) {
          bad.push(`prefix of ${i} bytes ${JSON.stringify(q.raw.slice(0, i).slice(-24))}: ${s ? `${s.bytes} bytes back, closed=${s.closed}` : "no snapshot"}`);
        }
      }
      if (bad.length) throw new Error(`${bad.length} of ${q.raw.length - 1} prefixes misbehaved:\n  ${bad.slice(0, 25).join("\n  ")}`);
    });

    test(`"${q.name}" split at every byte boundary is handled identically`, () => checkSplits(q));
  }

  test(`"${PIPELINED_SPLIT.name}" split at every byte boundary is handled identically`, () => checkSplits(PIPELINED_SPLIT));

  for (const c of SPLIT_ERROR_CASES) {
    test(`error case "${c.category}: ${c.name}" split at every byte boundary gets the same verdict`, () => {
      const bad: string[] = [];
      for (const { i, r } of errorRuns.get(c) ?? []) {
        const { expected, actual } = judge(c, r);
        if (JSON.stringify(actual) !== JSON.stringify(expected)) bad.push(`split at ${i}: got ${JSON.stringify(actual)}; ${describeOutcome(r)}`);
      }
      if (bad.length) {
        throw new Error(`expected ${JSON.stringify(judge(c, { responses: [], closed: true, received: Buffer.alloc(0), leftover: 0 }).expected)}\n` +
          `${bad.length} of ${c.raw.length - 1} splits misbehaved:\n  ${bad.slice(0, 25).join("\n  ")}`);
      }
    });
  }
});

// ───────────────────────── pipelining after chunked ─────────────────────────

describe("pipelining after a chunked body with trailers", () => {
  const first = SPLIT_REQUESTS[2]!;
  const second = "GET /split/after?y=2 HTTP/1.1\r\nHost: example.com\r\n\r\n";

  test("in one write", async () => {
    const r = await exchange([bytes(first.raw + second)], { want: 2, waitClose: false, quietMs: SETTLE_MS });
    const seen = r.responses.filter((x) => x.seen).map((x) => [x.seen!.m, x.seen!.p, x.seen!.b]);
    expect(seen, describeOutcome(r)).toEqual([
      ["POST", "/split/chunked", "hello world"],
      ["GET", "/split/after?y=2", ""],
    ]);
    expect(r.closed).toBe(false);
  });

  test("second request arriving in a later write", async () => {
    const r = await exchange([bytes(first.raw), bytes(second)], { gapMs: 100, want: 2, waitClose: false, quietMs: SETTLE_MS });
    const seen = r.responses.filter((x) => x.seen).map((x) => [x.seen!.m, x.seen!.p, x.seen!.b]);
    expect(seen, describeOutcome(r)).toEqual([
      ["POST", "/split/chunked", "hello world"],
      ["GET", "/split/after?y=2", ""],
    ]);
  });

  test("a valid request, then an invalid one in a later write: 200, then 400 and close", async () => {
    const r = await exchange([bytes(second), bytes("GET  /bad HTTP/1.1\r\nHost: example.com\r\n\r\n")], {
      gapMs: 100,
      want: 2,
      waitClose: true,
      quietMs: SETTLE_MS,
    });
    expect(r.responses.map((x) => x.status), describeOutcome(r)).toEqual([200, 400]);
    expect(r.closed).toBe(true);
  });

  test("three chunked requests back to back, each with trailers", async () => {
    const one = (p: string, data: string) =>
      `POST ${p} HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n${data.length.toString(16)}\r\n${data}\r\n0\r\nT: ${p}\r\n\r\n`;
    const r = await exchange([bytes(one("/a", "A") + one("/b", "BB") + one("/c", "CCC"))], { want: 3, waitClose: false, quietMs: SETTLE_MS });
    const seen = r.responses.filter((x) => x.seen).map((x) => [x.seen!.p, x.seen!.b]);
    expect(seen, describeOutcome(r)).toEqual([
      ["/a", "A"],
      ["/b", "BB"],
      ["/c", "CCC"],
    ]);
  });
});

// ─────────────────────────── Expect: 100-continue ───────────────────────────

/** A connection driven step by step: send, then wait (bounded) for a condition on what came back. */
async function openConn() {
  const sock = net.createConnection({ host: "127.0.0.1", port });
  sock.setNoDelay(true);
  const chunks: Buffer[] = [];
  let closed = false;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
  };
  sock.on("data", (d: Buffer) => {
    chunks.push(d);
    wake();
  });
  sock.on("close", () => {
    closed = true;
    wake();
  });
  sock.on("error", () => {
    closed = true;
    wake();
  });
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", () => resolve());
    sock.once("error", reject);
  });
  const received = () => Buffer.concat(chunks);
  return {
    send: (s: string) => void sock.write(bytes(s), () => {}),
    received,
    closed: () => closed,
    responses: () => parseResponses(received(), closed).responses,
    /** Resolves true when pred holds, false after timeoutMs. */
    waitFor(pred: () => boolean, timeoutMs: number): Promise<boolean> {
      if (pred()) return Promise.resolve(true);
      return new Promise((resolve) => {
        const w = () => {
          if (pred()) done(true);
        };
        const t = setTimeout(() => done(pred()), timeoutMs);
        const done = (v: boolean) => {
          clearTimeout(t);
          waiters.delete(w);
          resolve(v);
        };
        waiters.add(w);
      });
    },
    close: () => sock.destroy(),
  };
}

describe("Expect: 100-continue", () => {
  const interimThenFinal = async (head: string, body: string, expectBody: string) => {
    const c = await openConn();
    try {
      c.send(head);
      await c.waitFor(() => c.received().includes("\r\n\r\n") || c.closed(), 1000);
      const before = c.responses();
      expect(before.map((x) => x.statusLine), `before the body: ${preview(c.received())}`).toEqual(["HTTP/1.1 100 Continue"]);
      c.send(body);
      await c.waitFor(() => c.responses().some((x) => x.status >= 200) || c.closed(), 2000);
      const finals = c.responses().filter((x) => x.status >= 200);
      expect(finals.length, preview(c.received())).toBe(1);
      expect(finals[0]!.seen?.b).toBe(expectBody);
    } finally {
      c.close();
    }
  };

  test("Content-Length body: 100 Continue is sent before the body is read", () =>
    interimThenFinal(
      "POST /expect HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
      "hello",
      "hello",
    ));

  test("chunked body: 100 Continue is sent before the body is read", () =>
    interimThenFinal(
      "POST /expect HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n",
      "5\r\nhello\r\n0\r\n\r\n",
      "hello",
    ));

  test("the expectation is case-insensitive (100-Continue)", () =>
    interimThenFinal(
      "PUT /expect HTTP/1.1\r\nHost: example.com\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n",
      "abc",
      "abc",
    ));

  test("HTTP/1.0 requests: the expectation is ignored (RFC 9110 §10.1.1)", async () => {
    const c = await openConn();
    try {
      c.send("POST /expect10 HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
      await Bun.sleep(PREFIX_WAIT_MS);
      expect(preview(c.received())).toBe(preview(Buffer.alloc(0)));
      c.send("hello");
      await c.waitFor(() => c.responses().some((x) => x.status >= 200) || c.closed(), 2000);
      const all = c.responses();
      expect(all.map((x) => x.status), preview(c.received())).toEqual([200]);
      expect(all[0]!.seen?.b).toBe("hello");
    } finally {
      c.close();
    }
  });

  test("a body over maxRequestBodySize gets 413 instead of 100 Continue, then close", async () => {
    const c = await openConn();
    try {
      c.send(`POST /expect HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\nContent-Length: ${16 * 1024 * 1024 + 1}\r\n\r\n`);
      await c.waitFor(() => c.closed(), 2000);
      const all = c.responses();
      expect(all.map((x) => x.status), preview(c.received())).toEqual([413]);
      expect(c.closed()).toBe(true);
    } finally {
      c.close();
    }
  });
});
