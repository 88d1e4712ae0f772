/**
 * The kqueue backend (c/backend_kqueue.c) on Linux, through its test-only
 * emulation (c/testing/kqueue_emu.h): the C suite in test/c/ built by gcc
 * (plain, then with sanitizers) and by TinyCC through bun:ffi's cc, and the
 * backend checked to compile warning-free in the core's one-TU layout.
 *
 * Every C program runs in a child process; builds go to a temp dir.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const cDir = join(import.meta.dir, "c");
const suiteSource = join(cDir, "kqueue_emu_test.c");
const wrapperSource = join(cDir, "kqueue_backend_tu.c");
const tccScript = join(cDir, "kqueue_tcc_selftest.ts");
const warnings = ["-Wall", "-Wextra", "-Werror"];

let work = "";
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "fasthttp-kqueue-"));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function run(cmd: string[], env?: Record<string, string>) {
  const p = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  return { code: p.exitCode, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

/** Asserts a build with no diagnostics at all. */
function build(cmd: string[]) {
  const r = run(cmd);
  if (r.code !== 0 || r.stderr) console.error(`${cmd.join(" ")}\n${r.stderr}`);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
}

/** Asserts exit 0 and the suite's closing "N passed, 0 failed" line. */
function expectSuitePassed(r: { code: number | null; stdout: string; stderr: string }) {
  const m = r.stdout.match(/^(\d+) passed, (\d+) failed$/m);
  if (!m || m[2] !== "0" || r.code !== 0) console.error(`${r.stdout}${r.stderr}`);
  expect(m?.[2]).toBe("0");
  expect(Number(m?.[1])).toBeGreaterThan(200);
  expect(r.code).toBe(0);
}

/** Whether `compiler` can build and run a program with ASan and UBSan. */
function sanitizersWork(compiler: string): boolean {
  const src = join(work, `probe-${compiler}.c`);
  const exe = join(work, `probe-${compiler}`);
  writeFileSync(src, "int main(void) { return 0; }\n");
  const r = run([compiler, "-fsanitize=address,undefined", src, "-o", exe]);
  return r.code === 0 && run([exe]).code === 0;
}

const gcc = Bun.which("gcc");
const clang = Bun.which("clang");

describe("kqueue emulation and backend, C suite", () => {
  test("gcc -Wall -Wextra -Werror: builds, runs, all checks pass", () => {
    expect(gcc).not.toBeNull();
    const exe = join(work, "kqueue_emu_test");
    build(["gcc", ...warnings, "-O1", "-pthread", suiteSource, "-o", exe]);
    expectSuitePassed(run([exe]));
  }, 60_000);

  test("gcc -fsanitize=address,undefined: all checks pass", () => {
    if (!gcc || !sanitizersWork("gcc")) {
      console.warn("skipped: gcc cannot build with -fsanitize=address,undefined here (no libasan/libubsan)");
      return;
    }
    const exe = join(work, "kqueue_emu_test_gcc_san");
    build(["gcc", ...warnings, "-g", "-O1", "-pthread", "-fsanitize=address,undefined",
      "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", suiteSource, "-o", exe]);
    expectSuitePassed(run([exe], { ASAN_OPTIONS: "detect_leaks=1", UBSAN_OPTIONS: "print_stacktrace=1" }));
  }, 120_000);

  if (!clang) console.warn("kqueue-emu: clang is not installed, so the clang sanitizer build is skipped (apt-get install clang to run it)");
  test.skipIf(!clang)("clang -fsanitize=address,undefined: all checks pass", () => {
    if (!sanitizersWork("clang")) {
      console.warn("skipped: clang cannot build with -fsanitize=address,undefined here (no compiler-rt)");
      return;
    }
    const exe = join(work, "kqueue_emu_test_clang_san");
    build(["clang", ...warnings, "-g", "-O1", "-pthread", "-fsanitize=address,undefined",
      "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", suiteSource, "-o", exe]);
    expectSuitePassed(run([exe], { ASAN_OPTIONS: "detect_leaks=1", UBSAN_OPTIONS: "print_stacktrace=1" }));
  }, 120_000);
});

describe("backend_kqueue.c in the core's one-translation-unit layout", () => {
  // kqueue_backend_tu.c includes backend.h, then kqueue_emu.h, then
  // backend_kqueue.c, as fasthttp.c includes its backend.
  test("gcc -fsyntax-only -Wall -Wextra -Werror (gnu17, and -std=c11 -pedantic as cc uses)", () => {
    expect(gcc).not.toBeNull();
    build(["gcc", ...warnings, "-fsyntax-only", wrapperSource]);
    build(["gcc", ...warnings, "-std=c11", "-pedantic", "-fsyntax-only", wrapperSource]);
  }, 60_000);

  test("TinyCC via bun:ffi cc: fh_kq_selftest() returns 0 and the C suite passes", () => {
    const r = run([process.execPath, tccScript]);
    expect(`${r.stdout}${r.stderr}`).toContain("fh_kq_selftest: 0\n");
    expectSuitePassed(r);
  }, 60_000);
});
