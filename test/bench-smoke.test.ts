/**
 * The microbenchmarks run in CI as a smoke test: every body executes (and
 * its checks hold), with no timing asserted — timing belongs to benchmarks.
 */
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

test("bench/micro runs (smoke mode)", () => {
  const r = spawnSync(process.execPath, [join(import.meta.dir, "..", "bench", "micro", "index.ts"), "--smoke"], {
    encoding: "utf8",
    timeout: 60000,
  });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  const n = Number(/smoke: (\d+) microbenchmarks ran/.exec(r.stdout)?.[1]);
  expect(n).toBeGreaterThanOrEqual(15);
  for (const name of ["typical, through FFI", "req.response(200, string) in the arena", "req.arena.alloc(256)", "req.header('host')"]) {
    expect(r.stdout).toContain(`ok ${name}`);
  }
}, 70000);
