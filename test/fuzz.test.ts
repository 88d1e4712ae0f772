/**
 * A short libFuzzer run over the scanner, framer and de-chunker
 * (test/c/fuzz_scanner.c through scripts/fuzz.sh, ASan + UBSan): fails on any
 * crash, sanitizer report or broken invariant (the target aborts on those).
 * The budget is fixed with -max_total_time, so the test takes about
 * FUZZ_SECONDS (default 45) whatever the machine; `npm run fuzz -- 600` is
 * the long run. The corpus starts empty in a temp dir each time, from the
 * seeds, so a run does not depend on earlier ones.
 *
 * Needs clang with libFuzzer (.ci/run installs clang and libclang-rt-14-dev);
 * skipped, saying so, only when it cannot build a fuzzer.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clangBuilds } from "./helpers/cbuild.ts";

const root = join(import.meta.dir, "..");
const seconds = Number(process.env.FUZZ_SECONDS ?? 45);
/** Whether clang can link a libFuzzer target with ASan and UBSan. */
const ok = clangBuilds(
  ["-fsanitize=fuzzer,address,undefined"],
  "#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n",
  false,
);
const note = ok ? "" : " (SKIPPED: clang with libFuzzer is not installed; apt-get install clang libclang-rt-14-dev, as .ci/run does)";

const out = mkdtempSync(join(tmpdir(), "fasthttp-fuzz-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

test.skipIf(!ok)(`libFuzzer over the scanner for ${seconds} s: no crash, no sanitizer report, no broken invariant${note}`, async () => {
  const proc = Bun.spawn(["bash", join(root, "scripts", "fuzz.sh"), String(seconds)], {
    cwd: root,
    env: { ...process.env, FUZZ_OUT: out },
    stdout: "pipe",
    stderr: "pipe",
  });
  // A hard stop well past the budget, in case the fuzzer itself hangs.
  const killer = setTimeout(() => proc.kill("SIGKILL"), (seconds + 60) * 1000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(killer);
  const log = stdout + stderr;
  const runs = Number(log.match(/stat::number_of_executed_units:\s*(\d+)/)?.[1] ?? 0);
  const crashes = readdirSync(out).filter((f) => /^(crash|leak|timeout|oom)-/.test(f));
  if (code !== 0 || crashes.length > 0) console.error(log.slice(-6000));
  else console.log(`fuzz: ${runs} executions in ${seconds} s, no crash`);
  expect(log).not.toContain("ERROR: AddressSanitizer");
  expect(log).not.toContain("runtime error:");
  expect(log).not.toContain("invariant broken");
  expect(crashes).toEqual([]);
  expect(code).toBe(0);
  expect(runs).toBeGreaterThan(1000);
}, (seconds + 90) * 1000);
