/**
 * cli.ts - the option reader the single-purpose bench scripts share
 * (bench/idle-memory.ts, bench/timer-lateness.ts): `--name value` pairs, -h,
 * unknown options refused with the usage text, and the servers they compare.
 */

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

/** Throws unless every id is a server these scripts know. */
export function checkServers(ids: string[]): void {
  for (const s of ids) if (s !== "fasthttp" && s !== "bun-serve") throw new TypeError(`unknown server ${s}: fasthttp or bun-serve`);
}
