/** The TypeScript sources, tests, benchmarks and examples type-check in strict mode. */
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

test("tsc --noEmit passes (strict)", () => {
  const root = join(import.meta.dir, "..");
  const r = spawnSync(join(root, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"], { cwd: root, encoding: "utf8" });
  expect(r.stdout + r.stderr).toBe("");
  expect(r.status).toBe(0);
}, 60000);
