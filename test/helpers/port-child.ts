/**
 * Starts a server in a process of its own and waits for the `PORT <n>` line
 * it prints once it listens (test/parity/serve.ts, test/ws/serve.ts). What it
 * prints after that line is kept (the app's own logging).
 * @module
 */
import type { Subprocess } from "bun";

/** A started server process. */
export interface PortChild {
  proc: Subprocess<"ignore", "pipe", "ignore" | "inherit">;
  port: number;
  /** What the process printed to stdout after its PORT line. */
  output(): string;
}

/**
 * Spawns `args` and resolves once it prints `PORT <n>`; `label` names it in
 * the errors ("... did not start" after `timeoutMs`, "... exited").
 */
export async function spawnWithPort(
  args: string[],
  opts: { label: string; cwd: string; env: Record<string, string | undefined>; stderr: "ignore" | "inherit"; timeoutMs?: number },
): Promise<PortChild> {
  const proc = Bun.spawn(args, { cwd: opts.cwd, stdin: "ignore", stdout: "pipe", stderr: opts.stderr, env: opts.env });
  const reader = proc.stdout.getReader();
  const dec = new TextDecoder();
  let out = "";
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  while (!/PORT \d+/.test(out)) {
    // The wait is bounded even if the process prints nothing at all.
    const r = await Promise.race([reader.read(), Bun.sleep(Math.max(0, deadline - Date.now())).then(() => null)]);
    if (r === null) {
      proc.kill();
      throw new Error(`${opts.label} did not start: ${out}`);
    }
    if (r.done) throw new Error(`${opts.label} exited: ${out}`);
    out += dec.decode(r.value);
  }
  const at = out.search(/PORT \d+/);
  const nl = out.indexOf("\n", at);
  let rest = nl < 0 ? "" : out.slice(nl + 1);
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      rest += dec.decode(value);
    }
  })();
  return { proc, port: Number(/PORT (\d+)/.exec(out)![1]), output: () => rest };
}
