/**
 * Starts a WebSocket app module (see test/ws/serve.ts) under Bun.serve or
 * fasthttp in a process of its own, for the WebSocket suites.
 * @module
 */
import { join } from "node:path";
import { spawnWithPort } from "./port-child.ts";

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
  const { proc, port, output } = await spawnWithPort(args, {
    label: `the ${side} WebSocket server`,
    cwd: ROOT,
    stderr: "inherit",
    env: { ...process.env, NODE_ENV: "production", ...opts.env },
  });
  return {
    side,
    port,
    output,
    async stop() {
      proc.kill();
      await proc.exited;
    },
  };
}
