/**
 * results.ts - what one benchmark case produced, its medians, and the console table.
 */
import type { LoadResult, Tool } from "./loadgen.ts";
import type { LoopHealth } from "./server-process.ts";
import { max, median, min } from "./stats.ts";

export interface RunRecord {
  load: LoadResult;
  /** Server CPU over the run, % of one core. */
  serverCpuPct: number | null;
  /** Server CPU per request over the run (user, system), µs: what tells servers apart where the load generator caps req/s. */
  serverUserUsPerReq: number | null;
  serverSysUsPerReq: number | null;
  /** Server peak RSS during the run (VmHWM), MiB. */
  peakRssMiB: number | null;
  timer: LoopHealth | null;
  /**
   * CPU used during the run by everything but the server and the load generator
   * (other processes, the kernel's softirq work not charged to either, this harness),
   * % of one core. High values mean the run shared the machine: distrust it.
   */
  otherCpuPct: number | null;
}

export interface Summary {
  reqPerSec: number | null;
  reqPerSecMin: number | null;
  reqPerSecMax: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  peakRssMiB: number | null;
  serverCpuPct: number | null;
  /** Medians of the runs' user, system and total CPU per request, µs. */
  userUsPerReq: number | null;
  sysUsPerReq: number | null;
  cpuUsPerReq: number | null;
  timerMaxMs: number | null;
  timerP99Ms: number | null;
  clientCpuPct: number | null;
  otherCpuPct: number | null;
  errors: number | null;
}

export interface CaseResult {
  server: string;
  serverLabel: string;
  scenario: string;
  tool: Tool | null;
  error: string | null;
  runs: RunRecord[];
  /** Runs measured again because other processes were busy during them. */
  discarded?: number;
  summary: Summary | null;
}

export function summarize(runs: RunRecord[]): Summary | null {
  if (runs.length === 0) return null;
  const pick = <T>(f: (r: RunRecord) => T) => runs.map(f) as (number | null)[];
  return {
    reqPerSec: median(pick((r) => r.load.reqPerSec)),
    reqPerSecMin: min(pick((r) => r.load.reqPerSec)),
    reqPerSecMax: max(pick((r) => r.load.reqPerSec)),
    p50Ms: median(pick((r) => r.load.p50Ms)),
    p99Ms: median(pick((r) => r.load.p99Ms)),
    peakRssMiB: median(pick((r) => r.peakRssMiB)),
    serverCpuPct: median(pick((r) => r.serverCpuPct)),
    userUsPerReq: median(pick((r) => r.serverUserUsPerReq ?? null)),
    sysUsPerReq: median(pick((r) => r.serverSysUsPerReq ?? null)),
    cpuUsPerReq: median(
      pick((r) => (r.serverUserUsPerReq == null || r.serverSysUsPerReq == null ? null : r.serverUserUsPerReq + r.serverSysUsPerReq)),
    ),
    timerMaxMs: median(pick((r) => r.timer?.maxMs ?? null)),
    timerP99Ms: median(pick((r) => r.timer?.p99Ms ?? null)),
    clientCpuPct: median(pick((r) => r.load.clientCpuPct)),
    otherCpuPct: median(pick((r) => r.otherCpuPct ?? null)),
    errors: runs.reduce((a, r) => a + r.load.errors, 0),
  };
}

// ---- formatting ----

export function fmtInt(x: number | null): string {
  return x === null ? "—" : Math.round(x).toLocaleString("en-US");
}

export function fmtMs(x: number | null): string {
  if (x === null) return "—";
  if (x < 1) return `${x.toFixed(3)}`;
  if (x < 10) return `${x.toFixed(2)}`;
  if (x < 100) return `${x.toFixed(1)}`;
  return `${Math.round(x)}`;
}

/** CPU per request as "total (user + sys)" µs, or "—". */
export function fmtUs(user: number | null | undefined, sys: number | null | undefined): string {
  if (user == null || sys == null) return "—";
  const f = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
  return `${f(user + sys)} (${f(user)}+${f(sys)})`;
}

/** A latency with its unit, or "—". */
export function fmtMsUnit(x: number | null): string {
  return x === null ? "—" : `${fmtMs(x)} ms`;
}

export function fmtRatio(x: number | null, base: number | null): string {
  if (x === null || base === null || base === 0) return "—";
  return `${(x / base).toFixed(2)}x`;
}

export function fmtCompact(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e4) return `${Math.round(x / 1e3)}k`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return `${Math.round(x)}`;
}

function pad(s: string, w: number, right: boolean): string {
  return right ? s.padStart(w) : s.padEnd(w);
}

export interface TableOpts {
  runs: number;
  duration: number;
}

/** The console table: one block per scenario, one row per server. */
export function formatTable(cases: CaseResult[], scenarios: { id: string; label: string }[], opts: TableOpts): string {
  const out: string[] = [];
  const head = ["server", "req/s", "vs Bun", "vs C", "p50 ms", "p99 ms", "RSS MiB", "CPU %", "CPU µs/req (user+sys)", "vs C", "timer p99/max ms", "gen CPU %", "other %", "errors"];
  const right = [false, true, true, true, true, true, true, true, true, true, true, true, true, true];
  for (const sc of scenarios) {
    const rows = cases.filter((c) => c.scenario === sc.id);
    if (rows.length === 0) continue;
    const bun = rows.find((c) => c.server === "bun-serve")?.summary?.reqPerSec ?? null;
    const cl = rows.find((c) => c.server === "c-limit")?.summary?.reqPerSec ?? null;
    const clUs = rows.find((c) => c.server === "c-limit")?.summary?.cpuUsPerReq ?? null;
    const tools = [...new Set(rows.map((r) => r.tool).filter(Boolean))].join("+") || "—";
    out.push(`${sc.id}: ${sc.label}  [${tools}, median of ${opts.runs} x ${opts.duration} s]`);
    const body = rows.map((c) => {
      const s = c.summary;
      if (!s) return [c.serverLabel, `FAILED: ${(c.error ?? "no runs").split("\n")[0]}`];
      const timer = s.timerMaxMs === null ? "—" : `${fmtMs(s.timerP99Ms)} / ${fmtMs(s.timerMaxMs)}`;
      return [
        c.serverLabel + (c.error ? " (!)" : ""),
        fmtInt(s.reqPerSec),
        fmtRatio(s.reqPerSec, bun),
        fmtRatio(s.reqPerSec, cl),
        fmtMs(s.p50Ms),
        fmtMs(s.p99Ms),
        s.peakRssMiB === null ? "—" : s.peakRssMiB.toFixed(1),
        s.serverCpuPct === null ? "—" : s.serverCpuPct.toFixed(0),
        fmtUs(s.userUsPerReq, s.sysUsPerReq),
        fmtRatio(s.cpuUsPerReq ?? null, clUs),
        timer,
        s.clientCpuPct === null ? "—" : s.clientCpuPct.toFixed(0),
        s.otherCpuPct === null || s.otherCpuPct === undefined ? "—" : s.otherCpuPct.toFixed(0),
        fmtInt(s.errors),
      ];
    });
    const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => (r.length === head.length ? (r[i] ?? "").length : 0))));
    out.push("  " + head.map((h, i) => pad(h, widths[i]!, right[i]!)).join("  "));
    out.push("  " + widths.map((w) => "-".repeat(w)).join("  "));
    for (const r of body) {
      out.push("  " + (r.length === head.length ? r.map((v, i) => pad(v, widths[i]!, right[i]!)).join("  ") : `${pad(r[0]!, widths[0]!, false)}  ${r[1]}`));
    }
    out.push("");
  }
  return out.join("\n");
}

/** The same table as GitHub Markdown, for pasting into notes. */
export function formatMarkdown(cases: CaseResult[], scenarios: { id: string; label: string }[]): string {
  const out = ["| scenario | server | req/s | vs Bun.serve | vs C limit | p50 ms | p99 ms | peak RSS MiB | server CPU % | server CPU µs/req (user+sys) | vs C limit | timer p99 / max ms | other CPU % | errors |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"];
  for (const sc of scenarios) {
    const rows = cases.filter((c) => c.scenario === sc.id);
    const bun = rows.find((c) => c.server === "bun-serve")?.summary?.reqPerSec ?? null;
    const cl = rows.find((c) => c.server === "c-limit")?.summary?.reqPerSec ?? null;
    const clUs = rows.find((c) => c.server === "c-limit")?.summary?.cpuUsPerReq ?? null;
    for (const c of rows) {
      const s = c.summary;
      if (!s) {
        out.push(`| ${sc.id} | ${c.serverLabel} | failed: ${(c.error ?? "").split("\n")[0]} | | | | | | | | | | | |`);
        continue;
      }
      const timer = s.timerMaxMs === null ? "—" : `${fmtMs(s.timerP99Ms)} / ${fmtMs(s.timerMaxMs)}`;
      out.push(`| ${sc.id} | ${c.serverLabel} | ${fmtInt(s.reqPerSec)} | ${fmtRatio(s.reqPerSec, bun)} | ${fmtRatio(s.reqPerSec, cl)} | ${fmtMs(s.p50Ms)} | ${fmtMs(s.p99Ms)} | ${s.peakRssMiB?.toFixed(1) ?? "—"} | ${s.serverCpuPct?.toFixed(0) ?? "—"} | ${fmtUs(s.userUsPerReq, s.sysUsPerReq)} | ${fmtRatio(s.cpuUsPerReq ?? null, clUs)} | ${timer} | ${s.otherCpuPct?.toFixed(0) ?? "—"} | ${fmtInt(s.errors)} |`);
    }
  }
  return out.join("\n");
}
