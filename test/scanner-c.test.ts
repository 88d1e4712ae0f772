/**
 * The request scanner and chunked framer (c/scanner.c) in C, under ASan and
 * UBSan: test/c/scanner_test.c's table cases (every input and every strict
 * prefix placed to end right at a PROT_NONE page), control bytes injected
 * into every position of valid heads, and the property over the seed corpus
 * (the raw cases of test/cases/requests.ts, written by scripts/fuzz-seeds.ts):
 * each stream framed whole, split in two at every byte boundary, and fed one
 * byte at a time gives exactly the same requests and errors.
 *
 * Needs clang with its sanitizer runtimes (.ci/run installs them); without
 * clang the sanitizer build is skipped with a message, and the same program
 * still runs built by gcc.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asan, asanNote, clang, gcc, run } from "./helpers/cbuild.ts";
import { writeSeeds } from "../scripts/fuzz-seeds.ts";

const source = join(import.meta.dir, "c", "scanner_test.c");

let work = "";
let seeds = "";
let seedCount = 0;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "fasthttp-scanner-"));
  seeds = join(work, "seeds");
  seedCount = writeSeeds(seeds);
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});


function expectAllPassed(r: { code: number | null; stdout: string; stderr: string }) {
  const m = r.stdout.match(/^(\d+) passed, (\d+) failed$/m);
  if (!m || m[2] !== "0" || r.code !== 0) console.error(`${r.stdout}\n${r.stderr}`);
  expect(r.stderr).not.toContain("ERROR: AddressSanitizer");
  expect(r.stderr).not.toContain("runtime error");
  expect(m?.[2]).toBe("0");
  expect(Number(m?.[1])).toBeGreaterThan(1000);
  expect(r.stdout).toContain(`corpus files: ${seedCount}`);
  expect(r.code).toBe(0);
}

describe("c/scanner.c in C (test/c/scanner_test.c)", () => {
  test("the seed corpus holds the raw request cases", () => {
    expect(seedCount).toBeGreaterThan(300);
  });

  test("gcc -Wall -Wextra -Werror: builds, every case and the split property pass", () => {
    if (!gcc) throw new Error("gcc is required (the C core's warning test needs it too)");
    const exe = join(work, "scanner_test_gcc");
    const b = run([gcc, "-std=gnu99", "-O2", "-Wall", "-Wextra", "-Wshadow", "-Werror", source, "-o", exe]);
    expect(b.stderr).toBe("");
    expect(b.code).toBe(0);
    expectAllPassed(run([exe, seeds]));
  }, 60_000);

  test.skipIf(!asan)(`clang -fsanitize=address,undefined: no overread at the guard page, no UB${asanNote}`, () => {
    const exe = join(work, "scanner_test_asan");
    const b = run([clang!, "-g", "-O1", "-std=gnu99", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
      "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", source, "-o", exe]);
    expect(b.stderr).toBe("");
    expect(b.code).toBe(0);
    expectAllPassed(run([exe, seeds], 120_000));
  }, 120_000);
});
