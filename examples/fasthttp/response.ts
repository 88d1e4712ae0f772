/**
 * response.ts - builds complete raw HTTP/1.1 responses (status line, headers, body) as bytes.
 *
 * @example
 * json(201, { id: 1 });        // HTTP/1.1 201 Created, Content-Type: application/json
 * text(404, "Not Found\n");
 */
const encoder = new TextEncoder();

const REASONS: Record<number, string> = {
  200: "OK",
  201: "Created",
  400: "Bad Request",
  404: "Not Found",
  500: "Internal Server Error",
};

/** A complete response with the given status, Content-Type and body. */
export function respond(status: number, contentType: string, body: string | Uint8Array): Uint8Array {
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  const head =
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Unknown"}\r\n` +
    `Content-Type: ${contentType}\r\n` +
    `Content-Length: ${bytes.length}\r\n\r\n`;
  const out = new Uint8Array(head.length + bytes.length);
  encoder.encodeInto(head, out); // the head is ASCII: one byte per character
  out.set(bytes, head.length);
  return out;
}

/** A plain-text response. */
export function text(status: number, body: string): Uint8Array {
  return respond(status, "text/plain; charset=utf-8", body);
}

/** A JSON response; Content-Length counts the UTF-8 bytes, not the characters. */
export function json(status: number, value: unknown): Uint8Array {
  return respond(status, "application/json", JSON.stringify(value) + "\n");
}

/** The same response with its body cut off (for HEAD): headers, Content-Length included, unchanged. */
export function withoutBody(response: Uint8Array): Uint8Array {
  for (let i = 0; i + 3 < response.length; i++) {
    if (response[i] === 13 && response[i + 1] === 10 && response[i + 2] === 13 && response[i + 3] === 10) {
      return response.subarray(0, i + 4);
    }
  }
  return response;
}
