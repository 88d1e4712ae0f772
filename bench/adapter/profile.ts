/**
 * profile.ts - where the JavaScript time goes, from JavaScriptCore's sampling profiler (bun:jsc).
 *
 * Samples are taken only while JavaScript runs (an FFI call counts as its JS caller's frame, so
 * `fh_flush` and `fh_poll` stand for the C core and the kernel behind it); time spent idle in
 * the event loop is not sampled. Self time is the frame on top of the stack; inclusive time
 * counts a frame once per sample wherever it appears.
 */
import * as jsc from "bun:jsc";

/** Exported by bun:jsc at run time, though bun-types does not declare it. */
const samplingProfilerStackTraces = (jsc as unknown as { samplingProfilerStackTraces(): unknown }).samplingProfilerStackTraces;

interface Frame {
  name: string;
  sourceURL: string;
  line: number;
}

/** The heaviest frames by self and by inclusive time, as text. */
export function summarizeProfile(rows = 30): string {
  const { traces } = samplingProfilerStackTraces() as unknown as { traces: { frames: Frame[] }[] };
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const t of traces) {
    const names = t.frames.map((f) => {
      const file = String(f.sourceURL).split("/").slice(-2).join("/");
      return `${f.name || "(anonymous)"} ${file ? `${file}:${f.line === 4294967295 ? "?" : f.line}` : "(native)"}`;
    });
    if (names.length === 0) continue;
    self.set(names[0]!, (self.get(names[0]!) ?? 0) + 1);
    for (const n of new Set(names)) incl.set(n, (incl.get(n) ?? 0) + 1);
  }
  const total = traces.length || 1;
  const top = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, rows)
      .map(([f, c]) => `${((100 * c) / total).toFixed(1).padStart(5)}%  ${f}`)
      .join("\n");
  return `${traces.length} samples\n-- self --\n${top(self)}\n-- inclusive --\n${top(incl)}\n`;
}

/** Wraps a fetch handler: profiling starts at its first call and is printed `ms` later. */
export function profileAfterFirstRequest<F extends (...args: any[]) => any>(fetch: F, ms: number): F {
  let started = false;
  return ((...args: unknown[]) => {
    if (!started) {
      started = true;
      jsc.startSamplingProfiler();
      setTimeout(() => process.stderr.write(summarizeProfile()), ms);
    }
    return fetch(...args);
  }) as F;
}
