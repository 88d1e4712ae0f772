/**
 * Route paths: parsing and checking one (`/users/:id`, `/static/*`) into its
 * segments, with the errors Bun.serve gives for bad ones.
 * @module
 */
import { show } from "../config.ts";

/** One segment of a route path: literal text, a `:name` param, or the final `*`. */
export type Segment = { kind: "static"; text: string } | { kind: "param"; name: string } | { kind: "wildcard" };

/**
 * The segments of a route path (what lies between its slashes: "/" is one
 * empty static segment, "/a/" two). A segment is a param when it starts
 * with ":" (the rest is its name, which may be empty: it then matches but is
 * not in `params`), and a wildcard when it starts with "*" (as in Bun:
 * "/a/**" is "/a/*"); it must then be the last. Throws a TypeError naming
 * the path when it does not start with "/", when a `*` segment is not the
 * last, or when a param name starts with a digit or repeats (Bun's rules).
 */
export function parsePattern(path: string): Segment[] {
  if (typeof path !== "string" || path.charCodeAt(0) !== 47) {
    throw new TypeError(`fasthttp: routes: invalid route ${show(path)}: a path must start with "/"`);
  }
  const parts = path.slice(1).split("/");
  const names = new Set<string>();
  const out: Segment[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.charCodeAt(0) === 42) {
      if (i !== parts.length - 1) {
        throw new TypeError(`fasthttp: routes: invalid route ${show(path)}: "*" may only be the last segment ("/files/*")`);
      }
      out.push({ kind: "wildcard" });
    } else if (p.charCodeAt(0) === 58) {
      const name = p.slice(1);
      if (/^[0-9]/.test(name)) throw new TypeError(`fasthttp: routes: invalid route ${show(path)}: a param name cannot start with a number`);
      if (name !== "" && names.has(name)) throw new TypeError(`fasthttp: routes: invalid route ${show(path)}: the param name ${show(name)} is used twice`);
      if (name !== "") names.add(name);
      out.push({ kind: "param", name });
    } else {
      out.push({ kind: "static", text: p });
    }
  }
  return out;
}

/** Whether a path has neither a param nor a wildcard (the routes the C core may answer alone). */
export function isExact(segments: readonly Segment[]): boolean {
  return segments.every((s) => s.kind === "static");
}
