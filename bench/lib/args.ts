/**
 * args.ts - the harness's command line, parsed and validated eagerly.
 *
 * @example
 * const opts = parseArgs(["--quick", "--servers", "bun-serve,c-limit"]);
 */

export type Generator = "auto" | "wrk" | "oha";

export interface Options {
  quick: boolean;
  /** Measured runs per server and scenario; the median is reported. */
  runs: number;
  /** Seconds per measured run. */
  duration: number;
  /** Seconds of warm-up load before the measured runs (not recorded). */
  warmup: number;
  /** Server ids, in the order given (default: all). */
  servers: string[] | null;
  /** Scenario ids, in the order given (default: all). */
  scenarios: string[] | null;
  generator: Generator;
  /** Requests per write in the pipelined scenario. */
  depth: number;
  /** Where latest.json and latest.svg go. */
  outDir: string;
  /** CPU for the server and for the load generator. */
  serverCpu: number;
  clientCpu: number;
  /** Re-render the table, chart and Markdown from outDir/latest.json; run nothing. */
  render: boolean;
  /** Seconds to wait for a busy machine to quieten before each run. */
  maxWait: number;
  /** Times a run disturbed by other processes is measured again. */
  retries: number;
  help: boolean;
}

export const USAGE = `Usage: bun bench/load.ts [options]

  --quick              smoke test: 1 run of 2 s per case, 1 s warm-up, no retries
  --runs N             measured runs per case, median reported (default 3)
  --duration S         seconds per run (default 5)
  --warmup S           seconds of warm-up per case (default 2)
  --servers a,b        among fasthttp, fasthttp-arena, fasthttp-static, bun-serve,
                       bun-serve-static, node-http, c-limit (default: these seven),
                       and the parameter routes (GET /users/World): fasthttp-param,
                       fasthttp-param-raw, fasthttp-param-hand, fasthttp-param-strings,
                       bun-serve-param
  --scenarios a,b      among c1, c50, c1000, pipelined (default: all)
  --generator G        auto (oha if on PATH, else wrk), wrk or oha (default auto);
                       the pipelined scenario always uses wrk (oha cannot pipeline)
  --depth N            requests per write in the pipelined scenario (default 16)
  --out DIR            where latest.json and latest.svg go (default bench/results)
  --server-cpu N       CPU the server is pinned to (default 0)
  --client-cpu N       CPU the load generator is pinned to (default 1)
  --max-wait S         before each run, wait up to S s for other processes to go
                       quiet (default 60; --quick: 10); all waiting and re-measuring
                       stops once 5 x S s have been spent waiting in total
  --retries N          measure a run again, up to N times, when other processes
                       used > 25% of a core during it (default 2; --quick: 0)
  --render             redraw the table, latest.svg and latest.md from latest.json; run nothing
  -h, --help           this text
`;

export function parseArgs(argv: string[]): Options {
  const opts: Options = {
    quick: false,
    runs: 3,
    duration: 5,
    warmup: 2,
    servers: null,
    scenarios: null,
    generator: "auto",
    depth: 16,
    outDir: new URL("../results/", import.meta.url).pathname,
    serverCpu: 0,
    clientCpu: 1,
    render: false,
    maxWait: 60,
    retries: 2,
    help: false,
  };
  const explicit = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new TypeError(`${flag} needs a value`);
      return v;
    };
    explicit.add(flag);
    switch (flag) {
      case "--quick": opts.quick = true; break;
      case "--runs": opts.runs = positiveInt(flag, value()); break;
      case "--duration": opts.duration = positiveNumber(flag, value()); break;
      case "--warmup": opts.warmup = nonNegativeNumber(flag, value()); break;
      case "--servers": opts.servers = list(value()); break;
      case "--scenarios": opts.scenarios = list(value()); break;
      case "--generator": {
        const g = value();
        if (g !== "auto" && g !== "wrk" && g !== "oha") throw new TypeError(`--generator must be auto, wrk or oha, not ${JSON.stringify(g)}`);
        opts.generator = g;
        break;
      }
      case "--depth": opts.depth = positiveInt(flag, value()); break;
      case "--out": opts.outDir = value(); break;
      case "--server-cpu": opts.serverCpu = nonNegativeInt(flag, value()); break;
      case "--client-cpu": opts.clientCpu = nonNegativeInt(flag, value()); break;
      case "--render": opts.render = true; break;
      case "--max-wait": opts.maxWait = nonNegativeNumber(flag, value()); break;
      case "--retries": opts.retries = nonNegativeInt(flag, value()); break;
      case "-h": case "--help": opts.help = true; break;
      default: throw new TypeError(`unknown option ${JSON.stringify(arg)} (try --help)`);
    }
  }
  if (opts.quick) {
    // --quick sets the defaults; an explicit flag still wins.
    if (!explicit.has("--runs")) opts.runs = 1;
    if (!explicit.has("--duration")) opts.duration = 2;
    if (!explicit.has("--warmup")) opts.warmup = 1;
    if (!explicit.has("--max-wait")) opts.maxWait = 10;
    if (!explicit.has("--retries")) opts.retries = 0;
  }
  if (opts.serverCpu === opts.clientCpu) throw new RangeError(`--server-cpu and --client-cpu are both ${opts.serverCpu}: pin them apart`);
  return opts;
}

function list(v: string): string[] {
  return v.split(",").map((s) => s.trim()).filter(Boolean);
}
function positiveInt(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${flag} must be a whole number >= 1, not ${JSON.stringify(v)}`);
  return n;
}
function nonNegativeInt(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${flag} must be a whole number >= 0, not ${JSON.stringify(v)}`);
  return n;
}
function positiveNumber(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${flag} must be a number > 0, not ${JSON.stringify(v)}`);
  return n;
}
function nonNegativeNumber(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`${flag} must be a number >= 0, not ${JSON.stringify(v)}`);
  return n;
}
