/**
 * Writes the scanner's seed corpus: one file per raw request case of
 * test/cases/requests.ts (valid and invalid, as the bytes go on the wire),
 * plus a few pipelined streams. Used by test/c/scanner_test.c (split at every
 * byte boundary) and by the libFuzzer target (scripts/fuzz.sh).
 *
 *   bun scripts/fuzz-seeds.ts <out-dir> [max-bytes]
 *
 * Cases larger than max-bytes (default 65536) are left out: splitting at every
 * byte is quadratic, and the fuzzer works on small inputs.
 * @module
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cases } from "../test/cases/requests.ts";

/** Writes the seeds into `dir`; returns how many. */
export function writeSeeds(dir: string, maxBytes = 65536): number {
  mkdirSync(dir, { recursive: true });
  let n = 0;
  const put = (name: string, raw: string) => {
    if (raw.length > maxBytes) return;
    const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60);
    writeFileSync(join(dir, `${String(n).padStart(3, "0")}-${slug}`), Buffer.from(raw, "latin1"));
    n++;
  };
  for (const c of cases) put(`${c.category} ${c.name}`, c.raw);
  // Pipelined streams: requests back to back, each framing kind, ending mid-request.
  const host = "Host: example.com\r\n";
  put("pipelined gets", `GET /a HTTP/1.1\r\n${host}\r\nGET /b HTTP/1.1\r\n${host}\r\nGET /c HTTP/1.1\r\n${host}\r\n`);
  put(
    "pipelined bodies",
    `POST /a HTTP/1.1\r\n${host}Content-Length: 3\r\n\r\nabcPOST /b HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\n` +
      `2;x=1\r\nde\r\n0\r\nT: v\r\n\r\nGET /c HTTP/1.1\r\n${host}Connection: close\r\n\r\nGET /d HTTP/1.1\r\n`,
  );
  put("pipelined then an error", `GET /a HTTP/1.1\r\n${host}\r\nGET\r\n\r\nGET /c HTTP/1.1\r\n${host}\r\n`);
  put("head then partial body", `POST /a HTTP/1.1\r\n${host}Content-Length: 100\r\n\r\npartial`);
  return n;
}

if (import.meta.main) {
  const dir = process.argv[2];
  if (!dir) {
    console.error("usage: bun scripts/fuzz-seeds.ts <out-dir> [max-bytes]");
    process.exit(2);
  }
  const n = writeSeeds(dir, process.argv[3] ? Number(process.argv[3]) : undefined);
  console.log(`wrote ${n} seeds to ${dir}`);
}
