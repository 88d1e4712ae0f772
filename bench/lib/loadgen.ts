/**
 * loadgen.ts - the load generators: wrk (with a Lua done() hook that prints JSON)
 * and oha (its --output-format json), both pinned to the client CPU.
 *
 * `auto` picks oha when it is on PATH and wrk otherwise; the pipelined scenario
 * always uses wrk, because oha cannot pipeline. wrk is installed from Debian when
 * it is missing and we are root.
 */
import { join } from "node:path";
import type { Scenario } from "./scenarios.ts";
import { fdLimitFor } from "./scenarios.ts";
import { pinned } from "./server-process.ts";

const BENCH = new URL("..", import.meta.url).pathname;

export type Tool = "wrk" | "oha";

export interface LoadResult {
  tool: Tool;
  requests: number;
  seconds: number;
  reqPerSec: number;
  /**
   * Latency in milliseconds; null when the tool cannot measure it. wrk cannot for
   * pipelined runs: see the note in runWrk.
   */
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** Socket errors, timeouts and non-2xx/3xx answers. */
  errors: number;
  errorDetail: Record<string, number>;
  /** CPU the generator itself used, as % of one core: near 100 means it, not the server, was the limit. */
  clientCpuPct: number | null;
}

/** Finds wrk, installing it with apt-get when missing and root. Throws with instructions otherwise. */
export function ensureWrk(log: (s: string) => void): string {
  const found = Bun.which("wrk");
  if (found) return found;
  const how = "install it with: sudo apt-get install -y wrk   (Debian/Ubuntu; or build it from https://github.com/wg/wrk)";
  if (process.getuid?.() !== 0) throw new Error(`wrk is not on PATH; ${how}`);
  log("wrk is not on PATH: installing it with apt-get install -y wrk ...");
  const install = () => Bun.spawnSync(["apt-get", "install", "-y", "-q", "wrk"], { stdout: "pipe", stderr: "pipe", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  let r = install();
  if (r.exitCode !== 0) {
    log("apt-get install failed; running apt-get update and trying again ...");
    Bun.spawnSync(["apt-get", "update", "-q"], { stdout: "pipe", stderr: "pipe" });
    r = install();
  }
  const now = Bun.which("wrk");
  if (r.exitCode !== 0 || !now) throw new Error(`could not install wrk (apt-get said: ${r.stderr.toString().trim().split("\n").pop()}); ${how}`);
  return now;
}

/** The tool for a scenario given the --generator choice. */
export function toolFor(generator: "auto" | Tool, scenario: Scenario): Tool {
  if (scenario.pipeline > 1) return "wrk";
  if (generator === "auto") return Bun.which("oha") ? "oha" : "wrk";
  return generator;
}

export function toolVersion(tool: Tool): string | null {
  if (!Bun.which(tool)) return null;
  const r = Bun.spawnSync([tool, tool === "wrk" ? "-v" : "--version"], { stdout: "pipe", stderr: "pipe" });
  return (r.stdout.toString() + r.stderr.toString()).trim().split("\n")[0] || null;
}

export interface RunSpec {
  tool: Tool;
  port: number;
  /** The path requested (default "/"). */
  path?: string;
  scenario: Scenario;
  seconds: number;
  cpu: number;
}

export async function runLoad(spec: RunSpec): Promise<LoadResult> {
  return spec.tool === "wrk" ? runWrk(spec) : runOha(spec);
}

const active = new Set<{ kill(signal?: number | NodeJS.Signals): void }>();

/** Kills any load generator still running (on Ctrl-C). */
export function stopLoad(): void {
  for (const p of active) p.kill("SIGKILL");
}

async function spawnCollect(cmd: string[], timeoutMs: number) {
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  active.add(proc);
  const killer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(killer);
  active.delete(proc);
  const usage = proc.resourceUsage();
  return { stdout, stderr, code, cpuSeconds: usage ? Number(usage.cpuTime.total) / 1e6 : null };
}

async function runWrk(spec: RunSpec): Promise<LoadResult> {
  const { scenario, seconds } = spec;
  const script = join(BENCH, scenario.pipeline > 1 ? "pipeline.lua" : "report.lua");
  const cmd = [
    "wrk",
    "-t1",
    `-c${scenario.connections}`,
    `-d${seconds}s`,
    "--timeout", "10s",
    "-s", script,
    `http://127.0.0.1:${spec.port}${spec.path ?? "/"}`,
  ];
  if (scenario.pipeline > 1) cmd.push("--", String(scenario.pipeline), spec.path ?? "/");
  const t0 = performance.now();
  const r = await spawnCollect(pinned(cmd, spec.cpu, fdLimitFor(scenario.connections)), (seconds + 30) * 1000);
  const wall = (performance.now() - t0) / 1000;
  const line = r.stdout.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (!line) throw new Error(`wrk printed no result (exit ${r.code}):\n${(r.stdout + r.stderr).trim().slice(-800)}`);
  const j = JSON.parse(line.slice("WRK_JSON ".length));
  const secs = j.durationUs / 1e6;
  const errorDetail: Record<string, number> = j.errors;
  // wrk "corrects" its histogram for coordinated omission after the run, adding
  // synthetic samples spaced by runtime / (responses / connections). Pipelined,
  // that spacing is `depth` times too small, the synthetic samples land below the
  // histogram's recorded minimum where its percentile walk never looks, and the
  // percentiles come out wrong (p50 above the mean, p90 and p99 zero). Both
  // --latency and done() read that histogram, so pipelined latency is not reported.
  const latencyValid = scenario.pipeline === 1;
  const us = (x: number) => (latencyValid && x > 0 ? x / 1000 : null);
  return {
    tool: "wrk",
    requests: j.requests,
    seconds: secs,
    reqPerSec: j.requests / secs,
    p50Ms: us(j.latencyUs.p50),
    p99Ms: us(j.latencyUs.p99),
    maxMs: j.latencyUs.max > 0 ? j.latencyUs.max / 1000 : null, // recorded, never corrected
    errors: Object.values(errorDetail).reduce((a, b) => a + b, 0),
    errorDetail,
    clientCpuPct: r.cpuSeconds === null ? null : (100 * r.cpuSeconds) / wall,
  };
}

let ohaJsonFlag: string[] | null = null;

async function runOha(spec: RunSpec): Promise<LoadResult> {
  const { scenario, seconds } = spec;
  if (!ohaJsonFlag) {
    // oha >= 1.5 has --output-format json; older ones spell it -j/--json.
    const help = Bun.spawnSync(["oha", "--help"], { stdout: "pipe" }).stdout.toString();
    ohaJsonFlag = help.includes("--output-format") ? ["--output-format", "json"] : ["-j"];
  }
  const cmd = ["oha", "--no-tui", ...ohaJsonFlag, "-z", `${seconds}s`, "-c", String(scenario.connections), `http://127.0.0.1:${spec.port}${spec.path ?? "/"}`];
  const t0 = performance.now();
  const r = await spawnCollect(pinned(cmd, spec.cpu, fdLimitFor(scenario.connections)), (seconds + 30) * 1000);
  const wall = (performance.now() - t0) / 1000;
  let j: any;
  try {
    j = JSON.parse(r.stdout);
  } catch {
    throw new Error(`oha printed no JSON (exit ${r.code}):\n${(r.stdout + r.stderr).trim().slice(-800)}`);
  }
  const statuses: Record<string, number> = j.statusCodeDistribution ?? {};
  const ok = Object.entries(statuses).filter(([code]) => Number(code) < 400).reduce((a, [, n]) => a + n, 0);
  const bad = Object.entries(statuses).filter(([code]) => Number(code) >= 400).reduce((a, [, n]) => a + n, 0);
  const errorDetail: Record<string, number> = { ...(j.errorDistribution ?? {}) };
  if (bad) errorDetail.status = bad;
  const total = j.summary?.total ?? seconds;
  const s = (x: number | undefined | null) => (typeof x === "number" ? x * 1000 : null);
  return {
    tool: "oha",
    requests: ok,
    seconds: total,
    reqPerSec: ok / total,
    p50Ms: s(j.latencyPercentiles?.p50),
    p99Ms: s(j.latencyPercentiles?.p99),
    maxMs: s(j.summary?.slowest),
    errors: Object.values(errorDetail).reduce((a, b) => a + b, 0),
    errorDetail,
    clientCpuPct: r.cpuSeconds === null ? null : (100 * r.cpuSeconds) / wall,
  };
}
