/**
 * Starts test/helpers/fault-server.ts in a child process and talks to it over
 * IPC: its port, its server's stats(), its RSS and descriptor count, its CPU
 * time from /proc, and a bounded stop. Used by the fault, soak and regression
 * tests and by bench/soak.ts.
 *
 * @example
 * await using s = await spawnServer({ config: { writeTimeout: 1 }, nofile: 64 });
 * const { stats } = await s.stats();
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { ServerConfig, ServerStats } from "../../src/index.ts";

const entry = join(import.meta.dir, "fault-server.ts");

export interface ChildStats {
  stats: ServerStats;
  /** Resident set size in bytes, after a full GC. */
  rss: number;
  /** Open descriptors. */
  fds: number;
}

export interface SpawnOptions {
  config?: Partial<ServerConfig>;
  /** RLIMIT_NOFILE (soft and hard) for the child. */
  nofile?: number;
  /** Put SIGPIPE back to its default action (terminate) in the child. */
  sigpipe?: "default";
  /** How long to wait for the child to listen. */
  timeoutMs?: number;
}

/** The hard RLIMIT_NOFILE of this process (what an unprivileged child may raise its limit to). */
export function hardNofile(): number {
  const line = readFileSync("/proc/self/limits", "utf8")
    .split("\n")
    .find((l) => l.startsWith("Max open files"));
  const hard = line?.trim().split(/\s+/)[4];
  return hard === "unlimited" ? 1 << 20 : Number(hard ?? 1024);
}

/** Whether this process may raise a child's hard limits (root, or CAP_SYS_RESOURCE). */
export function canRaiseLimits(): boolean {
  return process.getuid?.() === 0;
}

/** The argv that runs `cmd` with RLIMIT_NOFILE set to n (n is capped to what may be set). */
export function withNofile(cmd: string[], n: number): string[] {
  const limit = canRaiseLimits() ? n : Math.min(n, hardNofile());
  if (Bun.which("prlimit")) return ["prlimit", `--nofile=${limit}:${limit}`, ...cmd];
  return ["sh", "-c", `ulimit -n ${limit} && exec "$@"`, "sh", ...cmd];
}

/** CPU time (user + system) of a process in seconds, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces) start at ") ".
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
  return ticks / clockTicks();
}

let ticksPerSecond = 0;
function clockTicks(): number {
  if (!ticksPerSecond) {
    const r = Bun.spawnSync(["getconf", "CLK_TCK"], { stdout: "pipe" });
    ticksPerSecond = Number(r.stdout.toString().trim()) || 100;
  }
  return ticksPerSecond;
}

/** Resident set size of a process in bytes, from /proc/<pid>/status. */
export function rssBytes(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) * 1024 : 0;
}

type Msg = { ready?: number; pid?: number; stopped?: boolean; seen?: string[] } & Partial<ChildStats>;

export class ChildServer implements AsyncDisposable {
  readonly proc: Subprocess;
  port = 0;
  #waiters: ((m: Msg) => void)[] = [];
  #ready: Promise<void>;
  #output: string[] = [];

  constructor(options: SpawnOptions) {
    const cmd = [process.execPath, entry, JSON.stringify({ config: options.config ?? {}, sigpipe: options.sigpipe })];
    let onReady!: () => void;
    let onFail!: (e: Error) => void;
    this.#ready = new Promise<void>((res, rej) => {
      onReady = res;
      onFail = rej;
    });
    this.proc = Bun.spawn(options.nofile ? withNofile(cmd, options.nofile) : cmd, {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      ipc: (m: Msg) => {
        if (m.ready !== undefined) {
          this.port = m.ready;
          onReady();
          return;
        }
        this.#waiters.shift()?.(m);
      },
    });
    this.#collect(this.proc.stdout as ReadableStream<Uint8Array>);
    this.#collect(this.proc.stderr as ReadableStream<Uint8Array>);
    void this.proc.exited.then((code) => onFail(new Error(`the server process exited (${code}) before it listened:\n${this.output}`)));
    const timeoutMs = options.timeoutMs ?? 10_000;
    const timer = setTimeout(() => onFail(new Error(`the server process did not listen within ${timeoutMs} ms:\n${this.output}`)), timeoutMs);
    void this.#ready.finally(() => clearTimeout(timer)).catch(() => {});
  }

  async #collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      this.#output.push(dec.decode(chunk));
      if (this.#output.length > 200) this.#output.splice(0, 100);
    }
  }

  /** What the child printed (the tail). */
  get output(): string {
    return this.#output.join("");
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** True while the process runs. */
  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  ready(): Promise<void> {
    return this.#ready;
  }

  #ask(msg: object, timeoutMs: number): Promise<Msg> {
    return new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new Error(`the server process did not answer ${JSON.stringify(msg)} within ${timeoutMs} ms (alive: ${this.alive})\n${this.output}`));
      }, timeoutMs);
      const waiter = (m: Msg) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.#waiters.push(waiter);
      this.proc.send(msg);
    });
  }

  /** The server's stats(), the process's RSS (after a full GC) and open descriptors. */
  async stats(timeoutMs = 5000): Promise<ChildStats> {
    return (await this.#ask({ cmd: "stats" }, timeoutMs)) as ChildStats;
  }

  /** The requests ("METHOD target") the handler saw since the last call. */
  async seen(timeoutMs = 5000): Promise<string[]> {
    return (await this.#ask({ cmd: "seen" }, timeoutMs)).seen ?? [];
  }

  /** Polls stats() until `cond` holds or `ms` pass; returns the last stats. */
  async until(cond: (s: ChildStats) => boolean, ms: number, every = 50): Promise<ChildStats> {
    const end = Date.now() + ms;
    let s = await this.stats();
    while (!cond(s) && Date.now() < end) {
      await Bun.sleep(every);
      s = await this.stats();
    }
    return s;
  }

  /** Stops the server gracefully (bounded), then kills the process if it is still there. */
  async stop(): Promise<void> {
    if (this.alive) {
      await this.#ask({ cmd: "stop" }, 3000).catch(() => {});
      const exited = await Promise.race([this.proc.exited.then(() => true), Bun.sleep(2000).then(() => false)]);
      if (!exited) this.proc.kill("SIGKILL");
    }
    await this.proc.exited;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/** Starts the server process and waits until it listens. */
export async function spawnServer(options: SpawnOptions = {}): Promise<ChildServer> {
  const s = new ChildServer(options);
  try {
    await s.ready();
  } catch (e) {
    s.proc.kill("SIGKILL");
    throw e;
  }
  return s;
}
