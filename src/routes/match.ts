/**
 * The matcher: a tree of path segments walked over the request's bytes.
 *
 * Nothing is allocated to find a route: segments are compared byte by byte
 * with the route's (bucketed by length), and a param's place is kept as two
 * offsets; strings are made only when a handler's `params` are built
 * (./params.ts). Precedence is Bun.serve's (notes/ROUTES.md): at each
 * segment a literal beats a param, which beats a wildcard; a route that does
 * not take the request's method lets the walk go on (a lower route, then the
 * fallback), and HEAD is taken by a method object's GET when it has no HEAD;
 * nor does a file route whose file is missing (it is stat'ed here).
 * Paths are matched as sent: no percent-decoding, no dot-segment removal,
 * case-sensitive, and a trailing slash is a segment of its own.
 * @module
 */
import { fileReady } from "./serve-static.ts";
import type { RouteEntry, RouteTable, Target } from "./table.ts";

/** A literal segment, as bytes, and the node below it. */
interface Edge {
  seg: Uint8Array;
  node: Node;
}

/** One segment position of the tree. */
class Node {
  /** Literal children by segment length. */
  byLen: (Edge[] | undefined)[] = [];
  /** The `:param` child. */
  param: Node | null = null;
  /** The route whose path ends with `/*` here. */
  wildcard: RouteEntry | null = null;
  /** The route whose path ends here. */
  entry: RouteEntry | null = null;

  /** The literal child for `text`, made if missing. */
  child(text: string): Node {
    const seg = new TextEncoder().encode(text);
    const bucket = (this.byLen[seg.length] ??= []);
    for (const e of bucket) if (Buffer.compare(e.seg, seg) === 0) return e.node;
    const node = new Node();
    bucket.push({ seg, node });
    return node;
  }
}

const enc = new TextEncoder();
/** Methods as interned strings, by their bytes (a method object's keys are among them). */
const KNOWN_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"].map((m) => ({ m, b: enc.encode(m) }));

/** The method at `b[s, s + len)` as one of the known names, or null (no method object has it). */
export function methodName(b: Uint8Array, s: number, len: number): string | null {
  for (const { m, b: mb } of KNOWN_METHODS) {
    if (mb.length !== len) continue;
    let k = 0;
    while (k < len && b[s + k] === mb[k]) k++;
    if (k === len) return m;
  }
  return null;
}

/**
 * A compiled route table's matcher. `match()` finds the route for a path and
 * method; the route and its params' offsets stay readable (`entry`,
 * {@link Router.paramBounds}) until the next match. One per loop: it is
 * used synchronously.
 */
export class Router {
  readonly table: RouteTable;
  #root = new Node();
  /** The last match's params as offsets: param `i` is `[caps[2i], caps[2i + 1])` (see {@link paramStart}). */
  readonly caps: Int32Array;
  /** The route of the last successful match. */
  entry: RouteEntry | null = null;
  /** How many params the last match captured. */
  count = 0;
  /** The request's method bytes (for a method object: named once, on first need) during a match. */
  #b: Uint8Array = new Uint8Array(0);
  #ms = 0;
  #ml = 0;
  /** The method's name once looked up during this match (undefined: not yet; null: none known). */
  #method: string | null | undefined = undefined;

  constructor(table: RouteTable) {
    this.table = table;
    let most = 0;
    for (const e of table.entries) {
      let node = this.#root;
      const segs = e.segments;
      for (let i = 0; i < segs.length; i++) {
        const s = segs[i]!;
        if (s.kind === "wildcard") {
          node.wildcard = e; // a later route of the same shape replaces it, as in Bun
          break;
        }
        node = s.kind === "param" ? (node.param ??= new Node()) : node.child(s.text);
        if (i === segs.length - 1) node.entry = e;
      }
      most = Math.max(most, e.names.length);
    }
    this.caps = new Int32Array(Math.max(64, most * 2));
  }

  /**
   * The target for the path `b[start, end)` (no query: the caller stops at
   * "?") and the method `b[ms, ms + ml)`, or null when no route takes it. A
   * path that does not start with "/" matches nothing. The method is looked
   * up ({@link methodName}) only if a method object is reached.
   */
  match(b: Uint8Array, start: number, end: number, ms: number, ml: number): Target | null {
    if (start >= end || b[start] !== 47) return null;
    this.#b = b;
    this.#ms = ms;
    this.#ml = ml;
    this.#method = undefined;
    return this.#walk(this.#root, b, start + 1, end, 0);
  }

  /** What `entry` does for this match's method (null: it does not take it; nor does a file route whose file is missing). */
  #accept(entry: RouteEntry): Target | null {
    let t = entry.any;
    if (t === null) {
      const m = entry.methods!;
      const method = this.#method === undefined ? (this.#method = methodName(this.#b, this.#ms, this.#ml)) : this.#method;
      if (method === null) return null;
      t = m.get(method) ?? (method === "HEAD" ? (m.get("GET") ?? null) : null);
      if (t === null) return null;
    }
    if (t.kind === "static" && t.answer.file !== null && !fileReady(t.answer.file)) return null;
    return t;
  }

  /** Start and end offsets of the last match's param `i`. */
  paramStart(i: number): number {
    return this.caps[2 * i]!;
  }

  /** @see paramStart */
  paramEnd(i: number): number {
    return this.caps[2 * i + 1]!;
  }

  /** The segment at `pos` (ending at the next "/" or `end`) under `node`: literal, then param, then wildcard. */
  #walk(node: Node, b: Uint8Array, pos: number, end: number, np: number): Target | null {
    let e = pos;
    while (e < end && b[e] !== 47) e++;
    const len = e - pos;
    const bucket = node.byLen[len];
    if (bucket !== undefined) {
      for (let j = 0; j < bucket.length; j++) {
        const edge = bucket[j]!;
        const seg = edge.seg;
        let k = 0;
        while (k < len && b[pos + k] === seg[k]) k++;
        if (k === len) {
          const t = this.#next(edge.node, b, e, end, np);
          if (t !== null) return t;
        }
      }
    }
    if (node.param !== null && len > 0) {
      this.caps[2 * np] = pos;
      this.caps[2 * np + 1] = e;
      const t = this.#next(node.param, b, e, end, np + 1);
      if (t !== null) return t;
    }
    const w = node.wildcard;
    if (w !== null) {
      const t = this.#accept(w);
      if (t !== null) {
        this.entry = w;
        this.count = np;
        return t;
      }
    }
    return null;
  }

  /** After a segment ending at `e`: the route ending here, or the next segment. */
  #next(node: Node, b: Uint8Array, e: number, end: number, np: number): Target | null {
    if (e === end) {
      const entry = node.entry;
      if (entry === null) return null;
      const t = this.#accept(entry);
      if (t !== null) {
        this.entry = entry;
        this.count = np;
      }
      return t;
    }
    return this.#walk(node, b, e + 1, end, np);
  }
}
