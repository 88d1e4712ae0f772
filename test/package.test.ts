/**
 * The package as a new project gets it: `npm pack` (which builds types/ through the prepack
 * script), what the tarball holds, and an install of that tarball into a fresh project that
 * serves requests through `import { newServer } from "fasthttp"` and type-checks strictly under
 * `moduleResolution` "bundler" and "node16".
 *
 * Offline: the tarball has no dependencies, npm is pointed at a registry address that refuses
 * connections (so any attempt to reach one fails the install), and the consumer's `@types/bun`
 * is a link to this checkout's.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { importsOf } from "./helpers/imports.ts";

const ROOT = join(import.meta.dir, "..");
const NPM = Bun.which("npm");
const TSC = join(ROOT, "node_modules/typescript/lib/tsc.js");
/** The specifiers a TypeScript file imports, type-only statements aside. */
const imports = (file: string) => importsOf(file, true);
/** The files a C file includes with `#include "..."`. */
const includes = (file: string) => [...readFileSync(file, "utf8").matchAll(/^#include "([^"]+)"/gm)].map((m) => m[1]!);
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));

/** Runs a command to its end, at most `timeout` ms, with npm kept off the network. */
function run(cmd: string[], cwd: string, timeout = 120_000) {
  const p = Bun.spawnSync(cmd, {
    cwd,
    stdout: "pipe",
    stderr: "pipe",
    timeout,
    env: {
      ...process.env,
      npm_config_registry: "http://127.0.0.1:9/",
      npm_config_audit: "false",
      npm_config_fund: "false",
      npm_config_update_notifier: "false",
      npm_config_cache: join(work, "npm-cache"),
    },
  });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

/** The files `from` reaches through the references `refs` lists and `follow` accepts. */
function closure(from: string, refs: (file: string) => string[], follow: (spec: string) => boolean): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of refs(file)) if (follow(spec)) visit(join(dirname(file), spec));
  };
  visit(from);
  return [...seen].map((f) => relative(ROOT, f)).sort();
}

let work = "";
let tarball = "";
let packed: string[] = [];
let consumer = "";

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "fasthttp-package-"));
  if (!NPM) throw new Error("npm is not on PATH: the package test needs it (the README's set-up commands do too)");
  const r = run([NPM, "pack", "--json", "--pack-destination", work], ROOT);
  if (r.code !== 0) throw new Error(`npm pack failed (${r.code}):\n${r.err}`);
  const info = JSON.parse(r.out.slice(r.out.indexOf("[")))[0];
  tarball = join(work, info.filename);
  packed = info.files.map((f: { path: string }) => f.path).sort();
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the packed tarball", () => {
  test("holds every module and C source the runtime loads, from src/index.ts and c/fasthttp.c", () => {
    const ts = closure(join(ROOT, "src/index.ts"), imports, (spec) => spec.startsWith("."));
    // c/testing/ is included only for FASTHTTP_BACKEND=kqueue on Linux, a test-only mode.
    const c = closure(join(ROOT, "c/fasthttp.c"), includes, (spec) => !spec.startsWith("testing/"));
    expect(ts.length).toBeGreaterThan(10);
    expect(c).toContain("c/scanner.c");
    expect(ts.filter((f) => !packed.includes(f))).toEqual([]);
    expect(c.filter((f) => !packed.includes(f))).toEqual([]);
  });

  test("ships declarations for every module, the LICENSE, and nothing of the tests, benchmarks or c/testing/", () => {
    const modules = packed.filter((f) => f.startsWith("src/") && f.endsWith(".ts"));
    const decls = modules.map((f) => f.replace(/^src\//, "types/").replace(/\.ts$/, ".d.ts"));
    expect(decls.filter((f) => !packed.includes(f))).toEqual([]);
    expect(packed).toContain("LICENSE");
    expect(readFileSync(join(ROOT, "LICENSE"), "utf8")).toStartWith(`${pkg.license} License`);
    const allowed = /^(package\.json|README\.md|LICENSE|src\/.+\.ts|types\/.+\.d\.ts|c\/[a-z0-9_]+\.[ch])$/;
    expect(packed.filter((f) => !allowed.test(f))).toEqual([]);
  });

  test("runtime dependencies are exactly the packages src/ imports", () => {
    const imported = new Set<string>();
    for (const f of packed.filter((p) => p.startsWith("src/"))) {
      for (const spec of imports(join(ROOT, f))) {
        if (spec.startsWith(".") || spec.startsWith("bun:") || spec.startsWith("node:") || spec === "bun") continue;
        imported.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
      }
    }
    expect(Object.keys(pkg.dependencies ?? {}).sort()).toEqual([...imported].sort());
  });
});

describe("a fresh project that installs the tarball", () => {
  beforeAll(() => {
    consumer = join(work, "app");
    mkdirSync(join(consumer, "node_modules/@types"), { recursive: true });
    writeFileSync(
      join(consumer, "package.json"),
      JSON.stringify({ name: "consumer", private: true, type: "module", dependencies: { fasthttp: `file:${tarball}` } }),
    );
    const r = run([NPM!, "install", "--offline", "--ignore-scripts"], consumer);
    if (r.code !== 0) throw new Error(`npm install of the tarball failed (${r.code}):\n${r.err}`);
    symlinkSync(join(ROOT, "node_modules/@types/bun"), join(consumer, "node_modules/@types/bun"));
    writeFileSync(
      join(consumer, "app.ts"),
      `import { newServer, type HttpRequest, type Server } from "fasthttp";

const enc = new TextEncoder();
const raw: Server = newServer({
  port: 0,
  host: "127.0.0.1",
  handler: (req: HttpRequest): Uint8Array => enc.encode("raw " + req.string(req.path)),
});
const web: Server = newServer({
  port: 0,
  host: "127.0.0.1",
  fetch: (request: Request) => new Response("web " + new URL(request.url).pathname),
});
raw.run();
web.run();
const a = await fetch("http://127.0.0.1:" + raw.port + "/one");
const b = await fetch("http://127.0.0.1:" + web.port + "/two");
console.log(JSON.stringify([a.status, await a.text(), b.status, await b.text()]));
await raw.stop();
await web.stop();
`,
    );
    // Wrong on purpose: proves the declarations are real types, not an implicit any.
    writeFileSync(join(consumer, "wrong.ts"), `import { newServer } from "fasthttp";\nnewServer({ port: "3000" });\n`);
  });

  test("installs just the package, with no dependencies of its own", () => {
    const installed = readdirSync(join(consumer, "node_modules")).filter((f) => !f.startsWith("."));
    expect(installed.sort()).toEqual(["@types", "fasthttp"]);
    expect(existsSync(join(consumer, "node_modules/fasthttp/types/index.d.ts"))).toBe(true);
  });

  test('serves raw and fetch handlers through import { newServer } from "fasthttp"', () => {
    const r = run([process.execPath, "app.ts"], consumer, 20_000);
    expect({ code: r.code, out: r.out.trim(), err: r.err.trim() }).toEqual({
      code: 0,
      out: JSON.stringify([200, "raw /one", 200, "web /two"]),
      err: "",
    });
  });

  for (const resolution of ["bundler", "node16", "nodenext"] as const) {
    test(`type-checks strictly with moduleResolution "${resolution}" (no skipLibCheck), and catches a wrong config`, () => {
      const config = (files: string[]) =>
        JSON.stringify({
          compilerOptions: {
            strict: true,
            noEmit: true,
            target: "ES2022",
            lib: ["ESNext"],
            types: ["bun"],
            module: resolution === "bundler" ? "ESNext" : resolution,
            moduleResolution: resolution,
            exactOptionalPropertyTypes: true,
            noUncheckedIndexedAccess: true,
          },
          files,
        });
      writeFileSync(join(consumer, `tsconfig.${resolution}.json`), config(["app.ts"]));
      writeFileSync(join(consumer, `tsconfig.${resolution}.wrong.json`), config(["wrong.ts"]));
      const good = run([process.execPath, TSC, "-p", `tsconfig.${resolution}.json`], consumer);
      expect({ code: good.code, out: good.out.trim() }).toEqual({ code: 0, out: "" });
      const bad = run([process.execPath, TSC, "-p", `tsconfig.${resolution}.wrong.json`], consumer);
      expect(bad.code).not.toBe(0);
      // newServer has two overloads (raw routes with a handler; the rest), so tsc reports the error once per overload.
      const out = bad.out.trim();
      expect(out).toStartWith("wrong.ts(2,13): error TS2769: No overload matches this call.");
      expect(out.split("\n").filter((l) => l.trim() === "Type 'string' is not assignable to type 'number'.").length).toBe(2);
    }, 60_000);
  }
});
