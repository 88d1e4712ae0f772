/**
 * Responses whose body is known without reading it.
 *
 * A `Response` does not tell how it was made: its `body` is a ReadableStream
 * whether it was built from a string or from a stream, and reading it to find
 * out consumes it (an endless stream, such as Server-Sent Events, would never
 * finish). Bun.serve knows natively; JavaScript does not. So, as
 * `@hono/node-server` does, the adapter replaces `globalThis.Response` with a
 * subclass that remembers what each response was made from. Instances are
 * ordinary native Responses (Bun.serve, `instanceof`, `clone()` all work);
 * the class costs about 45 ns per response (`bench/micro/adapter.ts`).
 *
 * A response the subclass did not make (from `fetch()`, `clone()`,
 * `Response.redirect()`, or a `Response` captured before the adapter was
 * loaded) is simply unknown: it is read as a stream, which is correct and a
 * few microseconds slower. `fetchHandler(fetch, { trackResponses: false })`
 * leaves the global alone.
 * @module
 */

/** What a known response's body was made from (-1: unknown, read it as a stream). */
export const Kind = {
  /** `null` or `undefined`: no body. */
  Null: 0,
  /** A string: kept, and written into the arena without reading the Response. */
  Text: 1,
  /** An ArrayBuffer or a typed array / DataView. */
  Bytes: 2,
  /** A Blob (a File, `Bun.file()`). */
  Blob: 3,
  /** FormData or URLSearchParams: the Response already carries their Content-Type. */
  Form: 4,
} as const;

/** The Content-Type Bun.serve sends for a body made from a string (and for an untyped Blob). */
export const TEXT_PLAIN = "text/plain;charset=utf-8";
/** The Content-Type Bun.serve sends for a body made from bytes. */
export const OCTET_STREAM = "application/octet-stream";

/** The native class (whatever `globalThis.Response` was when this module loaded). */
export const NativeResponse: typeof Response = globalThis.Response;

function kindOf(body: unknown): number {
  if (body === null || body === undefined) return Kind.Null;
  if (typeof body === "string") return Kind.Text;
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body) || body instanceof SharedArrayBuffer) return Kind.Bytes;
  if (body instanceof Blob) return Kind.Blob;
  if (body instanceof FormData || body instanceof URLSearchParams) return Kind.Form;
  return -1; // a ReadableStream, an async iterable, anything else: read it as a stream
}

/**
 * Whether `init` is a plain `{ status?, statusText?, headers? }` whose headers,
 * if any, are a plain record: the init the constructor may take apart.
 */
function isPlainInit(init: object): init is { status?: number; statusText?: string; headers?: Record<string, string> } {
  if (Object.getPrototypeOf(init) !== Object.prototype) return false; // a Response used as init, a class instance...
  for (const key in init) {
    if (key !== "status" && key !== "statusText" && key !== "headers") return false;
  }
  const headers = (init as { headers?: unknown }).headers;
  return headers === undefined || (headers !== null && typeof headers === "object" && Object.getPrototypeOf(headers) === Object.prototype);
}

/**
 * The `Response` the adapter installs. Only the constructor and `json()`
 * differ from the native class: they remember the body's kind, and they
 * hand Bun's constructor a smaller init. Bun reads an init object slowly
 * (about 0.9 µs for Hono's `{ status: undefined, headers: {...} }`, against
 * 0.35 µs for the same response made bare and given its headers after; see
 * `bench/micro/adapter.ts`), so for a body that derives no Content-Type
 * (a string's is added when written, not held in the headers) the status
 * goes in alone and a record's headers are appended one by one, which is
 * what the init would have done.
 */
class KnownResponse extends NativeResponse {
  #kind: number;
  #text: string | null;
  /** No headers: none were given, and `headers` has not been read (so none can have been added). */
  #bare = true;

  constructor(body?: ConstructorParameters<typeof Response>[0], init?: ResponseInit) {
    const kind = kindOf(body);
    if (init !== undefined && init !== null && kind >= Kind.Null && kind <= Kind.Bytes && isPlainInit(init)) {
      const { status, statusText, headers } = init;
      if (status === undefined) super(body, statusText === undefined ? undefined : { statusText });
      else super(body, statusText === undefined ? { status } : { status, statusText });
      if (headers !== undefined) {
        const own = this.headers;
        for (const name in headers) own.append(name, headers[name]!);
      }
    } else {
      super(body, init);
    }
    this.#kind = kind;
    this.#text = kind === Kind.Text ? (body as string) : null;
    if (init !== undefined && init !== null && (init as { headers?: unknown }).headers !== undefined) this.#bare = false;
  }

  /** The native getter; reading it may add headers, so the response is no longer known bare. */
  override get headers(): Headers {
    this.#bare = false;
    return super.headers;
  }

  /** `Response.json()`, made by this class so that its body is known too. */
  static override json(data: unknown, init?: ResponseInit): Response {
    const text = JSON.stringify(data);
    if (text === undefined) return NativeResponse.json(data, init); // the native error for undefined, symbols...
    const res = new KnownResponse(text, init);
    if (!res.headers.has("content-type")) res.headers.set("content-type", "application/json;charset=utf-8");
    return res;
  }

  /** `x instanceof Response` stays true for every native Response (from fetch(), clone()...). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this === KnownResponse) return value instanceof NativeResponse;
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }

  /** @internal The body's kind, or -1 when unknown (not made by this class, or a stream). */
  static _kind(res: Response): number {
    return #kind in res ? (res as KnownResponse).#kind : -1;
  }

  /** @internal Whether the response has no headers at all (see #bare). */
  static _bare(res: Response): boolean {
    return #kind in res && (res as KnownResponse).#bare;
  }

  /** @internal The string a Kind.Text body was made from. */
  static _text(res: Response): string {
    return (res as KnownResponse).#text!;
  }
}

/** The kind of `res`'s body, or -1 when it must be read as a stream. */
export const kindOfResponse: (res: Response) => number = KnownResponse._kind;
/** Whether `res` is known to have no headers (made without any, and `headers` never read). */
export const isBare: (res: Response) => boolean = KnownResponse._bare;
/** The string a {@link Kind.Text} response was made from. */
export const textOfResponse: (res: Response) => string = KnownResponse._text;

/** The Blob behind each stream that `Blob.prototype.stream()` made (Bun.file() too), once tracking is on. */
const streamBlobs = new WeakMap<ReadableStream, Blob>();
const nativeStream = Blob.prototype.stream;

/** The Blob a stream was made from by `blob.stream()`, if it was (Bun.serve sends such a body whole, typed). */
export function blobOfStream(stream: ReadableStream): Blob | undefined {
  return streamBlobs.get(stream);
}

/**
 * Installs the subclass as `globalThis.Response` (once per thread). Responses
 * made before stay unknown, which is only slower. A `Response` another
 * library installed after this module loaded is left in place.
 */
export function trackResponses(): void {
  if (globalThis.Response === NativeResponse) globalThis.Response = KnownResponse as unknown as typeof Response;
  if (Blob.prototype.stream === nativeStream) {
    // Bun.file()'s BunFile shares Blob's method; remembering the Blob costs one WeakMap entry per stream.
    Blob.prototype.stream = function stream(this: Blob, ...args: unknown[]): ReadableStream<Uint8Array> {
      const s = (nativeStream as (this: Blob, ...a: unknown[]) => ReadableStream<Uint8Array>).apply(this, args);
      streamBlobs.set(s, this);
      return s;
    } as typeof Blob.prototype.stream;
  }
}
