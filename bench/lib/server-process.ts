/**
 * server-process.ts - one server under test, as a pinned child process.
 *
 * Started fresh for every scenario (so peak RSS and warm state belong to that
 * scenario alone), pinned with taskset, its fd limit raised with prlimit, and
 * checked with one real request before any load is sent.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { ServerDef } from "./servers.ts";

export interface LoopHealth {
  ticks: number;
  maxMs: number;
  p99Ms: number | null;
  meanMs: number | null;
  windowMs: number;
}

/** Wraps cmd so that it runs on `cpu` with at least `fds` descriptors. Both tools exec, so the pid is the command's. */
export function pinned(cmd: string[], cpu: number, fds: number): string[] {
  const wrapped = ["taskset", "-c", String(cpu), ...cmd];
  return Bun.which("prlimit") ? ["prlimit", `--nofile=${fds}:${fds}`, ...wrapped] : ["sh", "-c", `ulimit -n ${fds} && exec "$@"`, "sh", ...wrapped];
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export class ServerProcess {
  readonly def: ServerDef;
  readonly port: number;
  #proc: Subprocess<"ignore", "pipe", "pipe">;
  #timerDir: string;
  #timerFile: string;
  #output: string[] = [];
  #ready: Promise<void>;

  private constructor(def: ServerDef, port: number, cpu: number, fds: number) {
    this.def = def;
    this.port = port;
    this.#timerDir = mkdtempSync(join(tmpdir(), "fasthttp-bench-timer-"));
    this.#timerFile = join(this.#timerDir, "timer.json");
    this.#proc = Bun.spawn(pinned(def.command(port), cpu, fds), {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, PORT: String(port), BENCH_TIMER_FILE: this.#timerFile },
    });
    this.#ready = this.#watch();
  }

  /** Starts def on a free port and resolves once it has answered one request correctly. */
  static async start(def: ServerDef, cpu: number, fds: number, timeoutMs = 20_000): Promise<ServerProcess> {
    const sp = new ServerProcess(def, await freePort(), cpu, fds);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const failed = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no "ready" line within ${timeoutMs} ms`)), timeoutMs);
      sp.#proc.exited.then((code) => reject(new Error(`exited with code ${code} before it was ready`)));
    });
    failed.catch(() => {}); // settles after a success too; nobody listens then
    try {
      await Promise.race([sp.#ready, failed]);
      await Promise.race([sp.#check(), failed]);
    } catch (err) {
      await sp.stop();
      throw new Error(`${def.label}: ${(err as Error).message}${sp.outputTail() ? `\n${sp.outputTail()}` : ""}`);
    } finally {
      clearTimeout(timer);
    }
    return sp;
  }

  get pid(): number {
    return this.#proc.pid;
  }

  /** Exit code if it has exited, else null. */
  get exitCode(): number | null {
    return this.#proc.exitCode ?? (this.#proc.signalCode ? -1 : null);
  }

  /** The last lines it printed (stdout and stderr interleaved as read). */
  outputTail(lines = 15): string {
    return this.#output.slice(-lines).map((l) => `    | ${l}`).join("\n");
  }

  /** Collects both streams; resolves when a line starting with "ready" appears. */
  #watch(): Promise<void> {
    let resolveReady!: () => void;
    const ready = new Promise<void>((r) => (resolveReady = r));
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      let buf = "";
      for await (const chunk of stream) {
        buf += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          this.#output.push(line);
          if (this.#output.length > 200) this.#output.shift();
          if (line.startsWith("ready")) resolveReady();
        }
      }
      if (buf) this.#output.push(buf);
    };
    pump(this.#proc.stdout).catch(() => {});
    pump(this.#proc.stderr).catch(() => {});
    return ready;
  }

  /**
   * One request on a fresh raw connection, which we close ourselves once the
   * answer is in: the answer must be 200 with the hello body. (Raw rather than
   * fetch, so no pooled keep-alive connection stays open during the load, and
   * no `Connection: close` whose handling is not what is being measured.)
   */
  async #check(timeoutMs = 5000): Promise<void> {
    const path = this.def.path ?? "/";
    const raw = await new Promise<string>((resolve, reject) => {
      let data = "";
      const sock = connect({ host: "127.0.0.1", port: this.port }, () => {
        sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n`);
      });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`GET ${path} got no complete answer within ${timeoutMs} ms (got ${JSON.stringify(data.slice(0, 120))})`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        sock.destroy();
        resolve(data);
      };
      sock.setEncoding("latin1");
      sock.on("data", (chunk: string) => {
        data += chunk;
        const end = data.indexOf("\r\n\r\n");
        if (end < 0) return;
        const len = /\r\ncontent-length:\s*(\d+)/i.exec(data.slice(0, end + 2));
        if (len && data.length >= end + 4 + Number(len[1])) finish();
      });
      sock.on("end", finish);
      sock.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const status = raw.slice(0, raw.indexOf("\r\n"));
    const body = raw.slice(raw.indexOf("\r\n\r\n") + 4);
    if (!/^HTTP\/1\.1 200 /.test(status) || body !== "Hello, World!") {
      throw new Error(`GET ${path} answered ${JSON.stringify(raw.slice(0, 200))}, expected 200 with "Hello, World!"`);
    }
  }

  #lastSeq(): number {
    try {
      return JSON.parse(readFileSync(this.#timerFile, "utf8")).seq ?? 0;
    } catch {
      return 0;
    }
  }

  /**
   * Asks the server (SIGUSR2) for the timer lateness since the previous ask, and
   * starts a new window. Null if it does not answer within waitMs: a JS loop that
   * cannot even run a signal handler.
   */
  async loopHealth(waitMs = 3000): Promise<LoopHealth | null> {
    if (!this.def.reportsTimer || this.exitCode !== null) return null;
    const before = this.#lastSeq();
    process.kill(this.pid, "SIGUSR2");
    const deadline = performance.now() + waitMs;
    while (performance.now() < deadline) {
      await Bun.sleep(5);
      if (!existsSync(this.#timerFile)) continue;
      try {
        const data = JSON.parse(readFileSync(this.#timerFile, "utf8"));
        if (data.seq > before) return data as LoopHealth;
      } catch {
        // Caught between write and rename: try again.
      }
    }
    return null;
  }

  /** SIGTERM, then SIGKILL after graceMs. Resolves with the exit code. */
  async stop(graceMs = 3000): Promise<number | null> {
    if (this.exitCode === null) {
      this.#proc.kill("SIGTERM");
      const done = await Promise.race([this.#proc.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
      if (!done) {
        this.#output.push(`(did not exit ${graceMs} ms after SIGTERM: killed)`);
        this.#proc.kill("SIGKILL");
        await this.#proc.exited;
      }
    }
    rmSync(this.#timerDir, { recursive: true, force: true });
    return this.#proc.exitCode;
  }
}
