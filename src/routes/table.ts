/**
 * The route table: the `routes` object checked and compiled once (at
 * `newServer`, and on reload) into entries, static values rendered
 * (./render.ts), and the matcher built over them (./match.ts).
 * @module
 */
import { checkRoutesObject, show } from "../config.ts";
import { isExact, parsePattern, type Segment } from "./pattern.ts";
import { compileParams, type ParamsMaker } from "./params.ts";
import { isBunFile, renderStatic, type StaticAnswer } from "./render.ts";
import { METHODS } from "./types.ts";

/** What a route (or one method of it) does: answer a rendered value, call a function, or skip to the fallback (`false`). */
export type Target = { kind: "static"; answer: StaticAnswer } | { kind: "fn"; fn: Function } | { kind: "skip" };

/** One route: its path, its segments and param names, and what it does for any method or by method. */
export interface RouteEntry {
  path: string;
  segments: Segment[];
  /** The param names in order (an empty name for a `:` segment that captures nothing). */
  names: string[];
  /** Makes `req.params` from a match of this route. */
  params: ParamsMaker;
  /** Whether the path has neither a param nor a wildcard. */
  exact: boolean;
  /** The target for every method (a handler, a static value, false), or null for a method object. */
  any: Target | null;
  /** A method object's targets by method name, or null. */
  methods: Map<string, Target> | null;
}

/** The compiled `routes`: the entries in the object's order. */
export interface RouteTable {
  entries: RouteEntry[];
}

/** The TypeError for a route value fasthttp does not take, naming the route and the value. */
function badValue(path: string, v: unknown, extra = ""): TypeError {
  return new TypeError(
    `fasthttp: routes[${show(path)}] must be a handler function, a Response, a Bun.file(), false, or an object of those by method ({ GET, POST }) (got ${show(v)})${extra}`,
  );
}

/** A static value or a handler as a target; null for anything else. */
function targetOf(path: string, v: unknown): Target | null {
  if (typeof v === "function") return { kind: "fn", fn: v };
  if (v instanceof Response || isBunFile(v)) return { kind: "static", answer: renderStatic(path, v) };
  return null;
}

/** A method object's targets: method names as Bun's (upper case), values handlers or Responses. */
function methodsOf(path: string, obj: Record<string, unknown>): Map<string, Target> {
  const map = new Map<string, Target>();
  for (const key of Object.keys(obj)) {
    if (!(METHODS as readonly string[]).includes(key)) {
      throw new TypeError(`fasthttp: routes[${show(path)}]: ${show(key)} is not a method (one of ${METHODS.join(", ")}, in upper case)`);
    }
    const t = targetOf(path, obj[key]);
    if (t === null) throw new TypeError(`fasthttp: routes[${show(path)}].${key} must be a handler function or a Response (got ${show(obj[key])})`);
    map.set(key, t);
  }
  if (map.size === 0) throw badValue(path, obj, ": a method object needs at least one method");
  return map;
}

/**
 * Checks and compiles a `routes` object. Throws a TypeError naming the route
 * and the value for a bad path or value, as Bun.serve refuses them (a path
 * that does not start with "/", a number, a string, `null`, a Blob that is
 * not a file, an empty or lower-case method object, a Response whose body is
 * a stream or was used). `undefined` values are left out, as in Bun.
 */
export function compileRoutes(routes: unknown): RouteTable {
  checkRoutesObject(routes);
  const entries: RouteEntry[] = [];
  for (const path of Object.keys(routes)) {
    const v = (routes as Record<string, unknown>)[path];
    if (v === undefined) continue;
    const segments = parsePattern(path);
    const names = segments.flatMap((s) => (s.kind === "param" ? [s.name] : []));
    const entry: RouteEntry = { path, segments, names, params: compileParams(names), exact: isExact(segments), any: null, methods: null };
    if (v === false) entry.any = { kind: "skip" };
    else {
      const t = targetOf(path, v);
      if (t !== null) entry.any = t;
      else if (v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
        if ("dir" in v) throw badValue(path, v, ": directory routes ({ dir }) are not served by fasthttp");
        entry.methods = methodsOf(path, v as Record<string, unknown>);
      } else throw badValue(path, v);
    }
    entries.push(entry);
  }
  return { entries };
}
