/**
 * cli.ts - the option reader the single-purpose bench scripts share
 * (bench/idle-memory.ts, bench/timer-lateness.ts): `--name value` pairs, -h,
 * unknown options refused with the usage text, the servers they compare, and
 * how a run ends (the load average, a check that the checkout did not change,
 * the JSON record).
 */
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { resolve } from "node:path";
import { checkoutState, type CheckoutState } from "./checkout.ts";

/** Reads the value of the option being parsed. */
export interface OptionValue {
  /** The next argument, as a string. */
  str(): string;
  /** The next argument as an integer >= min. */
  int(min: number): number;
}

/**
 * Walks argv; `take(name, value)` stores one option and returns false for a
 * name it does not know (then the usage is thrown).
 */
export function readOptions(argv: string[], usage: string, take: (name: string, value: OptionValue) => boolean): void {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value: OptionValue = {
      str: () => {
        const x = argv[++i];
        if (x === undefined) throw new TypeError(`${a} needs a value`);
        return x;
      },
      int: (min) => {
        const n = Number(value.str());
        if (!Number.isInteger(n) || n < min) throw new RangeError(`${a} must be an integer >= ${min}`);
        return n;
      },
    };
    if (a === "-h" || a === "--help") {
      console.log(usage);
      process.exit(0);
    }
    if (!take(a, value)) throw new TypeError(`unknown option ${a}\n${usage}`);
  }
}

/** The options every one of these scripts has. */
export interface CommonOptions {
  /** The fasthttp checkout to measure. */
  dir: string;
  servers: string[];
  /** Fresh server processes per server. */
  runs: number;
  /** Give up after this many seconds in all. */
  timeoutS: number;
  /** Where to write the JSON record, or null. */
  json: string | null;
}

/** Stores one of the {@link CommonOptions} in `o`; false for any other name (for readOptions' `take`). */
export function takeCommon(o: CommonOptions, name: string, v: OptionValue): boolean {
  switch (name) {
    case "--dir": o.dir = resolve(v.str()); return true;
    case "--servers": o.servers = v.str().split(",").filter(Boolean); return true;
    case "--runs": o.runs = v.int(1); return true;
    case "--timeout": o.timeoutS = v.int(10); return true;
    case "--json": o.json = resolve(v.str()); return true;
    default: return false;
  }
}

/** Throws unless every id is a server these scripts know. */
export function checkServers(ids: string[]): void {
  for (const s of ids) if (s !== "fasthttp" && s !== "bun-serve") throw new TypeError(`unknown server ${s}: fasthttp or bun-serve`);
}

/** The 1, 5 and 15 minute load averages, as printed. */
export function loadAverage(): string {
  return loadavg().map((x) => x.toFixed(2)).join(" ");
}

/** What a run hands to finishRun. */
export interface RunRecord {
  /** Where to write the JSON record, or null. */
  json: string | null;
  /** The checkout measured. */
  dir: string;
  options: unknown;
  /** The checkout's state when the run began. */
  checkout: CheckoutState;
  /** The load average when the run began. */
  loadStart: string;
  summary: unknown;
  runs: unknown[];
}

/** Prints the load average at the end, warns if the checkout changed during the run, writes the JSON record. */
export function finishRun(r: RunRecord): void {
  const loadEnd = loadAverage();
  const checkoutEnd = checkoutState(r.dir);
  console.log(`load average at the end: ${loadEnd}`);
  if (checkoutEnd.fingerprint !== r.checkout.fingerprint) {
    console.log(`warning: src/ or c/ of ${r.dir} changed during the run (fingerprint ${r.checkout.fingerprint} -> ${checkoutEnd.fingerprint})`);
  }
  if (r.json) {
    const record = { date: new Date().toISOString(), options: r.options, checkout: r.checkout, checkoutEnd, loadavg: { start: r.loadStart, end: loadEnd }, summary: r.summary, runs: r.runs };
    writeFileSync(r.json, JSON.stringify(record, null, 2) + "\n");
    console.log(`wrote ${r.json}`);
  }
}
