// Raw-byte request cases for judging the server's RFC 9112 strictness (black box).
//
// Every case is one TCP connection: `raw` is sent as-is, then the first final response is judged.
//
//   raw      A byte string: each UTF-16 code unit is one byte (send it with Buffer.from(raw, "latin1")).
//            Line ends are written out as \r\n; any other byte is written as a \xNN escape.
//   expect   { status }   the first final (non-1xx) response has this status and the handler saw nothing
//                         on this connection (no smuggled request reached it);
//            { handled }  the handler saw it and answered; optional checks of what the handler saw
//                         for the first request (method, path, body, bodyLength, and probe: the value
//                         of req.header("x-probe")), how many requests
//                         the handler saw on the connection (count, default 1), every request's
//                         path / body (paths, bodies) and every final status in order (statuses).
//   closes   true: the server closes the connection (after its response); false: it keeps it open;
//            absent: not judged. Every error case has closes: true.
//
// The expectations follow the server's required behaviour (our issue): strict RFC 9112 parsing, bare LF
// rejected, obs-fold rejected, exactly one valid Host on HTTP/1.1, one valid Content-Length, chunked
// decoded in place, CL+TE rejected, unknown transfer codings -> 501, limits 8 KiB head / 16 MiB body.
// Inputs are derived from the sources named in each case; nothing here is copied code.
//
// Sources:
//   RFC 9112 (HTTP/1.1), RFC 9110 (HTTP semantics), RFC 3986 (URI)
//   llhttp   nodejs/llhttp test/request/*.md (section titles quoted)
//   pico     h2o/picohttpparser test.c (test comments quoted)
//   garden   narfindustries/http-garden TROPHIES.md / README.md (numbered server/transducer bugs)

export type StatusExpect = { status: number };
export type HandledExpect = {
  handled: true;
  method?: string;
  path?: string;
  body?: string;
  bodyLength?: number;
  count?: number;
  paths?: string[];
  bodies?: string[];
  probe?: string | null; // req.header("x-probe") as the handler saw it (null: absent)
  statuses?: number[]; // every final status on the connection, in order (e.g. [200, 400])
};
export interface RequestCase {
  category: string;
  name: string;
  source: string;
  raw: string;
  expect: StatusExpect | HandledExpect;
  closes?: boolean;
}

export const MAX_HEADER_SIZE = 8192; // server default maxHeaderSize
export const MAX_BODY_SIZE = 16 * 1024 * 1024; // server default maxRequestBodySize

export const cases: RequestCase[] = [];

function accept(
  category: string,
  name: string,
  source: string,
  raw: string,
  exp: Omit<HandledExpect, "handled"> = {},
  closes?: boolean,
): void {
  const c: RequestCase = { category, name, source, raw, expect: { handled: true, ...exp } };
  if (closes !== undefined) c.closes = closes;
  cases.push(c);
}

function reject(category: string, name: string, source: string, raw: string, status = 400): void {
  cases.push({ category, name, source, raw, expect: { status }, closes: true });
}

const HOST = "Host: example.com\r\n";
const get = (target: string, version = "HTTP/1.1") => `GET ${target} ${version}\r\n${HOST}\r\n`;
/** One chunk of a chunked body, size computed from the data. */
const chunk = (data: string, ext = "") => `${data.length.toString(16)}${ext}\r\n${data}\r\n`;
const post = (path: string, headers: string, body: string) =>
  `POST ${path} HTTP/1.1\r\n${HOST}${headers}\r\n${body}`;
const chunked = (path: string, body: string, extraHeaders = "") =>
  post(path, `${extraHeaders}Transfer-Encoding: chunked\r\n`, body);

// ───────────────────────────── request line ─────────────────────────────
{
  const C = "request-line";
  accept(C, "origin-form with query and an empty header value", "picohttpparser test.c: parse headers; RFC 9112 §3.2.1",
    "GET /hoge?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nCookie: \r\n\r\n", { method: "GET", path: "/hoge?x=1&y=2" });
  accept(C, "HTTP/1.0 without Host is accepted (and closed)", "picohttpparser test.c: simple; RFC 9112 §3.2, §9.3",
    "GET / HTTP/1.0\r\n\r\n", { method: "GET", path: "/" }, true);
  accept(C, "HTTP/1.0 with Connection: keep-alive stays open", "RFC 9112 §9.3",
    "GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", { path: "/ka" }, false);
  accept(C, "HTTP/1.1 stays open by default", "RFC 9112 §9.3",
    get("/keep"), { path: "/keep" }, false);
  accept(C, "HTTP/1.1 Connection: close closes after the response", "llhttp connection.md: Setting flag on `close`; RFC 9112 §9.6",
    "PUT /url HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", { method: "PUT", path: "/url" }, true);
  accept(C, "absolute-form is routed by its path", "RFC 9112 §3.2.2",
    "GET http://example.com/p?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", { method: "GET", path: "/p?q=1" });
  accept(C, "absolute-form with a port", "llhttp uri.md: `host:port` and basic auth (userinfo removed); RFC 9112 §3.2.2",
    "GET http://hypnotoad.org:1234/toto HTTP/1.1\r\nHost: hypnotoad.org:1234\r\n\r\n", { path: "/toto" });
  accept(C, "absolute-form host terminated by a query", "llhttp uri.md: Host terminated by a query string",
    "GET http://hypnotoad.org?hail=all HTTP/1.1\r\nHost: hypnotoad.org\r\n\r\n", { method: "GET" });
  accept(C, "absolute-form whose authority differs from Host (Host is ignored)", "RFC 9112 §3.2.2 (server MUST ignore Host for absolute-form)",
    "GET http://example.com/x HTTP/1.1\r\nHost: other.example\r\n\r\n", { path: "/x" });
  accept(C, "OPTIONS * (asterisk-form)", "RFC 9112 §3.2.4",
    "OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n", { method: "OPTIONS", path: "*" });
  accept(C, "CONNECT host:port (authority-form)", "RFC 9112 §3.2.3",
    "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", { method: "CONNECT", path: "example.com:443" });
  accept(C, "CONNECT with underscore in host name, HTTP/1.0", "llhttp uri.md: Underscore in hostname",
    "CONNECT home_0.netscape.com:443 HTTP/1.0\r\nUser-agent: Mozilla/1.1N\r\nProxy-authorization: basic aGVsbG86d29ybGQ=\r\n\r\n",
    { method: "CONNECT", path: "home_0.netscape.com:443" });
  accept(C, "CONNECT with upper-case host", "llhttp method.md: CONNECT request with CAPS",
    "CONNECT HOME0.NETSCAPE.COM:443 HTTP/1.1\r\nHost: HOME0.NETSCAPE.COM:443\r\n\r\n", { method: "CONNECT" });
  accept(C, "CONNECT to an IPv6 literal", "RFC 9112 §3.2.3; RFC 3986 §3.2.2 (IP-literal)",
    "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n", { method: "CONNECT" });
  accept(C, "PATCH with a body", "llhttp method.md: PATCH request",
    "PATCH /file.txt HTTP/1.1\r\nHost: www.example.com\r\nContent-Type: application/example\r\nIf-Match: \"e0023aa4e\"\r\nContent-Length: 10\r\n\r\ncccccccccc",
    { method: "PATCH", path: "/file.txt", body: "cccccccccc" });
  accept(C, "PURGE method", "llhttp method.md: PURGE request",
    "PURGE /file.txt HTTP/1.1\r\nHost: www.example.com\r\n\r\n", { method: "PURGE", path: "/file.txt" });
  accept(C, "REPORT method", "llhttp method.md: REPORT request (Host added)",
    "REPORT /test HTTP/1.1\r\nHost: example.com\r\n\r\n", { method: "REPORT" });
  accept(C, "SEARCH method", "llhttp method.md: SEARCH request",
    "SEARCH / HTTP/1.1\r\nHost: www.example.com\r\n\r\n", { method: "SEARCH" });
  accept(C, "LINK method with two Link headers", "llhttp method.md: LINK request",
    "LINK /images/my_dog.jpg HTTP/1.1\r\nHost: example.com\r\nLink: <http://example.com/profiles/joe>; rel=\"tag\"\r\nLink: <http://example.com/profiles/sally>; rel=\"tag\"\r\n\r\n",
    { method: "LINK", path: "/images/my_dog.jpg" });
  accept(C, "SOURCE method", "llhttp method.md: SOURCE request",
    "SOURCE /music/sweet/music HTTP/1.1\r\nHost: example.com\r\n\r\n", { method: "SOURCE" });
  accept(C, "M-SEARCH in origin-form (method with '-')", "llhttp method.md: M-SEARCH request (origin-form)",
    "M-SEARCH /ssdp HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nST: \"ssdp:all\"\r\n\r\n",
    { method: "M-SEARCH", path: "/ssdp" });
  accept(C, "lower-case method is a token (methods are case-sensitive)", "RFC 9110 §9.1; RFC 9112 §3.1",
    get("/lower").replace("GET", "get"), { method: "get" });
  accept(C, "unregistered method token", "RFC 9112 §3.1 (method = token); llhttp invalid.md: Invalid method (llhttp only knows registered methods)",
    "MKCOLA / HTTP/1.1\r\nHost: example.com\r\n\r\n", { method: "MKCOLA" });
  accept(C, "method made of every tchar", "RFC 9110 §5.6.2 (tchar)",
    "!#$%&'*+-.^_`|~09AZaz /t HTTP/1.1\r\nHost: example.com\r\n\r\n", { method: "!#$%&'*+-.^_`|~09AZaz", path: "/t" });
  accept(C, "one leading CRLF before the request line is ignored", "llhttp sample.md: Prefix newline; RFC 9112 §2.2",
    `\r\n${get("/test")}`, { path: "/test" });
  accept(C, "several leading CRLFs are ignored", "llhttp sample.md: Request starting with CRLF; RFC 9112 §2.2",
    `\r\n\r\n\r\n${get("/url")}`, { path: "/url" });
  accept(C, "long (2000-byte) request-target within limits", "RFC 9112 §3 (recommends supporting 8000 octets)",
    get(`/${"a".repeat(1999)}`), { path: `/${"a".repeat(1999)}` });
  accept(C, "pct-encoding and sub-delims in the path", "RFC 3986 §3.3 (pchar)",
    get("/a%20b/c;d=e,f!$&'()*+@:~"), { path: "/a%20b/c;d=e,f!$&'()*+@:~" });
  accept(C, "'?' and '/' inside the query", "llhttp uri.md: Query URL with question mark; RFC 3986 §3.4",
    get("/test.cgi?foo=bar?baz/q"), { path: "/test.cgi?foo=bar?baz/q" });
  // Content that cannot change the framing reaches the app as sent, as with nginx, Node and Bun.serve
  // (which answers GET /q?%zz=1 with 200); what ends or breaks the request line is still refused.
  accept(C, "invalid percent-escape in the query", "our issue (Bun.serve, nginx, Node pass it); RFC 3986 §2.1",
    get("/q?%zz=1"), { path: "/q?%zz=1" });
  accept(C, "invalid percent-escape in the path", "our issue; RFC 3986 §2.1", get("/a%zz"), { path: "/a%zz" });
  accept(C, "lone '%' at the end of the path", "our issue; RFC 3986 §2.1", get("/%"), { path: "/%" });
  accept(C, "'%' with one hex digit, and '%' before '&'", "our issue; RFC 3986 §2.1", get("/a%2?b=%&c=%4"), { path: "/a%2?b=%&c=%4" });
  for (const ch of ["\"", "\\", "|", "{", "}", "^", "`"]) {
    accept(C, `${JSON.stringify(ch)} in the path and the query`, "our issue (Bun.serve, nginx, Node pass it); RFC 3986 §2 leaves it out",
      get(`/a${ch}b?c=${ch}`), { path: `/a${ch}b?c=${ch}` });
  }
  accept(C, "JSON in the query as typed", "our issue", get('/search?q={"a":1,"b":"x|y"}'), { path: '/search?q={"a":1,"b":"x|y"}' });
  accept(C, "absolute-form path with '%zz', '\"', '|', '{', '}', '^', '`', '\\'", "our issue; RFC 9112 §3.2.2",
    "GET http://example.com/a%zz\"|{}?q=^`\\ HTTP/1.1\r\nHost: example.com\r\n\r\n", { path: "/a%zz\"|{}?q=^`\\" });
  reject(C, "'<' in the request-target", "RFC 3986 §2 (not a URI character; kept refused)", get("/a<b"));
  reject(C, "'>' in the query", "RFC 3986 §2 (not a URI character; kept refused)", get("/a?b>c"));
  reject(C, "one byte >= 0x80 in the request-target", "RFC 3986 §2.1; RFC 9112 §3 (Bun.serve maps it to U+FFFD)", get("/caf\xe9"));
  reject(C, "byte >= 0x80 in the query", "RFC 3986 §2.1; RFC 9112 §3", get("/?q=\xff"));
  reject(C, "control byte after a lone '%'", "RFC 9112 §3 (a CTL is never part of the target)", get("/a%\x01"));
  reject(C, "HTAB after a lone '%'", "RFC 9112 §3", get("/a%\tb"));
  reject(C, "DEL in the query", "RFC 9112 §3; picohttpparser test.c: DEL in uri-path", get("/a?b=\x7f"));
  reject(C, "ESC in the query", "RFC 9112 §3", get("/a?b=\x1b[0m"));
  reject(C, "'{' in an absolute-form authority", "RFC 3986 §3.2.2 (reg-name); Host rules unchanged", "GET http://a{b}/x HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "'\\' ending an absolute-form authority", "RFC 3986 §3.2.2; WHATWG URL ends the host at '\\' (confusion)",
    "GET http://example.com\\@evil.example/ HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "invalid percent-escape in an absolute-form authority", "RFC 3986 §3.2.2 (pct-encoded)", "GET http://a%zz/x HTTP/1.1\r\nHost: example.com\r\n\r\n");

  accept(C, "absolute-form scheme and host are case-insensitive", "RFC 3986 §3.1, §6.2.2.1; RFC 9112 §3.2.2",
    "GET HTTP://EXAMPLE.COM/x HTTP/1.1\r\nHost: example.com\r\n\r\n", { path: "/x" });
  accept(C, "absolute-form https", "RFC 9112 §3.2.2 (http or https URI)",
    "GET https://example.com/s?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", { path: "/s?q=1" });
  accept(C, "absolute-form HTTPS in capitals, POST with a body", "RFC 3986 §3.1 (scheme is case-insensitive); RFC 9112 §3.2.2",
    "POST HTTPS://example.com/p HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2\r\n\r\nok", { method: "POST", path: "/p", body: "ok" });
  for (const [scheme, target] of [["ftp", "ftp://x/"], ["zzz", "zzz://x/"], ["file", "file://host/x"], ["ws", "ws://example.com/chat"],
    ["httpx", "httpx://example.com/"], ["shttp", "shttp://example.com/"]]) {
    reject(C, `absolute-form with the scheme ${scheme}`, "RFC 9112 §3.2.2 (only http and https in absolute-form); Bun.serve answers 400",
      `GET ${target} HTTP/1.1\r\nHost: example.com\r\n\r\n`);
  }
  accept(C, "absolute-form without a path", "RFC 9112 §3.2.2; llhttp uri.md: `host:port` terminated by a space",
    "GET http://hypnotoad.org:1234 HTTP/1.1\r\nHost: hypnotoad.org:1234\r\n\r\n", { method: "GET" });
  reject(C, "absolute-form with an empty host", "RFC 9110 §4.2.1 (recipient MUST reject an http URI with an empty host)",
    "GET http:///x HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "absolute-form with userinfo", "RFC 9110 §4.2.4 (SHOULD treat userinfo as an error); llhttp uri.md: `host:port` and basic auth (llhttp accepts)",
    "GET http://a%12:b!&*$@hypnotoad.org:1234/toto HTTP/1.1\r\nHost: hypnotoad.org:1234\r\n\r\n");
  accept(C, "pct-encoded NUL is valid syntax in a path", "RFC 3986 §2.1 (pct-encoded)", get("/a%00b"), { path: "/a%00b" });
  reject(C, "two SP between method and target", "RFC 9112 §3 (exactly one SP)", "GET  / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "two SP between target and version", "RFC 9112 §3", "GET /  HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "trailing SP after the version", "RFC 9112 §3; llhttp transfer-encoding.md: Chunk header not terminated by CRLF (2nd request line)",
    "GET / HTTP/1.1 \r\nHost: example.com\r\n\r\n");
  reject(C, "HTAB as the separator", "RFC 9112 §3 (SP only)", "GET\t/ HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "leading SP before the method", "RFC 9112 §3", " GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "missing request-target", "RFC 9112 §3", "GET HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "HTAB inside the method", "picohttpparser test.c: tab in method", "G\tT / HTTP/1.0\r\n\r\n");
  reject(C, "NUL inside the method", "picohttpparser test.c: NUL in method", "G\x00T / HTTP/1.0\r\n\r\n");
  reject(C, "separator '(' inside the method", "RFC 9110 §9.1 (method = token)", "G(T / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "method of separators (longest-prefix parse)", "http-garden server bug 6 (methods interpreted as longest valid prefix)",
    "G=\":<>(e),[T];?\" /get HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "non-ASCII byte in the method", "RFC 9110 §9.1 (method = token)", "G\xc9T / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "bare LF as the separator before the version", "http-garden server bug 9 (\\n allowed as request-line whitespace)",
    "GET /\nHTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "HTTP/0.9 style: no version", "llhttp sample.md: No HTTP version; RFC 9112 §3", "GET /\r\n\r\n");
  reject(C, "empty version after the last SP", "RFC 9112 §2.3", "GET / \r\nHost: example.com\r\n\r\n");
  reject(C, "SP inside the request-target", "llhttp uri.md: Space in URI", "GET /foo bar/ HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "request-target that is none of the four forms", "http-garden server bug 7 (URIs not validated)", "GET ! HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "relative path without leading '/'", "RFC 9112 §3.2.1 (origin-form = absolute-path)", "GET foo/bar HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "DEL in the request-target", "picohttpparser test.c: DEL in uri-path", "GET /\x7fhello HTTP/1.0\r\n\r\n");
  reject(C, "NUL in the request-target", "RFC 3986 §3.3; picohttpparser test.c (NUL cases)", "GET /a\x00b HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "HTAB in the request-target", "RFC 3986 §3.3", "GET /a\tb HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "raw UTF-8 in the request-target", "llhttp uri.md: Disallow UTF-8 in URI path in strict mode; RFC 3986 §3.3 (picohttpparser accepts MSB chars: we follow the RFC)",
    "GET /\xce\xb4\xc2\xb6/\xce\xb4t/pope?q=1 HTTP/1.1\r\nHost: github.com\r\n\r\n");
  reject(C, "fragment in the request-target", "RFC 9112 §3.2.1 (origin-form has no fragment); llhttp uri.md: Fragment in URI (llhttp accepts)",
    "GET /forums/1/topics/2375?page=1#posts-17408 HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "asterisk-form with GET", "RFC 9112 §3.2.4 (OPTIONS only)", "GET * HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "asterisk-form with M-SEARCH", "llhttp method.md: M-SEARCH request; RFC 9112 §3.2.4 (OPTIONS only)",
    "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nST: \"ssdp:all\"\r\n\r\n");
  reject(C, "authority-form with GET", "RFC 9112 §3.2.3 (CONNECT only)", "GET example.com:80 HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "CONNECT with origin-form", "RFC 9112 §3.2.3", "CONNECT / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "CONNECT without a port", "RFC 9112 §3.2.3 (authority-form = uri-host \":\" port)", "CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "request line ended by bare LF", "RFC 9112 §2.2 (bare LF rejected by our choice)", "GET / HTTP/1.1\nHost: example.com\r\n\r\n");
  reject(C, "request line ended by bare CR", "RFC 9112 §2.2 (bare CR)", "GET / HTTP/1.1\rHost: example.com\r\n\r\n");
  reject(C, "request line ended by CR CR LF", "RFC 9112 §2.2", "GET / HTTP/1.1\r\r\nHost: example.com\r\n\r\n");
  reject(C, "leading bare LF before the request line", "RFC 9112 §2.2 (empty line must be CRLF; bare LF rejected)", `\n${get("/")}`);
  reject(C, "garbage request line", "http-garden server bug 45 (payload tail)", "Invalid\r\n\r\n");
}

// ─────────────────────────────── version ───────────────────────────────
{
  const C = "version";
  const v = (ver: string) => `GET / ${ver}\r\nHost: example.com\r\n\r\n`;
  reject(C, "lower-case protocol name", "RFC 9112 §2.3 (HTTP-name is case-sensitive)", v("http/1.1"));
  reject(C, "HTTP/1.10", "RFC 9112 §2.3 (single digits)", v("HTTP/1.10"));
  reject(C, "HTTP/1.32 (longest-prefix parse)", "http-garden server bug 5 (versions interpreted as longest valid prefix)", v("HTTP/1.32"));
  reject(C, "HTTP/01.1", "llhttp response/invalid.md: Extra digit in HTTP major version (applied to requests)", v("HTTP/01.1"));
  reject(C, "HTTP/11.1", "llhttp response/invalid.md: Extra digit in HTTP major version #2", v("HTTP/11.1"));
  reject(C, "HTTP/1 (no minor)", "RFC 9112 §2.3", v("HTTP/1"));
  reject(C, "HTTP/1. (empty minor)", "picohttpparser test.c: invalid http version", v("HTTP/1."));
  reject(C, "HTTP/ (no digits)", "RFC 9112 §2.3", v("HTTP/"));
  reject(C, "HTTP/1.2z", "picohttpparser test.c: invalid http version 2", v("HTTP/1.2z"));
  reject(C, "CR inside the version", "http-garden server bug 15 (versions not validated)", "GET / HTTP/\r\r1.1\r\nHost: example.com\r\n\r\n");
  reject(C, "HTTP/4294967295.255", "http-garden server bug 24 (8-bit overflow in version numbers)", v("HTTP/4294967295.255"));
  reject(C, "HTTPS/1.1", "RFC 9112 §2.3", v("HTTPS/1.1"));
  reject(C, "ICE/1.0", "llhttp invalid.md: ICE protocol and GET method", "GET /music/sweet/music ICE/1.0\r\nHost: example.com\r\n\r\n");
  reject(C, "IHTTP/1.0", "llhttp invalid.md: ICE protocol, but not really", "GET /music/sweet/music IHTTP/1.0\r\nHost: example.com\r\n\r\n");
  reject(C, "RTSP/1.0", "llhttp invalid.md: RTSP protocol and PUT method", "PUT /music/sweet/music RTSP/1.0\r\nHost: example.com\r\n\r\n");
  reject(C, "HTTP/a.b", "RFC 9112 §2.3 (DIGIT)", v("HTTP/a.b"));
  reject(C, "SP inside the version", "RFC 9112 §2.3", v("HTTP/ 1.1"));
  reject(C, "NUL method and dotted junk version", "http-garden server bug 40 (methods and versions not validated)", "\x00 / HTTP/............0596.7407.\r\n\r\n");
  reject(C, "HTTP/2.0 -> 505", "RFC 9110 §15.6.6; RFC 9112 §2.3", v("HTTP/2.0"), 505);
  reject(C, "HTTP/1.2 -> 505", "RFC 9110 §15.6.6 (unsupported major.minor)", v("HTTP/1.2"), 505);
  reject(C, "HTTP/0.9 with a version token -> 505", "RFC 9110 §15.6.6", v("HTTP/0.9"), 505);
  reject(C, "HTTP/3.0 -> 505", "RFC 9110 §15.6.6", v("HTTP/3.0"), 505);
  reject(C, "HTTP/5.6 -> 505", "llhttp invalid.md: Invalid HTTP version", v("HTTP/5.6"), 505);
}

// ───────────────────────────── header fields ─────────────────────────────
{
  const C = "header";
  const withHeader = (line: string, target = "/") => `GET ${target} HTTP/1.1\r\nHost: example.com\r\n${line}\r\n\r\n`;
  accept(C, "HTAB and SP around a value", "llhttp sample.md: Simple request (Header2:\\t Value2)",
    "OPTIONS /url HTTP/1.1\r\nHost: example.com\r\nHeader1: Value1\r\nHeader2:\t Value2\r\n\r\n", { method: "OPTIONS", path: "/url" });
  accept(C, "trailing whitespace after a value is not part of it", "RFC 9112 §5 (OWS after value)", withHeader("X-Probe:  v \t "), { path: "/", probe: "v" });
  accept(C, "HTAB inside a value", "RFC 9110 §5.5 (field-content allows HTAB)", withHeader("X-Probe: a\tb\tc"), { probe: "a\tb\tc" });
  accept(C, "empty value with a space", "picohttpparser test.c: parse headers (Cookie: )", withHeader("Cookie: "));
  accept(C, "empty value without a space", "RFC 9110 §5.5 (field-value may be empty)", withHeader("X-Probe:"), { probe: "" });
  accept(C, "field lookup is case-insensitive", "RFC 9110 §5.1", withHeader("x-PROBE: yes"), { probe: "yes" });
  accept(C, "value without OWS after the colon", "llhttp sample.md: DUMBPACK", "GET /dumbpack HTTP/1.1\r\nHost: example.com\r\naaaaaaaaaaaaa:++++++++++\r\n\r\n", { path: "/dumbpack" });
  accept(C, "field name made of every tchar", "RFC 9110 §5.6.2 (tchar)", withHeader("!#$%&'*+-.^_`|~0123456789AZaz: tchar"));
  accept(C, "obs-text (0xFF) in a value", "llhttp sample.md: 255 ASCII in header value; RFC 9110 §5.5 (obs-text)",
    "OPTIONS /url HTTP/1.1\r\nHost: example.com\r\nHeader1: Value1\r\nHeader2: \xffValue2\r\n\r\n", { method: "OPTIONS" });
  accept(C, "UTF-8 bytes in a value", "llhttp sample.md: Extended Characters", withHeader("Test: D\xc3\xbcsseldorf"));
  accept(C, "MSB bytes in a value", "picohttpparser test.c: accept MSB chars (value part)", withHeader("h: c\xa2y"));
  accept(C, "quotes, angle brackets and ';' in a value", "llhttp method.md: LINK request", withHeader("Link: <http://example.com/profiles/joe>; rel=\"tag\""));
  accept(C, "header names are case-insensitive", "llhttp sample.md: Funky Content-Length name (HTTP/1.0)",
    "GET /get_funky_content_length_body_hello HTTP/1.0\r\nconTENT-Length: 5\r\n\r\nHELLO", { path: "/get_funky_content_length_body_hello", body: "HELLO" });
  accept(C, "curl-style request", "llhttp sample.md: curl GET",
    "GET /test HTTP/1.1\r\nUser-Agent: curl/7.18.0 (i486-pc-linux-gnu) libcurl/7.18.0 OpenSSL/0.9.8g zlib/1.2.3.3 libidn/1.1\r\nHost: 0.0.0.0=5000\r\nAccept: */*\r\n\r\n",
    { path: "/test" });
  accept(C, "Firefox-style request", "llhttp sample.md: Firefox GET",
    "GET /favicon.ico HTTP/1.1\r\nHost: 0.0.0.0=5000\r\nUser-Agent: Mozilla/5.0 (X11; U; Linux i686; en-US; rv:1.9) Gecko/2008061015 Firefox/3.0\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-us,en;q=0.5\r\nAccept-Encoding: gzip,deflate\r\nAccept-Charset: ISO-8859-1,utf-8;q=0.7,*;q=0.7\r\nKeep-Alive: 300\r\nConnection: keep-alive\r\n\r\n",
    { path: "/favicon.ico" });
  accept(C, "100 small header fields", "RFC 9112 §5 (no field-count limit below the size limit)",
    `GET /many HTTP/1.1\r\nHost: example.com\r\n${Array.from({ length: 100 }, (_, i) => `X-H${i}: v${i}\r\n`).join("")}\r\n`, { path: "/many" });
  accept(C, "value containing ':'", "RFC 9110 §5.5", withHeader("X-Time: 12:34:56"));

  reject(C, "SP between field name and colon (smuggling)", "http-garden server bug 3; RFC 9112 §5.1 (MUST 400)",
    "GET / HTTP/1.1\r\nHost: whatever\r\nContent-Length : 34\r\n\r\nGET / HTTP/1.1\r\nHost: whatever\r\n\r\n");
  reject(C, "HTAB between field name and colon", "RFC 9112 §5.1 (MUST 400)", withHeader("X-Foo\t: bar"));
  reject(C, "SP before colon on Transfer-Encoding", "RFC 9112 §5.1", post("/", "Transfer-Encoding : chunked\r\nContent-Length: 5\r\n", "hello"));
  reject(C, "HTAB before the first field line", "http-garden server bug 4 (whitespace stripped from the first header name)",
    "GET / HTTP/1.1\r\n\tContent-Length: 1\r\nHost: example.com\r\n\r\nX");
  reject(C, "SP before the first field line", "llhttp invalid.md: Invalid space after start line; RFC 9112 §2.2", "GET / HTTP/1.1\r\n Host: foo\r\n\r\n");
  reject(C, "obs-fold (SP continuation)", "RFC 9112 §5.2 (obs-fold rejected)", withHeader("X-Fold: a\r\n b"));
  reject(C, "obs-fold (HTAB continuation)", "RFC 9112 §5.2", withHeader("X-Fold: a\r\n\tb"));
  reject(C, "obs-fold hiding a Content-Length (smuggling)", "llhttp invalid.md: Spaces before headers",
    "POST /hello HTTP/1.1\r\nHost: localhost\r\nFoo: bar\r\n Content-Length: 38\r\n\r\nGET /bye HTTP/1.1\r\nHost: localhost\r\n\r\n");
  reject(C, "obs-fold in many values", "llhttp sample.md: Line folding in header value with CRLF",
    "GET / HTTP/1.1\r\nHost: example.com\r\nLine1:   abc\r\n\tdef\r\n ghi\r\n\t\tjkl\r\n  mno \r\n\t \tqrs\r\nLine2: \t line2\t\r\nLine3:\r\n line3\r\nLine4: \r\n \r\nConnection:\r\n close\r\n\r\n");
  reject(C, "obs-fold inside Connection", "llhttp connection.md: Multiple tokens with folding, LWS, and CRLF",
    "GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, \r\n upgrade\r\nUpgrade: WebSocket\r\n\r\n");
  reject(C, "line of only whitespace inside the header block", "picohttpparser test.c: parse multiline (continuation line); RFC 9112 §5.2",
    "GET / HTTP/1.0\r\nfoo: \r\nfoo: b\r\n  \tc\r\n\r\n");
  reject(C, "empty field name", "llhttp invalid.md: Invalid header token #3", withHeader(": Bar"));
  reject(C, "empty field name, no value", "picohttpparser test.c: empty header name", "GET / HTTP/1.0\r\n:a\r\n\r\n");
  reject(C, "whitespace-only field name", "picohttpparser test.c: header name (space only)", "GET / HTTP/1.0\r\n :a\r\n\r\n");
  reject(C, "bare ':' line truncating the block", "http-garden server bug 27", "GET / HTTP/1.1\r\nHost: example.com\r\n:\r\nI: am chopped off\r\n\r\n");
  reject(C, "empty name before Host", "http-garden server bug 18 (empty header names accepted)", "GET / HTTP/1.1\r\n: ignored\r\nHost: whatever\r\n\r\n");
  reject(C, "field line without a colon", "http-garden server bug 28 (no ':' required)", "GET / HTTP/1.1\r\nHost: example.com\r\nContent-Length 10\r\n\r\n0123456789");
  reject(C, "name on one line, ': value' on the next", "llhttp invalid.md: Illegal header field name line folding", "GET / HTTP/1.1\r\nHost: example.com\r\nname\r\n : value\r\n\r\n");
  reject(C, "field name continued across lines", "http-garden server bug 37",
    "POST / HTTP/1.1\r\nHost: whatever\r\nTransfer-\r\nEncoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n");
  reject(C, "bare LF inside a field name", "http-garden transducer bug 14", "GET / HTTP/1.1\r\nHost: whatever\r\nTe\nst: test\r\nConnection: close\r\n\r\n");
  reject(C, "'@' in a field name", "llhttp invalid.md: Invalid header token #1", withHeader("Fo@: Failure"));
  reject(C, "\\x01 in a field name", "llhttp invalid.md: Invalid header token #2", withHeader("Foo\x01\test: Bar"));
  reject(C, "NUL in a field name", "picohttpparser test.c: NUL in header name", "GET / HTTP/1.0\r\na\x00b: c\r\n\r\n");
  reject(C, "non-ASCII byte starting a field name", "http-garden server bug 8", withHeader("\xefoo: bar"));
  reject(C, "0x85 at the end of Content-Length's name", "http-garden server bug 20", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length\x85: 10\r\n\r\n0123456789");
  reject(C, "0xA0 at the end of Transfer-Encoding's name", "http-garden server bug 20 / transducer bug 6",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\xa0: chunked\r\nContent-Length: 5\r\n\r\nhello");
  reject(C, "every disallowed ASCII byte in a field name", "http-garden server bug 14",
    "GET / HTTP/1.1\r\nHost: example.com\r\n\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f \"(),/;<=>?@[/]{}: whatever\r\n\r\n");
  reject(C, "CR and ESC in a field line", "llhttp invalid.md: Corrupted Connection header",
    "GET / HTTP/1.1\r\nHost: www.example.com\r\nConnection\r\x1b\x35\xd5eep-Alive\r\nAccept-Encoding: gzip\r\n\r\n");
  reject(C, "CR instead of '-' in a field name", "llhttp content-length.md: `Content-Length` with CR instead of dash",
    "PUT /url HTTP/1.1\r\nHost: example.com\r\nContent\rLength: 003\r\n\r\nabc");
  for (const ch of ["\"", "(", ")", ",", "/", ";", "<", "=", ">", "?", "[", "\\", "]", "{", "}", " ", "\t", "\x7f"]) {
    reject(C, `delimiter ${JSON.stringify(ch)} inside a field name`, "RFC 9110 §5.1 (field-name = token), §5.6.2 (tchar)", withHeader(`X${ch}Y: v`));
  }
  reject(C, "NUL in a value", "picohttpparser test.c: NUL in header value", "GET / HTTP/1.0\r\nab: c\x00d\r\n\r\n");
  reject(C, "NUL then CR in a value", "http-garden server bug 2", "GET / HTTP/1.1\r\nHost: a\r\nHeader: v\x00\ralue\r\n\r\n");
  reject(C, "NUL truncation of a value", "http-garden server bug 35", "GET / HTTP/1.1\r\nHost: whatever\r\nTest: test\x00THESE BYTES GET DROPPED\r\nConnection: close\r\n\r\n");
  reject(C, "NUL at the end of a value", "http-garden server bug 43", "GET / HTTP/1.1\r\nHost: example.com\r\nEvil: evil\x00\r\n\r\n");
  reject(C, "bare CR inside a value", "http-garden server bug 34; RFC 9112 §2.2", "GET / HTTP/1.1\r\nHost: whatever\r\nHeader: va\rlue\r\n\r\n");
  reject(C, "fields separated by bare CR", "llhttp invalid.md: Headers separated by CR", withHeader("Foo: 1\rBar: 2"));
  reject(C, "bare CR as a field terminator (smuggling)", "http-garden server bug 13", "GET / HTTP/1.1\r\nHost: example.com\r\nVisible: :/\rSmuggled: :)\r\n\r\n");
  reject(C, "several bare CRs in a value", "http-garden transducer bug 10", "GET / HTTP/1.1\r\nHost: example.com\r\nInvalid-Header: this\rvalue\ris\rinvalid\r\n\r\n");
  reject(C, "empty value ended by bare CR before Transfer-Encoding", "llhttp invalid.md: Empty headers separated by CR",
    "POST / HTTP/1.1\r\nConnection: Close\r\nHost: localhost:5000\r\nx:\rTransfer-Encoding: chunked\r\n\r\n1\r\nA\r\n0\r\n\r\n");
  reject(C, "DEL in a value", "picohttpparser test.c: headers error (e\\x7fample.com)", withHeader("X-Del: e\x7fample.com"));
  for (const b of ["\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f"]) {
    reject(C, `CTL 0x${b.charCodeAt(0).toString(16).padStart(2, "0")} in a value`, "RFC 9110 §5.5 (field-vchar excludes CTLs)", withHeader(`X-Ctl: a${b}b`));
  }
  reject(C, "bare LF between fields", "llhttp invalid.md: Headers separated by LF",
    "POST / HTTP/1.1\r\nHost: localhost:5000\r\nx:x\nTransfer-Encoding: chunked\r\n\r\n1\r\nA\r\n0\r\n\r\n");
  reject(C, "empty value ended by bare LF", "llhttp invalid.md: Empty headers separated by LF",
    "POST / HTTP/1.1\r\nHost: localhost:5000\r\nx:\nTransfer-Encoding: chunked\r\n\r\n1\r\nA\r\n0\r\n\r\n");
  reject(C, "bare LF before Content-Length (smuggling)", "llhttp invalid.md: Missing CR between headers",
    "GET / HTTP/1.1\r\nHost: localhost\r\nDummy: x\nContent-Length: 23\r\n\r\nGET / HTTP/1.1\r\nDummy: GET /admin HTTP/1.1\r\nHost: localhost\r\n\r\n");
  reject(C, "empty value, bare LF, then a request", "http-garden server bug 19", "GET / HTTP/1.1\r\nHost: a\r\nUseless:\n\nGET / HTTP/1.1\r\n\r\n");
  reject(C, "bare LF followed by NUL and CR in a value", "http-garden README (AIOHTTP bug 2)", "GET / HTTP/1.1\r\nHost: a\r\nHeader: v\n\x00\ralue\r\n\r\n");
  reject(C, "every line ended by bare LF", "http-garden transducer bug 16; RFC 9112 §2.2", "GET / HTTP/1.1\nHost: whatever\nConnection: close\n\n");
  reject(C, "LF-only chunked request", "llhttp invalid.md: Only LFs present",
    "POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\nTrailer: Baz\nFoo: abc\nBar: def\n\n1\nA\n1;abc\nB\n1;def=ghi\nC\n1;jkl=\"mno\"\nD\n0\n\nBaz: ghi\n\n");
  reject(C, "header block ended by CRLF LF", "RFC 9112 §2.2 (bare LF)", "GET / HTTP/1.1\r\nHost: example.com\r\n\n");
  reject(C, "header block ended by CR + junk (smuggling)", "http-garden server bug 30; llhttp invalid.md: Headers separated by dummy characters",
    "GET / HTTP/1.1\r\nConnection: close\r\nHost: a\r\n\rZGET /evil: HTTP/1.1\r\nHost: a\r\n\r\n");
}

// ───────────────────────────────── Host ─────────────────────────────────
{
  const C = "host";
  const h = (value: string | null, target = "/") => `GET ${target} HTTP/1.1\r\n${value === null ? "" : `Host:${value}\r\n`}X: y\r\n\r\n`;
  accept(C, "empty Host value is valid", "RFC 9110 §7.2 (empty Host when the URI has no authority); RFC 9112 §3.2", h(""));
  accept(C, "Host with a port", "llhttp invalid.md (Host: localhost:5000); RFC 9110 §7.2", h(" localhost:5000"));
  accept(C, "Host as IPv4 address", "RFC 3986 §3.2.2", h(" 127.0.0.1"));
  accept(C, "Host as IPv6 literal with port", "RFC 3986 §3.2.2 (IP-literal)", h(" [::1]:8080"));
  accept(C, "Host reg-name with sub-delim '='", "llhttp sample.md: curl GET (Host: 0.0.0.0=5000); RFC 3986 §3.2.2", h(" 0.0.0.0=5000"));
  accept(C, "Host with '_' and '-'", "RFC 3986 §3.2.2 (unreserved)", h(" my_host-1.example"));
  accept(C, "Host value with surrounding OWS", "RFC 9112 §5.1 (OWS around field value)", h(" \t example.com \t"));
  accept(C, "Host field name in capitals", "RFC 9110 §5.1 (case-insensitive names)", "GET / HTTP/1.1\r\nHOST: example.com\r\n\r\n");

  reject(C, "HTTP/1.1 without Host", "RFC 9112 §3.2 (MUST 400)", h(null));
  reject(C, "absolute-form HTTP/1.1 without Host", "RFC 9112 §3.2 (Host required in every HTTP/1.1 request)", h(null, "http://example.com/"));
  reject(C, "two identical Host lines", "RFC 9112 §3.2 (more than one Host line)", "GET / HTTP/1.1\r\nHost: example.com\r\nHost: example.com\r\n\r\n");
  reject(C, "two different Host lines", "RFC 9112 §3.2", "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n");
  reject(C, "two Hosts separated by other fields, HTTP/1.0", "RFC 9112 §3.2 (any request with more than one Host)", "GET / HTTP/1.0\r\nHost: a.example\r\nX: y\r\nhost: b.example\r\n\r\n");
  reject(C, "SP inside Host", "RFC 9112 §3.2 (invalid Host value)", h(" exa mple.com"));
  reject(C, "'/' inside Host", "RFC 3986 §3.2.2 (reg-name)", h(" example.com/evil"));
  reject(C, "userinfo '@' in Host", "RFC 9110 §7.2 (Host = uri-host [ \":\" port ])", h(" user@example.com"));
  reject(C, "non-numeric port in Host", "RFC 3986 §3.2.3 (port = *DIGIT)", h(" example.com:http"));
  reject(C, "unterminated IPv6 literal in Host", "RFC 3986 §3.2.2", h(" [::1"));
  reject(C, "NUL inside Host", "http-garden transducer bug 12", "GET / HTTP/1.1\r\nHost: google.com\x00.kallus.org\r\n\r\n");
  reject(C, "0xFF bytes around Host", "http-garden server bug 46 (Host part)", h(" \xffa\xff"));
  // The request-target takes these as sent; Host stays a strict uri-host [ ":" port ].
  for (const ch of ["\"", "\\", "|", "{", "}", "^", "`"]) {
    reject(C, `${JSON.stringify(ch)} inside Host`, "RFC 9112 §3.2; RFC 3986 §3.2.2 (reg-name)", h(` a${ch}b.example`));
  }
  reject(C, "invalid percent-escape in Host", "RFC 3986 §3.2.2 (pct-encoded)", h(" a%zz.example"));
}

// ──────────────────────────── Content-Length ────────────────────────────
{
  const C = "content-length";
  accept(C, "simple body", "RFC 9112 §6.2", post("/cl", "Content-Length: 5\r\n", "hello"), { method: "POST", path: "/cl", body: "hello" });
  accept(C, "leading zeros", "llhttp content-length.md: `Content-Length` with zeroes", "PUT /url HTTP/1.1\r\nHost: example.com\r\nContent-Length: 003\r\n\r\nabc", { body: "abc" });
  accept(C, "leading zeros then another field", "llhttp content-length.md: `Content-Length` with follow-up headers",
    "PUT /url HTTP/1.1\r\nHost: example.com\r\nContent-Length: 003\r\nOhai: world\r\n\r\nabc", { body: "abc" });
  accept(C, "010 is decimal ten, not octal", "http-garden server bug 32", "GET / HTTP/1.1\r\nHost: whatever\r\nContent-Length: 010\r\n\r\n0123456789", { body: "0123456789" });
  accept(C, "OWS around the value", "llhttp content-length.md: Spaces in `Content-Length` (surrounding)", post("/", "Content-Length:  5 \r\n", "hello"), { body: "hello" });
  accept(C, "identical repeated Content-Length lines", "RFC 9110 §8.6 (MAY fold identical duplicates)", post("/", "Content-Length: 5\r\nContent-Length: 5\r\n", "hello"), { body: "hello" });
  accept(C, "identical values as a list", "RFC 9110 §8.6 (Content-Length: 42, 42)", post("/", "Content-Length: 5, 5\r\n", "hello"), { body: "hello" });
  accept(C, "identical values as a list without SP", "RFC 9110 §8.6", post("/", "Content-Length: 5,5\r\n", "hello"), { body: "hello" });
  accept(C, "GET with a body is framed by it", "http-garden transducer bug 21", "GET / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10\r\n\r\n1234567890", { method: "GET", body: "1234567890" });
  const INNER = "GET /inner HTTP/1.1\r\nHost: example\r\n\r\n";
  accept(C, "body that looks like a request is not parsed as one", "RFC 9112 §6.3 (framing)",
    post("/outer", `Content-Length: ${INNER.length}\r\n`, INNER), { path: "/outer", body: INNER, count: 1 });
  accept(C, "Content-Length: 0 then a pipelined request", "RFC 9112 §6.3; llhttp pipelining.md",
    `${post("/first", "Content-Length: 0\r\n", "")}${get("/second")}`, { count: 2, paths: ["/first", "/second"], bodies: ["", ""] });
  accept(C, "three pipelined requests with bodies", "llhttp pipelining.md: Should parse multiple events",
    "POST /aaa HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nAAA\r\nPUT /bbb HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\n\r\nBBBB\r\nPATCH /ccc HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nCCCCC",
    { count: 3, paths: ["/aaa", "/bbb", "/ccc"], bodies: ["AAA", "BBBB", "CCCCC"] });
  accept(C, "CRLF between keep-alive requests", "llhttp connection.md: CRLF between requests, implicit `keep-alive`",
    "POST / HTTP/1.1\r\nHost: www.example.com\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4\r\n\r\nq=42\r\n\r\nGET /next HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
    { count: 2, paths: ["/", "/next"], bodies: ["q=42", ""] });
  accept(C, "pipelined request in the first read is not taken as body", "http-garden server bug 48",
    "POST / HTTP/1.1\r\nContent-Length: 0\r\nConnection:keep-alive\r\nHost: a\r\nid: 0\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nid: 1\r\nContent-Length: 34\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nid: 2\r\n\r\n",
    { count: 2, bodies: ["", "GET / HTTP/1.1\r\nHost: a\r\nid: 2\r\n\r\n"] });

  accept(C, "many leading zeros are not an overflow", "RFC 9110 §8.6 (1*DIGIT; only the value can overflow)",
    post("/lz", "Content-Length: 00000000000000000000005\r\n", "hello"), { body: "hello" });
  accept(C, "HTTP/1.0 keep-alive with a body, then a pipelined request", "RFC 9112 §9.3; llhttp connection.md: Resetting flags when keep-alive is off (1.0)",
    "PUT /url HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabcGET /next HTTP/1.1\r\nHost: example.com\r\n\r\n",
    { count: 2, paths: ["/url", "/next"], bodies: ["abc", ""] });
  reject(C, "two different values", "llhttp content-length.md: Error on duplicate `Content-Length`", "PUT /url HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
  reject(C, "1 then 0 (first wins elsewhere)", "http-garden server bug 23", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 0\r\n\r\nZ");
  reject(C, "0 then 1 (last wins elsewhere)", "http-garden server bug 33", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\nZ");
  reject(C, "0 then 31 hiding a request", "http-garden transducer bug 22", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 31\r\n\r\nGET /evil HTTP/1.1\r\nHost: a\r\n\r\n");
  reject(C, "different values in one list", "RFC 9110 §8.6; RFC 9112 §6.3", post("/", "Content-Length: 5, 6\r\n", "hello!"));
  reject(C, "different values, one line and one list", "RFC 9110 §8.6", post("/", "Content-Length: 5\r\nContent-Length: 5, 10\r\n", "helloworld"));
  reject(C, "empty value", "http-garden server bug 16", "GET / HTTP/1.1\r\nHost: whatever\r\nContent-Length: \r\n\r\n");
  reject(C, "empty value without SP", "llhttp content-length.md: Empty `Content-Length`", "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length:\r\n\r\n");
  reject(C, "empty value then a request", "http-garden server bug 38", "GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: \r\n\r\nGET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  reject(C, "empty value before a real one", "http-garden server bug 42",
    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\nContent-Length: 43\r\n\r\nPOST /evil HTTP/1.1\r\nContent-Length: 18\r\n\r\nGET / HTTP/1.1\r\n\r\n");
  reject(C, "empty value before a real one (lower-case names)", "http-garden transducer bug 11",
    "GET / HTTP/1.1\r\nhost: whatever\r\ncontent-length: \r\ncontent-length: 59\r\n\r\nPOST /evil HTTP/1.1\r\nhost: whatever\r\ncontent-length: 34\r\n\r\nGET / HTTP/1.1\r\nhost: whatever\r\n\r\n");
  reject(C, "negative value", "http-garden server bug 26", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -48\r\n\r\n");
  reject(C, "plus sign", "RFC 9110 §8.6 (1*DIGIT)", post("/", "Content-Length: +5\r\n", "hello"));
  reject(C, "plus sign and underscore", "http-garden server bug 10", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +1_0\r\n\r\n0123456789");
  reject(C, "hex prefix", "http-garden Akamai/transducer bug 1 (0x-prefixed Content-Length)", "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0x10\r\n\r\nZ");
  reject(C, "trailing letter", "http-garden server bug 29", "GET / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1Z\r\n\r\nZ");
  reject(C, "SP inside the number", "llhttp content-length.md: Spaces in `Content-Length` #2", "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4 2\r\n\r\n");
  reject(C, "SP between two numbers", "llhttp content-length.md: Spaces in `Content-Length` #3", "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 13 37\r\n\r\n");
  reject(C, "decimal point", "RFC 9110 §8.6 (1*DIGIT)", post("/", "Content-Length: 5.0\r\n", "hello"));
  reject(C, "NUL after the digits", "RFC 9110 §8.6", post("/", "Content-Length: 5\x00\r\n", "hello"));
  reject(C, "overflow (22 digits)", "llhttp content-length.md: Error on `Content-Length` overflow", "PUT /url HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1000000000000000000000\r\n\r\n");
  reject(C, "overflow (2^64)", "RFC 9110 §8.6 (anticipate large numbers, prevent overflow)", "PUT /url HTTP/1.1\r\nHost: example.com\r\nContent-Length: 18446744073709551616\r\n\r\n");
}

// ─────────────────────────── Transfer-Encoding ───────────────────────────
{
  const C = "transfer-encoding";
  accept(C, "simple chunked body", "llhttp transfer-encoding.md: POST with `Transfer-Encoding: chunked`",
    chunked("/post_chunked_all_your_base", "1e\r\nall your base are belong to us\r\n0\r\n\r\n"), { method: "POST", body: "all your base are belong to us" });
  accept(C, "lower-case hex size", "llhttp transfer-encoding.md: Parse chunks with lowercase size", chunked("/url", "a\r\n0123456789\r\n0\r\n\r\n"), { body: "0123456789" });
  accept(C, "upper-case hex size", "llhttp transfer-encoding.md: Parse chunks with uppercase size", chunked("/url", "A\r\n0123456789\r\n0\r\n\r\n"), { body: "0123456789" });
  accept(C, "two chunks and a 000 last-chunk", "llhttp transfer-encoding.md: Two chunks and triple zero prefixed end chunk",
    chunked("/two_chunks_mult_zero_end", "5\r\nhello\r\n6\r\n world\r\n000\r\n\r\n"), { body: "hello world" });
  accept(C, "trailer fields are accepted and skipped", "llhttp transfer-encoding.md: Trailing headers; picohttpparser test.c (chunked with trailer a: b, c: d)",
    chunked("/chunked_w_trailing_headers", "5\r\nhello\r\n6\r\n world\r\n0\r\nVary: *\r\nContent-Type: text/plain\r\n\r\n"), { body: "hello world" });
  accept(C, "chunk extensions are accepted and skipped", "llhttp transfer-encoding.md: Chunk extensions; picohttpparser test.c (6;comment=hi)",
    chunked("/chunked_w_unicorns_after_length", "5;ilovew3;somuchlove=aretheseparametersfor;another=withvalue\r\nhello\r\n6;blahblah;blah\r\n world\r\n0\r\n\r\n"), { body: "hello world" });
  accept(C, "quoted chunk extension values", "llhttp transfer-encoding.md: Chunk extensions quoting",
    chunked("/q", "5;ilovew3=\"I \\\"love\\\"; \\\\extensions\\\\\";somuchlove=\"aretheseparametersfor\";blah;foo=bar\r\nhello\r\n6;blahblah;blah\r\n world\r\n0\r\n\r\n"), { body: "hello world" });
  accept(C, "BWS around ';' and '=' in a chunk extension", "RFC 9112 §7.1.1 (chunk-ext = *( BWS \";\" BWS name [ BWS \"=\" BWS val ] ))",
    chunked("/bws", "5 ; a = b\r\nhello\r\n0\r\n\r\n"), { body: "hello" });
  accept(C, "extension on the last-chunk", "RFC 9112 §7.1 (last-chunk = 1*\"0\" [ chunk-ext ] CRLF)", chunked("/lastext", "5\r\nhello\r\n0;done=1\r\n\r\n"), { body: "hello" });
  accept(C, "leading zeros in a chunk size", "RFC 9112 §7.1 (chunk-size = 1*HEXDIG)", chunked("/lz", "0005\r\nhello\r\n0\r\n\r\n"), { body: "hello" });
  accept(C, "many leading zeros in a chunk size are not an overflow", "RFC 9112 §7.1 (chunk-size = 1*HEXDIG)",
    chunked("/lz2", "000000000000000000000005\r\nhello\r\n0\r\n\r\n"), { body: "hello" });
  accept(C, "empty chunked body", "RFC 9112 §7.1", chunked("/empty", "0\r\n\r\n"), { body: "" });
  accept(C, "CRLF bytes inside chunk data", "RFC 9112 §7.1 (chunk-data = 1*OCTET)", chunked("/crlfdata", "4\r\n\r\n\r\n\r\n0\r\n\r\n"), { body: "\r\n\r\n" });
  accept(C, "many one-byte chunks", "picohttpparser test.c (chunked decoding, per-byte)", chunked("/bytes", `${"hello world".split("").map((c) => chunk(c)).join("")}0\r\n\r\n`), { body: "hello world" });
  accept(C, "coding name is case-insensitive", "RFC 9112 §7 (transfer-coding names are case-insensitive)",
    post("/ci", "Transfer-Encoding: Chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"), { body: "hello" });
  accept(C, "OWS after chunked", "llhttp transfer-encoding.md: Chunk data not terminated by CRLF (Transfer-Encoding: chunked␠); RFC 9112 §5.1",
    post("/ows", "Transfer-Encoding: chunked \r\n", "5\r\nhello\r\n0\r\n\r\n"), { body: "hello" });
  accept(C, "empty list element before chunked", "http-garden server bug 21 (',chunked' must equal 'chunked'); RFC 9110 §5.6.1 (ignore empty list elements)",
    post("/comma", "Transfer-Encoding: ,chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"), { body: "hello" });
  accept(C, "trailer that looks like a request line", "http-garden server bug 39 (body ended on \\r\\nXX)",
    post("/", "Transfer-Encoding: chunked\r\n", "0\r\nX:POST / HTTP/1.1\r\n\r\n"), { count: 1, body: "" });
  accept(C, "Content-Length in a trailer does not frame anything", "RFC 9110 §6.5.1 (framing fields not allowed in trailers)",
    `${chunked("/t", "5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n")}${get("/after")}`, { count: 2, paths: ["/t", "/after"], bodies: ["hello", ""] });
  accept(C, "pipelined request after a chunked body with trailers", "RFC 9112 §7.1; llhttp transfer-encoding.md: Trailing headers",
    `${chunked("/first", "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n")}${get("/second")}`,
    { count: 2, paths: ["/first", "/second"], bodies: ["hello world", ""] });
  accept(C, "chunked with Expect: 100-continue sent at once", "RFC 9110 §10.1.1",
    post("/expect", "Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"), { body: "hello" });

  // Content-Length together with Transfer-Encoding: 400 and close (RFC 9112 §6.1, §6.3)
  reject(C, "CL then TE chunked (CL.TE)", "RFC 9112 §6.1; http-garden transducer bug 23",
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG");
  reject(C, "TE chunked then CL (TE.CL) hiding a request", "RFC 9112 §6.1",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 15\r\n\r\nx=1\r\n0\r\n\r\n");
  reject(C, "TE chunked with Content-Length: 0", "RFC 9112 §6.1", post("/", "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n", "0\r\n\r\n"));
  reject(C, "CL with TE identity", "llhttp content-length.md: Error on simultaneous `Content-Length` and `Transfer-Encoding: identity`",
    "PUT /url HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1\r\nTransfer-Encoding: identity\r\n\r\nX");
  reject(C, "TE identity then CL", "llhttp transfer-encoding.md: POST with `Transfer-Encoding` and `Content-Length`",
    "POST /post_identity_body_world?q=search HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nWorld");
  reject(C, "empty TE with CL", "llhttp transfer-encoding.md: Empty `Transfer-Encoding` with `Content-Length`",
    "POST /first HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding:\r\nContent-Length: 5\r\n\r\nhello");
  reject(C, "three empty TE lines with CL", "llhttp transfer-encoding.md: POST with empty `Transfer-Encoding` and `Content-Length` (lenient)",
    "POST / HTTP/1.1\r\nHost: foo\r\nContent-Length: 10\r\nTransfer-Encoding:\r\nTransfer-Encoding:\r\nTransfer-Encoding:\r\n\r\n2\r\nAA\r\n0\r\n\r\n");
  reject(C, "',chunked' with CL", "http-garden server bug 21", "GET / HTTP/1.1\r\nHost: whatever\r\nTransfer-Encoding: ,chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n");
  reject(C, "'xchunked' with CL", "RFC 9112 §6.1 (both present)", post("/", "Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n", "hello"));
  // chunked applied twice: 400
  reject(C, "chunked, chunked", "RFC 9112 §6.1 (MUST NOT apply chunked more than once)", post("/", "Transfer-Encoding: chunked, chunked\r\n", "1\r\nZ\r\n0\r\n\r\n"));
  reject(C, "two TE: chunked lines", "http-garden server bug 11 / transducer bug 25",
    "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nZ\r\n0\r\n\r\n");
  // Transfer-Encoding in HTTP/1.0: 400 and close
  reject(C, "TE chunked in an HTTP/1.0 request", "RFC 9112 §6.1 (HTTP/1.0 + TE: faulty framing)",
    "POST /old HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  reject(C, "TE chunked and CL in an HTTP/1.0 request", "RFC 9112 §6.1", "POST /old HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello");
  reject(C, "empty Transfer-Encoding", "llhttp transfer-encoding.md (Empty Transfer-Encoding); RFC 9112 §6.1 (1#transfer-coding)",
    post("/", "Transfer-Encoding:\r\n", ""));
  // Unknown or non-final codings: 501 and close (our issue; note RFC 9112 §6.3 item 4 says 400 when chunked is not final)
  reject(C, "gzip only", "RFC 9112 §6.1 (SHOULD 501 for unknown coding)", post("/", "Transfer-Encoding: gzip\r\n", "0\r\n\r\n"), 501);
  reject(C, "identity only", "RFC 9112 §6.1 (identity is not a transfer coding in RFC 9112)", post("/", "Transfer-Encoding: identity\r\n", "hello"), 501);
  reject(C, "unknown coding 'pigeons'", "llhttp transfer-encoding.md: Ignoring `pigeons`", "PUT /url HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: pigeons\r\n\r\n", 501);
  reject(C, "unknown coding 'blegh' with a chunked-looking body", "http-garden server bug 44", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: blegh\r\n\r\n1\r\nZ\r\n0\r\n\r\n", 501);
  reject(C, "'chunkedchunked'", "llhttp transfer-encoding.md: POST with `chunkedchunked` as transfer-encoding",
    post("/", "Accept: */*\r\nTransfer-Encoding: chunkedchunked\r\n", "5\r\nWorld\r\n0\r\n\r\n"), 501);
  reject(C, "chunked, deflate (chunked not final)", "llhttp transfer-encoding.md: POST with `chunked` before other transfer coding names",
    post("/", "Accept: */*\r\nTransfer-Encoding: chunked, deflate\r\n", "World"), 501);
  reject(C, "chunked then deflate on two lines", "llhttp transfer-encoding.md: POST with `chunked` and duplicate transfer-encoding",
    post("/", "Accept: */*\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: deflate\r\n", "World"), 501);
  reject(C, "chunked, gzip", "our issue (chunked not final -> 501)", post("/", "Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n"), 501);
  reject(C, "deflate, chunked (unsupported coding before chunked)", "llhttp transfer-encoding.md: POST with `chunked` as last transfer-encoding (llhttp decodes; we do not implement deflate)",
    post("/", "Accept: */*\r\nTransfer-Encoding: deflate, chunked\r\n", "5\r\nWorld\r\n0\r\n\r\n"), 501);
  reject(C, "deflate then chunked on two lines", "llhttp transfer-encoding.md: POST with `chunked` as last transfer-encoding (multiple headers)",
    post("/", "Accept: */*\r\nTransfer-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n", "5\r\nWorld\r\n0\r\n\r\n"), 501);
  reject(C, "gzip, chunked", "RFC 9112 §6.1 (SHOULD 501 for unknown coding)", post("/", "Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"), 501);
  // Not a token, so not a transfer coding at all: a malformed field value (400), not an unknown coding (501).
  // It must never be trimmed to "chunked" (JavaScript's String.prototype.trim strips U+00A0).
  reject(C, "NBSP around chunked", "http-garden server bug 12 (\\xa0 stripped from values); RFC 9112 §6.1 (transfer-coding = token)",
    "POST / HTTP/1.1\r\nHost: whatever\r\nTransfer-Encoding: \xa0chunked\xa0\r\n\r\n0\r\n\r\n");
  reject(C, "NBSP around chunked, with Content-Length", "http-garden server bug 12; RFC 9112 §6.1 (CL and TE both present)",
    "POST / HTTP/1.1\r\nHost: whatever\r\nTransfer-Encoding: \xa0chunked\xa0\r\nContent-Length: 5\r\n\r\nhello");
  reject(C, "obs-fold after chunked", "llhttp transfer-encoding.md: Invalid OBS fold after chunked value",
    "PUT /url HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n  abc\r\n\r\n5\r\nWorld\r\n0\r\n\r\n");
}

// ───────────────────────────── chunked body ─────────────────────────────
{
  const C = "chunked-body";
  const te = (body: string) => chunked("/c", body);
  reject(C, "size then SP and junk (no ';')", "llhttp transfer-encoding.md: No semicolon before chunk extensions",
    "POST /chunked_w_unicorns_after_length HTTP/1.1\r\nHost: localhost\r\nTransfer-encoding: chunked\r\n\r\n2 erfrferferf\r\naa\r\n0 rrrr\r\n\r\n");
  reject(C, "';' without an extension name", "llhttp transfer-encoding.md: No extension after semicolon",
    "POST /chunked_w_unicorns_after_length HTTP/1.1\r\nHost: localhost\r\nTransfer-encoding: chunked\r\n\r\n2;\r\naa\r\n0\r\n\r\n");
  reject(C, "unterminated quoted extension value", "llhttp transfer-encoding.md: Unbalanced chunk extensions quoting",
    te("5;ilovew3=\"abc\";somuchlove=\"def; ghi\r\nhello\r\n6;blahblah;blah\r\n world\r\n0\r\n\r\n"));
  reject(C, "SP inside an unquoted extension value", "RFC 9112 §7.1.1 (chunk-ext-val = token / quoted-string)", te("5;a=b c\r\nhello\r\n0\r\n\r\n"));
  reject(C, "NUL inside a chunk extension", "RFC 9112 §7.1.1", te("5;a=b\x00\r\nhello\r\n0\r\n\r\n"));
  reject(C, "extension name that is not a token", "RFC 9112 §7.1.1 (chunk-ext-name = token)", te("5;@\r\nhello\r\n0\r\n\r\n"));
  reject(C, "missing last-chunk", "llhttp transfer-encoding.md: Missing last-chunk", "PUT /url HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nfoo\r\n\r\n");
  reject(C, "SP, LF and SPs after the size", "llhttp transfer-encoding.md: Validate chunk parameters", te("3 \n  \r\nfoo\r\n\r\n"));
  reject(C, "size line ended by CR CR (smuggling)", "llhttp transfer-encoding.md: Chunk header not terminated by CRLF; http-garden server bug 31",
    "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n0\r\n\r\n");
  reject(C, "chunk data not followed by CRLF", "llhttp transfer-encoding.md: Chunk data not terminated by CRLF", te("5\r\nABCDE0\r\n\r\n"));
  reject(C, "chunk data longer than its size", "RFC 9112 §7.1", te("5\r\nhelloXX\r\n0\r\n\r\n"));
  reject(C, "SP after the size", "llhttp transfer-encoding.md: Space after chunk header", te("a \r\n0123456789\r\n0\r\n\r\n"));
  reject(C, "size '0_2e' (longest-prefix parse, smuggling)", "http-garden server bugs 1 and 22",
    "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0_2e\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n0\r\n\r\n");
  reject(C, "non-hex sizes", "http-garden Akamai bug 2 / transducer bug 2", "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\nZ\r\nZZ\r\nZZZ\r\n\r\n");
  reject(C, "size 'z'", "picohttpparser test.c: chunked failure (z\\r\\nabcdefg)", te("z\r\nabcdefg"));
  reject(C, "CR inside the size line before ';' (smuggling)", "http-garden Akamai bug 3 / transducer bug 3",
    "POST / HTTP/1.1\r\nHost: server.example\r\nTransfer-Encoding: chunked\r\n\r\n2\r\r;a\r\n02\r\n41\r\n0\r\n\r\nGET /bad_path/pwned HTTP/1.1\r\nHost: a\r\nContent-Length: 430\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: server.example\r\n\r\n");
  reject(C, "CR CR after a chunk extension (smuggling)", "http-garden transducer bug 36",
    `POST /abc HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: example.com\r\n\r\n41;a=b\r\r${"X".repeat(65)}\r\n0\r\n\r\nGET /bad_path/pwned HTTP/1.1\r\nHost: a\r\nContent-Length: 412\r\n\r\n0\r\n\r\nGET /def HTTP/1.1\r\nHost: example.com\r\n\r\n`);
  reject(C, "junk after the size digits", "http-garden transducer bug 7", te("1these-bytes-never-get-validated\r\nZ\r\n0\r\n\r\n"));
  reject(C, "size '-0x0'", "http-garden transducer bug 19", te("-0x0\r\n\r\n"));
  reject(C, "size with 0x prefix", "http-garden server bug 25", te("0x5\r\nhello\r\n0\r\n\r\n"));
  reject(C, "size with '+' sign", "http-garden server bug 25", te("+5\r\nhello\r\n0\r\n\r\n"));
  reject(C, "whitespace before the size", "http-garden transducer bug 24", te("           0\r\n\r\n"));
  reject(C, "empty size line", "http-garden server bug 17 (empty chunk-size treated as 0)", "GET / HTTP/1.1\r\nHost: whatever\r\nTransfer-Encoding: chunked\r\n\r\n\r\n\r\n");
  reject(C, "extra CRLF before the last-chunk (smuggling)", "http-garden transducer bug 17",
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n17\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n\r\n\r\n0\r\n\r\n");
  reject(C, "invalid chunk followed by a request (response queue poisoning)", "http-garden server bug 47",
    "POST / HTTP/1.1\r\nHost: whatever\r\nTransfer-Encoding: chunked\r\n\r\nINVALID!!!\r\nGET / HTTP/1.1\r\nHost: whatever\r\n\r\n");
  reject(C, "size overflow (17 hex digits)", "picohttpparser test.c: chunked failure (fffffffffffffffff)", te("6\r\nhello \r\nfffffffffffffffff\r\nabcdefg"));
  reject(C, "size overflow (32 hex digits)", "RFC 9112 §7.1 (anticipate large hex numerals, prevent overflow)", te(`${"f".repeat(32)}\r\nabc`));
  reject(C, "bare LF after the size", "RFC 9112 §7.1 (CRLF); picohttpparser test.c accepts b\\nhello world\\n0\\n\\n, we do not", te("5\nhello\r\n0\r\n\r\n"));
  reject(C, "bare LF after chunk data", "http-garden transducer bug 13", "GET / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\n0\r\n\r\n");
  reject(C, "bare LF after the last-chunk", "http-garden README (0\\n\\r\\n discrepancy)", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\n\r\n");
  reject(C, "bare LF as the final empty line", "RFC 9112 §7.1", te("0\r\n\n"));
  reject(C, "LF-only chunked body", "picohttpparser test.c: chunked consume_trailer (b\\nhello world\\n0\\n\\n)", te("b\nhello world\n0\n\n"));
  reject(C, "size then bare CR then data", "http-garden transducer bug 4", "POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n1\r0\n");
  reject(C, "trailer line without a colon", "RFC 9112 §7.1.2 (trailer-section = *( field-line CRLF ))", te("5\r\nhello\r\n0\r\nbad trailer\r\n\r\n"));
  reject(C, "NUL in a trailer value", "RFC 9110 §5.5", te("5\r\nhello\r\n0\r\nX: a\x00b\r\n\r\n"));
  reject(C, "obs-fold in the trailer section", "RFC 9112 §5.2", te("5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n"));
  reject(C, "SP before colon in a trailer", "RFC 9112 §5.1", te("5\r\nhello\r\n0\r\nX : a\r\n\r\n"));
  reject(C, "bare LF ending a trailer field", "RFC 9112 §2.2", te("5\r\nhello\r\n0\r\nX: y\n\r\n"));
}

// ──────────────────────────────── limits ────────────────────────────────
{
  const C = "limits";
  accept(C, "head just under maxHeaderSize (about 8000 bytes)", "our issue (maxHeaderSize 8192)",
    `GET /big-ok HTTP/1.1\r\nHost: example.com\r\nX-Fill: ${"a".repeat(7900)}\r\n\r\n`, { path: "/big-ok" });
  accept(C, "Content-Length exactly maxRequestBodySize", "our issue (maxRequestBodySize 16 MiB)",
    post("/max-body", `Content-Length: ${MAX_BODY_SIZE}\r\n`, "b".repeat(MAX_BODY_SIZE)), { path: "/max-body", bodyLength: MAX_BODY_SIZE });
  reject(C, "one 9000-byte field", "our issue (431 over maxHeaderSize); RFC 6585 §5", `GET / HTTP/1.1\r\nHost: example.com\r\nX-Big: ${"a".repeat(9000)}\r\n\r\n`, 431);
  reject(C, "200 fields totalling about 10 KiB", "our issue; RFC 6585 §5",
    `GET / HTTP/1.1\r\nHost: example.com\r\n${Array.from({ length: 200 }, (_, i) => `X-Field-${String(i).padStart(3, "0")}: ${"v".repeat(35)}\r\n`).join("")}\r\n`, 431);
  reject(C, "head that never ends, over maxHeaderSize", "our issue (431 without waiting for the blank line)",
    `GET / HTTP/1.1\r\nHost: example.com\r\nX-Endless: ${"a".repeat(12000)}`, 431);
  reject(C, "request-target longer than the limit", "RFC 9112 §3 (414 URI Too Long); RFC 9110 §15.5.15",
    `GET /${"u".repeat(9000)} HTTP/1.1\r\nHost: example.com\r\n\r\n`, 414);
  reject(C, "Content-Length one over maxRequestBodySize", "our issue (413 checked before reading)",
    post("/", `Content-Length: ${MAX_BODY_SIZE + 1}\r\n`, ""), 413);
  reject(C, "Content-Length of 1 TiB", "our issue (413)", post("/", "Content-Length: 1099511627776\r\n", "abc"), 413);
  reject(C, "one chunk size over maxRequestBodySize", "our issue (413 while de-chunking)",
    chunked("/", `${(MAX_BODY_SIZE + 1).toString(16)}\r\nabc`), 413);
  reject(C, "chunk extension longer than maxHeaderSize", "our issue (413 for a chunk line past maxHeaderSize, as Bun.serve); RFC 9112 §7.1.1",
    chunked("/", `5;ext=${"e".repeat(9000)}\r\nhello\r\n0\r\n\r\n`), 413);
  reject(C, "chunk line that never ends, past maxHeaderSize", "our issue (413 without waiting for its CRLF)",
    chunked("/", `5;${"e".repeat(9000)}`), 413);
  reject(C, "trailer section longer than maxHeaderSize", "our issue (431: trailers are header fields); RFC 9112 §7.1.2, RFC 6585 §5",
    chunked("/", `5\r\nhello\r\n0\r\nX-Trailer: ${"t".repeat(9000)}\r\n\r\n`), 431);
  reject(C, "chunks adding up to over maxRequestBodySize", "our issue (413 while de-chunking)",
    chunked("/", `${chunk("c".repeat(MAX_BODY_SIZE / 2))}${(MAX_BODY_SIZE / 2 + 1).toString(16)}\r\nabc`), 413);
}

// ───────────────────────── connection & smuggling ─────────────────────────
{
  const C = "connection";
  accept(C, "two pipelined GETs", "RFC 9112 §9.3.2", `${get("/one")}${get("/two")}`, { count: 2, paths: ["/one", "/two"] });
  accept(C, "Expect: 100-continue with the body sent at once", "RFC 9110 §10.1.1", post("/expect", "Expect: 100-continue\r\nContent-Length: 5\r\n", "hello"), { body: "hello" });
  accept(C, "data after Connection: close is not parsed", "http-garden server bug 45 (Host added)",
    "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\nInvalid\r\n\r\n", { count: 1 }, true);
  accept(C, "request after an HTTP/1.0 request is not served", "llhttp connection.md: No restart when keep-alive is off (1.0)",
    "PUT /url HTTP/1.0\r\n\r\nPUT /url HTTP/1.1\r\nHost: example.com\r\n\r\n", { count: 1, method: "PUT" }, true);
  accept(C, "CRLF between requests then Connection: close", "llhttp connection.md: CRLF between requests, explicit `close`",
    "POST / HTTP/1.1\r\nHost: www.example.com\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4\r\nConnection: close\r\n\r\nq=42\r\n\r\nGET / HTTP/1.1\r\n",
    { count: 1, body: "q=42" }, true);
  accept(C, "valid request then one with a bad Content-Length: 200 then 400", "RFC 9112 §9.3.2 (pipelining); http-garden server bug 45",
    `${get("/ok")}GET / HTTP/1.1\r\nHost: example.com\r\nContent-Length: -1\r\n\r\n`, { count: 1, path: "/ok", statuses: [200, 400] }, true);
  accept(C, "valid request then a garbage line: 200 then 400", "RFC 9112 §9.3.2; http-garden server bug 45 (Invalid\\r\\n\\r\\n after a request)",
    `${get("/ok")}Invalid\r\n\r\n`, { count: 1, path: "/ok", statuses: [200, 400] }, true);
  accept(C, "valid request then a malformed request line: 200 then 400", "RFC 9112 §9.3.2, §3",
    `${get("/ok")}GET  /x HTTP/1.1\r\nHost: example.com\r\n\r\n`, { count: 1, path: "/ok", statuses: [200, 400] }, true);
  accept(C, "valid chunked request then a bare-LF request: 200 then 400", "RFC 9112 §9.3.2, §2.2",
    `${chunked("/ok", "2\r\nok\r\n0\r\n\r\n")}GET /x HTTP/1.1\nHost: example.com\n\n`, { count: 1, path: "/ok", body: "ok", statuses: [200, 400] }, true);
  accept(C, "two valid requests then an unknown coding: 200, 200, 501", "RFC 9112 §9.3.2, §6.1",
    `${get("/a")}${get("/b")}${post("/c", "Transfer-Encoding: gzip\r\n", "")}`, { count: 2, paths: ["/a", "/b"], statuses: [200, 200, 501] }, true);
  accept(C, "Connection: keep-alive, close (close wins)", "llhttp connection.md: Parsing multiple tokens; RFC 9112 §9.6",
    "PUT /url HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, close\r\n\r\n", { method: "PUT" }, true);
}

// Sanity: names are unique (test names are built from them).
{
  const seen = new Set<string>();
  for (const c of cases) {
    const key = `${c.category}: ${c.name}`;
    if (seen.has(key)) throw new Error(`duplicate case name: ${key}`);
    seen.add(key);
  }
}

export default cases;
