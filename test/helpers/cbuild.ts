/**
 * What the tests that build C programs share (test/scanner-c.test.ts,
 * test/core-c.test.ts, test/fuzz.test.ts): the compilers found, a bounded
 * spawn, a probe of what clang can build here, and whether its ASan and UBSan
 * runtimes work (decided once, at load).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
