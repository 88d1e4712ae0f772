/**
 * What the tests that build C programs share (test/scanner-c.test.ts,
 * test/core-c.test.ts, test/fuzz.test.ts, test/ws-c.test.ts, test/ws-deflate.test.ts):
 * the compilers found, a bounded
 * spawn, a probe of what clang can build here, and whether its ASan and UBSan
 * runtimes work (decided once, at load).
 */
import { expect } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const clang = Bun.which("clang");
export const gcc = Bun.which("gcc");

/** Runs a command to its end (at most `timeout` ms) and returns its exit code and output. */
export function run(cmd: string[], timeout = 60_000): { code: number | null; stdout: string; stderr: string } {
  const p = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", timeout });
  return { code: p.exitCode, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

/** Whether clang builds `source` with `flags` here (and, with `runIt`, the program runs and exits 0). */
export function clangBuilds(flags: string[], source: string, runIt: boolean): boolean {
  if (!clang) return false;
  const dir = mkdtempSync(join(tmpdir(), "fasthttp-probe-"));
  try {
    const src = join(dir, "probe.c");
    writeFileSync(src, source);
    const r = run([clang, ...flags, src, "-o", join(dir, "probe")]);
    return r.code === 0 && (!runIt || run([join(dir, "probe")]).code === 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether clang can build and run an ASan+UBSan program here. */
export const asan = clangBuilds(["-fsanitize=address,undefined"], "int main(void) { return 0; }\n", true);
/** What a test name says when the sanitizer build is skipped. */
export const asanNote = asan
  ? ""
  : " (SKIPPED: clang with its ASan/UBSan runtimes is not installed; apt-get install clang libclang-rt-14-dev, as .ci/run does)";

/** Whether clang can link a libFuzzer target with ASan and UBSan here (decided once, at load). */
export const libFuzzer = clangBuilds(
  ["-fsanitize=fuzzer,address,undefined"],
  "#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n",
  false,
);
/** What a fuzz test's name says when it is skipped. */
export const libFuzzerNote = libFuzzer
  ? ""
  : " (SKIPPED: clang with libFuzzer is not installed; apt-get install clang libclang-rt-14-dev, as .ci/run does)";

/** What a fuzz run left: its output, executions, crash files and exit code. */
export interface FuzzRun {
  log: string;
  runs: number;
  crashes: string[];
  code: number | null;
}

/** The repository's root, where scripts/fuzz.sh runs. */
const ROOT = join(import.meta.dir, "..", "..");

/**
 * Runs `scripts/fuzz.sh <target> <seconds>` with FUZZ_OUT=out, killed well
 * past its budget in case the fuzzer itself hangs. The log is printed when
 * the run failed.
 */
export async function runFuzz(target: "scanner" | "ws", seconds: number, out: string): Promise<FuzzRun> {
  const proc = Bun.spawn(["bash", join(ROOT, "scripts", "fuzz.sh"), target, String(seconds)], {
    cwd: ROOT,
    env: { ...process.env, FUZZ_OUT: out },
    stdout: "pipe",
    stderr: "pipe",
  });
  const killer = setTimeout(() => proc.kill("SIGKILL"), (seconds + 60) * 1000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(killer);
  const log = stdout + stderr;
  const runs = Number(log.match(/stat::number_of_executed_units:\s*(\d+)/)?.[1] ?? 0);
  const crashes = readdirSync(out).filter((f) => /^(crash|leak|timeout|oom)-/.test(f));
  if (code !== 0 || crashes.length > 0) console.error(log.slice(-6000));
  return { log, runs, crashes, code };
}

/**
 * Asserts that a fuzz run was clean: no sanitizer report, no broken
 * invariant (the targets print "invariant broken" before they abort), no
 * crash file, exit code 0, and more than a thousand executions.
 */
export function expectFuzzClean(r: FuzzRun): void {
  expect(r.log).not.toContain("ERROR: AddressSanitizer");
  expect(r.log).not.toContain("runtime error:");
  expect(r.log).not.toContain("invariant broken");
  expect(r.crashes).toEqual([]);
  expect(r.code).toBe(0);
  expect(r.runs).toBeGreaterThan(1000);
}

/** Asserts that `cmd` (a compiler run) built with no diagnostics at all; what it said is printed when it did not. */
export function build(cmd: string[]): void {
  const r = run(cmd);
  if (r.code !== 0 || r.stderr) console.error(`${cmd.join(" ")}\n${r.stderr}`);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
}
