/**
 * bench/load.ts's server CPU per request: the medians of the runs' user and
 * system time per request, and how the console and Markdown tables show
 * them beside the C limit's (synthetic runs: no load, no timing).
 */
import { expect, test } from "bun:test";
import type { LoadResult } from "../bench/lib/loadgen.ts";
import { formatMarkdown, formatTable, summarize, type CaseResult, type RunRecord } from "../bench/lib/results.ts";

function run(user: number | null, sys: number | null): RunRecord {
  const load: LoadResult = {
    tool: "wrk",
    requests: 1000,
    seconds: 1,
    reqPerSec: 1000,
    p50Ms: 0.1,
    p99Ms: 0.2,
    maxMs: 0.3,
    errors: 0,
    errorDetail: {},
    clientCpuPct: 50,
  } as LoadResult;
  return { load, serverCpuPct: 99, serverUserUsPerReq: user, serverSysUsPerReq: sys, peakRssMiB: 40, timer: null, otherCpuPct: 0 };
}

function result(server: string, runs: RunRecord[]): CaseResult {
  return { server, serverLabel: server, scenario: "c50", tool: "wrk", error: null, runs, summary: summarize(runs) };
}

test("the summary holds the medians of user, system and total CPU per request", () => {
  const s = summarize([run(1.0, 5.0), run(0.8, 6.0), run(1.2, 4.0)])!;
  expect(s.userUsPerReq).toBe(1.0);
  expect(s.sysUsPerReq).toBe(5.0);
  expect(s.cpuUsPerReq).toBe(6.0); // the median of 6.0, 6.8, 5.2
  expect(summarize([run(null, null)])!.cpuUsPerReq).toBeNull();
});

test("the tables show CPU per request as total (user+sys) and its ratio to the C limit", () => {
  const cases = [result("fasthttp", [run(1.0, 5.0)]), result("c-limit", [run(0.2, 4.8)])];
  const table = formatTable(cases, [{ id: "c50", label: "50 connections" }], { runs: 1, duration: 1 });
  expect(table).toContain("CPU µs/req (user+sys)");
  expect(table).toMatch(/fasthttp .* 6\.00 \(1\.00\+5\.00\)\s+1\.20x/);
  expect(table).toMatch(/c-limit .* 5\.00 \(0\.20\+4\.80\)\s+1\.00x/);
  const md = formatMarkdown(cases, [{ id: "c50", label: "50 connections" }]);
  const header = md.split("\n")[0]!;
  const row = md.split("\n").find((l) => l.startsWith("| c50 | fasthttp"))!;
  expect(row.split("|").length).toBe(header.split("|").length);
  expect(row).toContain("| 6.00 (1.00+5.00) | 1.20x |");
});
