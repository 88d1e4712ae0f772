/**
 * core-flood.ts - the app of test/ws-core.test.ts's inbound backpressure
 * cases, served by fasthttp in a process of its own (test/ws/serve.ts), so
 * that its RSS is the server's alone.
 *
 *   /pause          upgrades; open() calls ws.pause() (nothing is read until GET /resume)
 *   /block?ms=N     upgrades; the first message's handler busy-waits N ms (the whole
 *                   loop is stuck in JavaScript meanwhile, as a slow handler makes it)
 *   /async?max=N    upgrades; the message handler is async (it holds its message 5 ms) and
 *                   pauses the socket while N of them are in flight, resuming it when
 *                   they are down to N/2 (N = 0: it never pauses)
 *   GET /resume     resumes every paused socket; answers how many
 *   GET /stats      JSON: { pid, messages, bytes, outOfOrder, firstBad, maxInFlight, pauses }
 *
 * Each binary message starts with its sequence number (uint32, big-endian),
 * counted from 0 per connection; the app counts messages and bytes and notes
 * any that comes out of order.
 * @module
 */
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";

interface Conn {
  path: string;
  blockMs: number;
  next: number;
  /** /async: the most handlers in flight before it pauses, and those in flight now. */
  max: number;
  inFlight: number;
}

const paused = new Set<ServerWebSocket<Conn>>();
const stats = { pid: process.pid, messages: 0, bytes: 0, outOfOrder: 0, firstBad: "", maxInFlight: 0, pauses: 0 };

/** Upgrades /pause, /block and /async; answers /resume and /stats. */
export function fetch(req: Request, server: Server<Conn>): Response | undefined {
  const url = new URL(req.url);
  if (url.pathname === "/stats") return Response.json(stats);
  if (url.pathname === "/resume") {
    const n = paused.size;
    for (const ws of paused) ws.resume();
    paused.clear();
    return new Response(String(n));
  }
  const q = url.searchParams;
  const data: Conn = { path: url.pathname, blockMs: Number(q.get("ms") ?? 0), next: 0, max: Number(q.get("max") ?? 0), inFlight: 0 };
  if (server.upgrade(req, { data })) return undefined;
  return new Response("upgrade expected\n", { status: 400 });
}

/** The handlers. */
export const websocket: WebSocketHandler<Conn> = {
  maxPayloadLength: 1024 * 1024,
  open(ws) {
    if (ws.data.path === "/pause") {
      ws.pause();
      paused.add(ws);
    }
  },
  async message(ws, message) {
    const d = ws.data;
    if (d.blockMs > 0) {
      const until = Date.now() + d.blockMs;
      d.blockMs = 0;
      while (Date.now() < until) {
        // a slow handler: the loop runs nothing else meanwhile
      }
    }
    const b = message as Buffer;
    const seq = b.length >= 4 ? b.readUInt32BE(0) : -1;
    if (seq !== d.next && stats.outOfOrder++ === 0) stats.firstBad = `message ${d.next} came as ${seq} (${b.length} bytes)`;
    d.next = seq + 1;
    if (d.path === "/async") {
      d.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, d.inFlight);
      if (d.max > 0 && d.inFlight >= d.max && !ws.isPaused) {
        ws.pause();
        stats.pauses++;
      }
      await Bun.sleep(5); // the message is held meanwhile (as by a write to a slow store)
      d.inFlight--;
      if (ws.isPaused && d.inFlight <= d.max / 2) ws.resume();
    }
    stats.messages++;
    stats.bytes += b.length;
  },
};
