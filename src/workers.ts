/**
 * Workers: one port served by several loops, each in its own Bun Worker.
 *
 * In the main thread, `newServer({ workers: N, ... })` makes one listening
 * socket and starts N Workers that run the entry script again (`Bun.main`, or
 * `workerEntry`) with a marker in `workerData`. In a worker, the matching
 * `newServer(...)` call sees the marker and becomes that worker's loop, which
 * serves a duplicate of the main thread's socket (threads share descriptors);
 * every other `newServer` call there makes a dormant server. The main thread
 * runs no handler: it stops the workers, reports the ones that die, and sums
 * their figures for `stats()`.
 *
 * The rules a script must follow are in the README ("Workers").
 * @module
 */
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import {
  resolveConfig,
  withHandler,
  workerCount,
  type ErrorHandler,
  type FetchHandler,
  type FromRoutes,
  type Handler,
  type HandlerConfig,
  type ServerConfig,
  type WorkerInfo,
} from "./config.ts";
import { backendName, listenError, loadCore } from "./ffi.ts";
import { nodeFs, workerThreads } from "./lazy.ts";
import { ST_LARGE_IN_USE, ST_SIZE } from "./layout.ts";
import { Server } from "./server.ts";
import { statsOf, type ServerStats } from "./stats.ts";
import { resolveWebSocket } from "./ws/types.ts";

/** The key of fasthttp's marker in `workerData` and of its control messages. */
const MARK = "fasthttp.worker";
/** How often a worker publishes its figures for the main thread's `stats()`, in ms. */
const STATS_MS = 100;
/** Figures per worker in the shared stats array: those that add up over workers, ST_CONNS to ST_LARGE_IN_USE. */
const STATS_WORDS = ST_LARGE_IN_USE + 1;
/** How long a worker whose loop has stopped may take to exit by itself before it is terminated, in ms. */
const EXIT_GRACE_MS = 2000;

/** What the main thread hands each worker. */
interface Marker {
  /** The main thread's listening socket; the worker's loop serves a duplicate of it. */
  fd: number;
  index: number;
  count: number;
  /** Which clustered `newServer` call of the entry script this worker serves (0-based). */
  ordinal: number;
  /** The main thread's options, functions left out: a worker uses these, not its own call's (its `websocket` is its own). */
  options: Omit<ServerConfig, "handler" | "websocket">;
  /** The BroadcastChannel the workers' WebSockets publish on (a publish in one reaches the subscribers of all). */
  channel: string;
  data: unknown;
  stats: SharedArrayBuffer;
}

type ToMain = { [MARK]: "ready" } | { [MARK]: "stopped" } | { [MARK]: "failed"; reason: string };
type ToWorker = { [MARK]: "stop"; force: boolean };

/** This thread's marker: only a worker has one (`node:worker_threads` is loaded only there). */
const marker: Marker | undefined = Bun.isMainThread ? undefined : markerOf(workerThreads().workerData);

function markerOf(data: unknown): Marker | undefined {
  return data !== null && typeof data === "object" ? (data as Record<string, Marker>)[MARK] : undefined;
}

/** Clustered `newServer` calls seen so far in this thread (the main thread counts those of `Bun.main`). */
let clustered = 0;
/** In a worker: the loop it serves, once made. */
let loop: WorkerLoop | undefined;

function cpus(): number {
  return availableParallelism();
}

function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return String(err);
}

/**
 * The config one loop runs: the worker options left out, and the handler bound
 * to the state `makeState` made for it (called here, once).
 */
function loopConfig<S>(config: HandlerConfig<S>, info: WorkerInfo, options?: Omit<ServerConfig, "handler" | "websocket">): HandlerConfig {
  const { workers: _w, makeState, workerEntry: _e, workerData: _d, handler, ...own } = config;
  const base = options === undefined ? own : { ...options, websocket: own.websocket };
  if (makeState === undefined) return { ...base, handler: handler as Handler };
  const state = makeState(info);
  return { ...base, handler: (req) => handler(req, state) };
}

/**
 * Makes the server `newServer(config)` returns, in the main thread or in a
 * worker. `fromFetch` turns a `fetch` app into a handler (the entry passes
 * the adapter's `fetchHandler`).
 */
export function createServer<S>(
  input: ServerConfig<S, any>,
  fromFetch: (fetch: FetchHandler<S>, options: { error?: ErrorHandler }) => Handler<S>,
  fromRoutes?: FromRoutes<S>,
): Server {
  resolveConfig(input); // validates every option, the workers' ones included
  resolveWebSocket(input.websocket); // and the websocket object, which the workers take from their own call
  // `fetch: app.fetch` becomes a handler here, and `routes` (compiled here: each worker compiles its own) one too.
  const { routes, ...config } = withHandler(input, fromFetch, fromRoutes);
  const count = workerCount(config, cpus);
  let server: Server;
  if (marker !== undefined) server = inWorker(config, count, marker);
  else if (count === 1) server = new Server(loopConfig(config, { index: 0, count: 1, data: config.workerData }));
  else return new WorkerPool(config, count); // its reload() throws: the routes live in the workers
  if (routes !== undefined) server._routes = routes;
  return server;
}

// ---- in a worker ---------------------------------------------------------------

function inWorker<S>(config: HandlerConfig<S>, count: number, m: Marker): Server {
  const mine = count > 1 && clustered++ === m.ordinal && loop === undefined;
  if (!mine) return new DormantServer(loopConfig({ ...config, makeState: undefined }, { index: 0, count: 1, data: undefined }));
  loop = new WorkerLoop(loopConfig(config, { index: m.index, count: m.count, data: m.data }, m.options), m);
  return loop;
}

if (marker !== undefined) {
  // A worker that dies (an uncaught exception, process.exit) must not leave its
  // loop behind: the helper thread would call into a JavaScript context that
  // is gone. Close it synchronously while the thread still exists.
  process.on("exit", () => loop?._closeNow());
}

function post(message: ToMain): void {
  workerThreads().parentPort?.postMessage(message);
}

/**
 * A worker's loop: a {@link Server} on the shared socket that tells the main
 * thread when it serves and when it has stopped, and obeys its stop requests.
 */
class WorkerLoop extends Server {
  #marker: Marker;
  #started = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #channel: BroadcastChannel | null = null;

  constructor(config: HandlerConfig, m: Marker) {
    super(config, { listenFd: m.fd });
    this.#marker = m;
  }

  override run(): Promise<void> {
    const done = super.run();
    if (this.#started) return done;
    this.#started = true;
    if (this.port > 0) {
      // Listening only while the loop runs: a message listener keeps a worker alive.
      workerThreads().parentPort?.on("message", this.#onControl);
      this.#timer = setInterval(() => this.#publish(), STATS_MS);
      this.#timer.unref();
      this.#publish();
      this.#wireWebSockets();
      post({ [MARK]: "ready" });
    }
    done.then(
      () => {
        this.#end();
        post({ [MARK]: "stopped" });
      },
      (err) => {
        this.#end();
        post({ [MARK]: "failed", reason: reasonOf(err) });
      },
    );
    return done;
  }

  #onControl = (message: unknown): void => {
    const m = message as ToWorker | null;
    if (m !== null && typeof m === "object" && m[MARK] === "stop") void this.stop(m.force);
  };

  /** A publish in this worker reaches the other workers' subscribers too, and theirs reach ours. */
  #wireWebSockets(): void {
    const hub = this._wsHub;
    if (hub === null) return;
    const ch = (this.#channel = new BroadcastChannel(this.#marker.channel));
    hub.onPublish = (topic, op, bytes, compress) => ch.postMessage({ topic, op, bytes: bytes.slice(), compress });
    ch.onmessage = (e) => {
      const m = e.data as { topic: string; op: number; bytes: Uint8Array; compress: boolean };
      hub.deliver(m.topic, m.op, m.bytes, m.compress, null);
    };
  }

  #end(): void {
    this.#channel?.close();
    this.#channel = null;
    workerThreads().parentPort?.off("message", this.#onControl);
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#publish();
  }

  /** Writes this loop's figures into its row of the shared stats array. */
  #publish(): void {
    const row = new Int32Array(this.#marker.stats, this.#marker.index * STATS_WORDS * 4, STATS_WORDS);
    const figures = new Int32Array(ST_SIZE);
    this._figures(figures);
    row.set(figures.subarray(0, STATS_WORDS));
  }
}

/** What every other `newServer` call makes in a worker: it never binds; run() resolves at once. */
class DormantServer extends Server {
  override run(): Promise<void> {
    return Promise.resolve();
  }
}

// ---- in the main thread --------------------------------------------------------

interface Slot {
  index: number;
  worker: import("node:worker_threads").Worker;
  state: "starting" | "running" | "stopping" | "stopped" | "dead";
  reason?: string;
  exitTimer?: ReturnType<typeof setTimeout>;
}

/** Where the workers start: `workerEntry`, else the entry script. */
function entryOf(config: ServerConfig<any>): string {
  const e = config.workerEntry;
  let path: string;
  if (e === undefined) {
    path = Bun.main;
  } else if (e instanceof URL || e.startsWith("file:")) {
    path = Bun.fileURLToPath(e);
  } else {
    path = resolve(e);
  }
  if (!nodeFs().existsSync(path)) {
    const what = e === undefined ? `the entry script (Bun.main = ${JSON.stringify(path)})` : JSON.stringify(path);
    throw new TypeError(`fasthttp: workers run ${what}, which is not a file; set workerEntry to a script`);
  }
  return path;
}

/**
 * The main thread's side of `workers: N`: one listening socket, N Workers
 * serving it. `port`, `run()`, `stop()` and `stats()` behave as a single
 * server's do, for all the workers at once.
 */
class WorkerPool extends Server {
  #options: Omit<ServerConfig, "handler" | "websocket">;
  #host: string;
  #portWanted: number;
  #backlog: number;
  #reusePort: boolean;
  #slabSize: number;
  #count: number;
  #entry: string;
  #ordinal: number;
  #data: unknown;
  #fd = -1;
  #port = 0;
  #slots: Slot[] = [];
  #stats: SharedArrayBuffer;
  #state: "new" | "running" | "stopping" | "stopped" = "new";
  #force = false;
  #done: Promise<void>;
  #resolve!: () => void;
  #reject!: (e: Error) => void;

  constructor(config: ServerConfig<any>, count: number) {
    const { workers: _w, makeState: _m, workerEntry: _e, workerData, handler, websocket: _ws, ...options } = config;
    super({ ...options, handler: handler as Handler });
    const r = resolveConfig(config);
    this.#options = options;
    this.#host = r.host;
    this.#portWanted = r.port;
    this.#backlog = r.backlog;
    this.#reusePort = r.reusePort;
    this.#slabSize = r.arenaSlabSize;
    this.#count = count;
    this.#entry = entryOf(config);
    this.#ordinal = this.#entry === Bun.main ? clustered++ : 0;
    this.#data = structuredClone(workerData); // fails here, not in each worker, if it cannot be sent
    this.#stats = new SharedArrayBuffer(count * STATS_WORDS * 4);
    this.#done = new Promise<void>((res, rej) => {
      this.#resolve = res;
      this.#reject = rej;
    });
  }

  /** The port every worker serves. Valid once {@link run} has returned. */
  override get port(): number {
    return this.#port;
  }

  /**
   * Binds, then starts the workers. The port is bound (and known) when this
   * returns; connections wait in the backlog until a worker takes them. The
   * promise resolves once every worker has stopped, and rejects if the port
   * cannot be bound or every worker has died.
   */
  override run(): Promise<void> {
    if (this.#state !== "new") return Promise.reject(new Error("fasthttp: run() was already called on this server"));
    const core = loadCore();
    const fd = core.fh_listen_socket(Buffer.from(`${this.#host}\0`), this.#portWanted | 0, this.#backlog | 0, this.#reusePort ? 1 : 0);
    if (fd < 0) {
      this.#state = "stopped";
      this.#reject(listenError(this.#host, this.#portWanted, fd));
      return this.#done;
    }
    this.#fd = fd;
    this.#port = core.fh_socket_port(fd);
    this.#state = "running";
    for (let i = 0; i < this.#count; i++) this.#spawn(i);
    return this.#done;
  }

  /**
   * Stops every worker: each stops accepting, finishes its in-flight
   * responses and closes its connections. Resolves (as does `run()`'s
   * promise) once they all have. With `force`, connections close at once.
   */
  override stop(force = false): Promise<void> {
    if (this.#state === "new") {
      this.#state = "stopped";
      this.#resolve();
    } else if (this.#state === "running" || (this.#state === "stopping" && force && !this.#force)) {
      this.#state = "stopping";
      this.#force = force;
      for (const slot of this.#slots) {
        if (slot.state === "running" || slot.state === "stopping") this.#tell(slot);
      }
    }
    return this.#done.catch(() => {});
  }

  /** Throws: with workers, each worker compiles its own routes; reload them there (the fetch app's `server.reload()`). */
  override reload(_options: { routes?: unknown; fetch?: unknown; handler?: unknown }): this {
    throw new TypeError("fasthttp: reload() with workers: each worker compiles its own routes, so call it in the workers (the fetch app's server.reload())");
  }

  /** The workers' figures, summed (each worker publishes its own every 100 ms). */
  override stats(): ServerStats {
    const all = new Int32Array(this.#stats);
    const sum = new Array<number>(STATS_WORDS).fill(0);
    for (let i = 0; i < all.length; i++) sum[i % STATS_WORDS]! += all[i]!;
    return statsOf(sum, this.#slabSize, backendName());
  }

  #spawn(index: number): void {
    const m: Marker = {
      fd: this.#fd,
      index,
      count: this.#count,
      ordinal: this.#ordinal,
      options: this.#options,
      channel: `fasthttp.ws.${process.pid}.${this.#fd}.${this.#ordinal}`,
      data: this.#data,
      stats: this.#stats,
    };
    // The script's own arguments too: a worker's process.argv would otherwise stop at the script.
    const worker = new (workerThreads().Worker)(this.#entry, { workerData: { [MARK]: m }, argv: process.argv.slice(2) });
    const slot: Slot = { index, worker, state: "starting" };
    this.#slots.push(slot);
    worker.on("message", (message: unknown) => this.#onMessage(slot, message));
    worker.on("error", (err: unknown) => {
      slot.reason ??= reasonOf(err);
    });
    worker.on("exit", (code: number) => this.#onExit(slot, code));
  }

  #tell(slot: Slot): void {
    slot.state = "stopping";
    slot.worker.postMessage({ [MARK]: "stop", force: this.#force } satisfies ToWorker);
  }

  #onMessage(slot: Slot, message: unknown): void {
    const m = message as ToMain | null;
    if (m === null || typeof m !== "object" || !(MARK in m)) return; // the user's own message
    switch (m[MARK]) {
      case "ready":
        if (slot.state !== "starting") return;
        slot.state = "running";
        if (this.#state === "stopping") this.#tell(slot);
        this.#closeListenerIfShared();
        return;
      case "failed":
        slot.reason = m.reason;
        return;
      case "stopped":
        if (slot.state === "dead") return;
        slot.state = "stopped";
        // Its loop is gone, so ending the thread is safe; give the script's own code time to finish.
        slot.exitTimer = setTimeout(() => void slot.worker.terminate(), EXIT_GRACE_MS);
        slot.exitTimer.unref();
        this.#closeListenerIfShared();
        this.#settle();
        return;
    }
  }

  #onExit(slot: Slot, code: number): void {
    if (slot.exitTimer !== undefined) clearTimeout(slot.exitTimer);
    if (slot.state !== "stopped") {
      const before = slot.state;
      slot.state = "dead";
      const serving = this.#slots.filter((s) => s.state === "running" || s.state === "starting").length;
      const why =
        slot.reason ??
        (before === "starting"
          ? `exit code ${code} before it served: did the entry script call newServer({ workers }) as the main thread did? (README: Workers)`
          : `exit code ${code}`);
      console.error(`fasthttp: worker ${slot.index + 1} of ${this.#count} died (${serving} still serving): ${why}`);
    }
    this.#closeListenerIfShared();
    this.#settle();
  }

  /**
   * Closes the main thread's copy of the listening socket once no worker is
   * still starting (each running loop holds its own duplicate). From then on
   * the socket lives exactly as long as some worker serves it, so when the
   * last one stops or dies, connecting is refused rather than left hanging.
   */
  #closeListenerIfShared(): void {
    if (this.#fd < 0 || this.#slots.some((s) => s.state === "starting")) return;
    loadCore().fh_close(this.#fd | 0);
    this.#fd = -1;
  }

  /** Settles run() once no worker is left. */
  #settle(): void {
    if (this.#state === "stopped" || this.#slots.some((s) => s.state !== "stopped" && s.state !== "dead")) return;
    const dead = this.#slots.filter((s) => s.state === "dead");
    const stopping = this.#state === "stopping";
    this.#state = "stopped";
    if (this.#fd >= 0) loadCore().fh_close(this.#fd | 0);
    this.#fd = -1;
    if (stopping || dead.length === 0) this.#resolve();
    else this.#reject(new Error(`fasthttp: every worker has died; the last: ${dead[dead.length - 1]!.reason ?? "no reason given"}`));
  }
}
