/**
 * source.ts - which fasthttp code a benchmark measured.
 *
 * The core may be edited while a long benchmark runs, and every fasthttp case
 * starts a fresh process that loads src/ and c/ as they are at that moment. The
 * harness fingerprints both folders at the start and the end, and records the
 * git commit, so a result can be tied to the code it measured.
 */
import { checkoutState } from "./checkout.ts";

const REPO = new URL("../..", import.meta.url).pathname;

export interface SourceState {
  /** HEAD commit, or null outside git. */
  commit: string | null;
  /** Whether src/ or c/ differ from HEAD (uncommitted edits or new files). */
  dirty: boolean | null;
  /** Hash of every file under src/ and c/ (names and contents). */
  fingerprint: string;
}

/** This repository's state (lib/checkout.ts's, without the folder). */
export function sourceState(): SourceState {
  const { commit, dirty, fingerprint } = checkoutState(REPO);
  return { commit, dirty, fingerprint };
}
