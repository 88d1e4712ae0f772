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
import { afterAll, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expectFuzzClean, libFuzzer, libFuzzerNote, runFuzz } from "./helpers/cbuild.ts";

const seconds = Number(process.env.FUZZ_SECONDS ?? 45);

const out = mkdtempSync(join(tmpdir(), "fasthttp-fuzz-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

test.skipIf(!libFuzzer)(`libFuzzer over the scanner for ${seconds} s: no crash, no sanitizer report, no broken invariant${libFuzzerNote}`, async () => {
  const r = await runFuzz("scanner", seconds, out);
  if (r.code === 0 && r.crashes.length === 0) console.log(`fuzz: ${r.runs} executions in ${seconds} s, no crash`);
  expectFuzzClean(r);
}, (seconds + 90) * 1000);
