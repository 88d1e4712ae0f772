/**
 * The examples run as a user runs them: each is spawned as its own Bun process with PORT set to a
 * free port, checked over raw sockets once it prints its URL, then sent SIGTERM, after which it
 * must stop gracefully (exit code 0) within a few seconds.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { Client, cleanup, freePort, httpRequest, parseResponses, rawRequest, sleep, withTimeout } from "./helpers/net.ts";

const EXAMPLES = `${import.meta.dir}/../examples`;

/** A running example process whose stdout and stderr are collected as they arrive. */
interface Example {
  port: number;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  stdout(): string;
  stderr(): string;
  /** Sends SIGTERM and waits (bounded) for the exit code and the end of its output. */
  stop(): Promise<number>;
}

const running = new Set<Example>();

/** Reads a stream to its end in the background: the text so far, and a promise of the end. */
function collect(stream: ReadableStream<Uint8Array>): { text: () => string; ended: Promise<void> } {
  const decoder = new TextDecoder();
  let text = "";
  const ended = (async () => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  })().catch(() => {});
  return { text: () => text, ended };
}

async function spawnExample(file: string): Promise<Example> {
  const port = await freePort();
  const proc = Bun.spawn([process.execPath, `${EXAMPLES}/${file}`], {
    env: { ...process.env, PORT: String(port) },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const stdout = collect(proc.stdout);
  const stderr = collect(proc.stderr);
  const example: Example = {
    port,
    proc,
    stdout: stdout.text,
    stderr: stderr.text,
    async stop() {
      proc.kill("SIGTERM");
      try {
        const code = await withTimeout(proc.exited, 5000, `${file} to exit after SIGTERM`);
        await withTimeout(Promise.all([stdout.ended, stderr.ended]), 2000, `${file}'s output to end`);
        return code;
      } finally {
        running.delete(example);
      }
    },
  };
  running.add(example);
  // Ready once it prints its URL; fail early if it exits instead.
  const deadline = Date.now() + 10_000;
  while (!example.stdout().includes(`:${port}/`)) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`${file} exited (${proc.exitCode ?? proc.signalCode}) before listening; stderr: ${example.stderr()}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`${file} did not print its URL within 10 s; stdout: ${example.stdout()} stderr: ${example.stderr()}`);
    }
    await sleep(20);
  }
  return example;
}

afterEach(async () => {
  await cleanup();
  for (const example of [...running]) {
    example.proc.kill("SIGKILL");
    running.delete(example);
  }
});

/** One request on its own connection (Connection: close), parsed. */
async function fetchRaw(port: number, method: string, path: string, body?: string) {
  const headers: [string, string][] = [["Connection", "close"]];
  if (body !== undefined) headers.push(["Content-Type", "application/json"]);
  const result = await rawRequest(port, httpRequest(method, path, { headers, body }));
  const { responses } = parseResponses(result.data, { closed: result.closedByServer, noBody: method === "HEAD" });
  expect(responses.length).toBe(1);
  return responses[0]!;
}

describe("examples/hello.ts", () => {
  test("answers / and unknown paths, then stops on SIGTERM", async () => {
    const example = await spawnExample("hello.ts");
    expect(example.stdout()).toContain(`http://localhost:${example.port}/`);

    const hello = await fetchRaw(example.port, "GET", "/");
    expect([hello.status, hello.headers["content-length"], hello.text]).toEqual([200, "14", "Hello, World!\n"]);

    const missing = await fetchRaw(example.port, "GET", "/missing");
    expect([missing.status, missing.text]).toEqual([404, "/missing not found\n"]);
    expect(missing.headers["content-length"]).toBe(String(missing.body.length));

    // Keep-alive and HEAD: the HEAD answer carries no body, so the next response parses.
    const client = await Client.connect(example.port);
    await client.write(httpRequest("HEAD", "/"));
    const [head] = await client.next(1, { noBody: true });
    expect([head!.status, head!.headers["content-length"]]).toEqual([200, "14"]);
    const again = await client.request(httpRequest("GET", "/"));
    expect(again.text).toBe("Hello, World!\n");
    client.destroy();

    expect(await example.stop()).toBe(0);
    expect(example.stdout()).toContain("Stopped."); // run() resolved after stop()
    expect(example.stderr()).toBe("");
  }, 20_000);
});

describe("examples/fasthttp", () => {
  test("routes GET /, GET /user/:id, POST /user and 404, then stops on SIGTERM", async () => {
    const example = await spawnExample("fasthttp/main.ts");

    const home = await fetchRaw(example.port, "GET", "/");
    expect([home.status, home.text]).toEqual([200, "Welcome to fasthttp!\n"]);

    const user = await fetchRaw(example.port, "GET", "/user/42");
    expect(user.status).toBe(200);
    expect(user.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(user.text)).toEqual({ id: 42, name: "User 42" });

    const created = await fetchRaw(example.port, "POST", "/user", JSON.stringify({ name: "Ada", tags: ["ünïcödé"] }));
    expect(created.status).toBe(201);
    expect(created.headers["content-length"]).toBe(String(created.body.length));
    expect(JSON.parse(created.text)).toEqual({ created: { name: "Ada", tags: ["ünïcödé"] } });

    const invalid = await fetchRaw(example.port, "POST", "/user", "{not json");
    expect(invalid.status).toBe(400);

    for (const [method, path] of [
      ["GET", "/nowhere"],
      ["GET", "/user/abc"],
      ["DELETE", "/user/42"],
    ] as const) {
      const missing = await fetchRaw(example.port, method, path);
      expect([method, path, missing.status]).toEqual([method, path, 404]);
      expect(JSON.parse(missing.text)).toMatchObject({ error: "not found" });
    }

    const head = await fetchRaw(example.port, "HEAD", "/user/7");
    expect([head.status, head.body.length]).toEqual([200, 0]);
    expect(Number(head.headers["content-length"])).toBeGreaterThan(0);

    expect(await example.stop()).toBe(0);
    expect(example.stdout()).toContain("Stopped."); // run() resolved after stop()
    expect(example.stderr()).toBe("");
  }, 20_000);
});

describe("examples/elysia.ts", () => {
  test("serves the Elysia app (text, JSON, params, a JSON POST, 404, 500, a generator's stream), then stops on SIGTERM", async () => {
    const example = await spawnExample("elysia.ts");
    expect(example.stdout()).toContain(`http://localhost:${example.port}/`);

    const home = await fetchRaw(example.port, "GET", "/");
    expect([home.status, home.headers["content-type"], home.text]).toEqual([200, "text/plain;charset=utf-8", "Hello, Elysia on fasthttp!\n"]);

    const json = await fetchRaw(example.port, "GET", "/json");
    expect(JSON.parse(json.text)).toEqual({ message: "Hello, World!", server: "fasthttp" });

    const user = await fetchRaw(example.port, "GET", "/users/42?fields=name,age");
    expect(JSON.parse(user.text)).toEqual({ id: 42, fields: ["name", "age"] });

    const created = await fetchRaw(example.port, "POST", "/echo", JSON.stringify({ name: "Ada", tags: ["ünïcödé"] }));
    expect([created.status, created.headers["x-echo"]]).toEqual([201, "1"]);
    expect(JSON.parse(created.text)).toEqual({ received: { name: "Ada", tags: ["ünïcödé"] } });
    expect((await fetchRaw(example.port, "POST", "/echo", "42")).status).toBe(400);
    expect((await fetchRaw(example.port, "POST", "/echo", "{not json")).status).toBe(400);

    const missing = await fetchRaw(example.port, "GET", "/nope");
    expect([missing.status, missing.text]).toEqual([404, "/nope not found\n"]);
    const failed = await fetchRaw(example.port, "GET", "/error");
    expect([failed.status, failed.text]).toEqual([500, "this route fails on purpose"]);

    const lines = await fetchRaw(example.port, "GET", "/stream");
    expect(lines.headers["transfer-encoding"]).toBe("chunked");
    expect(lines.text).toBe([1, 2, 3, 4, 5].map((i) => `line ${i} of 5\n`).join(""));

    expect(await example.stop()).toBe(0);
    expect(example.stdout()).toContain("Stopped."); // run() resolved after stop()
    expect(example.stderr()).toBe("");
  }, 20_000);
});

describe("examples/upload.ts", () => {
  test("answers the size and SHA-256 of a streamed upload (Content-Length and chunked) and of a small one; 405 for GET", async () => {
    const ex = await spawnExample("upload.ts");
    const body = new Uint8Array(3 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7919) & 255;
    const sha = new Bun.CryptoHasher("sha256").update(body).digest("hex");
    const url = `http://127.0.0.1:${ex.port}/file.bin`;
    expect(await (await fetch(url, { method: "PUT", body })).text()).toBe(`${body.length} bytes, sha256 ${sha}\n`);
    const chunked = new ReadableStream<Uint8Array>({
      start(c) {
        for (let at = 0; at < body.length; at += 100_000) c.enqueue(body.slice(at, at + 100_000));
        c.close();
      },
    });
    expect(await (await fetch(url, { method: "POST", body: chunked })).text()).toBe(`${body.length} bytes, sha256 ${sha}\n`);
    const small = new Uint8Array([1, 2, 3]);
    expect(await (await fetch(url, { method: "POST", body: small })).text()).toBe(
      `3 bytes, sha256 ${new Bun.CryptoHasher("sha256").update(small).digest("hex")}\n`,
    );
    const get = await fetch(url);
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST, PUT");
    expect(await ex.stop()).toBe(0);
    expect(ex.stderr()).toBe("");
  }, 30_000);
});
