/**
 * servers.ts - the hello-world servers under test, and how to build and start each.
 *
 * Every server answers `GET /` (or `GET` of its `path`) with a 13-byte `Hello, World!`
 * body on a kept-alive connection, takes its port on the command line, and prints a
 * line starting with "ready" once it listens.
 */
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BENCH = new URL("..", import.meta.url).pathname;
const REPO = new URL("../..", import.meta.url).pathname;

export interface ServerDef {
  id: string;
  /** Name in tables and the chart. */
  label: string;
  /** Bar colour in the chart. */
  color: string;
  /** Whether it runs a JS event loop that reports timer lateness. */
  reportsTimer: boolean;
  /** Null when it can run here, else why not. */
  unavailable(): string | null;
  /** Builds what must be built; throws with the reason on failure. */
  prepare(): Promise<void>;
  /** The command line that serves on `port`. */
  command(port: number): string[];
  /** The path requested (default "/"). */
  path?: string;
  /** Run only when named in --servers (not in the default set). */
  optIn?: boolean;
}

const bun = process.execPath;
const cLimitBinary = join(tmpdir(), "fasthttp-bench", "c-limit");

export const SERVERS: ServerDef[] = [
  {
    id: "fasthttp",
    label: "fasthttp",
    color: "#d9480f",
    reportsTimer: true,
    unavailable: () => (existsSync(join(REPO, "src/index.ts")) ? null : "src/index.ts does not exist yet"),
    prepare: async () => {},
    command: (port) => [bun, join(BENCH, "servers/fasthttp.ts"), String(port)],
  },
  {
    id: "fasthttp-arena",
    label: "fasthttp (arena)",
    color: "#f08c00",
    reportsTimer: true,
    unavailable: () => (existsSync(join(REPO, "src/index.ts")) ? null : "src/index.ts does not exist yet"),
    prepare: async () => {},
    command: (port) => [bun, join(BENCH, "servers/fasthttp-arena.ts"), String(port)],
  },
  {
    id: "bun-serve",
    label: "Bun.serve",
    color: "#1c7ed6",
    reportsTimer: true,
    unavailable: () => null,
    prepare: async () => {},
    command: (port) => [bun, join(BENCH, "servers/bun-serve.ts"), String(port)],
  },
  {
    id: "fasthttp-static",
    label: "fasthttp (static route)",
    color: "#e8590c",
    reportsTimer: true,
    unavailable: () => (existsSync(join(REPO, "src/index.ts")) ? null : "src/index.ts does not exist yet"),
    prepare: async () => {},
    command: (port) => [bun, join(BENCH, "servers/fasthttp-static.ts"), String(port)],
  },
  {
    id: "bun-serve-static",
    label: "Bun.serve (static route)",
    color: "#4dabf7",
    reportsTimer: true,
    unavailable: () => null,
    prepare: async () => {},
    command: (port) => [bun, join(BENCH, "servers/bun-serve-static.ts"), String(port)],
  },
  ...(
    [
      ["fasthttp-param", "fasthttp (param route)", "#ff922b", "fasthttp"],
      ["fasthttp-param-raw", "fasthttp (raw param route)", "#ffa94d", "fasthttp-raw"],
      ["fasthttp-param-hand", "fasthttp (raw, path bytes by hand)", "#ffc078", "fasthttp-hand"],
      ["fasthttp-param-strings", "fasthttp (raw, path string by hand)", "#ffd8a8", "fasthttp-strings"],
      ["bun-serve-param", "Bun.serve (param route)", "#74c0fc", "bun-serve"],
    ] as const
  ).map(
    ([id, label, color, kind]): ServerDef => ({
      id,
      label,
      color,
      reportsTimer: true,
      unavailable: () => (kind === "bun-serve" || existsSync(join(REPO, "src/index.ts")) ? null : "src/index.ts does not exist yet"),
      prepare: async () => {},
      command: (port) => [bun, join(BENCH, "servers/param.ts"), kind, String(port)],
      // The body is `Hello, ${id}!`: /users/World makes it hello world's bytes.
      path: "/users/World",
      optIn: true,
    }),
  ),
  {
    id: "node-http",
    label: "node:http",
    color: "#37b24d",
    reportsTimer: true,
    unavailable: () => (Bun.which("node") ? null : "node is not on PATH"),
    prepare: async () => {},
    command: (port) => [Bun.which("node")!, join(BENCH, "servers/node-http.mjs"), String(port)],
  },
  {
    id: "c-limit",
    label: "C limit",
    color: "#868e96",
    reportsTimer: false,
    unavailable: () => (Bun.which("gcc") || Bun.which("cc") ? null : "no gcc or cc on PATH (apt-get install -y gcc)"),
    prepare: async () => {
      mkdirSync(join(tmpdir(), "fasthttp-bench"), { recursive: true });
      const cc = Bun.which("gcc") ?? Bun.which("cc")!;
      // Build beside the target and rename over it, so another run using the binary is never disturbed.
      const tmp = `${cLimitBinary}.${process.pid}.tmp`;
      const r = Bun.spawnSync([cc, "-O2", "-o", tmp, join(BENCH, "servers/c-limit.c")], { stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`compiling c-limit.c failed:\n${r.stderr.toString()}`);
      renameSync(tmp, cLimitBinary);
    },
    command: (port) => [cLimitBinary, String(port)],
  },
];

/** Version strings of the runtimes and tools, for the record. */
export function toolVersions(): { bun: string; node: string | null; gcc: string | null } {
  const first = (cmd: string[]): string | null => {
    try {
      const r = Bun.spawnSync(cmd, { stderr: "pipe" });
      const out = (r.stdout.toString() + r.stderr.toString()).trim().split("\n")[0];
      return out || null;
    } catch {
      return null;
    }
  };
  return {
    bun: Bun.version + (Bun.revision ? ` (${Bun.revision.slice(0, 8)})` : ""),
    node: Bun.which("node") ? first(["node", "--version"]) : null,
    gcc: Bun.which("gcc") ? first(["gcc", "--version"]) : null,
  };
}
