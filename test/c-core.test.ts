/**
 * The C core stays portable: it must compile warning-free under gcc -Wall
 * -Wextra (and clang, where installed), for each backend, as one translation
 * unit exactly as bun:ffi's cc compiles it.
 */
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const source = join(root, "c", "fasthttp.c");

function have(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

const compilers = ["gcc", "clang"].filter(have);
const backends: [string, string[]][] = [
  ["epoll", []],
  ["kqueue (emulated)", ["-DFH_BACKEND_KQUEUE=1"]],
];

describe("the C core compiles warning-free", () => {
  test("a C compiler is installed", () => {
    expect(compilers).toContain("gcc");
  });
  for (const cc of compilers) {
    for (const [name, defs] of backends) {
      test(`${cc} -Wall -Wextra -Werror, ${name} backend`, () => {
        const out = join(mkdtempSync(join(tmpdir(), "fh-cc-")), "fasthttp.o");
        const r = spawnSync(cc, ["-std=gnu99", "-O2", "-Wall", "-Wextra", "-Wshadow", "-Werror", ...defs, "-c", source, "-o", out], {
          encoding: "utf8",
        });
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
      });
    }
  }
});
