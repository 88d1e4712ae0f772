/**
 * The app of the WebSocket API suite (test/ws-api.test.ts), served unchanged
 * by Bun.serve and by fasthttp (test/ws/serve.ts). It is instrumented: every
 * handler call, with its arguments, and the return value of every call the
 * app makes on the server or the socket is noted under the connection's id
 * (`?id=` of the upgrade URL), and `GET /log?id=` answers that list as JSON.
 * The test compares the lists the two servers make.
 *
 * The upgrade URL says what to do: `/ws?id=..` upgrades with
 * `data: { id, count: 0 }`; `proto=b` answers that subprotocol; `extra=1`
 * adds headers to the 101 (X-Extra, Set-Cookie); `data=none` passes no
 * data; `twice=1` calls upgrade() again; `async=1` upgrades after an await;
 * `respond=1` returns a Response after upgrading; `bt=` sets binaryType in
 * open; `topics=a,b` subscribes in open; `open=<action>` runs an action in
 * open. A text message `do:<action>` runs the action in message. The actions
 * are in {@link ACTIONS}.
 * Other routes: `/pending` (server.pendingWebSockets), `/publish?topic=&msg=`
 * (server.subscriberCount, then server.publish), `/save` and `/late` (keep a
 * request, answer it, then upgrade it).
 *
 * `WS_API_APP` picks the `websocket` config: "default", "tight"
 * (backpressureLimit 1024, publishToSelf), "closing" (backpressureLimit 1024,
 * closeOnBackpressureLimit) or "none" (no `websocket` at all).
 * @module
 */
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";

/** What `ws.data` holds (absent with `data=none`). */
interface Data {
  id: string;
  count: number;
  drained?: boolean;
}

type Ws = ServerWebSocket<Data | undefined>;

/** What the app observed, by connection id. */
const log = new Map<string, unknown[]>();
/** The objects passed as `data`, to tell whether `ws.data` is the same object. */
const given = new WeakSet<object>();
/** The socket each connection's open handler saw, to tell whether later handlers get the same one. */
const sockets = new Map<string, Ws>();
/** Ids of upgrades made without data, in order: their open handler takes the first. */
const noDataIds: string[] = [];
/** Requests kept by `/save`, by id, for `/late` to upgrade after they were answered. */
const saved = new Map<string, Request>();
/** The query of each upgrade, by id, for its open handler. */
const openParams = new Map<string, URLSearchParams>();
/** The server surface the last fetch call got (the socket handlers have no other way to it). */
let server: Server<Data | undefined> | undefined;

function note(id: string, ...event: unknown[]): void {
  let list = log.get(id);
  if (list === undefined) log.set(id, (list = []));
  list.push(event);
}

/** The connection id of a socket: from its data, or (without data) the one its upgrade queued. */
const idOf = new WeakMap<Ws, string>();
function id(ws: Ws): string {
  return ws.data?.id ?? idOf.get(ws) ?? "unknown";
}

/** What a message or a ping/pong payload is, as JSON can tell it. */
function describe(value: unknown): Record<string, unknown> {
  if (typeof value === "string") return { type: "string", length: value.length, text: value.slice(0, 64) };
  const ctor = (value as object | null)?.constructor?.name ?? String(value);
  if (value instanceof Blob) return { type: ctor, size: value.size };
  let bytes: Uint8Array | undefined;
  if (value instanceof ArrayBuffer) bytes = new Uint8Array(value);
  else if (ArrayBuffer.isView(value)) bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return {
    type: ctor,
    isBuffer: Buffer.isBuffer(value),
    byteLength: (value as { byteLength?: number }).byteLength,
    bytes: bytes === undefined ? null : [...bytes.subarray(0, 16)],
  };
}

/** Return values, in runs: `[value, how many times]`. */
function runs(values: number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const v of values) {
    const last = out[out.length - 1];
    if (last !== undefined && last[0] === v) last[1]++;
    else out.push([v, 1]);
  }
  return out;
}

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

/** What the app can be told to do, in open (`open=`) or in message (`do:`). Each notes what its calls returned. */
const ACTIONS: Record<string, (ws: Ws) => void> = {
  sends(ws) {
    const backing = bytes(0, 1, 2, 3, 4, 5, 6, 7);
    note(id(ws), "sends", {
      send: ws.send("hi"),
      sendText: ws.sendText("hey"),
      sendBinary: ws.sendBinary(bytes(1, 2, 3)),
      arrayBuffer: ws.send(new ArrayBuffer(5)),
      uint8Array: ws.send(new Uint8Array(6)),
      buffer: ws.send(Buffer.from("buffer!")),
      dataView: ws.send(new DataView(new ArrayBuffer(8))),
      view: ws.send(backing.subarray(2, 5)),
      blob: ws.send(new Blob(["blob!"])),
      utf8: ws.send("h\u00e9llo"),
      empty: ws.send(""),
      medium: ws.send("m".repeat(200)),
      large: ws.send("l".repeat(70_000)),
      buffered: ws.getBufferedAmount(),
    });
  },
  cork(ws) {
    let inside: unknown;
    const returned = ws.cork((w) => {
      inside = w === ws;
      w.send("c1");
      w.sendText("c2");
      w.sendBinary(bytes(99, 51));
      return "corked";
    });
    note(id(ws), "cork", { returned, sameSocket: inside, buffered: ws.getBufferedAmount() });
  },
  close(ws) {
    ws.close(4000, "bye");
    note(id(ws), "after close", { readyState: ws.readyState, send: ws.send("z"), subscribe: ws.subscribe("late") });
  },
  "close-default"(ws) {
    ws.close();
    note(id(ws), "after close", { readyState: ws.readyState });
  },
  "close-1006"(ws) {
    ws.close(1006);
    note(id(ws), "after close", { readyState: ws.readyState });
  },
  "close-long"(ws) {
    ws.close(4001, "\u00e9".repeat(100)); // 200 bytes of UTF-8: more than a close frame holds
    note(id(ws), "after close", { readyState: ws.readyState });
  },
  terminate(ws) {
    ws.terminate();
    note(id(ws), "after terminate", { readyState: ws.readyState, send: ws.send("z") });
  },
  ping(ws) {
    note(id(ws), "ping sent", { ping: ws.ping("pd"), pong: ws.pong("qd"), empty: ws.ping(), bytes: ws.ping(bytes(1, 2, 3)) });
  },
  subs(ws) {
    const sorted = (): string[] => [...ws.subscriptions].sort();
    const steps: unknown[] = [];
    steps.push(["initial", sorted()]);
    steps.push(["subscribe a", ws.subscribe("a")]);
    steps.push(["subscribe b", ws.subscribe("b")]);
    steps.push(["subscribe a again", ws.subscribe("a")]);
    steps.push(["subscriptions", sorted(), ws.subscriptions.length]);
    steps.push(["isSubscribed a", ws.isSubscribed("a"), "isSubscribed c", ws.isSubscribed("c")]);
    steps.push(["unsubscribe b", ws.unsubscribe("b")]);
    steps.push(["unsubscribe c", ws.unsubscribe("c")]);
    steps.push(["subscriptions", sorted(), "isSubscribed b", ws.isSubscribed("b")]);
    steps.push(["is an array", Array.isArray(ws.subscriptions), "fresh each time", ws.subscriptions !== ws.subscriptions]);
    note(id(ws), "subs", steps);
  },
  publish(ws) {
    note(id(ws), "published", {
      publish: ws.publish("room", "hello"),
      publishText: ws.publishText("room", "hi"),
      publishBinary: ws.publishBinary("room", bytes(1, 2, 3, 4)),
      server: server?.publish("room", "abc"),
      subscriberCount: server?.subscriberCount("room"),
    });
  },
  count(ws) {
    if (ws.data !== undefined) ws.send(String(ws.data.count));
    note(id(ws), "count", { count: ws.data?.count, sameSocket: sockets.get(id(ws)) === ws });
  },
  state(ws) {
    note(id(ws), "state", { readyState: ws.readyState, remoteAddress: ws.remoteAddress, binaryType: ws.binaryType, pending: server?.pendingWebSockets });
  },
  flood(ws) {
    // To a client that does not read: past the kernel's buffers, then past backpressureLimit.
    const big = "f".repeat(64 * 1024);
    const sent: number[] = [];
    const buffered: number[] = [];
    for (let i = 0; i < 300 && ws.readyState === 1; i++) {
      sent.push(ws.send(big));
      buffered.push(ws.getBufferedAmount());
    }
    note(id(ws), "flood", {
      runs: runs(sent),
      bufferedFirst: buffered[0],
      // How much the kernel took before backpressure depends on its buffers, not on the server: only whether some is left.
      bufferedLast: buffered[buffered.length - 1]! > 0,
      readyState: ws.readyState,
    });
    note(id(ws), "under backpressure", { send: ws.send("a"), sendText: ws.sendText("b"), ping: ws.ping("c"), buffered: ws.getBufferedAmount() > 0 });
  },
  throw() {
    throw new Error("boom");
  },
};

function act(ws: Ws, name: string): void {
  const action = ACTIONS[name];
  if (action === undefined) note(id(ws), "no such action", name);
  else action(ws);
}

/** The `websocket` handlers, one set for every config. */
const handlers: WebSocketHandler<Data | undefined> = {
  open(ws) {
    if (ws.data === undefined) {
      const queued = noDataIds.shift();
      if (queued !== undefined) idOf.set(ws, queued);
    }
    const key = id(ws);
    sockets.set(key, ws);
    note(key, "open", {
      dataType: typeof ws.data,
      data: ws.data ?? null,
      sameData: ws.data !== undefined && given.has(ws.data),
      readyState: ws.readyState,
      remoteAddress: ws.remoteAddress,
      binaryType: ws.binaryType,
      pendingWebSockets: server?.pendingWebSockets,
    });
    const params = openParams.get(key);
    if (params === undefined) return;
    const bt = params.get("bt");
    if (bt !== null) {
      ws.binaryType = bt as "arraybuffer";
      note(key, "binaryType", ws.binaryType);
    }
    const topics = params.get("topics");
    if (topics !== null) for (const t of topics.split(",")) note(key, "subscribe", t, ws.subscribe(t));
    const action = params.get("open");
    if (action !== null) act(ws, action);
  },
  message(ws, message) {
    const key = id(ws);
    note(key, "message", describe(message));
    if (ws.data !== undefined) ws.data.count++;
    if (typeof message === "string" && message.startsWith("do:")) act(ws, message.slice(3));
  },
  close(ws, code, reason) {
    note(id(ws), "close", {
      code,
      reason,
      readyState: ws.readyState,
      subscriptions: [...ws.subscriptions].sort(),
      send: ws.send("late"),
      count: ws.data?.count,
      sameSocket: sockets.get(id(ws)) === ws,
    });
    sockets.delete(id(ws));
  },
  drain(ws) {
    const entry: Record<string, unknown> = { buffered: ws.getBufferedAmount(), readyState: ws.readyState };
    if (ws.data !== undefined && ws.data.drained !== true) {
      ws.data.drained = true;
      entry.send = ws.send("drained");
    }
    note(id(ws), "drain", entry);
  },
  ping(ws, data) {
    note(id(ws), "ping", describe(data));
  },
  pong(ws, data) {
    note(id(ws), "pong", describe(data));
  },
  error(error, ws) {
    note(id(ws), "error", { message: error.message, readyState: ws.readyState });
  },
};

const config = process.env.WS_API_APP ?? "default";

/** The `websocket` config: undefined for "none". */
export const websocket: WebSocketHandler<Data | undefined> | undefined =
  config === "none"
    ? undefined
    : config === "tight"
      ? { ...handlers, backpressureLimit: 1024, publishToSelf: true }
      : config === "closing"
        ? { ...handlers, backpressureLimit: 1024, closeOnBackpressureLimit: true }
        : handlers;

/** Calls `server.upgrade`, noting what it returned or what it threw. */
function upgrade(key: string, request: Request, options?: { data?: Data; headers?: Record<string, string> }): boolean {
  try {
    const ok = server!.upgrade(request, options as never);
    note(key, "upgrade returned", ok);
    return ok;
  } catch (e) {
    note(key, "upgrade threw", (e as Error).name, /websocket/i.test((e as Error).message));
    return false;
  }
}

/** The app: the upgrade, and the routes the test reads the app's observations from. */
export async function fetch(request: Request, srv: Server<Data | undefined>): Promise<Response | undefined> {
  server = srv;
  const url = new URL(request.url);
  const key = url.searchParams.get("id") ?? "none";
  switch (url.pathname) {
    case "/log":
      return Response.json(log.get(key) ?? []);
    case "/pending":
      return Response.json(srv.pendingWebSockets);
    case "/publish": {
      const topic = url.searchParams.get("topic") ?? "";
      const count = srv.subscriberCount(topic);
      return Response.json({ count, sent: srv.publish(topic, url.searchParams.get("msg") ?? "") });
    }
    case "/save":
      saved.set(key, request);
      return new Response("saved");
    case "/late": {
      const ok = upgrade(key, saved.get(key)!, { data: { id: key, count: 0 } });
      return Response.json(ok);
    }
    case "/ws":
      break;
    default:
      return new Response("not found", { status: 404 });
  }
  const p = url.searchParams;
  openParams.set(key, p);
  if (p.get("async") === "1") await Bun.sleep(5);
  const headers: Record<string, string> = {};
  if (p.get("proto") !== null) headers["Sec-WebSocket-Protocol"] = p.get("proto")!;
  if (p.get("extra") === "1") {
    headers["X-Extra"] = "yes";
    headers["Set-Cookie"] = "s=1";
  }
  let ok: boolean;
  if (p.get("data") === "none") {
    noDataIds.push(key);
    ok = upgrade(key, request, Object.keys(headers).length > 0 ? { headers } : undefined);
    if (!ok) noDataIds.pop();
  } else {
    const data: Data = { id: key, count: 0 };
    given.add(data);
    ok = upgrade(key, request, { data, headers });
  }
  if (p.get("twice") === "1") upgrade(key, request, { data: { id: key, count: 100 } });
  if (ok) return p.get("respond") === "1" ? new Response("ignored", { status: 200 }) : undefined;
  return new Response("not a WebSocket request", { status: 400 });
}
