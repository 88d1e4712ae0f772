/**
 * What the parts of one running server share: the compiled core and its
 * server, the descriptor array and the slab memory it exposes, the `Date`
 * writer, and a way to ask for a drain. The loop (src/loop.ts) makes it when
 * the server starts and clears `srv` when the server is destroyed.
 * @module
 */
import type { Pointer } from "bun:ffi";
import type { Core } from "./ffi.ts";
import type { HeadWriter } from "./response.ts";

/** @internal The state of one running server, shared by its loop, its placement and its events. */
export interface Serving {
  /** The compiled core. */
  core: Core;
  /** The core's server; null once it has been destroyed (late answers check it). */
  srv: Pointer | null;
  /** The descriptor array fh_poll fills (BATCH rows of D.SIZE int32). */
  desc: Int32Array;
  /** Every regular slab of the arena pool, one view. */
  mem: Uint8Array;
  /** Bytes per slab. */
  slabSize: number;
  /** The `200 OK` heads and the Date line, refreshed once per batch. */
  heads: HeadWriter;
  /** Asks for a drain soon: connections may wait to be parsed, or events to be read. */
  schedule: () => void;
}
