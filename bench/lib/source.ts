/**
 * source.ts - which fasthttp code a benchmark measured.
 *
 * The core may be edited while a long benchmark runs, and every fasthttp case
 * starts a fresh process that loads src/ and c/ as they are at that moment. The
 * harness fingerprints both folders at the start and the end, and records the
 * git commit, so a result can be tied to the code it measured.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const REPO = new URL("../..", import.meta.url).pathname;

export interface SourceState {
  /** HEAD commit, or null outside git. */
  commit: string | null;
  /** Whether src/ or c/ differ from HEAD (uncommitted edits or new files). */
  dirty: boolean | null;
  /** Hash of every file under src/ and c/ (names and contents). */
  fingerprint: string;
}

function files(dir: string): string[] {
  let out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return out;
  }
  for (const name of names) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out = out.concat(files(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

export function sourceState(): SourceState {
  const hasher = new Bun.CryptoHasher("sha256");
  for (const f of [...files(join(REPO, "src")), ...files(join(REPO, "c"))]) {
    hasher.update(relative(REPO, f) + "\0");
    hasher.update(readFileSync(f));
  }
  const git = (args: string[]) => {
    try {
      const r = Bun.spawnSync(["git", "-C", REPO, ...args], { stdout: "pipe", stderr: "pipe" });
      return r.exitCode === 0 ? r.stdout.toString().trim() : null;
    } catch {
      return null;
    }
  };
  const commit = git(["rev-parse", "--short=12", "HEAD"]);
  const status = commit ? git(["status", "--porcelain", "--", "src", "c"]) : null;
  return { commit, dirty: status === null ? null : status.length > 0, fingerprint: hasher.digest("hex").slice(0, 16) };
}
