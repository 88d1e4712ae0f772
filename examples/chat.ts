/**
 * chat.ts - a chat room over WebSocket pub/sub, with Bun.serve's API.
 *
 * `GET /` serves a page whose script connects to `/ws?name=...` and shows what the room says.
 * `/ws` upgrades (`server.upgrade(req, { data })`); each connection subscribes to the topic
 * "chat", and everything said is published to it with `server.publish`, so the sender sees
 * its own message as the others do. Joins and leaves are announced with the number of people
 * in the room (`server.subscriberCount`). Messages go out as JSON:
 * `{ type: "join" | "leave" | "message", name, text?, members? }`.
 *
 * `fetch` and `websocket` are exported and know nothing of the server that runs them: run as
 * a program, this file serves them with fasthttp's `newServer({ port, fetch, websocket })`;
 * imported, `Bun.serve({ fetch, websocket })` serves them unchanged (test/ws-browser.test.ts
 * runs it on both).
 *
 * @example
 * bun examples/chat.ts              # listens on port 3000; open http://localhost:3000/ in two tabs
 * PORT=8080 bun examples/chat.ts    # or on $PORT
 */
import type { ServerWebSocket, WebSocketHandler } from "bun";
import { newServer } from "../src/index.ts";

const TOPIC = "chat";
const MAX_NAME = 32;
const MAX_TEXT = 2000;

/** The part of the server (Bun's or fasthttp's) that the chat uses. */
export interface ChatServer {
  upgrade(request: Request, options?: { data?: ChatData }): boolean;
  publish(topic: string, data: string): number;
  subscriberCount(topic: string): number;
}

/** What each connection carries (`ws.data`). */
export interface ChatData {
  name: string;
  server: ChatServer;
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>fasthttp: chat</title>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; margin: 2rem; max-width: 40rem; }
  #status { color: #555; }
  #log { list-style: none; padding: 0; }
  #log .notice { color: #777; font-style: italic; }
  #log b { margin-right: .4em; }
  form { display: flex; gap: .5rem; }
  #text { flex: 1; }
</style>
</head>
<body>
<h1>Chat</h1>
<p id="status">connecting…</p>
<ul id="log"></ul>
<form id="form">
  <input id="text" autocomplete="off" placeholder="Say something" maxlength="${MAX_TEXT}" disabled>
  <button id="send" disabled>Send</button>
</form>
<script>
  const params = new URLSearchParams(location.search);
  const name = params.get("name") || "guest-" + Math.random().toString(36).slice(2, 6);
  const status = document.getElementById("status");
  const log = document.getElementById("log");
  const text = document.getElementById("text");
  const send = document.getElementById("send");
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(scheme + location.host + "/ws?name=" + encodeURIComponent(name));

  function line(cls, who, what) {
    const li = document.createElement("li");
    if (cls) li.className = cls;
    if (who) {
      const b = document.createElement("b");
      b.textContent = who;
      li.append(b);
    }
    li.append(what); // text, never HTML
    log.append(li);
  }
  ws.onopen = () => {
    status.textContent = "connected as " + name;
    text.disabled = send.disabled = false;
    text.focus();
  };
  ws.onclose = (e) => {
    status.textContent = "disconnected (" + e.code + ")";
    text.disabled = send.disabled = true;
  };
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type === "message") line("message", m.name, m.text);
    else line("notice", "", m.name + (m.type === "join" ? " joined" : " left") + " (" + m.members + " here)");
  };
  document.getElementById("form").onsubmit = (e) => {
    e.preventDefault();
    if (text.value.trim() === "") return;
    ws.send(text.value);
    text.value = "";
  };
</script>
</body>
</html>
`;

/** A display name from the query: trimmed, at most MAX_NAME characters, "guest" if empty. */
function nameOf(url: URL): string {
  const name = (url.searchParams.get("name") ?? "").trim().slice(0, MAX_NAME);
  return name === "" ? "guest" : name;
}

/** The page at `/`, the WebSocket at `/ws`, 404 elsewhere. */
export function fetch(req: Request, server: ChatServer): Response | undefined {
  const url = new URL(req.url);
  if (url.pathname === "/ws") {
    if (server.upgrade(req, { data: { name: nameOf(url), server } })) return undefined; // the response is the 101
    return new Response("this is a WebSocket endpoint\n", { status: 426, headers: { Upgrade: "websocket" } });
  }
  if (url.pathname === "/" && (req.method === "GET" || req.method === "HEAD")) {
    return new Response(PAGE, { headers: { "Content-Type": "text/html; charset=utf-8" } });
  }
  return new Response(`${url.pathname} not found\n`, { status: 404, headers: { "Content-Type": "text/plain; charset=utf-8" } });
}

/** The room: subscribe on open, publish what is said, announce joins and leaves. */
export const websocket: WebSocketHandler<ChatData> = {
  maxPayloadLength: 16 * 1024, // a chat line, not a file: larger messages close the connection (1009)
  idleTimeout: 120,
  open(ws: ServerWebSocket<ChatData>) {
    ws.subscribe(TOPIC);
    const { name, server } = ws.data;
    server.publish(TOPIC, JSON.stringify({ type: "join", name, members: server.subscriberCount(TOPIC) }));
  },
  message(ws: ServerWebSocket<ChatData>, message: string | Buffer) {
    if (typeof message !== "string") return; // the page sends text only
    const text = message.slice(0, MAX_TEXT);
    ws.data.server.publish(TOPIC, JSON.stringify({ type: "message", name: ws.data.name, text }));
  },
  close(ws: ServerWebSocket<ChatData>) {
    // A closed socket is no longer subscribed; tell the ones left.
    const { name, server } = ws.data;
    server.publish(TOPIC, JSON.stringify({ type: "leave", name, members: server.subscriberCount(TOPIC) }));
  },
};

if (import.meta.main) {
  const server = newServer({ port: Number(process.env.PORT ?? 3000), fetch, websocket });
  const running = server.run(); // binds before it returns; settles once the server has stopped
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, async () => {
      console.log(`${signal}: stopping...`);
      await server.stop(true); // closes the WebSockets too
    });
  }
  console.log(`Listening on http://localhost:${server.port}/`);
  try {
    await running;
    console.log("Stopped.");
  } catch (err) {
    console.error(`chat: ${(err as Error).message}`);
    process.exit(1);
  }
}
