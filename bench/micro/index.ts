/**
 * Microbenchmarks (mitata): the request scanner through FFI and in C alone,
 * arena allocation and response building against plain JS allocation, one
 * FFI round trip, and the header lookup.
 *
 *   bun run bench:micro             # all of them
 *   bun run bench:micro -- --filter arena
 *   bun bench/micro/index.ts --smoke  # each body run 200 times, no timing (CI)
 */
import { bench as mitataBench, do_not_optimize, group, run, summary } from "mitata";
import { detachedRequest, longHeaders, pipelined, probe, typical } from "./fixtures.ts";
import { rawRoutes } from "../../src/routes/index.ts";
import { usersIdByBytes, usersIdByStrings } from "../lib/by-hand.ts";
import type { HttpRequest } from "../../src/index.ts";

const smoke = process.argv.includes("--smoke");
const smokeNames: string[] = [];
/** mitata's bench, or, with --smoke, a check that the body runs (timing is for benchmarks, not CI). */
function bench(name: string, fn: () => void): void {
  if (!smoke) {
    mitataBench(name, fn);
    return;
  }
  for (let i = 0; i < 200; i++) fn();
  smokeNames.push(name);
}

const out = new Int32Array(16);
const enc = new TextEncoder();
const LOOP = 1000;

group("scanner, per request", () => {
  summary(() => {
    bench("typical, through FFI (one call per request)", () => {
      do_not_optimize(probe.fh_scan_probe(typical, typical.length, 8192, 1 << 24, out));
    });
    bench("long headers, through FFI", () => {
      do_not_optimize(probe.fh_scan_probe(longHeaders, longHeaders.length, 8192, 1 << 24, out));
    });
    bench(`typical, C alone (÷${LOOP})`, () => {
      do_not_optimize(probe.fh_scan_loop(typical, typical.length, LOOP));
    });
    bench(`long headers, C alone (÷${LOOP})`, () => {
      do_not_optimize(probe.fh_scan_loop(longHeaders, longHeaders.length, LOOP));
    });
    bench(`pipelined ×16, C alone (÷${LOOP * 16})`, () => {
      do_not_optimize(probe.fh_scan_loop(pipelined, pipelined.length, LOOP));
    });
  });
});

group("FFI", () => {
  bench("one JS→C round trip (fh_noop)", () => {
    do_not_optimize(probe.fh_noop(1));
  });
});

const req = detachedRequest(typical);
const longReq = detachedRequest(longHeaders);
const helloBody = "Hello, World!";

// The descriptor row the detached requests were made from, to reset their arenas between runs.
const dummyRow = (() => {
  const d = new Int32Array(22);
  d[4] = typical.length;
  d[5] = req.method.start;
  d[6] = req.method.len;
  d[7] = req.path.start;
  d[8] = req.path.len;
  d[9] = req.version.start;
  d[10] = req.version.len;
  d[11] = req.headerFields.start;
  d[12] = req.headerFields.len;
  d[13] = req.body.start;
  d[15] = req._flags;
  d[16] = req.target.start;
  d[17] = req.target.len;
  return d;
})();

group("building a hello-world response", () => {
  summary(() => {
    bench("req.response(200, string) in the arena", () => {
      req._reset(dummyRow, 0, req.buffer, null);
      do_not_optimize(req.response(200, helloBody));
    });
    bench("string concatenation + TextEncoder.encode", () => {
      do_not_optimize(
        enc.encode(`HTTP/1.1 200 OK\r\nDate: ${new Date().toUTCString()}\r\nContent-Length: ${helloBody.length}\r\n\r\n${helloBody}`),
      );
    });
    bench("new Uint8Array + encodeInto", () => {
      const b = new Uint8Array(128);
      do_not_optimize(enc.encodeInto(`HTTP/1.1 200 OK\r\nContent-Length: ${helloBody.length}\r\n\r\n${helloBody}`, b));
    });
  });
});

group("allocating 256 bytes", () => {
  summary(() => {
    bench("req.arena.alloc(256)", () => {
      req._reset(dummyRow, 0, req.buffer, null);
      do_not_optimize(req.arena.alloc(256));
    });
    bench("new Uint8Array(256)", () => {
      do_not_optimize(new Uint8Array(256));
    });
    bench("req.arena.encode(string)", () => {
      req._reset(dummyRow, 0, req.buffer, null);
      do_not_optimize(req.arena.encode("a string of some forty characters......"));
    });
    bench("TextEncoder.encode(string)", () => {
      do_not_optimize(enc.encode("a string of some forty characters......"));
    });
  });
});

group("header lookup", () => {
  bench("req.header('host'), typical", () => do_not_optimize(req.header("host")));
  bench("req.header('cookie'), long headers (last)", () => do_not_optimize(longReq.header("cookie")));
  bench("req.header('x-missing'), long headers", () => do_not_optimize(longReq.header("x-missing")));
});

// A raw route against a handler that finds the route and the id itself (bench/servers/param.ts's
// fasthttp-hand): matching, params, and the handler's call, without building a response.
const userReq = detachedRequest(enc.encode("GET /users/World HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n"));
let sink = "";
const routed = rawRoutes(
  {
    "/": (r: HttpRequest) => r.buffer,
    "/api/posts": (r: HttpRequest) => r.buffer,
    "/api/posts/:id": (r: HttpRequest) => r.buffer,
    "/users/:id": (r: HttpRequest) => ((sink = (r.params as { id: string }).id), r.buffer),
    "/static/*": (r: HttpRequest) => r.buffer,
  },
  (r) => r.buffer,
).handler;
group("routing GET /users/World (a param route among five)", () => {
  summary(() => {
    bench("rawRoutes handler: match + req.params", () => {
      sink = "";
      do_not_optimize(routed(userReq, undefined as never));
      if (sink !== "World") throw new Error(`params.id is ${sink}`);
    });
    bench("by hand, bytes: prefix + id as a string", () => {
      sink = "";
      do_not_optimize((sink = usersIdByBytes(userReq)!));
      if (sink !== "World") throw new Error(`id is ${sink}`);
    });
    bench("by hand, strings: path string, split, startsWith, slice", () => {
      sink = "";
      do_not_optimize((sink = usersIdByStrings(userReq)!));
      if (sink !== "World") throw new Error(`id is ${sink}`);
    });
  });
});

const filter = process.argv.includes("--filter") ? new RegExp(process.argv[process.argv.indexOf("--filter") + 1]!) : undefined;
if (smoke) {
  for (const name of smokeNames) console.log(`ok ${name}`);
  console.log(`smoke: ${smokeNames.length} microbenchmarks ran`);
} else {
  await run(filter ? { filter } : {});
}
