/**
 * The loop core's queue and connection state in C, with no JavaScript
 * (test/c/core_test.c): socketpair connections adopted by fh_conn_new and
 * driven the way src/server.ts drives them (fh_poll, answers in the
 * descriptor rows, fh_flush, the async answer and stream calls), checking
 * each connection's state, its queue, the bytes the client receives, the
 * events and the pool. Built by gcc -Wall -Wextra -Werror and, where clang
 * and its sanitizer runtimes are installed, by clang with ASan and UBSan; each
 * on the epoll backend and on the kqueue backend over the test-only
 * emulation (c/testing/kqueue_emu.h).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asan, asanNote, build, clang, gcc, run } from "./helpers/cbuild.ts";

const root = join(import.meta.dir, "..");
const source = join(import.meta.dir, "c", "core_test.c");

const warnings = ["-std=gnu99", "-Wall", "-Wextra", "-Wshadow", "-Werror", "-pthread"];
const backends: [string, string[]][] = [
  ["epoll", []],
  ["kqueue", ["-DFH_BACKEND_KQUEUE=1", "-I", join(root, "c")]],
];

let work = "";
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "fasthttp-core-c-"));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});


function expectAllPassed(r: { code: number | null; stdout: string; stderr: string }, backend: string) {
  const m = r.stdout.match(/^(\d+) passed, (\d+) failed$/m);
  if (!m || m[2] !== "0" || r.code !== 0 || r.stderr !== "") console.error(`${r.stdout}\n${r.stderr}`);
  expect(r.stdout).toContain(`backend: ${backend}`);
  expect(r.stderr).not.toContain("ERROR: AddressSanitizer");
  expect(r.stderr).not.toContain("runtime error");
  expect(r.stdout.split("\n").filter((l) => l.startsWith("FAIL"))).toEqual([]);
  expect(m?.[2]).toBe("0");
  expect(Number(m?.[1])).toBeGreaterThan(250);
  expect(r.code).toBe(0);
}

describe("the loop core over socketpair, in C (test/c/core_test.c)", () => {
  for (const [backend, defs] of backends) {
    test(`gcc -Wall -Wextra -Werror, ${backend}: every case passes`, () => {
      if (!gcc) throw new Error("gcc is required (the C core's warning test needs it too)");
      const exe = join(work, `core_test_gcc_${backend}`);
      build([gcc, ...warnings, "-O2", "-g", ...defs, source, "-o", exe]);
      expectAllPassed(run([exe], 30_000), backend);
    }, 60_000);

    // UBSan recovers (each report goes to stderr and the run goes on) so
    // that one finding does not hide the cases after it; any report fails.
    test.skipIf(!asan)(`clang -fsanitize=address,undefined, ${backend}: every case passes, no overread, no UB${asanNote}`, () => {
      const exe = join(work, `core_test_asan_${backend}`);
      build([clang!, ...warnings, "-g", "-O1", "-fsanitize=address,undefined", "-fno-omit-frame-pointer", ...defs,
        source, "-o", exe]);
      expectAllPassed(run([exe], 30_000), backend);
    }, 90_000);
  }
});
