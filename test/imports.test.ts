/**
 * How src/ is layered: the core never imports the web-standard adapter
 * (src/adapter/), which is wired in by the entry (src/index.ts) alone, and no
 * runtime import cycle exists among the modules (type-only imports aside).
 */
import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { importsOf } from "./helpers/imports.ts";

const src = join(import.meta.dir, "..", "src");

function modules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => join(e.parentPath, e.name));
}

/** The modules of src/ a file imports (or re-exports from); `runtime`: leave out `import type` / `export type`. */
function localImports(file: string, runtime: boolean): string[] {
  return importsOf(file, runtime)
    .filter((spec) => spec.startsWith("."))
    .map((spec) => resolve(dirname(file), spec));
}

const all = modules(src);
const rel = (f: string) => relative(src, f);

test("only src/index.ts imports from src/adapter/ (the core does not depend on the adapter)", () => {
  const offenders: string[] = [];
  for (const file of all) {
    if (rel(file).startsWith("adapter/") || rel(file) === "index.ts") continue;
    for (const dep of localImports(file, false)) if (rel(dep).startsWith("adapter/")) offenders.push(`${rel(file)} → ${rel(dep)}`);
  }
  expect(offenders).toEqual([]);
});

test("no runtime import cycle among the modules of src/", () => {
  const graph = new Map(all.map((f) => [f, localImports(f, true)]));
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (f: string): void => {
    state.set(f, "open");
    path.push(f);
    for (const dep of graph.get(f) ?? []) {
      if (state.get(dep) === "open") cycles.push([...path.slice(path.indexOf(dep)), dep].map(rel).join(" → "));
      else if (!state.has(dep)) visit(dep);
    }
    path.pop();
    state.set(f, "done");
  };
  for (const f of all) if (!state.has(f)) visit(f);
  expect(cycles).toEqual([]);
});
