/** Windows is refused up front, with the reason (run in a child, with process.platform faked). */
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";

test("newServer throws on Windows, saying why", () => {
  const src = join(import.meta.dir, "..", "src", "index.ts");
  const script = `
    Object.defineProperty(process, "platform", { value: "win32" });
    const { newServer } = await import(${JSON.stringify(src)});
    try { newServer({ handler: () => new Uint8Array(0) }); console.log("no error"); }
    catch (e) { console.log(e.constructor.name + ": " + e.message); }
  `;
  const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 20000 });
  expect(r.stdout).toContain("Error: fasthttp does not support Windows");
  expect(r.stdout).toContain("epoll");
  expect(r.stdout).toContain("kqueue");
});
