/**
 * The opening handshake (RFC 6455 §4.2): whether a request is a WebSocket
 * upgrade this server may accept, and the 101 that accepts it.
 *
 * Stricter than Bun.serve and `ws`, which upgrade an HTTP/1.0 request and
 * one whose `Connection` lacks the `upgrade` token: RFC 6455 §4.2.1 requires
 * HTTP/1.1 and that token, and RFC 9110 §7.8 says an Upgrade is only acted on
 * with it. A key must be base64 of 16 bytes; a version other than 13 is
 * refused with 426 and `Sec-WebSocket-Version: 13` (§4.4).
 * @module
 */

/** RFC 6455 §1.3: appended to the key before hashing. */
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** What the handshake needs to know of a request. */
export interface UpgradeRequest {
  method: string;
  http10: boolean;
  /** A `Connection` field holds the `upgrade` token (the scanner's REQ_UPGRADE, for a method other than CONNECT). */
  connectionUpgrade: boolean;
  header(name: string): string | undefined;
}

/** A request that can be upgraded: its key, the subprotocols and extensions it offers. */
export interface UpgradeOffer {
  key: string;
  protocols: string[];
  extensions: string | null;
}

/** Whether a comma-separated header holds `token` (case-insensitive). Only `Upgrade` is read here:
 * `Connection` the core's scanner has read already, every field of it (REQ_UPGRADE). */
function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  for (const part of value.split(",")) if (part.trim().toLowerCase() === token) return true;
  return false;
}

/** Whether `key` is base64 of exactly 16 bytes (24 characters, `==` padding). */
function validKey(key: string): boolean {
  return /^[A-Za-z0-9+/]{22}==$/.test(key);
}

/**
 * Checks a request for a WebSocket upgrade: the offer when it is a valid one,
 * "version" when all is right but `Sec-WebSocket-Version` is not 13 (answer
 * 426), or null when it is not a valid upgrade.
 */
export function checkUpgrade(req: UpgradeRequest): UpgradeOffer | "version" | null {
  if (req.method !== "GET" || req.http10) return null;
  if (!req.connectionUpgrade || !hasToken(req.header("upgrade"), "websocket")) return null;
  const key = req.header("sec-websocket-key");
  if (key === undefined || !validKey(key.trim())) return null;
  if (req.header("sec-websocket-version")?.trim() !== "13") return "version";
  const protocols: string[] = [];
  const p = req.header("sec-websocket-protocol");
  if (p !== undefined) for (const part of p.split(",")) if (part.trim() !== "") protocols.push(part.trim());
  return { key: key.trim(), protocols, extensions: req.header("sec-websocket-extensions") ?? null };
}

/** The Sec-WebSocket-Accept for a key (§4.2.2): base64 of SHA-1 of key + GUID. */
export function acceptKey(key: string): string {
  return new Bun.CryptoHasher("sha1").update(key + GUID).digest("base64");
}
