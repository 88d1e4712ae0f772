/**
 * The binding to the C core: compiled once per process by bun:ffi's `cc`
 * (TinyCC) from c/fasthttp.c, the first time a server runs. `cc` is given one
 * symbol, `fh_symbols` (c/symbols.c), and every entry point below is bound
 * from the addresses it lists with `CFunction`: cc compiles a wrapper per
 * symbol it binds (~0.2 ms each, ~12 ms for all of them at start-up), a
 * CFunction costs ~10 µs and calls as fast.
 * @module
 */
import { CFunction, CString, cc, type Library, type Pointer } from "bun:ffi";
import { constants } from "node:os";
import { CONTRACT, contractMismatch } from "./layout.ts";
import { nodeFs } from "./lazy.ts";

const symbols = {
  fh_server_create: {
    args: ["ptr", "i32", "i32", "i32", "f64", "i32", "i32", "i32", "i32", "i32", "i32", "ptr"],
    returns: "ptr",
  },
  fh_listen_socket: { args: ["ptr", "i32", "i32", "i32"], returns: "i32" },
  fh_socket_port: { args: ["i32"], returns: "i32" },
  fh_close: { args: ["i32"], returns: "i32" },
  fh_server_limits: { args: ["ptr", "f64", "f64", "f64", "i32"], returns: "void" },
  fh_server_port: { args: ["ptr"], returns: "i32" },
  fh_conn_timeout: { args: ["ptr", "i32", "i32", "f64"], returns: "i32" },
  fh_peer: { args: ["ptr", "i32", "i32", "ptr", "i32", "ptr"], returns: "i32" },
  fh_server_desc: { args: ["ptr"], returns: "ptr" },
  fh_server_slabs: { args: ["ptr"], returns: "ptr" },
  fh_slab_ptr: { args: ["ptr", "i32"], returns: "ptr" },
  fh_conn_count: { args: ["ptr"], returns: "i32" },
  fh_stats: { args: ["ptr", "ptr"], returns: "void" },
  fh_start: { args: ["ptr", "function"], returns: "i32" },
  fh_arm: { args: ["ptr"], returns: "i32" },
  fh_poll: { args: ["ptr", "i32"], returns: "i32" },
  fh_flush: { args: ["ptr", "i32", "i32"], returns: "i32" },
  fh_respond_status: { args: ["ptr", "i32", "i32", "i32", "i32", "i32"], returns: "i32" },
  fh_respond: {
    args: ["ptr", "i32", "i32", "i32", "i32", "ptr", "i32", "i32", "i32", "i32", "i32"],
    returns: "i32",
  },
  fh_arena_grow: { args: ["ptr", "i32", "f64"], returns: "i32" },
  fh_slab_size: { args: ["ptr", "i32"], returns: "f64" },
  fh_server_trace: { args: ["ptr", "i32"], returns: "void" },
  fh_trace_take: { args: ["ptr", "ptr", "ptr", "i32"], returns: "i32" },
  fh_clock: { args: [], returns: "f64" },
  fh_stream_open: { args: ["ptr", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"], returns: "i32" },
  fh_stream_write: { args: ["ptr", "i32", "i32", "i32", "ptr", "i32", "i32"], returns: "i32" },
  fh_stream_end: { args: ["ptr", "i32", "i32", "i32", "i32"], returns: "i32" },
  fh_raw_take: { args: ["ptr", "i32", "i32", "ptr", "i32"], returns: "i32" },
  fh_body_read: { args: ["ptr", "i32", "i32", "i32", "ptr", "i32", "ptr"], returns: "i32" },
  fh_respond_file: {
    args: ["ptr", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "f64", "f64", "i32"],
    returns: "i32",
  },
  fh_ws_accept: {
    args: ["ptr", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "f64", "f64", "f64", "i32", "i32"],
    returns: "i32",
  },
  fh_ws_send: { args: ["ptr", "i32", "i32", "i32", "ptr", "i32", "i32"], returns: "i32" },
  fh_ws_scratch: { args: ["ptr", "ptr"], returns: "ptr" },
  fh_ws_send_s: { args: ["i32", "i32", "i32", "i32", "i32"], returns: "i32" },
  fh_ws_pause: { args: ["ptr", "i32", "i32", "i32"], returns: "i32" },
  fh_ws_zlib: { args: ["ptr", "i32"], returns: "i32" },
  fh_ws_flush: { args: ["ptr", "i32", "i32"], returns: "i32" },
  fh_ws_buffered: { args: ["ptr", "i32", "i32"], returns: "f64" },
  fh_ws_close: { args: ["ptr", "i32", "i32", "i32", "ptr", "i32", "i32"], returns: "i32" },
  fh_events_take: { args: ["ptr", "ptr", "i32"], returns: "i32" },
  fh_events_pending: { args: ["ptr"], returns: "i32" },
  fh_stop: { args: ["ptr", "i32"], returns: "i32" },
  fh_destroy: { args: ["ptr"], returns: "void" },
  fh_contract: { args: ["ptr", "i32"], returns: "i32" },
  fh_strerror: { args: ["i32"], returns: "ptr" },
  fh_routes_clear: { args: ["ptr"], returns: "void" },
  fh_route_static: {
    args: ["ptr", "ptr", "i32", "i32", "i32", "ptr", "i32", "ptr", "f64", "ptr", "i32", "ptr", "i32"],
    returns: "i32",
  },
} as const;

/** The compiled core's functions. */
export type Core = Library<typeof symbols>["symbols"];

/**
 * `cc` once, and again if it fails: several Bun processes compiling at the
 * same moment (a test suite starting servers side by side) now and then see
 * one of TinyCC's own headers half-written (e.g. `stack_t.h: ';' expected
 * (got 'size_t')`), which the next attempt does not. A real error in the
 * source fails every attempt and is thrown as it is.
 */
function compileRetrying(source: string, define: Record<string, string>) {
  for (let attempt = 1; ; attempt++) {
    try {
      return cc({ source, symbols: { fh_symbols: { args: ["ptr", "i32"], returns: "i32" } }, define });
    } catch (e) {
      if (attempt >= 3) throw e;
      Bun.sleepSync(20 * attempt);
    }
  }
}

/**
 * Binds every entry point in `symbols` from the table c/symbols.c lists;
 * throws naming one either side lacks.
 */
function bindAll(list: (out: BigUint64Array, max: number) => number): Core {
  let table = new BigUint64Array(2 * 64);
  let n = list(table, table.length / 2);
  if (n > table.length / 2) {
    table = new BigUint64Array(2 * n);
    n = list(table, n);
  }
  const found = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    found.set(new CString(Number(table[2 * i]) as Pointer).toString(), Number(table[2 * i + 1]));
  }
  const out: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(symbols)) {
    const ptr = found.get(name);
    if (ptr === undefined) throw new Error(`fasthttp: c/symbols.c does not list ${name}, which src/ffi.ts binds`);
    out[name] = CFunction({ ...def, ptr: ptr as Pointer } as never);
    found.delete(name);
  }
  if (found.size > 0) throw new Error(`fasthttp: src/ffi.ts does not bind ${[...found.keys()].join(", ")}, which c/symbols.c lists`);
  return out as Core;
}

function compile(backend: string) {
  const source = `${import.meta.dir}/../c/fasthttp.c`;
  const define: Record<string, string> = {};
  if (backend === "kqueue") {
    define.FH_BACKEND_KQUEUE = "1";
    if (process.platform === "linux" && !nodeFs().existsSync(`${import.meta.dir}/../c/testing/kqueue_emu.h`)) {
      throw new Error(
        "fasthttp: FASTHTTP_BACKEND=kqueue on Linux runs over a test-only kqueue emulation (c/testing/), which is not shipped in the package",
      );
    }
  }
  const lib = compileRetrying(source, define);
  const core = bindAll((out, max) => lib.symbols.fh_symbols(out, max | 0));
  const values = new Int32Array(CONTRACT.length + 16);
  const count = core.fh_contract(values, values.length);
  const wrong = contractMismatch(values, count);
  if (wrong !== null) throw new Error(`fasthttp: c/layout.h and src/layout.ts disagree: ${wrong}`);
  return core;
}

/**
 * Throws an Error saying why on a platform the core cannot run on (Windows:
 * no epoll, no kqueue).
 */
export function assertSupported(): void {
  if (process.platform === "win32") {
    throw new Error(
      "fasthttp does not support Windows: its C core waits on sockets with epoll (Linux) or kqueue (macOS, the BSDs), and Windows has neither",
    );
  }
}

let core: Core | undefined;
let coreBackend = "";

/**
 * Returns the compiled core, compiling it on first use. `FASTHTTP_BACKEND`
 * chooses the backend ("epoll" on Linux by default, "kqueue" for the BSDs and
 * macOS, or on Linux over the test-only emulation).
 */
export function loadCore(): Core {
  if (core === undefined) {
    assertSupported();
    const env = process.env.FASTHTTP_BACKEND ?? "";
    coreBackend = env === "kqueue" || process.platform !== "linux" ? "kqueue" : "epoll";
    if (env !== "" && env !== "epoll" && env !== "kqueue") {
      throw new RangeError(`FASTHTTP_BACKEND must be "epoll" or "kqueue" (got ${JSON.stringify(env)})`);
    }
    core = compile(coreBackend);
  }
  return core;
}

/** The backend the compiled core uses. */
export function backendName(): string {
  return coreBackend;
}

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) errnoNames.set(value, name);

/** The Error for a socket that could not listen on host:port, with the reason for `code`. */
export function listenError(host: string, port: number, code: number): Error {
  const where = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  return new Error(`fasthttp: cannot listen on ${where}: ${describeError(code)}`);
}

/** Turns a negative code from the core into "ENAME: reason". */
export function describeError(code: number): string {
  const c = loadCore();
  const p = c.fh_strerror(code | 0);
  const reason = p ? new CString(p as Pointer).toString() : `error ${code}`;
  const name = errnoNames.get(-code);
  return name ? `${name}: ${reason.toLowerCase()}` : reason;
}
