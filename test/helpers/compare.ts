/**
 * Comparing one app's answers on fasthttp and on Bun.serve (test/adapter.test.ts for Hono,
 * test/frameworks.test.ts for Elysia): the same raw request goes to both, each on its own
 * kept-alive connection, and the parsed responses must agree on status, the headers that matter
 * (everything but Date, Connection and the framing headers; Set-Cookie as a list, in order),
 * framing (one of Content-Length or chunked, consistent with the body; for HEAD, the same
 * Content-Length) and body.
 */
import { expect } from "bun:test";
import { Client, httpRequest, text, type HttpResponse, type RequestOptions } from "./net.ts";

/** The same request to both servers, parsed. */
export interface Pair {
  fast: HttpResponse;
  bun: HttpResponse;
}

/** One request on its own kept-alive connection; the response parsed (HEAD: without a body). */
export async function exchange(port: number, bytes: Uint8Array, head = false): Promise<HttpResponse> {
  const client = await Client.connect(port);
  try {
    return await client.request(bytes, { noBody: head, timeoutMs: 5000 });
  } finally {
    client.destroy();
  }
}

/** The framing a response used: "length" (with Content-Length equal to the body) or "chunked"; else a failure. */
export function framing(res: HttpResponse, head = false): "length" | "chunked" | "none" {
  const cl = res.headerList.filter(([n]) => n.toLowerCase() === "content-length");
  const te = res.headerList.filter(([n]) => n.toLowerCase() === "transfer-encoding");
  expect(cl.length + te.length).toBeLessThanOrEqual(1); // never both, never twice
  if (te.length === 1) {
    expect(te[0]![1].toLowerCase()).toBe("chunked");
    return "chunked";
  }
  if (cl.length === 1) {
    if (!head) expect(Number(cl[0]![1])).toBe(res.body.length);
    return "length";
  }
  return "none";
}

/** Header values by lower-case name, in order (Set-Cookie stays a list). */
export function all(res: HttpResponse, name: string): string[] {
  return res.headerList.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
}

/** The headers compared between the servers: everything but Date and the framing ones. */
export function comparable(res: HttpResponse): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [n, v] of res.headerList) {
    const name = n.toLowerCase();
    if (name === "date" || name === "content-length" || name === "transfer-encoding" || name === "connection") continue;
    (out[name] ??= []).push(v);
  }
  return out;
}

/**
 * Sends `method path` to both ports at once (with a Host of app.example:8080 and Accept: *\/*
 * unless the options give their own headers after them).
 */
export async function both(fastPort: number, bunPort: number, method: string, path: string, options: RequestOptions = {}): Promise<Pair> {
  const headers: [string, string][] = [["Host", "app.example:8080"], ["Accept", "*/*"]];
  if (Array.isArray(options.headers)) headers.push(...options.headers);
  else if (options.headers !== undefined) headers.push(...Object.entries(options.headers));
  const bytes = httpRequest(method, path, { ...options, headers });
  const head = method === "HEAD";
  const [f, b] = await Promise.all([exchange(fastPort, bytes, head), exchange(bunPort, bytes, head)]);
  return { fast: f, bun: b };
}

/** Asserts that both servers gave the same answer. */
export function expectSame({ fast: f, bun: b }: Pair, head = false): void {
  expect(f.status).toBe(b.status);
  expect(comparable(f)).toEqual(comparable(b));
  expect(framing(f, head)).toBe(framing(b, head));
  // HEAD: the Content-Length is the GET's (RFC 9110 §8.6), so it must agree too.
  if (head) expect(all(f, "content-length")).toEqual(all(b, "content-length"));
  expect(text(f.body)).toBe(text(b.body));
  expect(f.body).toEqual(b.body);
}
