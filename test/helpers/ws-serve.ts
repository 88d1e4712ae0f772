/**
 * Starts a WebSocket app module (see test/ws/serve.ts) under Bun.serve or
 * fasthttp in a process of its own, for the WebSocket suites.
 * @module
 */
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");

/** Which server. */
export type WsSide = "bun" | "fasthttp";

/** A served app. */
export interface WsServer {
  side: WsSide;
  port: number;
  /** What the server process printed to stdout after PORT (the app's own logging). */
  output(): string;
  stop(): Promise<void>;
}

/** Starts `module` (a path) under `side`; `workers` for fasthttp's worker mode. */
export async function startWs(side: WsSide, module: string, opts: { workers?: number; env?: Record<string, string> } = {}): Promise<WsServer> {
  const args = [process.execPath, join(ROOT, "test", "ws", "serve.ts"), side, module];
  if (opts.workers !== undefined) args.push(String(opts.workers));
  const proc = Bun.spawn(args, {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "inherit",
    env: { ...process.env, NODE_ENV: "production", ...opts.env },
  });
  const reader = proc.stdout.getReader();
  let out = "";
  const deadline = Date.now() + 15_000;
  while (!/PORT \d+/.test(out)) {
    if (Date.now() > deadline) {
      proc.kill();
      throw new Error(`the ${side} WebSocket server did not start: ${out}`);
    }
    const { value, done } = await reader.read();
    if (done) throw new Error(`the ${side} WebSocket server exited: ${out}`);
    out += new TextDecoder().decode(value);
  }
  let rest = out.slice(out.indexOf("\n", out.search(/PORT \d+/)) + 1);
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      rest += new TextDecoder().decode(value);
    }
  })();
  return {
    side,
    port: Number(/PORT (\d+)/.exec(out)![1]),
    output: () => rest,
    async stop() {
      proc.kill();
      await proc.exited;
    },
  };
}
