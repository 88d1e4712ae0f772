/**
 * svg.ts - the results as a hand-written SVG chart, no dependencies.
 *
 * Two rows of small panels, one panel per scenario: throughput (req/s, higher is
 * better) on top, p99 latency (lower is better) below. Each panel has its own
 * scale, because c1 and pipelined throughput differ by 30x; within a panel,
 * one bar per server in a fixed colour, value printed on the bar, min–max of
 * the runs as a whisker.
 */
import type { CaseResult } from "./results.ts";
import { fmtCompact, fmtMs } from "./results.ts";

export interface ChartServer {
  id: string;
  label: string;
  color: string;
}

export interface ChartInput {
  title: string;
  subtitle: string;
  scenarios: { id: string; label: string; pipeline: number }[];
  servers: ChartServer[];
  cases: CaseResult[];
}

const PANEL_W = 250;
const PANEL_H = 230;
const PAD_L = 58; // room for y-axis labels
const PAD_R = 12;
const PAD_T = 40; // panel title
const PAD_B = 22;
const MARGIN = 20;
const HEADER_H = 96;
const FONT = "font-family=\"-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif\"";

export function renderSvg(input: ChartInput): string {
  const cols = input.scenarios.length;
  const rows = [
    { key: "tput" as const, title: "req/s (higher is better)" },
    { key: "p99" as const, title: "p99 latency, ms, log scale (lower is better)" },
  ];
  const width = MARGIN * 2 + cols * PANEL_W;
  const height = HEADER_H + rows.length * (PANEL_H + 28) + MARGIN + 18;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`);
  parts.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  parts.push(`<text x="${MARGIN}" y="30" font-size="20" font-weight="600" fill="#212529">${esc(input.title)}</text>`);
  parts.push(`<text x="${MARGIN}" y="52" font-size="12" fill="#495057">${esc(input.subtitle)}</text>`);

  // Legend.
  let lx = MARGIN;
  for (const s of input.servers) {
    parts.push(`<rect x="${lx}" y="66" width="14" height="14" rx="2" fill="${s.color}"/>`);
    parts.push(`<text x="${lx + 20}" y="78" font-size="13" fill="#212529">${esc(s.label)}</text>`);
    lx += 32 + textWidth(s.label, 13);
  }

  rows.forEach((row, ri) => {
    const rowY = HEADER_H + ri * (PANEL_H + 28);
    parts.push(`<text x="${MARGIN}" y="${rowY + 14}" font-size="14" font-weight="600" fill="#343a40">${esc(row.title)}</text>`);
    input.scenarios.forEach((sc, ci) => {
      parts.push(panel(input, sc, row.key, MARGIN + ci * PANEL_W, rowY + 20));
    });
  });
  parts.push(
    `<text x="${MARGIN}" y="${height - 10}" font-size="11" fill="#868e96">Whiskers: slowest and fastest run. Each panel has its own scale. wrk's latency percentiles include its coordinated-omission correction.</text>`,
  );
  parts.push(`</svg>`);
  return parts.join("\n") + "\n";
}

function panel(input: ChartInput, sc: { id: string; label: string; pipeline: number }, key: "tput" | "p99", x: number, y: number): string {
  const out: string[] = [];
  const px0 = x + PAD_L;
  const px1 = x + PANEL_W - PAD_R;
  const py0 = y + PAD_T;
  const py1 = y + PANEL_H - PAD_B;
  out.push(`<text x="${(px0 + px1) / 2}" y="${y + 14}" font-size="13" font-weight="600" text-anchor="middle" fill="#212529">${esc(sc.id)}</text>`);
  out.push(`<text x="${(px0 + px1) / 2}" y="${y + 29}" font-size="11" text-anchor="middle" fill="#495057">${esc(sc.label)}</text>`);

  const bars = input.servers.map((s) => {
    const c = input.cases.find((k) => k.server === s.id && k.scenario === sc.id);
    const sum = c?.summary ?? null;
    if (key === "tput") return { s, v: sum?.reqPerSec ?? null, lo: sum?.reqPerSecMin ?? null, hi: sum?.reqPerSecMax ?? null, present: !!c };
    const p99s = (c?.runs ?? []).map((r) => r.load.p99Ms).filter((v): v is number => v !== null);
    const p99 = sum?.p99Ms ?? null;
    return { s, v: p99 !== null && p99 > 0 ? p99 : null, lo: p99s.length > 1 ? Math.min(...p99s) : null, hi: p99s.length > 1 ? Math.max(...p99s) : null, present: !!c };
  }).filter((b) => b.present);

  if (bars.length > 0 && bars.every((b) => b.v === null)) {
    const why = key === "p99" && sc.pipeline > 1 ? ["not measured: wrk cannot time", "pipelined requests (see README)"] : ["no data"];
    out.push(`<rect x="${px0}" y="${py0}" width="${px1 - px0}" height="${py1 - py0}" fill="#f8f9fa" stroke="#dee2e6"/>`);
    why.forEach((line, i) => {
      out.push(`<text x="${(px0 + px1) / 2}" y="${(py0 + py1) / 2 + i * 16}" font-size="11" text-anchor="middle" fill="#868e96">${esc(line)}</text>`);
    });
    return out.join("\n");
  }
  const top = Math.max(0, ...bars.map((b) => Math.max(b.v ?? 0, b.hi ?? 0)));
  // Throughput on a linear scale from zero; latency on a log scale, since one
  // server's p99 can be 1000x another's.
  let yOf: (v: number) => number;
  let ticks: number[];
  if (key === "tput") {
    const { max, step } = niceScale(top);
    yOf = (v) => py1 - ((py1 - py0) * v) / max;
    ticks = [];
    for (let i = 0; i * step <= max + step / 2; i++) ticks.push(i * step);
  } else {
    const positive = bars.flatMap((b) => [b.v, b.lo]).filter((v): v is number => v !== null && v > 0);
    const lo = 10 ** Math.floor(Math.log10(Math.min(...positive) / 3)); // a decade of room under the shortest bar
    const hi = 10 ** Math.ceil(Math.log10(top * 1.5));
    const span = Math.log10(hi) - Math.log10(lo);
    yOf = (v) => py1 - ((py1 - py0) * (Math.log10(Math.max(v, lo)) - Math.log10(lo))) / span;
    ticks = [];
    for (let t = lo; t <= hi * 1.001; t *= 10) ticks.push(t);
  }

  // Grid and y labels.
  ticks.forEach((t, i) => {
    const yy = yOf(t);
    out.push(`<line x1="${px0}" y1="${yy.toFixed(1)}" x2="${px1}" y2="${yy.toFixed(1)}" stroke="${i === 0 ? "#495057" : "#e9ecef"}" stroke-width="1"/>`);
    out.push(`<text x="${px0 - 6}" y="${(yy + 4).toFixed(1)}" font-size="11" text-anchor="end" fill="#495057">${key === "tput" ? fmtCompact(t) : fmtTick(t)}</text>`);
  });

  const n = Math.max(1, bars.length);
  const groupW = (px1 - px0) * 0.86;
  const slot = groupW / n;
  const barW = slot * 0.78;
  const gx = px0 + ((px1 - px0) - groupW) / 2;
  bars.forEach((b, i) => {
    const bx = gx + i * slot + (slot - barW) / 2;
    const cx = bx + barW / 2;
    if (b.v === null) {
      out.push(`<text x="${cx.toFixed(1)}" y="${py1 - 6}" font-size="11" text-anchor="middle" fill="#c92a2a">n/a</text>`);
      return;
    }
    const by = yOf(b.v);
    out.push(`<rect x="${bx.toFixed(1)}" y="${by.toFixed(1)}" width="${barW.toFixed(1)}" height="${Math.max(0, py1 - by).toFixed(1)}" fill="${b.s.color}"><title>${esc(`${b.s.label} ${sc.id}: ${key === "tput" ? Math.round(b.v).toLocaleString("en-US") + " req/s" : fmtMs(b.v) + " ms p99"}`)}</title></rect>`);
    if (b.lo !== null && b.hi !== null && b.hi > b.lo) {
      const ylo = yOf(b.lo);
      const yhi = yOf(b.hi);
      out.push(`<path d="M${cx.toFixed(1)} ${ylo.toFixed(1)}V${yhi.toFixed(1)}M${(cx - 4).toFixed(1)} ${ylo.toFixed(1)}h8M${(cx - 4).toFixed(1)} ${yhi.toFixed(1)}h8" stroke="#212529" stroke-width="1" fill="none"/>`);
    }
    const label = key === "tput" ? fmtCompact(b.v) : fmtMs(b.v);
    const labelY = Math.min(by, b.hi !== null ? yOf(b.hi) : by) - 4;
    out.push(`<text x="${cx.toFixed(1)}" y="${labelY.toFixed(1)}" font-size="11" font-weight="600" text-anchor="middle" fill="#212529">${esc(label)}</text>`);
  });
  return out.join("\n");
}

/** A round axis maximum above `top` and its tick step (4–6 ticks). */
export function niceScale(top: number): { max: number; step: number } {
  if (!(top > 0)) return { max: 1, step: 0.25 };
  const target = top * 1.12; // head-room for the value labels
  const rough = target / 5;
  const mag = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= rough)!;
  return { max: Math.ceil(target / step) * step, step };
}

/** 0.01, 0.1, 1, 10, 100 ... without float noise. */
function fmtTick(t: number): string {
  return t < 1 ? t.toFixed(Math.round(-Math.log10(t))) : String(Math.round(t));
}

/** Rough text width for Helvetica-like fonts, to space the legend. */
function textWidth(s: string, size: number): number {
  return s.length * size * 0.58;
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
