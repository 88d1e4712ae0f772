/**
 * checkout.ts - which fasthttp code a `--dir` benchmark measured: the checkout's
 * git commit, whether src/ or c/ differ from it, and a fingerprint of both
 * folders (lib/source.ts reports it for this repo), so BEFORE and AFTER figures
 * taken from different checkouts can each be tied to their code.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

export interface CheckoutState {
  dir: string;
  commit: string | null;
  dirty: boolean | null;
  fingerprint: string;
}

function files(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const p = join(dir, name);
    const st = statSync(p);
    return st.isDirectory() ? files(p) : st.isFile() ? [p] : [];
  });
}

export function checkoutState(dir: string): CheckoutState {
  const hasher = new Bun.CryptoHasher("sha256");
  for (const f of [...files(join(dir, "src")), ...files(join(dir, "c"))]) {
    hasher.update(relative(dir, f) + "\0");
    hasher.update(readFileSync(f));
  }
  const git = (args: string[]) => {
    try {
      const r = Bun.spawnSync(["git", "-C", dir, ...args], { stdout: "pipe", stderr: "pipe" });
      return r.exitCode === 0 ? r.stdout.toString().trim() : null;
    } catch {
      return null;
    }
  };
  const commit = git(["rev-parse", "--short=12", "HEAD"]);
  const status = commit ? git(["status", "--porcelain", "--", "src", "c"]) : null;
  return { dir, commit, dirty: status === null ? null : status.length > 0, fingerprint: hasher.digest("hex").slice(0, 16) };
}

/** One line for a report header: `/tmp/fh-base at 8da5b74dc74f (clean, src+c 1a2b...)`. */
export function describeCheckout(s: CheckoutState): string {
  const state = s.dirty === null ? "not a git checkout" : s.dirty ? "src/ or c/ edited since that commit" : "clean";
  return `${s.dir} at ${s.commit ?? "?"} (${state}; src+c fingerprint ${s.fingerprint})`;
}
