/**
 * proc.ts - what /proc says about a running server: CPU time and peak memory.
 *
 * Linux only. CPU is utime+stime of the whole process (all its threads), in
 * clock ticks; peak RSS is VmHWM, which clear_refs can reset (root, Linux >= 4.0)
 * so that each run reports its own peak.
 */
import { readFileSync, writeFileSync } from "node:fs";

let clkTck: number | null = null;

/** Clock ticks per second (USER_HZ), from getconf; 100 if it cannot be asked. */
export function clockTicks(): number {
  if (clkTck === null) {
    const r = Bun.spawnSync(["getconf", "CLK_TCK"]);
    const n = Number(r.stdout.toString().trim());
    clkTck = r.exitCode === 0 && n > 0 ? n : 100;
  }
  return clkTck;
}

/** utime + stime of process pid in seconds, or null if it is gone. */
export function cpuSeconds(pid: number): number | null {
  const t = cpuTimes(pid);
  return t === null ? null : t.user + t.sys;
}

/** User and system CPU time of a process so far, in seconds, or null if it is gone. */
export function cpuTimes(pid: number): { user: number; sys: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    return { user: Number(rest[11]) / clockTicks(), sys: Number(rest[12]) / clockTicks() };
  } catch {
    return null;
  }
}

/** Peak resident set size (VmHWM) in KiB, or null if it is gone. */
export function peakRssKiB(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Resets VmHWM to the current RSS. Returns false where the kernel or permissions refuse. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** Whether pid is still alive (and not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Busy CPU seconds of the whole machine so far (all CPUs; idle and iowait excluded), from /proc/stat. */
export function machineBusySeconds(): number | null {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
    // cpu user nice system idle iowait irq softirq steal guest guest_nice
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
    return busy / clockTicks();
  } catch {
    return null;
  }
}

/**
 * Waits until the whole machine used under 15% of one core over half a second, or `maxMs` has
 * passed; returns the last half-second's busy fraction of a core (0 where /proc/stat is unread).
 */
export async function waitQuiet(maxMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const a = machineBusySeconds();
    await Bun.sleep(500);
    const b = machineBusySeconds();
    const busy = a === null || b === null ? 0 : (b - a) / 0.5;
    if (busy < 0.15 || Date.now() - t0 > maxMs) return busy;
  }
}
