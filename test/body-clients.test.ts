/**
 * Streamed request bodies (src/body.ts, c/body.c) with real clients: curl, Python `requests`
 * and headless Chromium upload to a raw handler (test/helpers/upload-server.ts) that reads the
 * body with `req.bodyStream()` and answers `${bytes} ${sha256hex}`; each test checks the count
 * and the hash against the source's, and that the body streamed (it is larger than a slab).
 *
 * - curl, Content-Length and chunked, of a 32 MiB random file: curl sends `Expect: 100-continue`
 *   for it, and must get one 100 Continue rather than wait for it (`--expect100-timeout 5`: a
 *   server that never sends 100 makes the upload take 5 s).
 * - Python `requests` posting a generator (sent chunked), 200 chunks of 64 KiB.
 * - Chromium: `fetch` with a ReadableStream body (`duplex: "half"`) is refused over HTTP/1.1 —
 *   Chromium sends streamed uploads over HTTP/2 or HTTP/3 only (net::ERR_ALPN_NEGOTIATION_FAILED
 *   on a plain-HTTP origin, "TypeError: Failed to fetch"; the non-standard
 *   `allowHTTP1ForStreamingUpload` option that once allowed it is gone from RequestInit, and
 *   `--enable-experimental-web-platform-features` does not change it): that refusal is what is
 *   asserted, then 8 MiB uploads that do reach the server as streamed bodies: `fetch` with a
 *   Uint8Array and with a Blob, and an XMLHttpRequest upload of a Blob (all Content-Length).
 * - The curl Content-Length case once more against a server in a child process on the kqueue
 *   backend (FASTHTTP_BACKEND=kqueue: on Linux, the test-only emulation).
 *
 * Every client is a child process (Chromium through playwright-core) on 127.0.0.1, bounded in
 * time, and killed in afterAll if it is still there. Skipped, saying why, where curl, python3
 * with requests, or /usr/bin/chromium is missing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HttpRequest, Server } from "../src/index.ts";
import { CHROMIUM, hasChromium, launchChromium } from "./helpers/chromium.ts";
import { until } from "./helpers/net.ts";
import { bytesOf, uploadHandler, uploadServer } from "./helpers/upload-server.ts";

const MiB = 1024 * 1024;
const BIG = 32 * MiB;
const MAX_BODY = 64 * MiB;

const hasCurl = Bun.which("curl") !== null;
const python = Bun.which("python3");
const hasRequests = python !== null && Bun.spawnSync([python, "-c", "import requests"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
if (!hasCurl) console.warn("body-clients: curl is missing; the curl tests are skipped");
if (!hasRequests) console.warn("body-clients: python3 with the requests module is missing; the requests test is skipped");
if (!hasChromium) console.warn(`body-clients: ${CHROMIUM} is missing (install Debian's chromium package); the browser test is skipped`);

const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

let work = "";
let bigFile = "";
let bigBytes: Uint8Array;
let bigHash = "";
let server: Server | undefined;
let running: Promise<void> | undefined;
let port = 0;
/** "METHOD path" of every request the in-process server's handler saw. */
const seen: string[] = [];
/** Child processes still running: killed in afterAll. */
const children = new Set<Subprocess>();
/** Browser contexts still open: closed in afterAll. */
const contexts = new Set<{ close(): Promise<void> }>();

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "fasthttp-body-clients-"));
  bigFile = join(work, "big.bin");
  bigBytes = new Uint8Array(randomBytes(BIG));
  writeFileSync(bigFile, bigBytes);
  bigHash = sha256(bigBytes);
  const started = uploadServer(MAX_BODY, (req: HttpRequest) => {
    seen.push(`${req.string(req.method)} ${req.string(req.path)}`);
    return uploadHandler(req);
  });
  server = started.server;
  running = started.running;
  port = server.port;
});

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  for (const p of children) p.kill("SIGKILL");
  await Promise.all([...children].map((p) => p.exited));
  if (server) {
    await server.stop(true);
    await running;
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a child process to its end, killing it after `timeoutMs`. */
async function run(cmd: string[], timeoutMs: number, env?: Record<string, string>): Promise<Ran> {
  const p = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  children.add(p);
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (p.signalCode === "SIGKILL") throw new Error(`${cmd[0]} was killed after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`);
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
    children.delete(p);
  }
}

interface CurlResult {
  body: string;
  status: number;
  seconds: number;
  /** curl -v's lines: `> ` what it sent, `< ` what it got, `* ` its notes. */
  verbose: string[];
}

/** Uploads `file` with `curl -sS -v -X POST -T file` (plus `extra`) to `url`. */
async function curlUpload(url: string, file: string, extra: string[] = []): Promise<CurlResult> {
  const r = await run(
    ["curl", "-sS", "-v", "--expect100-timeout", "5", "-m", "20", "-X", "POST", "-T", file, ...extra, "-w", "\n%{time_total} %{http_code}", url],
    25000,
  );
  if (r.code !== 0) throw new Error(`curl exited ${r.code}:\n${r.stderr}`);
  const nl = r.stdout.lastIndexOf("\n");
  const [seconds, status] = r.stdout.slice(nl + 1).split(" ");
  const verbose = r.stderr.split(/\r?\n/).map((l) => l.replace(/\r$/, ""));
  return { body: r.stdout.slice(0, nl), status: Number(status), seconds: Number(seconds), verbose };
}

/** What curl sent and got, without its progress notes. */
const heads = (c: CurlResult) => c.verbose.filter((l) => l.startsWith("> ") || l.startsWith("< ")).join("\n");

/** The checks both curl cases share: the answer, the framing, the one 100 Continue, no stall. */
function expectCurlUpload(c: CurlResult, framing: string): void {
  const got = heads(c);
  expect(c.status).toBe(200);
  expect(c.body).toBe(`${BIG} ${bigHash}`);
  expect(got).toContain("> Expect: 100-continue");
  expect(got).toContain("< X-Body-Streamed: true");
  expect(got).toContain(`< X-Body-Framing: ${framing}`);
  // No stall: without a 100 Continue curl would send only after its 5 s expect100 timeout.
  expect(c.seconds).toBeLessThan(2);
  // One 100 Continue, then the 200 (labelled, so that a failure says what was counted).
  const interim = c.verbose.filter((l) => l.startsWith("< HTTP/1.1 1"));
  expect({ interimResponses: interim }).toEqual({ interimResponses: ["< HTTP/1.1 100 Continue"] });
}

describe.skipIf(!hasCurl)("curl", () => {
  test("PUT-style upload (-T) of 32 MiB with Content-Length: streamed, hashed, 100 Continue without a stall", async () => {
    const c = await curlUpload(`http://127.0.0.1:${port}/upload`, bigFile);
    expect(heads(c)).toContain(`> Content-Length: ${BIG}`);
    expectCurlUpload(c, `length ${BIG}`);
    console.log(`body-clients: curl Content-Length upload of 32 MiB in ${(c.seconds * 1000).toFixed(0)} ms`);
  }, 30000);

  test("the same 32 MiB chunked (-H 'Transfer-Encoding: chunked')", async () => {
    const c = await curlUpload(`http://127.0.0.1:${port}/upload`, bigFile, ["-H", "Transfer-Encoding: chunked"]);
    expect(heads(c)).toContain("> Transfer-Encoding: chunked");
    expect(heads(c)).not.toContain("> Content-Length");
    expectCurlUpload(c, "chunked");
    console.log(`body-clients: curl chunked upload of 32 MiB in ${(c.seconds * 1000).toFixed(0)} ms`);
  }, 30000);

  test("the Content-Length upload to a server on the kqueue backend (child process, FASTHTTP_BACKEND=kqueue)", async () => {
    const child = Bun.spawn([process.execPath, join(import.meta.dir, "helpers/upload-server.ts"), String(MAX_BODY)], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, FASTHTTP_BACKEND: "kqueue" },
    });
    children.add(child);
    let out = "";
    let err = "";
    const dec = new TextDecoder();
    void (async () => {
      for await (const chunk of child.stdout) out += dec.decode(chunk, { stream: true });
    })().catch(() => {});
    void (async () => {
      for await (const chunk of child.stderr) err += dec.decode(chunk, { stream: true });
    })().catch(() => {});
    try {
      const end = Date.now() + 10000;
      while (!/^listening \d+ \w+$/m.test(out)) {
        if (child.exitCode !== null || Date.now() > end) throw new Error(`the kqueue server did not listen (exit ${child.exitCode}); stdout: ${out}; stderr: ${err}`);
        await Bun.sleep(10);
      }
      const [, childPort, backend] = out.match(/^listening (\d+) (\w+)$/m)!;
      expect(backend).toBe("kqueue");
      const c = await curlUpload(`http://127.0.0.1:${childPort}/upload`, bigFile);
      expect(heads(c)).toContain(`> Content-Length: ${BIG}`);
      expectCurlUpload(c, `length ${BIG}`);
      child.kill("SIGTERM");
      const code = await Promise.race([child.exited, Bun.sleep(5000).then(() => "still running")]);
      expect(code).toBe(0);
      expect(err).toBe("");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      await child.exited;
      children.delete(child);
    }
  }, 30000);
});

/** Posts a generator (which requests sends chunked) of `chunks` blocks of `size` bytes of the file. */
const PYTHON = `
import hashlib, json, sys
import requests
url, path, chunks, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
h = hashlib.sha256()
sent = 0
def body():
    global sent
    with open(path, "rb") as f:
        for _ in range(chunks):
            b = f.read(size)
            h.update(b)
            sent += len(b)
            yield b
r = requests.post(url, data=body(), timeout=20)
print(json.dumps({
    "status": r.status_code,
    "text": r.text,
    "streamed": r.headers.get("X-Body-Streamed"),
    "framing": r.headers.get("X-Body-Framing"),
    "sentHeaders": {k.lower(): v for k, v in r.request.headers.items()},
    "sent": sent,
    "sha256": h.hexdigest(),
}))
`;

test.skipIf(!hasRequests)("Python requests posts a generator (chunked): 200 chunks of 64 KiB, streamed and hashed", async () => {
  const chunks = 200;
  const size = 64 * 1024;
  const r = await run([python!, "-c", PYTHON, `http://127.0.0.1:${port}/upload`, bigFile, String(chunks), String(size)], 25000);
  if (r.code !== 0) throw new Error(`python3 exited ${r.code}:\n${r.stderr}`);
  const got = JSON.parse(r.stdout) as {
    status: number;
    text: string;
    streamed: string;
    framing: string;
    sentHeaders: Record<string, string>;
    sent: number;
    sha256: string;
  };
  const n = chunks * size;
  const want = `${n} ${sha256(bigBytes.subarray(0, n))}`;
  expect(got.sentHeaders["transfer-encoding"]).toBe("chunked");
  expect(got.sentHeaders["content-length"]).toBeUndefined();
  expect(`${got.sent} ${got.sha256}`).toBe(want); // what Python sent is the file's first n bytes
  expect(got.status).toBe(200);
  expect(got.text).toBe(want);
  expect(got.streamed).toBe("true");
  expect(got.framing).toBe("chunked");
}, 30000);

interface Outcome {
  ok: boolean;
  status?: number;
  text?: string;
  streamed?: string | null;
  framing?: string | null;
  error?: string;
}

/** Page code (a string: this project's TypeScript has no DOM types): answers as an Outcome. */
const outcome = `async (res) => ({ ok: true, status: res.status, text: await res.text(),
  streamed: res.headers.get("X-Body-Streamed"), framing: res.headers.get("X-Body-Framing") })`;

describe.skipIf(!hasChromium)("Chromium", () => {
  async function launch(extraArgs: string[] = []) {
    const profile = mkdtempSync(join(work, "chromium-"));
    const context = await launchChromium(profile, extraArgs);
    contexts.add(context);
    const page = await context.newPage();
    const failed: string[] = [];
    page.on("requestfailed", (r) => failed.push(`${r.method()} ${new URL(r.url()).pathname} ${r.failure()?.errorText}`));
    await page.goto(`http://127.0.0.1:${port}/`, { timeout: 5000 });
    const close = async () => {
      await context.close();
      contexts.delete(context);
    };
    return { page, failed, close };
  }

  /** fetch(path) with an 8 MiB ReadableStream body, `duplex: "half"`, plus `extra` init members. */
  const streamUpload = (path: string, extra = "{}") => `(async () => {
    let sent = 0;
    const body = new ReadableStream({
      pull(c) {
        if (sent >= 8 * 1024 * 1024) return c.close();
        const b = bytesOf(64 * 1024, 1 + sent);
        sent += b.length;
        c.enqueue(b);
      },
    });
    try {
      return await (${outcome})(await fetch(${JSON.stringify(path)}, { method: "POST", body, duplex: "half", ...${extra} }));
    } catch (e) {
      return { ok: false, error: e.name + ": " + e.message };
    }
  })()`;

  test("a ReadableStream upload is refused over HTTP/1.1; 8 MiB Uint8Array, Blob and XHR uploads stream and hash", async () => {
    const launched = performance.now();
    const { page, failed, close } = await launch();
    console.log(`body-clients: Chromium launched in ${(performance.now() - launched).toFixed(0)} ms`);
    try {
      // Chromium does support request streams (the spec's feature test) ...
      const supports = await page.evaluate(`(() => {
        let duplexAccessed = false;
        const hasContentType = new Request("/", {
          method: "POST",
          body: new ReadableStream(),
          get duplex() { duplexAccessed = true; return "half"; },
        }).headers.has("Content-Type");
        return duplexAccessed && !hasContentType;
      })()`);
      expect(supports).toBe(true);

      // ... but sends them over HTTP/2 or HTTP/3 only: on this HTTP/1.1 origin the fetch fails
      // before the server sees a request, with or without the old opt-in.
      for (const [path, extra] of [
        ["/upload-stream", "{}"],
        ["/upload-stream-allow-http1", "{ allowHTTP1ForStreamingUpload: true }"],
      ] as const) {
        const r = (await page.evaluate(streamUpload(path, extra))) as Outcome;
        expect(r).toEqual({ ok: false, error: "TypeError: Failed to fetch" });
        await until(() => failed.some((f) => f.startsWith(`POST ${path} `)), 2000);
        expect(failed).toContain(`POST ${path} net::ERR_ALPN_NEGOTIATION_FAILED`);
        expect(seen).not.toContain(`POST ${path}`);
      }

      const n = 8 * MiB;
      const want = `${n} ${sha256(bytesOf(n, 7))}`;
      const uploads = (await page.evaluate(`(async () => {
        const n = ${n};
        const bytes = bytesOf(n, 7);
        const out = {};
        out.bytes = await (${outcome})(await fetch("/upload-bytes", { method: "POST", body: bytes }));
        // A Blob of several parts (the same bytes).
        const blob = new Blob([bytes.subarray(0, 1000), bytes.subarray(1000, n - 5), bytes.subarray(n - 5)]);
        out.blob = await (${outcome})(await fetch("/upload-blob", { method: "POST", body: blob }));
        out.xhr = await new Promise((resolve) => {
          const xhr = new XMLHttpRequest();
          let progressed = 0;
          xhr.upload.onprogress = (e) => { progressed = e.loaded; };
          xhr.open("POST", "/upload-xhr");
          xhr.onload = () => resolve({ ok: true, status: xhr.status, text: xhr.responseText,
            streamed: xhr.getResponseHeader("X-Body-Streamed"), framing: xhr.getResponseHeader("X-Body-Framing"), progressed });
          xhr.onerror = () => resolve({ ok: false, error: "xhr error" });
          xhr.send(blob);
        });
        return out;
      })()`)) as Record<"bytes" | "blob" | "xhr", Outcome & { progressed?: number }>;
      const expected: Outcome = { ok: true, status: 200, text: want, streamed: "true", framing: `length ${n}` };
      expect(uploads.bytes).toEqual(expected);
      expect(uploads.blob).toEqual(expected);
      const { progressed, ...xhr } = uploads.xhr;
      expect(xhr).toEqual(expected);
      expect(progressed).toBe(n);
      expect(seen).toEqual(expect.arrayContaining(["POST /upload-bytes", "POST /upload-blob", "POST /upload-xhr"]));
      await page.close();
    } finally {
      await close();
    }
  }, 30000);

  test("--enable-experimental-web-platform-features does not allow a ReadableStream upload over HTTP/1.1 either", async () => {
    const { page, failed, close } = await launch(["--enable-experimental-web-platform-features"]);
    try {
      const path = "/upload-stream-experimental";
      const r = (await page.evaluate(streamUpload(path, "{ allowHTTP1ForStreamingUpload: true }"))) as Outcome;
      expect(r).toEqual({ ok: false, error: "TypeError: Failed to fetch" });
      await until(() => failed.some((f) => f.startsWith(`POST ${path} `)), 2000);
      expect(failed).toContain(`POST ${path} net::ERR_ALPN_NEGOTIATION_FAILED`);
      expect(seen).not.toContain(`POST ${path}`);
      await page.close();
    } finally {
      await close();
    }
  }, 30000);
});
