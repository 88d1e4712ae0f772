/**
 * Counts complete HTTP/1.1 responses in a byte stream without building them:
 * the status of each and its Content-Length framing, nothing else. For load
 * and soak clients where thousands of connections or millions of responses
 * make test/helpers/net.ts's full parser too heavy. Responses from fasthttp
 * always carry Content-Length; a head without one is taken to have no body.
 */
const CRLFCRLF = Buffer.from("\r\n\r\n");

export class ResponseCounter {
  #buf: Buffer = Buffer.alloc(0);
  /** Complete responses seen. */
  count = 0;
  /** How many had each status. */
  statuses = new Map<number, number>();
  /** Bytes that could not be a response (the stream is then hopeless). */
  garbage = false;

  /** Feeds bytes; returns how many responses they completed. */
  push(chunk: Uint8Array): number {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : Buffer.from(chunk);
    let done = 0;
    let at = 0;
    for (;;) {
      const end = this.#buf.indexOf(CRLFCRLF, at);
      if (end < 0) break;
      if (this.#buf.toString("latin1", at, at + 5) !== "HTTP/") {
        this.garbage = true;
        break;
      }
      const head = this.#buf.toString("latin1", at, end);
      const status = Number(head.slice(9, 12));
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const total = end + 4 - at + (m ? Number(m[1]) : 0);
      if (this.#buf.length - at < total) break;
      at += total;
      done++;
      this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    }
    this.#buf = at > 0 ? this.#buf.subarray(at) : this.#buf;
    if (this.#buf.length === 0) this.#buf = Buffer.alloc(0);
    this.count += done;
    return done;
  }
}
