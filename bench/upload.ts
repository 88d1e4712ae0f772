/**
 * Upload benchmark: request bodies streamed to the server, fasthttp against
 * Bun.serve in one run. Each server counts the bytes of every body as it
 * streams (fasthttp: `req.bodyStream()`, `req.bodyStream({ into })` into one
 * buffer of 256 KiB or 1 MiB, and through the fetch adapter with a default
 * reader and a BYOB reader over 1 MiB;
 * Bun.serve: `request.body`) and answers the count. The client (this
 * process, on another core) keeps `--conns` connections each sending
 * `--uploads` bodies of `--mib` MiB back to back (Content-Length, 1 MiB
 * writes with backpressure).
 *
 *   bun bench/upload.ts [--mib 100] [--conns 4] [--uploads 2] [--runs 3]
 *
 * Prints, per server, the median over runs of: MiB/s, server CPU seconds per
 * GiB (utime + stime from /proc), and the server's peak RSS (VmHWM, reset
 * after a warm-up upload where Linux allows it).
 * Server on CPU 0, client on CPU 1 (taskset) where there are two.
 * @module
 */
import net from "node:net";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cpuSeconds, peakRssKiB, resetPeakRss } from "./lib/proc.ts";

const { values } = parseArgs({
  options: {
    mib: { type: "string", default: "100" },
    conns: { type: "string", default: "4" },
    uploads: { type: "string", default: "2" },
    runs: { type: "string", default: "3" },
  },
});
const MIB = 1024 * 1024;
const mib = Number(values.mib);
const conns = Number(values.conns);
const uploads = Number(values.uploads);
const runs = Number(values.runs);
const pin = (cpu: number) => (Bun.which("taskset") ? ["taskset", "-c", String(cpu)] : []);

/** A fasthttp server script: `option` is its `handler: ...` or `fetch: ...`, which counts the body. */
const fasthttp = (option: string) => `
    import { newServer } from ${JSON.stringify(join(import.meta.dir, "..", "src", "index.ts"))};
    const s = newServer({ host: "127.0.0.1", port: 0, maxRequestBodySize: 2 ** 34, ${option} });
    const done = s.run(); console.log("port " + s.port); await done;`;

/** A raw handler counting `req.bodyStream(options)`. */
const raw = (options: string) => fasthttp(`handler: async (req) => {
      let n = 0;
      for await (const c of req.bodyStream(${options})) n += c.length;
      return req.response(200, String(n));
    }`);

/** Counting `request.body` with a default reader: the same app for the adapter and Bun.serve. */
const countBody = `async (r) => {
      let n = 0;
      for await (const c of r.body) n += c.length;
      return new Response(String(n));
    }`;

const SERVERS: Record<string, string> = {
  "fasthttp raw": raw(""),
  "fasthttp into 256K": raw("{ into: new Uint8Array(256 * 1024) }"),
  "fasthttp into 1M": raw("{ into: new Uint8Array(1024 * 1024) }"),
  "fasthttp fetch": fasthttp(`fetch: ${countBody}`),
  "fasthttp byob 1M": fasthttp(`fetch: async (r) => {
      const reader = r.body.getReader({ mode: "byob" });
      let buf = new Uint8Array(1024 * 1024), n = 0;
      for (;;) {
        const { value, done } = await reader.read(buf);
        if (done) break;
        n += value.length;
        buf = new Uint8Array(value.buffer);
      }
      return new Response(String(n));
    }`),
  "Bun.serve": `
    const s = Bun.serve({ hostname: "127.0.0.1", port: 0, maxRequestBodySize: 2 ** 34, fetch: ${countBody} });
    console.log("port " + s.port);`,
};

/** One connection sending `uploads` bodies of `mib` MiB; resolves with the bytes the server counted. */
async function client(port: number, block: Uint8Array): Promise<number> {
  const socket = net.connect({ port, host: "127.0.0.1" });
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  let counted = 0;
  let buffered = "";
  let answers = 0;
  let onAnswer: (() => void) | null = null;
  socket.on("data", (b: Buffer) => {
    buffered += b.toString("latin1");
    for (;;) {
      const m = /Content-Length: (\d+)\r\n(?:.*\r\n)*?\r\n/i.exec(buffered);
      if (!m) break;
      const end = m.index + m[0].length + Number(m[1]);
      if (buffered.length < end) break;
      counted += Number(buffered.slice(m.index + m[0].length, end));
      buffered = buffered.slice(end);
      answers++;
      onAnswer?.();
    }
  });
  for (let u = 0; u < uploads; u++) {
    socket.write(`POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: ${mib * MIB}\r\n\r\n`);
    for (let i = 0; i < mib; i++) if (!socket.write(block)) await new Promise((r) => socket.once("drain", r));
    while (answers <= u) await new Promise<void>((r) => (onAnswer = r));
  }
  socket.destroy();
  return counted;
}

async function measure(name: string): Promise<{ mibs: number; cpuPerGiB: number; rss: number }> {
  const proc = Bun.spawn([...pin(0), process.execPath, "-e", SERVERS[name]!], { stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  let out = "";
  while (!/port (\d+)/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${name} exited: ${out}`);
    out += new TextDecoder().decode(value);
  }
  const port = Number(/port (\d+)/.exec(out)![1]);
  const serverPid = proc.pid; // taskset execs the server: same process
  const block = new Uint8Array(MIB).fill(97);
  await client(port, block); // warm-up
  resetPeakRss(serverPid); // the peak of the measured uploads alone, where Linux allows it
  const cpu0 = cpuSeconds(serverPid) ?? 0;
  const t0 = performance.now();
  const counts = await Promise.all(Array.from({ length: conns }, () => client(port, block)));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = (cpuSeconds(serverPid) ?? 0) - cpu0;
  const rss = (peakRssKiB(serverPid) ?? 0) * 1024;
  proc.kill();
  await proc.exited;
  const total = conns * uploads * mib * MIB;
  if (counts.reduce((a, b) => a + b, 0) !== total) throw new Error(`${name}: counted ${counts} of ${total}`);
  return { mibs: total / MIB / seconds, cpuPerGiB: cpu / (total / 1024 / MIB), rss };
}

// This process is the client: pinned to CPU 1.
if (Bun.which("taskset")) await Bun.$`taskset -pc 1 ${process.pid}`.quiet().nothrow();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results = new Map<string, { mibs: number[]; cpu: number[]; rss: number[] }>();
for (let r = 0; r < runs; r++) {
  for (const name of Object.keys(SERVERS)) {
    const m = await measure(name);
    const e = results.get(name) ?? { mibs: [], cpu: [], rss: [] };
    e.mibs.push(m.mibs);
    e.cpu.push(m.cpuPerGiB);
    e.rss.push(m.rss);
    results.set(name, e);
  }
}
console.log(`uploads: ${conns} connections × ${uploads} bodies of ${mib} MiB, median of ${runs} interleaved runs`);
console.log("server               MiB/s   CPU s/GiB   peak RSS MiB");
const bun = median(results.get("Bun.serve")!.mibs);
for (const [name, e] of results) {
  const m = median(e.mibs);
  console.log(
    `${name.padEnd(19)} ${m.toFixed(0).padStart(6)}   ${median(e.cpu).toFixed(3).padStart(9)}   ${(median(e.rss) / MIB).toFixed(1).padStart(12)}   (${(m / bun).toFixed(2)}× Bun.serve)`,
  );
}
