/**
 * `ServerConfig`: the options, their defaults, and eager validation. A bad
 * value throws a TypeError or RangeError that names the field and the value.
 * @module
 */
import type { HttpRequest } from "./request.ts";

/** A request handler: the response bytes, a promise of them, or a throw (500). */
export type Handler = (req: HttpRequest) => Uint8Array | Promise<Uint8Array>;

/** Options of {@link newServer}. */
export interface ServerConfig {
  /** Handles every request. Bytes starting with `HTTP/` are sent as they are; other bytes are the body of a `200 OK`. */
  handler: Handler;
  /** TCP port; `0` picks a free one (see `server.port`). Default 3000. */
  port?: number;
  /** Address or name to bind. Default `"::"`: every interface, IPv4 and IPv6. */
  host?: string;
  /** Largest request head in bytes; a larger one gets 431 (414 while still in the request-target). Default 8192. */
  maxHeaderSize?: number;
  /** Largest request body in bytes; a larger one gets 413. Default 16 MiB. */
  maxRequestBodySize?: number;
  /** Listen backlog. Default 1024. */
  backlog?: number;
  /** Set SO_REUSEPORT, so several servers can share the port. Default false. */
  reusePort?: boolean;
  /** Seconds a request head may take to arrive, from its first byte; then 408 and close (the slowloris defence). 0: no limit. Default 10. */
  headerTimeout?: number;
  /** Seconds a keep-alive connection may sit idle (or a request body stall) before it is closed. 0: never. Default 10, as Bun.serve. */
  idleTimeout?: number;
  /** Seconds a response may wait on a peer that stopped reading before the connection is dropped. 0: never. Default 30. */
  writeTimeout?: number;
  /** Most open connections; past it a new connection gets 503 and is closed. 0: no cap. Default 0. */
  maxConnections?: number;
  /** Size of one arena slab in bytes (a multiple of 4096). Default 16384. */
  arenaSlabSize?: number;
  /** Most slabs the arena pool may hold. Default 4096. */
  arenaMaxSlabs?: number;
}

/** A config with every default filled in. */
export type ResolvedConfig = Required<ServerConfig>;

const KNOWN = new Set([
  "handler",
  "port",
  "host",
  "maxHeaderSize",
  "maxRequestBodySize",
  "backlog",
  "reusePort",
  "arenaSlabSize",
  "arenaMaxSlabs",
  "headerTimeout",
  "idleTimeout",
  "writeTimeout",
  "maxConnections",
]);

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "function") return "a function";
  if (typeof v === "bigint") return `${v}n`;
  try {
    return String(JSON.stringify(v) ?? v);
  } catch {
    return String(v);
  }
}

function int(cfg: ServerConfig, name: keyof ServerConfig, def: number, min: number, max: number): number {
  const v = (cfg as unknown as Record<string, unknown>)[name];
  if (v === undefined) return def;
  if (typeof v !== "number" || !Number.isInteger(v)) {
    throw new TypeError(`fasthttp: ${name} must be an integer from ${min} to ${max} (got ${show(v)})`);
  }
  if (v < min || v > max) {
    throw new RangeError(`fasthttp: ${name} must be an integer from ${min} to ${max} (got ${show(v)})`);
  }
  return v;
}

function seconds(cfg: ServerConfig, name: keyof ServerConfig, def: number): number {
  const v = (cfg as unknown as Record<string, unknown>)[name];
  if (v === undefined) return def;
  if (typeof v !== "number" || Number.isNaN(v)) {
    throw new TypeError(`fasthttp: ${name} must be a number of seconds from 0 to 86400 (got ${show(v)})`);
  }
  if (v < 0 || v > 86400) {
    throw new RangeError(`fasthttp: ${name} must be a number of seconds from 0 to 86400 (got ${show(v)})`);
  }
  return v;
}

/** Validates a config and fills in the defaults. */
export function resolveConfig(cfg: ServerConfig): ResolvedConfig {
  if (cfg === null || typeof cfg !== "object") {
    throw new TypeError(`fasthttp: newServer needs a config object (got ${show(cfg)})`);
  }
  for (const k of Object.keys(cfg)) {
    if (!KNOWN.has(k)) throw new TypeError(`fasthttp: unknown option ${JSON.stringify(k)} (got ${show((cfg as never)[k])})`);
  }
  if (typeof cfg.handler !== "function") {
    throw new TypeError(`fasthttp: handler must be a function (got ${show(cfg.handler)})`);
  }
  const host = cfg.host ?? "::";
  if (typeof host !== "string" || host.length === 0 || host.includes("\0")) {
    throw new TypeError(`fasthttp: host must be a non-empty string (got ${show(cfg.host)})`);
  }
  if (cfg.reusePort !== undefined && typeof cfg.reusePort !== "boolean") {
    throw new TypeError(`fasthttp: reusePort must be a boolean (got ${show(cfg.reusePort)})`);
  }
  const arenaSlabSize = int(cfg, "arenaSlabSize", 16384, 4096, 1 << 24);
  if (arenaSlabSize % 4096 !== 0) {
    throw new RangeError(`fasthttp: arenaSlabSize must be a multiple of 4096 (got ${arenaSlabSize})`);
  }
  const arenaMaxSlabs = int(cfg, "arenaMaxSlabs", 4096, 16, 1 << 20);
  if (arenaSlabSize * arenaMaxSlabs > 2 ** 31 - 4096) {
    throw new RangeError(
      `fasthttp: arenaSlabSize × arenaMaxSlabs must stay under 2 GiB (got ${arenaSlabSize} × ${arenaMaxSlabs})`,
    );
  }
  return {
    handler: cfg.handler,
    port: int(cfg, "port", 3000, 0, 65535),
    host,
    maxHeaderSize: int(cfg, "maxHeaderSize", 8192, 256, 1 << 20),
    maxRequestBodySize: int(cfg, "maxRequestBodySize", 16 * 1024 * 1024, 0, 2 ** 40),
    backlog: int(cfg, "backlog", 1024, 1, 65535),
    reusePort: cfg.reusePort ?? false,
    arenaSlabSize,
    arenaMaxSlabs,
    headerTimeout: seconds(cfg, "headerTimeout", 10),
    idleTimeout: seconds(cfg, "idleTimeout", 10),
    writeTimeout: seconds(cfg, "writeTimeout", 30),
    maxConnections: int(cfg, "maxConnections", 0, 0, 1 << 24),
  };
}
