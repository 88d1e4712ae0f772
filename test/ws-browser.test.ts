/**
 * WebSocket in a browser and examples/chat.ts, on each server of WS_SIDES (default fasthttp;
 * WS_SIDES=bun,fasthttp for both). The chat example's fetch and websocket are served by
 * test/ws/serve.ts, as Bun.serve or fasthttp would serve any app module.
 *
 * On the wire first (the `ws` npm package, loaded by path: Bun swaps a bare `import "ws"` for
 * its own client): the page, the 426 without an upgrade, joins, messages and leaves. Then in
 * headless Chromium (Debian's `chromium`, driven by playwright-core; no browser is downloaded):
 * two pages join the chat, one sends, both show it; and a page of test/ws/interop-app.ts sends
 * a 1 MiB binary message to /echo and checks the echo byte for byte. With fasthttp among the
 * sides, `bun examples/chat.ts` is also run as a program (newServer) and stopped with SIGTERM.
 *
 * The browser parts are skipped, saying so, where /usr/bin/chromium is missing (.ci/run
 * installs it when it runs as root).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import type WS from "ws";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext } from "playwright-core";
import { CHROMIUM, hasChromium, launchChromium } from "./helpers/chromium.ts";
import { freePort, withTimeout } from "./helpers/net.ts";
import { startWs, type WsServer, type WsSide } from "./helpers/ws-serve.ts";

const ROOT = join(import.meta.dir, "..");
const CHAT = join(ROOT, "examples", "chat.ts");
const APP = join(import.meta.dir, "ws", "interop-app.ts");
const SIDES = (process.env.WS_SIDES ?? "fasthttp").split(",") as WsSide[];
const WebSocket = createRequire(import.meta.url)(join(ROOT, "node_modules", "ws", "index.js")) as typeof WS;
type Ws = WS;

const browserNote = hasChromium ? "" : ` (SKIPPED: ${CHROMIUM} is missing; install Debian's chromium package, as .ci/run does)`;

interface ChatEvent {
  type: "join" | "leave" | "message";
  name: string;
  text?: string;
  members?: number;
}

/** A `ws` client of the chat that collects what the room says. */
async function chatClient(port: number, name: string): Promise<{ ws: Ws; events: ChatEvent[]; until: (pred: (e: ChatEvent) => boolean, what: string) => Promise<ChatEvent> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?name=${encodeURIComponent(name)}`);
  const events: ChatEvent[] = [];
  ws.on("message", (data: Buffer) => events.push(JSON.parse(data.toString()) as ChatEvent));
  await withTimeout(new Promise((resolve, reject) => (ws.once("open", resolve), ws.once("error", reject))), 5000, `${name} to connect`);
  ws.on("error", () => {}); // after the handshake a failure shows as the close
  return {
    ws,
    events,
    async until(pred, what) {
      const end = Date.now() + 5000;
      for (;;) {
        const hit = events.find(pred);
        if (hit) return hit;
        if (Date.now() > end) throw new Error(`${name} did not see ${what}; it saw ${JSON.stringify(events)}`);
        await Bun.sleep(10);
      }
    },
  };
}

/** In the page: 1 MiB of pseudo-random bytes to /echo, and what came back. (A string: this project's TypeScript has no DOM types.) */
const ECHO_1MIB = `new Promise((resolve, reject) => {
  const n = 1 << 20;
  const sent = new Uint8Array(n);
  let x = 0x12345678;
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; sent[i] = x >>> 24; }
  const ws = new WebSocket("ws://" + location.host + "/echo");
  ws.binaryType = "arraybuffer";
  ws.onerror = () => reject(new Error("the WebSocket failed"));
  ws.onopen = () => ws.send(sent);
  ws.onmessage = (e) => {
    const binary = e.data instanceof ArrayBuffer;
    const got = binary ? new Uint8Array(e.data) : new Uint8Array(0);
    let firstDiff = -1;
    for (let i = 0; i < Math.max(n, got.length); i++) if (got[i] !== sent[i]) { firstDiff = i; break; }
    ws.onclose = (c) => resolve({ binary, length: got.length, firstDiff, closeCode: c.code });
    ws.close(1000, "done");
  };
})`;

for (const side of SIDES) {
  describe(`WebSocket in the browser and examples/chat.ts on ${side}`, () => {
    let chat: WsServer;
    let app: WsServer;

    beforeAll(async () => {
      // allSettled: one that fails to start must not leave the other running (afterAll stops what started).
      const started = await Promise.allSettled([startWs(side, CHAT), startWs(side, APP)]);
      [chat, app] = started.map((r) => (r.status === "fulfilled" ? r.value : undefined)) as [WsServer, WsServer];
      const failed = started.find((r) => r.status === "rejected");
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    });
    afterAll(async () => {
      await Promise.all([chat?.stop(), app?.stop()]);
    });

    test("the chat on the wire: the page, 426 without an upgrade, join, message and leave", async () => {
      const page = await fetch(`http://127.0.0.1:${chat.port}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(await page.text()).toContain('new WebSocket(scheme + location.host + "/ws?name="');
      const plain = await fetch(`http://127.0.0.1:${chat.port}/ws`);
      expect(plain.status).toBe(426);
      expect(plain.headers.get("upgrade")).toBe("websocket");
      expect((await fetch(`http://127.0.0.1:${chat.port}/nope`)).status).toBe(404);

      const ann = await chatClient(chat.port, "ann");
      await ann.until((e) => e.type === "join" && e.name === "ann", "her own join");
      const bo = await chatClient(chat.port, "  bo  ");
      expect(await ann.until((e) => e.type === "join" && e.name === "bo", "bo's join")).toEqual({ type: "join", name: "bo", members: 2 });
      bo.ws.send("hi <b>ann</b>");
      for (const c of [ann, bo]) expect(await c.until((e) => e.type === "message", "bo's message")).toEqual({ type: "message", name: "bo", text: "hi <b>ann</b>" });
      bo.ws.send(Buffer.from("binary is ignored"));
      bo.ws.send("after the binary");
      await ann.until((e) => e.type === "message" && e.text === "after the binary", "the next message");
      expect(ann.events.filter((e) => e.type === "message").map((e) => e.text)).toEqual(["hi <b>ann</b>", "after the binary"]);
      bo.ws.close(1000);
      expect(await ann.until((e) => e.type === "leave", "bo's leave")).toEqual({ type: "leave", name: "bo", members: 1 });
      ann.ws.close(1000);
    });

    test("a chat message longer than maxPayloadLength (16 KiB) closes that connection with 1009", async () => {
      const c = await chatClient(chat.port, "big");
      const closed = new Promise<number>((resolve) => c.ws.once("close", (code) => resolve(code)));
      c.ws.send("x".repeat(16 * 1024 + 1));
      expect(await withTimeout(closed, 5000, "the close")).toBe(1009);
    });

    describe.skipIf(!hasChromium)("headless Chromium", () => {
      let profile: string;
      let context: BrowserContext;
      beforeAll(async () => {
        profile = mkdtempSync(join(tmpdir(), "fasthttp-chromium-"));
        context = await launchChromium(profile);
      }, 20_000);
      afterAll(async () => {
        await context?.close();
        rmSync(profile, { recursive: true, force: true });
      });

      test(`two pages join the chat; one sends, both show it${browserNote}`, async () => {
        const alice = await context.newPage();
        const bob = await context.newPage();
        try {
          await alice.goto(`http://127.0.0.1:${chat.port}/?name=alice`, { timeout: 5000 });
          await alice.waitForFunction(`document.getElementById("status").textContent === "connected as alice"`, undefined, { timeout: 5000 });
          await bob.goto(`http://127.0.0.1:${chat.port}/?name=bob`, { timeout: 5000 });
          await bob.waitForFunction(`document.getElementById("status").textContent === "connected as bob"`, undefined, { timeout: 5000 });
          await alice.waitForSelector(`#log li.notice:has-text("bob joined (2 here)")`, { timeout: 5000 });
          await alice.fill("#text", "hello from alice <i>not html</i>");
          await alice.click("#send");
          const lines = `[...document.querySelectorAll("#log li.message")].map((li) => li.textContent)`;
          for (const page of [alice, bob]) {
            await page.waitForSelector("#log li.message", { timeout: 5000 });
            expect(await page.evaluate(lines)).toEqual(["alicehello from alice <i>not html</i>"]);
            expect(await page.evaluate(`document.querySelectorAll("#log i").length`)).toBe(0);
          }
          expect(await alice.inputValue("#text")).toBe("");
          await bob.close();
          await alice.waitForSelector(`#log li.notice:has-text("bob left (1 here)")`, { timeout: 5000 });
        } finally {
          await Promise.all([alice.close(), bob.isClosed() ? undefined : bob.close()]);
        }
      }, 30_000);

      test(`a page sends 1 MiB of binary and gets it back whole${browserNote}`, async () => {
        const page = await context.newPage();
        try {
          await page.goto(`http://127.0.0.1:${app.port}/`, { timeout: 5000 });
          const r = await page.evaluate(ECHO_1MIB);
          expect(r).toEqual({ binary: true, length: 1 << 20, firstDiff: -1, closeCode: 1000 });
        } finally {
          await page.close();
        }
      }, 30_000);
    });
  });
}

describe.skipIf(!SIDES.includes("fasthttp"))("examples/chat.ts as a program", () => {
  test("`bun examples/chat.ts` serves the chat with newServer and stops on SIGTERM", async () => {
    const port = await freePort();
    const proc = Bun.spawn([process.execPath, CHAT], { env: { ...process.env, PORT: String(port) }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const out = new Response(proc.stdout).text();
    const err = new Response(proc.stderr).text();
    try {
      const end = Date.now() + 10_000;
      for (;;) {
        const r = await fetch(`http://127.0.0.1:${port}/`).catch(() => null);
        if (r) {
          expect(r.status).toBe(200);
          break;
        }
        if (Date.now() > end || proc.exitCode !== null) throw new Error(`examples/chat.ts did not answer: ${await err}`);
        await Bun.sleep(50);
      }
      const c = await chatClient(port, "solo");
      await c.until((e) => e.type === "join" && e.members === 1, "its join");
      c.ws.send("anyone?");
      await c.until((e) => e.type === "message" && e.text === "anyone?", "its own message");
      const closed = new Promise<number>((resolve) => c.ws.once("close", (code) => resolve(code)));
      proc.kill("SIGTERM");
      expect(await withTimeout(proc.exited, 5000, "examples/chat.ts to exit")).toBe(0);
      await withTimeout(closed, 5000, "the client to see the close");
      expect(await out).toBe(`Listening on http://localhost:${port}/\nSIGTERM: stopping...\nStopped.\n`);
      expect(await err).toBe("");
    } finally {
      if (proc.exitCode === null) proc.kill("SIGKILL");
    }
  }, 20_000);
});
