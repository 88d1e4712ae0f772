/**
 * soak.ts - a million mixed requests against one server process, in rounds,
 * watching its RSS and its arena pool between rounds; writes bench/SOAK.md.
 *
 *   bun bench/soak.ts                     # 1,000,000 requests in 10 rounds
 *   bun bench/soak.ts --requests 200000 --rounds 4 --out /tmp/SOAK.md
 *
 * The load is test/helpers/soak.ts's (the CI soak in test/faults.test.ts is
 * the same at 200k): keep-alive connections sending pipelined batches of
 * plain and large bodies, Content-Length and chunked uploads, raw and async
 * responses, handler errors, and a request after which the server closes.
 * Between rounds every connection is closed and the server process (a child:
 * test/helpers/fault-server.ts) reports its RSS after a full GC, its
 * connections and its slabs in use. Round 1 is the warm-up; the result is
 * the RSS from the end of round 1 to the end, and whether every slab came back.
 * @module
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnServer } from "../test/helpers/child-server.ts";
import { runSoak } from "../test/helpers/soak.ts";

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

const total = Number(arg("requests", "1000000"));
const rounds = Number(arg("rounds", "10"));
const connections = Number(arg("connections", "16"));
const depth = Number(arg("depth", "16"));
const out = arg("out", join(import.meta.dir, "SOAK.md"));
const mib = (b: number) => (b / 2 ** 20).toFixed(1);

interface Row {
  round: number;
  requests: number;
  seconds: number;
  rps: number;
  failures: number;
  rss: number;
  connections: number;
  slabsInUse: number;
  largeInUse: number;
  slabs: number;
  statuses: Record<string, number>;
}

const server = await spawnServer();
const rows: Row[] = [];
let done = 0;
try {
  const start = await server.stats();
  console.log(`soak: ${total} requests in ${rounds} rounds, ${connections} connections × ${depth} pipelined; server pid ${server.pid}, RSS ${mib(start.rss)} MiB at start`);
  for (let r = 1; r <= rounds; r++) {
    const n = Math.round((total * r) / rounds) - done;
    const res = await runSoak({ port: server.port, total: n, connections, depth, timeoutMs: 600_000 });
    done += res.requests;
    const s = await server.until((x) => x.stats.connections === 0, 5000);
    const row: Row = {
      round: r,
      requests: done,
      seconds: res.ms / 1000,
      rps: res.requests / (res.ms / 1000),
      failures: res.failures,
      rss: s.rss,
      connections: s.stats.connections,
      slabsInUse: s.stats.slabsInUse,
      largeInUse: s.stats.largeInUse,
      slabs: s.stats.slabs,
      statuses: res.statuses,
    };
    rows.push(row);
    console.log(
      `round ${r}: ${done} requests, ${row.rps.toFixed(0)} req/s, ${res.failures} failed batches, RSS ${mib(row.rss)} MiB, ` +
        `connections ${row.connections}, slabs in use ${row.slabsInUse} (of ${row.slabs} made), large ${row.largeInUse}`,
    );
    if (res.failureNotes.length) console.log(`  failures: ${res.failureNotes.join("; ")}`);
  }
} finally {
  await server.stop();
}

const first = rows[0]!;
const last = rows[rows.length - 1]!;
const growth = last.rss - first.rss;
const perRequest = growth / Math.max(1, last.requests - first.requests);
const allBack = rows.every((r) => r.slabsInUse === 0 && r.largeInUse === 0 && r.connections === 0);
const failures = rows.reduce((a, r) => a + r.failures, 0);
const statuses: Record<string, number> = {};
for (const r of rows) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
const verdict = allBack && failures === 0 && growth < 32 * 2 ** 20 ? "flat" : "NOT flat";

const md = `# Soak

\`bun bench/soak.ts\` — ${last.requests.toLocaleString("en-US")} mixed requests against one server
process, in ${rows.length} rounds; after each round every connection is closed and the server
reports its RSS (after a full GC), its connections and its arena slabs in use. The load is the one
\`test/faults.test.ts\` runs at 200k in CI (\`test/helpers/soak.ts\`): ${connections} keep-alive
connections × ${depth} pipelined requests per batch, mixing plain and large bodies,
Content-Length and chunked uploads, raw and async responses, handler errors (500), and requests
after which the server closes (\`Connection: close\`, and a malformed request answered 400).

**Last run:** ${new Date().toISOString().slice(0, 10)}, Bun ${Bun.version}, ${process.platform}/${process.arch}.
Result: **${verdict}** — RSS ${mib(first.rss)} MiB after round 1 (warm-up), ${mib(last.rss)} MiB at the
end (${growth >= 0 ? "+" : ""}${mib(growth)} MiB over ${(last.requests - first.requests).toLocaleString("en-US")} requests,
${perRequest.toFixed(2)} bytes a request); slabs in use, large slabs and connections back to 0 after
every round: ${allBack ? "yes" : "NO"}; failed batches: ${failures}. Statuses: ${Object.entries(statuses)
  .map(([k, v]) => `${k} × ${v.toLocaleString("en-US")}`)
  .join(", ")}.

| round | requests so far | seconds | req/s | RSS MiB | connections | slabs in use | large in use | slabs made |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows
  .map(
    (r) =>
      `| ${r.round} | ${r.requests.toLocaleString("en-US")} | ${r.seconds.toFixed(1)} | ${r.rps.toFixed(0)} | ${mib(r.rss)} | ${r.connections} | ${r.slabsInUse} | ${r.largeInUse} | ${r.slabs} |`,
  )
  .join("\n")}

The machine is shared and the load generator runs in the same box (2 cores): req/s here is not a
benchmark figure (see \`bench/RESULTS.md\`); the point is the RSS column and the zeros.
`;
writeFileSync(out, md);
console.log(`\n${verdict}: RSS ${mib(first.rss)} → ${mib(last.rss)} MiB; all slabs back: ${allBack}; wrote ${out}`);
process.exit(verdict === "flat" ? 0 : 1);
