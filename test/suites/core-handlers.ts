/**
 * The core suite's handlers, made by name, and the probe through which they report to the test.
 *
 * Every handler the suite (test/suites/core.ts) starts is made here by `handlerSet(probe)` and
 * carries a {@link HandlerRef}: its name and its (structured-cloneable) arguments. A server that
 * runs in the test's thread calls it as it is. A server whose loops run in Workers
 * (test/workers.test.ts) cannot be handed a closure, so it hands each worker the ref instead, and
 * the worker's entry (test/fixtures/suite-worker.ts) rebuilds the same handler from this module:
 * the suite's own handler code, run in another thread, not a copy of it.
 *
 * What a handler observes (a body it saw, that it was called, that it is waiting) goes through a
 * {@link Probe}: in one thread, straight into arrays ({@link LocalProbe}); across threads, over a
 * BroadcastChannel ({@link ChannelProbe}).
 */
import type { Handler, HttpRequest } from "../../src/index.ts";
import { sleep, text, utf8, withTimeout } from "../helpers/net.ts";

/** How a handler reports to the test, and how the test waits on it. */
export interface Probe {
  /** Handler side: notes `value` under `key`. */
  record(key: string, value: unknown): void;
  /** Handler side: says it has reached gate `key`, then waits until the test releases it. */
  gate(key: string): Promise<void>;
  /** Test side: the values noted under `key`, once at least `count` have arrived (bounded wait). */
  values(key: string, count: number): Promise<unknown[]>;
  /** Test side: resolves once a handler has reached gate `key`. */
  entered(key: string): Promise<void>;
  /** Test side: lets the handler waiting at gate `key` go on. */
  release(key: string): void;
  /** Test side: server log lines that arrive as values under "console.error" are not printed while muted. */
  muteLogs(muted: boolean): void;
  /** Test side: forgets what was noted (between tests). */
  reset(): void;
}

/** How long the test waits for a value or a gate, in ms. */
const WAIT_MS = 3000;

interface Gate {
  entered: PromiseWithResolvers<void>;
  released: PromiseWithResolvers<void>;
}

function gateIn(gates: Map<string, Gate>, key: string): Gate {
  let g = gates.get(key);
  if (g === undefined) {
    g = { entered: Promise.withResolvers<void>(), released: Promise.withResolvers<void>() };
    gates.set(key, g);
  }
  return g;
}

/** Handler and test in one thread: a noted value is there at once. */
export class LocalProbe implements Probe {
  #values = new Map<string, unknown[]>();
  #gates = new Map<string, Gate>();

  record(key: string, value: unknown): void {
    const list = this.#values.get(key) ?? [];
    list.push(value);
    this.#values.set(key, list);
  }

  gate(key: string): Promise<void> {
    const g = gateIn(this.#gates, key);
    g.entered.resolve();
    return g.released.promise;
  }

  async values(key: string, count: number): Promise<unknown[]> {
    // Same thread: a value is noted as the handler runs, so only a handler still to come is waited for.
    const deadline = Date.now() + WAIT_MS;
    while ((this.#values.get(key)?.length ?? 0) < count && Date.now() < deadline) await sleep(5);
    return [...(this.#values.get(key) ?? [])];
  }

  entered(key: string): Promise<void> {
    return withTimeout(gateIn(this.#gates, key).entered.promise, WAIT_MS, `the handler to reach gate ${key}`);
  }

  release(key: string): void {
    gateIn(this.#gates, key).released.resolve();
  }

  muteLogs(): void {}

  reset(): void {
    this.#values.clear();
    this.#gates.clear();
  }
}

type Message =
  | { t: "record"; key: string; value: unknown }
  | { t: "entered"; key: string }
  | { t: "release"; key: string };

/**
 * Handler and test in different threads, joined by a BroadcastChannel. The handler notes a value
 * before it returns its response, but the channel and the socket are separate paths, so the test
 * waits (bounded) for the count it expects, plus a short settle for any extra.
 */
export class ChannelProbe implements Probe {
  #channel: BroadcastChannel;
  #side: "test" | "handler";
  #values = new Map<string, unknown[]>();
  #gates = new Map<string, Gate>();
  #changed = Promise.withResolvers<void>();
  #muted = false;

  constructor(name: string, side: "test" | "handler") {
    this.#channel = new BroadcastChannel(name);
    this.#side = side;
    this.#channel.onmessage = (e) => this.#receive(e.data as Message);
  }

  /** The channel's name, for the other side. */
  get name(): string {
    return this.#channel.name;
  }

  #receive(m: Message): void {
    if (this.#side === "handler") {
      if (m.t === "release") gateIn(this.#gates, m.key).released.resolve();
      return;
    }
    if (m.t === "record") {
      if (m.key === "console.error" && !this.#muted) console.error("[worker]", m.value);
      const list = this.#values.get(m.key) ?? [];
      list.push(m.value);
      this.#values.set(m.key, list);
      this.#changed.resolve();
      this.#changed = Promise.withResolvers<void>();
    } else if (m.t === "entered") {
      gateIn(this.#gates, m.key).entered.resolve();
    }
  }

  record(key: string, value: unknown): void {
    this.#channel.postMessage({ t: "record", key, value } satisfies Message);
  }

  gate(key: string): Promise<void> {
    const g = gateIn(this.#gates, key);
    this.#channel.postMessage({ t: "entered", key } satisfies Message);
    return g.released.promise;
  }

  async values(key: string, count: number): Promise<unknown[]> {
    const deadline = Date.now() + WAIT_MS;
    while ((this.#values.get(key)?.length ?? 0) < count && Date.now() < deadline) {
      await Promise.race([this.#changed.promise, sleep(50)]);
    }
    await sleep(count === 0 ? 150 : 30); // room for a value that should not be there
    return [...(this.#values.get(key) ?? [])];
  }

  entered(key: string): Promise<void> {
    return withTimeout(gateIn(this.#gates, key).entered.promise, WAIT_MS, `the handler (in a worker) to reach gate ${key}`);
  }

  release(key: string): void {
    this.#channel.postMessage({ t: "release", key } satisfies Message);
  }

  muteLogs(muted: boolean): void {
    this.#muted = muted;
  }

  reset(): void {
    this.#values.clear();
    this.#gates.clear();
  }

  close(): void {
    this.#channel.close();
  }
}

/** A deterministic, non-repeating-looking byte pattern, so a misplaced or lost chunk shows. */
export function pattern(length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = 0x12345678;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Results that are not a Uint8Array, by the name the suite's table gives them. */
const BAD_RESULTS = {
  "a string": () => "a string",
  "a number": () => 42,
  undefined: () => undefined,
  "a plain object": () => ({ body: "x" }),
  "an ArrayBuffer": () => new ArrayBuffer(4),
  "a promise of a string": async () => "a string",
} as const;

/** Failing async results, by name. */
const FAILURES = {
  "an async handler that throws": async () => Promise.reject(new Error("async boom")),
  "a rejected promise": () => Promise.reject(new Error("rejected")),
} as const;

export type BadResult = keyof typeof BAD_RESULTS;
export type Failure = keyof typeof FAILURES;

/** Every handler the suite uses, made from a probe and plain arguments. */
const FACTORIES = {
  /** Answers every request with its path. */
  echoPath: (_: Probe) => (req: HttpRequest) => utf8(req.string(req.path)),
  /** Answers every request with the same bytes. */
  constant: (_: Probe, bytes: Uint8Array) => () => bytes,
  /** Notes each body as "body"; answers `METHOD PATH BODYLENGTH`. */
  recordBody: (probe: Probe) => (req: HttpRequest) => {
    probe.record("body", req.string(req.body));
    return utf8(`${req.string(req.method)} ${req.string(req.path)} ${req.body.len}`);
  },
  /** `/big` answers `pattern(size)`; anything else "fast". */
  bigOrFast: (_: Probe, size: number) => {
    const big = pattern(size);
    return (req: HttpRequest) => (req.string(req.path) === "/big" ? big : utf8("fast"));
  },
  /** Throws on `path`; anything else "fine". */
  throwOn: (_: Probe, path: string) => (req: HttpRequest) => {
    if (req.string(req.path) === path) throw new Error("boom from the test handler");
    return utf8("fine");
  },
  /** Fails (a rejected promise) on `path`; anything else "fine". */
  failOn: (_: Probe, path: string, how: Failure) => (req: HttpRequest) =>
    req.string(req.path) === path ? FAILURES[how]() : utf8("fine"),
  /** Returns something that is not a Uint8Array on `path`; anything else "fine". */
  badOn: (_: Probe, path: string, what: BadResult) =>
    ((req: HttpRequest) => (req.string(req.path) === path ? BAD_RESULTS[what]() : utf8("fine"))) as unknown as Handler,
  /** Waits at gate `key`, then answers `answer`; with `only`, other paths answer `other` at once. */
  gated: (probe: Probe, key: string, answer: string, only?: string, other?: string) => async (req: HttpRequest) => {
    if (only !== undefined && req.string(req.path) !== only) return utf8(other ?? "");
    await probe.gate(key);
    return utf8(answer);
  },
  /** `/slow` answers "slow" after 150 ms; anything else its path at once. */
  slowThenEcho: (_: Probe) => (req: HttpRequest) => {
    const path = req.string(req.path);
    if (path === "/slow") return sleep(150).then(() => utf8("slow"));
    return utf8(path);
  },
  /** Notes the path under "delayed" as it starts, then answers it after `ms` (an async handler for every request). */
  delayedEcho: (probe: Probe, ms: number) => async (req: HttpRequest) => {
    const path = req.string(req.path);
    probe.record("delayed", path);
    await sleep(ms);
    return utf8(path);
  },
  /** Notes each call as "called"; answers "called". */
  countCalls: (probe: Probe) => () => {
    probe.record("called", 1);
    return utf8("called");
  },
  /** Answers the body's length. */
  bodyLength: (_: Probe) => (req: HttpRequest) => utf8(String(req.body.len)),
  /** Notes what the request view shows as "seen"; answers "ok". */
  describeRequest: (probe: Probe) => (req: HttpRequest) => {
    probe.record("seen", {
      method: req.string(req.method),
      path: req.string(req.path),
      version: req.string(req.version),
      body: req.string(req.body),
      bodyBytes: text(req.bytes(req.body).slice()),
      headerFields: req.string(req.headerFields).replace(/\r\n$/, ""),
      exact: req.header("X-Custom-Header"),
      lower: req.header("x-custom-header"),
      upper: req.header("X-CUSTOM-HEADER"),
      dup: req.header("x-dup"),
      absent: req.header("x-absent"),
      buffer: text(req.buffer.slice()),
      fd: req.clientConnFd,
    });
    return utf8("ok");
  },
} satisfies Record<string, (probe: Probe, ...args: never[]) => Handler>;

type Factories = typeof FACTORIES;
type Rest<F> = F extends (probe: Probe, ...args: infer A) => unknown ? A : never;

/** A handler by name: enough to make it again in another thread. */
export interface HandlerRef {
  name: keyof Factories;
  args: unknown[];
}

/** The handler builders, bound to a probe: `H.echoPath()`, `H.constant(bytes)`, ... */
export type HandlerSet = { [K in keyof Factories]: (...args: Rest<Factories[K]>) => Handler };

const REF = Symbol("handler ref");

/** Makes the suite's handlers, each tagged with its {@link HandlerRef}. */
export function handlerSet(probe: Probe): HandlerSet {
  const set: Record<string, (...args: unknown[]) => Handler> = {};
  for (const name of Object.keys(FACTORIES) as (keyof Factories)[]) {
    set[name] = (...args: unknown[]) => {
      const handler = (FACTORIES[name] as (probe: Probe, ...args: unknown[]) => Handler)(probe, ...args);
      Object.defineProperty(handler, REF, { value: { name, args } satisfies HandlerRef });
      return handler;
    };
  }
  return set as unknown as HandlerSet;
}

/** The ref of a handler made by {@link handlerSet}, or undefined. */
export function refOf(handler: unknown): HandlerRef | undefined {
  return typeof handler === "function" ? (handler as unknown as Record<symbol, HandlerRef | undefined>)[REF] : undefined;
}

/** Makes the handler a ref names (in a worker), reporting through `probe`. */
export function rebuild(ref: HandlerRef, probe: Probe): Handler {
  const factory = FACTORIES[ref.name] as ((probe: Probe, ...args: unknown[]) => Handler) | undefined;
  if (factory === undefined) throw new Error(`no suite handler named ${JSON.stringify(ref.name)}`);
  return factory(probe, ...ref.args);
}
