/**
 * The WebSocket frame reader and UTF-8 validator (c/ws_read.c, c/utf8.c) in
 * C: test/c/ws_read_test.c (every case fed whole, a byte at a time and in
 * random pieces) built by gcc and clang with -Wall -Wextra -Werror, by clang
 * with ASan and UBSan, and by TinyCC through bun:ffi's cc (the compiler the
 * core is built with at start-up; its unaligned-load path is only taken
 * there), then a short libFuzzer run of test/c/fuzz_ws.c through
 * scripts/fuzz.sh ws.
 *
 * Every C program runs in a child process; builds go to a temp dir. The
 * fuzzer runs FUZZ_SECONDS (default 15); `scripts/fuzz.sh ws 600` is the
 * long run. Without clang, or its sanitizer or libFuzzer runtimes, those
 * tests are skipped, saying so in their names.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asan, asanNote, build, clang, expectFuzzClean, gcc, libFuzzer, libFuzzerNote, run, runFuzz } from "./helpers/cbuild.ts";

const source = join(import.meta.dir, "c", "ws_read_test.c");
const warnings = ["-std=gnu99", "-Wall", "-Wextra", "-Wshadow", "-Werror"];

let work = "";
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "fasthttp-ws-c-"));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Asserts exit 0, no sanitizer report, and the suite's closing "N passed, 0 failed" line. */
function expectSuitePassed(r: { code: number | null; stdout: string; stderr: string }) {
  const m = r.stdout.match(/^(\d+) passed, (\d+) failed$/m);
  if (!m || m[2] !== "0" || r.code !== 0) console.error(`${r.stdout}\n${r.stderr}`);
  expect(r.stderr).not.toContain("ERROR: AddressSanitizer");
  expect(r.stderr).not.toContain("runtime error");
  expect(m?.[2]).toBe("0");
  // The full suite checks about 5500 things; --quick (TinyCC) over 5000.
  expect(Number(m?.[1])).toBeGreaterThan(5000);
  expect(r.code).toBe(0);
}

describe("c/ws_read.c and c/utf8.c in C (test/c/ws_read_test.c)", () => {
  test("gcc -O2 -Wall -Wextra -Werror: builds, every case passes", () => {
    if (!gcc) throw new Error("gcc is required (the C core's warning test needs it too)");
    const exe = join(work, "ws_read_test_gcc");
    build([gcc, ...warnings, "-O2", source, "-o", exe]);
    expectSuitePassed(run([exe]));
  }, 60_000);

  test.skipIf(!clang)(`clang -O2 -Wall -Wextra -Werror: builds, every case passes${clang ? "" : " (SKIPPED: clang is not installed)"}`, () => {
    const exe = join(work, "ws_read_test_clang");
    build([clang!, ...warnings, "-O2", source, "-o", exe]);
    expectSuitePassed(run([exe]));
  }, 60_000);

  test.skipIf(!asan)(`clang -fsanitize=address,undefined: every case passes, no overread, no UB${asanNote}`, () => {
    const exe = join(work, "ws_read_test_asan");
    build([clang!, ...warnings, "-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
      "-fno-omit-frame-pointer", source, "-o", exe]);
    expectSuitePassed(run([exe], 120_000));
  }, 120_000);

  test("TinyCC (bun:ffi cc): compiles the reader and runs the whole suite", () => {
    // In a child: a miscompiled C file can crash the process that loads it.
    const script = `
      import { cc } from "bun:ffi";
      const lib = cc({
        source: ${JSON.stringify(source)},
        define: { FH_WS_TEST_LIBRARY: "1" },
        symbols: { ws_read_test_run: { returns: "int", args: ["int"] } },
      });
      const failed = lib.symbols.ws_read_test_run(0);
      lib.close();
      process.exit(failed === 0 ? 0 : 1);
    `;
    expectSuitePassed(run([process.execPath, "-e", script], 60_000));
  }, 60_000);
});

const seconds = Number(process.env.FUZZ_SECONDS ?? 15);
test.skipIf(!libFuzzer)(`libFuzzer over the WebSocket reader for ${seconds} s: no crash, no sanitizer report, no broken invariant${libFuzzerNote}`, async () => {
  expectFuzzClean(await runFuzz("ws", seconds, join(work, "fuzz")));
}, (seconds + 90) * 1000);
