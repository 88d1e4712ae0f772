/**
 * Builds the kqueue backend and its Linux emulation with TinyCC, through
 * bun:ffi's `cc` - the compiler the core is built with at start-up - and runs
 * them. Run as a child process by test/kqueue-emu.test.ts, because a
 * miscompiled C file can crash the process that loads it.
 *
 * 1. kqueue_backend_tu.c (backend.h + kqueue_emu.h + backend_kqueue.c, the
 *    core's one-translation-unit layout): prints "fh_kq_selftest: <rc>",
 *    where rc is 0 or the line of the check that failed.
 * 2. kqueue_emu_test.c as a library: the whole C suite, which prints its own
 *    "N passed, N failed".
 *
 * Exits 0 only if both passed.
 *
 * @example
 * bun test/c/kqueue_tcc_selftest.ts
 */
import { cc } from "bun:ffi";
import { join } from "node:path";

const tu = cc({
  source: join(import.meta.dir, "kqueue_backend_tu.c"),
  symbols: { fh_kq_selftest: { returns: "int", args: [] } },
});
const selftest = tu.symbols.fh_kq_selftest();
tu.close();
console.log(`fh_kq_selftest: ${selftest}`);

const suite = cc({
  source: join(import.meta.dir, "kqueue_emu_test.c"),
  define: { FH_KQ_TEST_LIBRARY: "1" },
  symbols: { kqueue_emu_test_run: { returns: "int", args: [] } },
});
const failed = suite.symbols.kqueue_emu_test_run();
suite.close();

process.exit(selftest === 0 && failed === 0 ? 0 : 1);
