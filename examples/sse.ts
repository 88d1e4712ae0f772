/**
 * sse.ts - live Server-Sent Events over a manual takeover.
 *
 * `GET /` serves a page whose script opens an `EventSource` to `/events` and lists each event
 * as it arrives. `/events` takes the connection over (`req.takeover`): the handler writes the
 * response head itself, then one event every 500 ms, until the browser goes away (the timer is
 * cleared when `conn.closed` resolves). The body is delimited by the connection's close, as an
 * event stream may be; a browser that reconnects sends `Last-Event-ID` and the count goes on
 * from there. A client that stops reading is not buffered for: a tick is skipped while the
 * previous event is still waiting for the socket.
 *
 * Taken-over connections are out of HTTP's hands, so `server.stop()` closes them at once:
 * SIGINT or SIGTERM stops the server without waiting for the streams to end.
 *
 * @example
 * bun examples/sse.ts              # listens on port 3000; open http://localhost:3000/
 * PORT=8080 bun examples/sse.ts    # or on $PORT
 * curl -N http://localhost:3000/events
 */
import { newServer, type Connection, type HttpRequest } from "../src/index.ts";

const PERIOD_MS = 500;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>fasthttp: Server-Sent Events</title>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; margin: 2rem; }
  #status { color: #555; }
  li { font-family: ui-monospace, monospace; }
</style>
</head>
<body>
<h1>Server-Sent Events</h1>
<p id="status">connecting…</p>
<p><span id="count">0</span> events</p>
<ol id="events"></ol>
<script>
  const status = document.getElementById("status");
  const list = document.getElementById("events");
  const count = document.getElementById("count");
  const source = new EventSource("/events");
  source.onopen = () => { status.textContent = "open"; };
  source.onerror = () => { status.textContent = source.readyState === EventSource.CLOSED ? "closed" : "reconnecting…"; };
  source.onmessage = (e) => {
    const { n, time } = JSON.parse(e.data);
    const li = document.createElement("li");
    li.textContent = "event " + n + " (id " + e.lastEventId + ") at " + time;
    list.append(li);
    count.textContent = String(list.children.length);
  };
</script>
</body>
</html>
`;

/** The response head: no Content-Length, no chunked coding: the stream ends when the connection does. */
function eventsHead(): string {
  return (
    "HTTP/1.1 200 OK\r\n" +
    `Date: ${new Date().toUTCString()}\r\n` +
    "Content-Type: text/event-stream; charset=utf-8\r\n" +
    "Cache-Control: no-cache\r\n" +
    "Connection: close\r\n" +
    "X-Accel-Buffering: no\r\n" + // tells a proxy such as nginx not to buffer the stream
    "\r\n"
  );
}

/** One event in SSE framing: an id, each line of the data on its own `data:` line, a blank line. */
function sseEvent(id: number, data: string): string {
  return `id: ${id}\n` + data.split(/\r\n|\r|\n/).map((line) => `data: ${line}\n`).join("") + "\n";
}

/** Streams events on a taken-over connection until the client goes. */
function streamEvents(conn: Connection, firstId: number, head: boolean): void {
  // retry: how long a browser waits before it reconnects; the comment line opens the stream at once.
  void conn.write(eventsHead() + (head ? "" : `retry: 2000\n: stream of ${PERIOD_MS} ms ticks\n\n`));
  if (head) {
    conn.close();
    return;
  }
  conn.ondata = () => {}; // a client sends nothing more on an event stream; ignore it if it does
  let id = firstId;
  let waiting = false;
  const timer = setInterval(() => {
    if (waiting) return; // the client is not reading: skip this tick rather than buffer for it
    id++;
    waiting = true;
    conn.write(sseEvent(id, JSON.stringify({ n: id, time: new Date().toISOString() }))).then(
      () => (waiting = false),
      () => clearInterval(timer), // gone: conn.closed resolves too
    );
  }, PERIOD_MS);
  void conn.closed.then(() => {
    clearInterval(timer);
    console.log(`event stream on fd ${conn.fd} closed after event ${id}`);
  });
}

function handler(req: HttpRequest): Uint8Array {
  const method = req.string(req.method);
  const path = req.string(req.path).split("?", 1)[0]!;
  const get = method === "GET" || method === "HEAD";
  if (path === "/" && get) return req.response(200, PAGE, { "Content-Type": "text/html; charset=utf-8" });
  if (path === "/events" && get) {
    // Read what is needed from the request now: its memory is released at the hand-over.
    const last = Number.parseInt(req.header("last-event-id") ?? "", 10);
    const firstId = Number.isSafeInteger(last) && last >= 0 ? last : 0;
    const head = method === "HEAD";
    return req.takeover((conn) => streamEvents(conn, firstId, head));
  }
  if (path === "/" || path === "/events") return req.response(405, "Method Not Allowed\n", { Allow: "GET, HEAD" });
  return req.response(404, `${path} not found\n`, { "Content-Type": "text/plain; charset=utf-8" });
}

const server = newServer({ port: Number(process.env.PORT ?? 3000), handler });
const running = server.run(); // binds before it returns; settles once the server has stopped

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    console.log(`${signal}: stopping...`);
    await server.stop(); // closes the event streams, finishes other in-flight responses
  });
}

if (server.port > 0) console.log(`Listening on http://localhost:${server.port}/`);
try {
  await running;
  console.log("Stopped.");
} catch (err) {
  console.error(`sse: ${(err as Error).message}`);
  process.exit(1);
}
