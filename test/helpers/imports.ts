/**
 * What a module of src/ imports, read from its text (test/imports.test.ts for
 * the layering, test/package.test.ts for what the package must ship and
 * depend on).
 */
import { readFileSync } from "node:fs";

/**
 * The specifiers a file imports or re-exports from, as written (relative,
 * `bun:`, `node:` or a package); `runtime`: leave out `import type` and
 * `export type` statements.
 */
export function importsOf(file: string, runtime: boolean): string[] {
  const out: string[] = [];
  for (const m of readFileSync(file, "utf8").matchAll(/^(import|export)\s+(type\s+)?[^;]*?from\s+"([^"]+)"/gms)) {
    if (runtime && m[2] !== undefined) continue;
    out.push(m[3]!);
  }
  return out;
}
