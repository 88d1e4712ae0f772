/**
 * startup.ts - time from spawn to the first answered request.
 *
 * Spawns `bun examples/hello.ts` (and, for comparison, a Bun.serve hello
 * world) with a free PORT, then tries `GET /` on 127.0.0.1 every 0.25 ms
 * until a whole `200` answer arrives; the time from just before the spawn to
 * that answer is one sample. Median (and range) of `--runs` samples, the
 * servers interleaved; `--cpu N` pins the servers to CPU N (the load
 * script itself runs where it likes), `--cpu -1` does not pin. Nothing is cached between runs but what the OS caches
 * (the first run of each warms the page cache and TinyCC's headers: it is
 * run once and not counted).
 *
 *   bun bench/startup.ts [--runs 7] [--cpu 0|-1]
 */
import { connect } from "node:net";
import { join } from "node:path";
import { freePort, pinned } from "./lib/server-process.ts";

const REPO = new URL("..", import.meta.url).pathname;
const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < -1) throw new Error(`--${name} must be a whole number (got ${args[i + 1]})`);
  return v;
};
const RUNS = opt("runs", 7);
const CPU = opt("cpu", 0);

const SERVERS: { label: string; cmd: string[] }[] = [
  { label: "fasthttp (examples/hello.ts)", cmd: [process.execPath, join(REPO, "examples/hello.ts")] },
  { label: "Bun.serve (bench/servers/bun-serve.ts)", cmd: [process.execPath, join(REPO, "bench/servers/bun-serve.ts")] },
];

/** One GET / on a fresh connection: true once a 200 status line came back. */
function tryOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    let got = "";
    s.once("error", () => resolve(false));
    s.once("connect", () => s.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    s.on("data", (d) => {
      got += d.toString("latin1");
      if (got.includes("\r\n\r\n")) {
        s.destroy();
        resolve(got.startsWith("HTTP/1.1 200"));
      }
    });
    s.once("close", () => resolve(got.startsWith("HTTP/1.1 200")));
  });
}

async function sample(cmd: string[]): Promise<number> {
  const port = await freePort();
  const t0 = performance.now();
  const argv = [...cmd, String(port)];
  const proc = Bun.spawn(CPU < 0 ? argv : pinned(argv, CPU, 1024), {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "inherit",
    env: { ...process.env, PORT: String(port) },
  });
  try {
    for (;;) {
      if (await tryOnce(port)) return performance.now() - t0;
      if (proc.exitCode !== null) throw new Error(`${cmd.join(" ")} exited with ${proc.exitCode}`);
      if (performance.now() - t0 > 10_000) throw new Error(`${cmd.join(" ")}: no answer in 10 s`);
      await Bun.sleep(0.25);
    }
  } finally {
    proc.kill();
    await proc.exited;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const times = SERVERS.map(() => [] as number[]);
for (const s of SERVERS) await sample(s.cmd); // warm the page cache; not counted
for (let r = 0; r < RUNS; r++) {
  for (let i = 0; i < SERVERS.length; i++) times[i]!.push(await sample(SERVERS[i]!.cmd));
}
console.log(`spawn → first answered GET /, median of ${RUNS} (${CPU < 0 ? "not pinned" : `server on CPU ${CPU}`}):`);
for (let i = 0; i < SERVERS.length; i++) {
  const t = times[i]!;
  console.log(`  ${SERVERS[i]!.label.padEnd(42)} ${median(t).toFixed(1)} ms  [${Math.min(...t).toFixed(1)}–${Math.max(...t).toFixed(1)}]`);
}
