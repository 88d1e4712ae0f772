/**
 * load.ts - the load benchmark: fasthttp against Bun.serve, node:http and a
 * hand-written C epoll server (the one-core limit), all answering hello world.
 *
 * Each server is pinned to one CPU and the load generator (wrk or oha) to the
 * other. For every server and scenario: a fresh server process, a warm-up, then
 * N measured runs whose medians are reported: req/s, p50/p99 latency, the
 * server's peak RSS and CPU, and how late a 10 ms timer fired in its event loop.
 * Writes bench/results/latest.json, latest.svg and latest.md. See bench/README.md.
 *
 * @example
 *   bun bench/load.ts --quick
 *   bun bench/load.ts --servers fasthttp,bun-serve --scenarios c50,pipelined --runs 5
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release } from "node:os";
import { join } from "node:path";
import { parseArgs, USAGE, type Options } from "./lib/args.ts";
import { ensureWrk, runLoad, stopLoad, toolFor, toolVersion, type Tool } from "./lib/loadgen.ts";
import { alive, cpuTimes, machineBusySeconds, peakRssKiB, resetPeakRss } from "./lib/proc.ts";
import { formatMarkdown, formatTable, fmtInt, fmtMs, fmtMsUnit, fmtUs, summarize, type CaseResult, type RunRecord } from "./lib/results.ts";
import { allScenarios, fdLimitFor, type Scenario } from "./lib/scenarios.ts";
import { ServerProcess } from "./lib/server-process.ts";
import { SERVERS, toolVersions, type ServerDef } from "./lib/servers.ts";
import { sourceState, type SourceState } from "./lib/source.ts";
import { renderSvg } from "./lib/svg.ts";

/** Seconds a case costs beyond its load: start-up, checks, signals, pauses. */
const CASE_OVERHEAD_S = 1.5;
const RUN_OVERHEAD_S = 0.6;
/** Pause between runs, so TIME_WAIT churn and the last run's tail settle. */
const PAUSE_MS = 300;

function log(line: string): void {
  console.log(line);
}

function fmtDuration(s: number): string {
  s = Math.max(0, Math.round(s));
  const m = Math.floor(s / 60);
  return m ? `${m}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

function pick<T extends { id: string }>(all: T[], wanted: string[] | null, what: string): T[] {
  if (!wanted) return all;
  return wanted.map((id) => {
    const found = all.find((x) => x.id === id);
    if (!found) throw new TypeError(`unknown ${what} ${JSON.stringify(id)}; known: ${all.map((x) => x.id).join(", ")}`);
    return found;
  });
}

/** Rough time left: the plan for what remains, scaled by how the plan has fared so far. */
class Eta {
  #planned: number;
  #doneCost = 0;
  #start = performance.now();
  constructor(totalPlanned: number) {
    this.#planned = totalPlanned;
  }
  spend(plannedSeconds: number): void {
    this.#doneCost += plannedSeconds;
  }
  left(): string {
    const elapsed = (performance.now() - this.#start) / 1000;
    const ratio = this.#doneCost > 5 ? elapsed / this.#doneCost : 1;
    return `~${fmtDuration((this.#planned - this.#doneCost) * ratio)} left`;
  }
}

let current: ServerProcess | null = null;

/** A run during which other processes used more than this % of a core is measured again (--retries). */
const NOISY_PCT = 25;
/** Below this % of a core used by anything, the machine counts as quiet. */
const QUIET_PCT = 15;

/**
 * Waits, up to maxWaitS, until the machine is quiet: on a shared machine another
 * job's burst would otherwise land in the middle of a run. Returns seconds waited.
 */
let waitBudgetS = Infinity;
let budgetSpentSaid = false;

/** True once the whole invocation's waiting allowance (5 x --max-wait) is used up. */
function budgetSpent(): boolean {
  if (waitBudgetS > 0) return false;
  if (!budgetSpentSaid) {
    log("    (spent the waiting allowance, 5 x --max-wait: from now on no more waiting for quiet, no re-measuring)");
    budgetSpentSaid = true;
  }
  return true;
}

async function waitQuiet(maxWaitS: number): Promise<number> {
  if (budgetSpent()) return 0;
  const waited = await waitQuietOnce(Math.min(maxWaitS, waitBudgetS));
  waitBudgetS -= waited;
  return waited;
}

async function waitQuietOnce(maxWaitS: number): Promise<number> {
  const start = performance.now();
  let said = false;
  for (;;) {
    const b0 = machineBusySeconds();
    const t0 = performance.now();
    await Bun.sleep(500);
    const b1 = machineBusySeconds();
    const waited = (performance.now() - start) / 1000;
    if (b0 === null || b1 === null) return waited;
    const pct = (100 * (b1 - b0)) / ((performance.now() - t0) / 1000);
    if (pct < QUIET_PCT) {
      if (said) log(`    machine quiet again after ${waited.toFixed(0)} s`);
      return waited;
    }
    if (waited >= maxWaitS) {
      log(`    machine still busy (${pct.toFixed(0)}% of a core) after ${Math.ceil(maxWaitS)} s: measuring anyway`);
      return waited;
    }
    if (!said) {
      log(`    machine busy (${pct.toFixed(0)}% of a core in use by other processes): waiting up to ${Math.ceil(maxWaitS)} s for it to quieten ...`);
      said = true;
    }
  }
}

/** One measured run against a started server: load, server CPU and peak RSS, timer lateness, background CPU. */
async function measureRun(server: ServerProcess, sc: Scenario, opts: Options, tool: Tool, i: number): Promise<RunRecord> {
  if (!alive(server.pid)) throw new Error(`server exited (code ${server.exitCode})`);
  await Bun.sleep(PAUSE_MS);
  const rssReset = resetPeakRss(server.pid);
  if (!rssReset && i === 1) log("    (could not reset VmHWM through clear_refs: peak RSS is since server start)");
  await server.loopHealth(); // closes the previous window, opens this run's
  const cpu0 = cpuTimes(server.pid);
  const busy0 = machineBusySeconds();
  const t0 = performance.now();
  const load = await runLoad({ tool, port: server.port, path: server.def.path, scenario: sc, seconds: opts.duration, cpu: opts.clientCpu });
  const t1 = performance.now();
  const cpu1 = cpuTimes(server.pid);
  const busy1 = machineBusySeconds();
  const rss = peakRssKiB(server.pid);
  const timer = await server.loopHealth();
  if (!alive(server.pid)) throw new Error(`server exited during run ${i} (code ${server.exitCode})`);
  const wall = (t1 - t0) / 1000;
  const cpu = cpu0 !== null && cpu1 !== null ? { user: cpu1.user - cpu0.user, sys: cpu1.sys - cpu0.sys } : null;
  const serverCpuPct = cpu !== null ? (100 * (cpu.user + cpu.sys)) / wall : null;
  // Per request: the CPU the server used over the run (its answers to wrk's requests), in µs.
  const perReq = (x: number) => (load.requests > 0 ? (x * 1e6) / load.requests : null);
  const busyPct = busy0 !== null && busy1 !== null ? (100 * (busy1 - busy0)) / wall : null;
  return {
    load,
    serverCpuPct,
    serverUserUsPerReq: cpu === null ? null : perReq(cpu.user),
    serverSysUsPerReq: cpu === null ? null : perReq(cpu.sys),
    otherCpuPct:
      busyPct !== null && serverCpuPct !== null && load.clientCpuPct !== null ? Math.max(0, busyPct - serverCpuPct - load.clientCpuPct) : null,
    peakRssMiB: rss === null ? null : rss / 1024,
    timer,
  };
}

async function runCase(def: ServerDef, sc: Scenario, opts: Options, tool: Tool, eta: Eta, tag: string): Promise<CaseResult> {
  const result: CaseResult = { server: def.id, serverLabel: def.label, scenario: sc.id, tool, error: null, runs: [], summary: null };
  log(`${tag} ${def.label} · ${sc.id} (${sc.label}): starting server ... ${eta.left()}`);
  eta.spend(CASE_OVERHEAD_S);
  try {
    current = await ServerProcess.start(def, opts.serverCpu, fdLimitFor(sc.connections));
  } catch (err) {
    result.error = (err as Error).message;
    log(`    could not start: ${result.error}`);
    eta.spend(opts.warmup + opts.runs * (opts.duration + RUN_OVERHEAD_S));
    return result;
  }
  const server = current;
  try {
    if (opts.warmup > 0) {
      log(`    warm-up ${opts.warmup} s ...`);
      await waitQuiet(opts.maxWait);
      const w = await runLoad({ tool, port: server.port, path: server.def.path, scenario: sc, seconds: opts.warmup, cpu: opts.clientCpu });
      if (w.errors) log(`    warm-up had ${w.errors} errors ${JSON.stringify(w.errorDetail)}`);
    }
    eta.spend(opts.warmup);
    for (let i = 1; i <= opts.runs; i++) {
      let run: RunRecord | null = null;
      for (let attempt = 0; attempt <= opts.retries; attempt++) {
        await waitQuiet(opts.maxWait);
        run = await measureRun(server, sc, opts, tool, i);
        if (run.otherCpuPct === null || run.otherCpuPct <= NOISY_PCT || attempt === opts.retries || budgetSpent()) break;
        log(`    run ${i}/${opts.runs}: ${fmtInt(run.load.reqPerSec)} req/s, but other processes used ${run.otherCpuPct.toFixed(0)}% CPU meanwhile: measuring again`);
        result.discarded = (result.discarded ?? 0) + 1;
      }
      result.runs.push(run!);
      eta.spend(opts.duration + RUN_OVERHEAD_S);
      const { load, timer } = run!;
      const timerText = def.reportsTimer ? `  timer p99/max ${timer ? `${fmtMs(timer.p99Ms)}/${fmtMs(timer.maxMs)} ms` : "no answer"}` : "";
      const otherText = run!.otherCpuPct !== null && run!.otherCpuPct > NOISY_PCT ? `  (other CPU ${run!.otherCpuPct.toFixed(0)}%: machine shared, noisy)` : "";
      const errText = load.errors ? `  errors ${load.errors} ${JSON.stringify(load.errorDetail)}` : "";
      log(
        `    run ${i}/${opts.runs}: ${fmtInt(load.reqPerSec).padStart(9)} req/s  p50 ${fmtMsUnit(load.p50Ms)}  p99 ${fmtMsUnit(load.p99Ms)}` +
          `  cpu ${run!.serverCpuPct?.toFixed(0) ?? "?"}% ${fmtUs(run!.serverUserUsPerReq, run!.serverSysUsPerReq)} µs/req  rss ${run!.peakRssMiB?.toFixed(1) ?? "?"} MiB${timerText}${errText}${otherText}  ${eta.left()}`,
      );
    }
  } catch (err) {
    result.error = (err as Error).message + (server.outputTail() ? `\n${server.outputTail()}` : "");
    log(`    FAILED: ${result.error}`);
  } finally {
    const code = await server.stop();
    current = null;
    // Our servers exit 0 on SIGTERM; the C limit has no handler and dies of the signal.
    if (def.reportsTimer && code !== 0 && !result.error) {
      log(`    note: ${def.label} exited with code ${code} on SIGTERM`);
    }
  }
  result.summary = summarize(result.runs);
  return result;
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  if (opts.render) {
    const file = join(opts.outDir, "latest.json");
    const { meta, cases } = JSON.parse(readFileSync(file, "utf8")) as { meta: Meta; cases: CaseResult[] };
    writeOutputs(meta, cases, opts.outDir, false);
    return 0;
  }
  if (process.platform !== "linux") {
    console.error("bench/load.ts reads /proc and pins with taskset: it runs on Linux only.");
    return 2;
  }
  if (!Bun.which("taskset")) {
    console.error("taskset is not on PATH (apt-get install -y util-linux).");
    return 2;
  }
  const ncpu = cpus().length;
  if (Math.max(opts.serverCpu, opts.clientCpu) >= ncpu) {
    console.error(`this machine has ${ncpu} CPU(s); --server-cpu ${opts.serverCpu} / --client-cpu ${opts.clientCpu} need ${Math.max(opts.serverCpu, opts.clientCpu) + 1}.`);
    return 2;
  }

  let scenarios: Scenario[];
  let wanted: ServerDef[];
  try {
    scenarios = pick(allScenarios(opts.depth), opts.scenarios, "scenario");
    // By default the hello-world servers and the static routes; the parameter routes when named.
    wanted = opts.servers ? pick(SERVERS, opts.servers, "server") : SERVERS.filter((s) => !s.optIn);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const servers: ServerDef[] = [];
  const skipped: { id: string; reason: string }[] = [];
  for (const def of wanted) {
    const why = def.unavailable();
    if (why) {
      skipped.push({ id: def.id, reason: why });
      log(`skipping ${def.label}: ${why}`);
      continue;
    }
    try {
      await def.prepare();
      servers.push(def);
    } catch (err) {
      skipped.push({ id: def.id, reason: (err as Error).message });
      log(`skipping ${def.label}: ${(err as Error).message}`);
    }
  }
  if (servers.length === 0) {
    console.error("no server to benchmark.");
    return 1;
  }

  const tools = new Map(scenarios.map((sc) => [sc.id, toolFor(opts.generator, sc)]));
  if ([...tools.values()].includes("wrk")) {
    try {
      ensureWrk(log);
    } catch (err) {
      console.error((err as Error).message);
      return 1;
    }
  }
  if ([...tools.values()].includes("oha") && !Bun.which("oha")) {
    console.error("--generator oha: oha is not on PATH (cargo install oha, or use --generator wrk).");
    return 1;
  }

  const versions = { ...toolVersions(), wrk: toolVersion("wrk"), oha: toolVersion("oha") };
  const load0 = loadavg();
  const perCase = CASE_OVERHEAD_S + opts.warmup + opts.runs * (opts.duration + RUN_OVERHEAD_S);
  const total = servers.length * scenarios.length;
  const eta = new Eta(total * perCase);
  log(
    `fasthttp load benchmark: ${servers.length} server(s) x ${scenarios.length} scenario(s), ${opts.runs} run(s) of ${opts.duration} s after ${opts.warmup} s warm-up; ` +
      `server on CPU ${opts.serverCpu}, load on CPU ${opts.clientCpu}; about ${fmtDuration(total * perCase)}`,
  );
  log(`bun ${versions.bun}, node ${versions.node ?? "—"}, ${versions.wrk ?? ""}${versions.oha ? `, ${versions.oha}` : ""}; load average ${load0.map((x) => x.toFixed(2)).join(" ")}`);
  if (load0[0]! > 0.5) log("warning: the machine is already busy (1-minute load average > 0.5): expect noisy numbers.");

  const source0 = sourceState();
  log(`fasthttp source: commit ${source0.commit ?? "?"}${source0.dirty ? " + uncommitted changes in src/ or c/" : ""} (fingerprint ${source0.fingerprint})`);
  waitBudgetS = 5 * opts.maxWait;
  const cases: CaseResult[] = [];
  let k = 0;
  // Scenario-major order: the servers being compared run close together in time,
  // so slow drift in the machine's speed hits them alike.
  for (const sc of scenarios) {
    for (const def of servers) {
      k++;
      cases.push(await runCase(def, sc, opts, tools.get(sc.id)!, eta, `[${k}/${total}]`));
    }
  }

  const source1 = sourceState();
  const date = new Date().toISOString();
  const command = `bun bench/load.ts${process.argv.length > 2 ? " " + process.argv.slice(2).join(" ") : ""}`;
  const meta: Meta = {
    date,
    command,
    versions,
    machine: { cpu: cpus()[0]?.model ?? null, cpus: ncpu, kernel: release(), loadavgBefore: load0, loadavgAfter: loadavg() },
    options: { runs: opts.runs, duration: opts.duration, warmup: opts.warmup, depth: opts.depth, serverCpu: opts.serverCpu, clientCpu: opts.clientCpu, generator: opts.generator, maxWait: opts.maxWait, retries: opts.retries },
    scenarios,
    servers: servers.map((s) => ({ id: s.id, label: s.label })),
    skipped,
    source: { start: source0, end: source1, changedDuringRun: source1.fingerprint !== source0.fingerprint },
  };

  writeOutputs(meta, cases, opts.outDir, true);
  log(`tools: ${[...new Set(tools.values())].join(", ")}; load average after: ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  return cases.some((c) => c.error) ? 1 : 0;
}

export interface Meta {
  date: string;
  command: string;
  versions: Record<string, string | null>;
  machine: { cpu: string | null; cpus: number; kernel: string; loadavgBefore: number[]; loadavgAfter: number[] };
  options: { runs: number; duration: number; warmup: number; depth: number; serverCpu: number; clientCpu: number; generator: string; maxWait?: number; retries?: number };
  scenarios: Scenario[];
  servers: { id: string; label: string }[];
  skipped: { id: string; reason: string }[];
  /** The fasthttp code measured: at the start and at the end of the invocation. */
  source?: { start: SourceState; end: SourceState; changedDuringRun: boolean };
}

/** Writes latest.json (unless re-rendering), latest.svg and latest.md, and prints the table. */
function writeOutputs(meta: Meta, cases: CaseResult[], outDir: string, writeJson: boolean): void {
  const { versions, options: o } = meta;
  mkdirSync(outDir, { recursive: true });
  if (writeJson) writeFileSync(join(outDir, "latest.json"), JSON.stringify({ meta, cases }, null, 2) + "\n");
  const tools = [...new Set(cases.map((c) => c.tool).filter(Boolean))].join("/") || "wrk";
  const tool = versions.wrk && tools.includes("wrk") ? versions.wrk.replace(/ Copyright.*$/, "").replace(/^wrk debian\//, "wrk ") : (versions.oha ?? tools);
  const colors = new Map(SERVERS.map((s) => [s.id, s.color]));
  const svg = renderSvg({
    title: "fasthttp load benchmark: hello world, one server core",
    subtitle:
      `Median of ${o.runs} x ${o.duration} s runs · server on CPU ${o.serverCpu}, ${tools} on CPU ${o.clientCpu} · ` +
      `Bun ${versions.bun?.split(" ")[0]}, Node ${versions.node ?? "—"}, ${tool} · ${meta.date.slice(0, 16).replace("T", " ")} UTC`,
    scenarios: meta.scenarios,
    servers: meta.servers.map((s) => ({ id: s.id, label: s.label, color: colors.get(s.id) ?? "#495057" })),
    cases,
  });
  writeFileSync(join(outDir, "latest.svg"), svg);
  writeFileSync(
    join(outDir, "latest.md"),
    `Command: \`${meta.command}\`  \nDate: ${meta.date}  \n` +
      (meta.source ? `fasthttp: commit ${meta.source.start.commit}${meta.source.start.dirty ? " (+ uncommitted changes)" : ""}${meta.source.changedDuringRun ? ", src/ or c/ changed during the run" : ""}  \n` : "") +
      `Bun ${versions.bun}, Node ${versions.node}, ${tool}, kernel ${meta.machine.kernel}, ${meta.machine.cpu} x${meta.machine.cpus}; ` +
      `load average before ${meta.machine.loadavgBefore.map((x) => x.toFixed(2)).join(" ")}\n\n${formatMarkdown(cases, meta.scenarios)}\n`,
  );

  log("");
  log(formatTable(cases, meta.scenarios, { runs: o.runs, duration: o.duration }));
  log("req/s and latencies are medians over the runs; vs Bun / vs C: req/s ratio to Bun.serve / the C limit.");
  log("CPU %: server CPU over the run (100 = its whole core). timer: lateness of a 10 ms setInterval in the server (JS servers only).");
  log("gen CPU %: the load generator's own CPU; near 100 means the generator, not the server, set the pace.");
  log("other %: CPU used by everything else during the run (other processes, unattributed kernel work); high = shared machine, noisy.");
  if (meta.options.depth > 1 && meta.scenarios.some((s) => s.pipeline > 1)) log("pipelined p50/p99: not measured (wrk's histogram is wrong when pipelining; see bench/README.md).");
  if (meta.source?.changedDuringRun) {
    log(`warning: src/ or c/ changed during the run (${meta.source.start.fingerprint} -> ${meta.source.end.fingerprint}): fasthttp cases may have measured different code.`);
  }
  const redone = cases.reduce((a, c) => a + (c.discarded ?? 0), 0);
  if (redone) log(`${redone} run(s) were measured again because other processes were busy during them.`);
  const noisy = cases.flatMap((c) => c.runs).filter((r) => (r.otherCpuPct ?? 0) > NOISY_PCT).length;
  if (noisy) log(`warning: ${noisy} kept run(s) shared the machine with other busy processes (other % > ${NOISY_PCT}): treat those figures as noisy.`);
  if (meta.skipped.length) log(`skipped: ${meta.skipped.map((s) => `${s.id} (${s.reason.split("\n")[0]})`).join("; ")}`);
  log(`wrote ${join(outDir, writeJson ? "latest.json" : "")}${writeJson ? ", " : ""}latest.svg, latest.md`);
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, async () => {
    console.error(`\n${sig}: stopping`);
    stopLoad();
    await current?.stop(1000);
    process.exit(130);
  });
}

process.exitCode = await main();
