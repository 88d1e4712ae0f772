/**
 * The contract between the C core and TypeScript, named on both sides:
 * src/layout.ts's CONTRACT has every name of FH_CONTRACT (c/layout.h), in its
 * order, each with the value the headers #define; the compiled core reports
 * the same values (fh_contract), and a disagreement names the first name
 * that differs.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadCore } from "../src/ffi.ts";
import { CONTRACT, contractMismatch } from "../src/layout.ts";

const c = join(import.meta.dir, "..", "c");
const headers = ["layout.h", "scanner.h"].map((f) => readFileSync(join(c, f), "utf8"));

/** Every `#define FH_NAME <integer>` of the headers (a trailing comment allowed). */
const defines = new Map<string, number>();
for (const text of headers) {
  for (const m of text.matchAll(/^#define\s+(FH_[A-Z0-9_]+)\s+\(?(-?\d+)\)?\s*(?:\/\*.*)?$/gm)) defines.set(m[1]!, Number(m[2]));
}

/** The names FH_CONTRACT lists, in order. */
const order = (() => {
  const m = headers[0]!.match(/#define\s+FH_CONTRACT\(X\)((?:[^\n]*\\\n)*[^\n]*)/);
  if (m === null) throw new Error("c/layout.h has no FH_CONTRACT(X) macro");
  return [...m[1]!.matchAll(/X\((FH_[A-Z0-9_]+)\)/g)].map((x) => x[1]!);
})();

describe("the C ↔ TypeScript contract", () => {
  test("the headers define the values and FH_CONTRACT lists names", () => {
    expect(defines.size).toBeGreaterThan(40);
    expect(order.length).toBeGreaterThan(40);
  });

  test("CONTRACT lists exactly FH_CONTRACT's names, in its order", () => {
    expect(CONTRACT.map(([name]) => name)).toEqual(order);
  });

  test("every value c/layout.h defines is in FH_CONTRACT (a name added to the header alone fails)", () => {
    const inLayout = [...headers[0]!.matchAll(/^#define\s+(FH_[A-Z0-9_]+)\s+\(?-?\d/gm)].map((m) => m[1]!);
    expect(inLayout.filter((name) => !order.includes(name))).toEqual([]);
  });

  test("every name has the value c/layout.h (or c/scanner.h) defines", () => {
    const wrong = CONTRACT.filter(([name, value]) => defines.get(name) !== value).map(
      ([name, value]) => `${name}: ${value} here, ${defines.get(name)} in the header`,
    );
    expect(wrong).toEqual([]);
  });

  test("the compiled core reports the same values (fh_contract)", () => {
    const core = loadCore(); // throws if they disagree
    const values = new Int32Array(CONTRACT.length + 8);
    expect(core.fh_contract(values, values.length)).toBe(CONTRACT.length);
    expect([...values.subarray(0, CONTRACT.length)]).toEqual(CONTRACT.map(([, v]) => v));
  });

  test("a disagreement names the first name that differs, and a count that differs", () => {
    const values = CONTRACT.map(([, v]) => v);
    expect(contractMismatch(values, values.length)).toBeNull();
    const shifted = [...values];
    shifted[CONTRACT.findIndex(([n]) => n === "FH_D_RKIND")]! += 1;
    shifted[CONTRACT.findIndex(([n]) => n === "FH_EV_GONE")]! += 1;
    const msg = contractMismatch(shifted, shifted.length)!;
    expect(msg).toContain("FH_D_RKIND");
    expect(msg).not.toContain("FH_EV_GONE");
    expect(contractMismatch([...values, 9], values.length + 1)).toContain(`${values.length + 1} names`);
  });
});
