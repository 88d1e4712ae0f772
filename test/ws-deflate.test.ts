/**
 * permessage-deflate (RFC 7692): c/deflate.c, built by bun:ffi's cc (TinyCC,
 * the production compiler) through test/c/deflate_tu.c and checked against
 * node:zlib both ways, by gcc and clang with every warning, and by clang
 * with ASan and UBSan over random and damaged messages; and
 * src/ws/deflate.ts's negotiation, table by table and against the answers
 * of Bun.serve itself.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { CString, cc, toArrayBuffer, type Pointer } from "bun:ffi";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import zlib from "node:zlib";
import { asan, asanNote, clang, gcc, run } from "./helpers/cbuild.ts";
import { deflateConfig, negotiateDeflate, type DeflateParams, type PerMessageDeflate } from "../src/ws/deflate.ts";

const TU = join(import.meta.dir, "c", "deflate_tu.c");
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const SYNC = { finishFlush: zlib.constants.Z_SYNC_FLUSH };

const symbols = {
  fh_zt_load: { args: [], returns: "int" },
  fh_zt_error: { args: [], returns: "ptr" },
  fh_zt_stream_size: { args: [], returns: "int" },
  fh_zt_new: { args: ["int", "int", "int"], returns: "ptr" },
  fh_zt_free: { args: ["ptr"], returns: "void" },
  fh_zt_compress: { args: ["ptr", "ptr", "f64"], returns: "f64" },
  fh_zt_decompress: { args: ["ptr", "ptr", "f64", "f64"], returns: "f64" },
  fh_zt_out: { args: ["ptr"], returns: "ptr" },
  fh_zt_cap: { args: ["ptr"], returns: "f64" },
} as const;

const lib = cc({ source: TU, symbols });
const z = lib.symbols;
const loaded = z.fh_zt_load();

/** A compressor or decompressor of the TU, freed after the suite. */
const handles: Pointer[] = [];
function stream(kind: "deflate" | "inflate", bits = 15, takeover = true): Pointer {
  const h = z.fh_zt_new(kind === "inflate" ? 1 : 0, bits, takeover ? 1 : 0) as Pointer | null;
  if (h === null) throw new Error(`fh_z_${kind}r(${bits}, ${takeover}) returned NULL`);
  handles.push(h);
  return h;
}
afterAll(() => {
  for (const h of handles) z.fh_zt_free(h);
  lib.close();
});

/** bun:ffi wants a non-empty buffer for a pointer: an empty input is a 1-byte buffer with length 0. */
function arg(data: Uint8Array): Uint8Array {
  return data.length > 0 ? data : new Uint8Array(1);
}

/** One message through fh_z_compress: its payload (copied out of the handle's buffer). */
function compress(h: Pointer, data: Uint8Array): Buffer {
  const n = z.fh_zt_compress(h, arg(data), data.length);
  if (n < 0) throw new Error(`fh_z_compress returned ${n}`);
  return Buffer.from(toArrayBuffer(z.fh_zt_out(h)!, 0, n).slice(0));
}

/** One message through fh_z_decompress: the message, or the negative close code. */
function decompress(h: Pointer, data: Uint8Array, max = 1 << 30): Buffer | number {
  const n = z.fh_zt_decompress(h, arg(data), data.length, max);
  if (n < 0) return n;
  return n === 0 ? Buffer.alloc(0) : Buffer.from(toArrayBuffer(z.fh_zt_out(h)!, 0, n).slice(0));
}

/** Text that compresses as real messages do: JSON rows. */
function jsonText(size: number): Buffer {
  const parts: string[] = [];
  let len = 0;
  for (let i = 0; len < size; i++) {
    const row = JSON.stringify({ id: i, name: `user${i}`, email: `u${i}@example.com`, active: i % 3 === 0, score: (i * 7919) % 1000 });
    parts.push(row);
    len += row.length + 1;
  }
  return Buffer.from(parts.join("\n")).subarray(0, size);
}

const SIZES = [0, 1, 100, 64 * 1024, 1 << 20];
const KINDS: [string, (n: number) => Buffer][] = [
  ["text", jsonText],
  ["random", (n) => randomBytes(n)],
];

describe("c/deflate.c under TinyCC (bun:ffi cc)", () => {
  test("fh_z_load finds the system zlib; the z_stream declared is zlib's size", () => {
    expect(loaded).toBe(0);
    expect(new CString(z.fh_zt_error()!).toString()).toBe("");
    // zlib.h's z_stream is 112 bytes on LP64 (x86-64, arm64); the gcc test below compares every field.
    if (process.arch === "x64" || process.arch === "arm64") expect(z.fh_zt_stream_size()).toBe(112);
  });

  test("a missing zlib: fh_z_load fails and fh_z_error names what was tried", () => {
    const missing = cc({ source: TU, symbols, define: { FH_Z_NAMES: '"libz-missing.so.9", "/nonexistent/libz.so"' } });
    try {
      expect(missing.symbols.fh_zt_load()).toBe(-1);
      expect(missing.symbols.fh_zt_load()).toBe(-1);
      const msg = new CString(missing.symbols.fh_zt_error()!).toString();
      expect(msg).toContain("fasthttp: permessage-deflate needs the system zlib (libz.so.1); tried libz-missing.so.9, /nonexistent/libz.so");
      expect(missing.symbols.fh_zt_new(0, 15, 0)).toBeNull();
      expect(missing.symbols.fh_zt_new(1, 15, 0)).toBeNull();
    } finally {
      missing.close();
    }
  });

  test("window bits: deflaters 9..15 only (zlib cannot make 8), inflaters 8..15", () => {
    for (const bits of [7, 8, 16]) expect(z.fh_zt_new(0, bits, 1)).toBeNull();
    for (const bits of [7, 16]) expect(z.fh_zt_new(1, bits, 1)).toBeNull();
    for (const bits of [9, 12, 15]) stream("deflate", bits);
    for (const bits of [8, 9, 12, 15]) stream("inflate", bits);
  });

  for (const takeover of [true, false]) {
    for (const bits of [15, 9]) {
      test(`round trips, ${bits}-bit window, context takeover ${takeover ? "on" : "off"}: sizes ${SIZES.join(", ")}, text and random, three rounds`, () => {
        const d = stream("deflate", bits, takeover);
        const i = stream("inflate", bits, takeover);
        for (let round = 0; round < 3; round++) {
          for (const [, make] of KINDS) {
            for (const size of SIZES) {
              const msg = make(size);
              const c = compress(d, msg);
              const back = decompress(i, c);
              expect(back).toBeInstanceOf(Buffer);
              expect((back as Buffer).equals(msg)).toBe(true);
            }
          }
        }
      });
    }
  }

  test("an empty message is the one byte 00 (RFC 7692 §7.2.3.6), before and after others, and inflates to nothing", () => {
    const d = stream("deflate", 15, true);
    expect([...compress(d, new Uint8Array(0))]).toEqual([0x00]);
    compress(d, jsonText(300));
    expect([...compress(d, new Uint8Array(0))]).toEqual([0x00]);
    const i = stream("inflate", 15, true);
    // An empty payload too (some peers send one), and it does not leave a
    // block open for the next message.
    for (const empty of [new Uint8Array(0), Buffer.from([0x00]), new Uint8Array(0)]) expect(decompress(i, empty)).toEqual(Buffer.alloc(0));
    expect(decompress(i, Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]))?.toString()).toBe("Hello");
    expect(zlib.inflateRawSync(Buffer.concat([Buffer.from([0x00]), TAIL]), SYNC).length).toBe(0);
  });

  test("context takeover is used: a repeated message shrinks with it, not without", () => {
    const msg = jsonText(2000);
    const on = stream("deflate", 15, true);
    const off = stream("deflate", 15, false);
    const first = compress(on, msg).length;
    const second = compress(on, msg).length;
    expect(second * 4).toBeLessThan(first);
    const a = compress(off, msg).length;
    const b = compress(off, msg).length;
    expect(a).toBe(b);
    expect(a).toBe(first); // the same start: an empty window
  });

  describe("interop with node:zlib (raw deflate, the 00 00 ff ff rule)", () => {
    for (const bits of [15, 10, 9]) {
      test(`ours -> node inflate, ${bits} bits: each message alone, and a takeover stream read as one`, () => {
        const off = stream("deflate", bits, false);
        const on = stream("deflate", bits, true);
        const plain: Buffer[] = [];
        const stream_: Buffer[] = [];
        for (const [, make] of KINDS) {
          for (const size of [1, 100, 5000, 64 * 1024]) {
            const msg = make(size);
            const alone = zlib.inflateRawSync(Buffer.concat([compress(off, msg), TAIL]), { ...SYNC, windowBits: bits });
            expect(alone.equals(msg)).toBe(true);
            plain.push(msg);
            stream_.push(compress(on, msg), TAIL);
          }
        }
        // With takeover the messages, each given its tail back, are one
        // raw DEFLATE stream whose later messages refer to earlier ones.
        const all = zlib.inflateRawSync(Buffer.concat(stream_), { ...SYNC, windowBits: bits });
        expect(all.equals(Buffer.concat(plain))).toBe(true);
      });

      test(`node deflate -> ours, ${bits} bits: one-shot messages, and a takeover stream flushed per message`, async () => {
        const off = stream("inflate", bits, false);
        const on = stream("inflate", bits, true);
        // node's raw deflate has no 8-bit window either; 9 is its least.
        // (Bun's sync _processChunk works once per stream only: the stream API, then.)
        const nd = zlib.createDeflateRaw({ windowBits: bits });
        const chunks: Buffer[] = [];
        nd.on("data", (c: Buffer) => chunks.push(c));
        const flushed = async (msg: Buffer): Promise<Buffer> => {
          nd.write(msg);
          await new Promise<void>((resolve) => nd.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
          const out = Buffer.concat(chunks);
          chunks.length = 0;
          return out;
        };
        try {
          for (const [, make] of KINDS) {
            for (const size of [0, 1, 100, 5000, 64 * 1024]) {
              const msg = make(size);
              const one = zlib.deflateRawSync(msg, { ...SYNC, windowBits: bits });
              expect(one.subarray(-4).equals(TAIL)).toBe(true);
              expect(decompress(off, one.subarray(0, -4))).toEqual(msg);
              if (size === 0) continue; // node's stream flushes nothing for nothing
              const part = await flushed(msg);
              expect(part.subarray(-4).equals(TAIL)).toBe(true);
              expect(decompress(on, part.subarray(0, -4))).toEqual(msg);
            }
          }
        } finally {
          nd.close();
        }
      });
    }

    test("an 8-bit inflater reads what a peer promised 8 bits makes with zlib (a 9-bit window)", () => {
      const i = stream("inflate", 8, false);
      const msg = jsonText(20_000);
      const c = zlib.deflateRawSync(msg, { ...SYNC, windowBits: 9 });
      expect(decompress(i, c.subarray(0, -4))).toEqual(msg);
    });

    test("no block is ever final (BFINAL 0): what follows each message in the stream is still read", () => {
      // A stored block of "X" after the message: zlib stops reading at the
      // end of a final block, so if any block of ours were final the X
      // would be lost.
      const after = Buffer.from([0x00, 0x01, 0x00, 0xfe, 0xff, 0x58]);
      const X = Buffer.from("X");
      for (const takeover of [true, false]) {
        const d = stream("deflate", 15, takeover);
        const wire: Buffer[] = [];
        const plain: Buffer[] = [];
        for (const [, make] of KINDS) {
          for (const size of SIZES) {
            const msg = make(size);
            const c = compress(d, msg);
            expect(c[0]! & 1).toBe(0); // the first block's BFINAL bit
            wire.push(c, TAIL);
            plain.push(msg);
            if (!takeover) {
              const out = zlib.inflateRawSync(Buffer.concat([c, TAIL, after]), SYNC);
              expect(out.equals(Buffer.concat([msg, X]))).toBe(true);
            }
          }
        }
        // With takeover, the whole stream of messages, then the X.
        if (takeover) {
          const out = zlib.inflateRawSync(Buffer.concat([...wire, after]), SYNC);
          expect(out.equals(Buffer.concat([...plain, X]))).toBe(true);
        }
      }
    });
  });

  test("RFC 7692 §7.2.3's examples decompress: Hello, Hello again with takeover, stored, BFINAL 1, two blocks", () => {
    const i = stream("inflate", 15, true);
    expect(decompress(i, Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]))?.toString()).toBe("Hello");
    expect(decompress(i, Buffer.from([0xf2, 0x00, 0x11, 0x00, 0x00]))?.toString()).toBe("Hello"); // refers to the first
    const j = stream("inflate", 15, false);
    const stored = [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00];
    expect(decompress(j, Buffer.from(stored))?.toString()).toBe("Hello");
    // §7.2.3.4: a block with BFINAL set, then the empty stored block's first byte.
    expect(decompress(j, Buffer.from([0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]))?.toString()).toBe("Hello");
    expect(decompress(j, Buffer.from([0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00]))?.toString()).toBe("Hello");
    // Two final blocks in one message (a deflater that ends a stream per flush): both read.
    const twice = Buffer.concat([zlib.deflateRawSync("Hel"), zlib.deflateRawSync("lo"), Buffer.from([0x00])]);
    expect(decompress(j, twice)?.toString()).toBe("Hello");
    // And the stream goes on afterwards.
    expect(decompress(j, Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]))?.toString()).toBe("Hello");
  });

  test("a zip bomb (100 MiB of zeros, ~100 KB compressed) with max 1 MiB: -1009, the buffer never past max + 1", () => {
    const bomb = zlib.deflateRawSync(Buffer.alloc(100 << 20), SYNC).subarray(0, -4);
    expect(bomb.length).toBeLessThan(200_000);
    const i = stream("inflate", 15, false);
    expect(decompress(i, bomb, 1 << 20)).toBe(-1009);
    expect(z.fh_zt_cap(i)).toBeLessThanOrEqual((1 << 20) + 1);
    // The limit is exact: a message of max bytes passes, one byte more does not.
    const eight = Buffer.alloc(8 << 20, 0x61);
    const c = zlib.deflateRawSync(eight, SYNC).subarray(0, -4);
    const j = stream("inflate", 15, false);
    expect(decompress(j, c, (8 << 20) - 1)).toBe(-1009);
    expect(z.fh_zt_cap(j)).toBeLessThanOrEqual(8 << 20);
    expect((decompress(j, c, 8 << 20) as Buffer).equals(eight)).toBe(true);
    // A small limit on a small message.
    expect(decompress(j, zlib.deflateRawSync("hello", SYNC).subarray(0, -4), 4)).toBe(-1009);
    expect(decompress(j, zlib.deflateRawSync("hello", SYNC).subarray(0, -4), 5)?.toString()).toBe("hello");
    expect(decompress(j, zlib.deflateRawSync("", SYNC).subarray(0, -4), 0)).toEqual(Buffer.alloc(0));
  });

  test("invalid data: -1007 (bad block type, bad codes, a reference to context not kept, a message cut inside a block); a reset stream reads on", () => {
    const i = stream("inflate", 15, false);
    expect(decompress(i, Buffer.from([0xff, 0xff, 0xff, 0xff]))).toBe(-1007);
    expect(decompress(i, Buffer.from([0x06]))).toBe(-1007); // BTYPE 11, reserved
    expect(decompress(i, Buffer.from([0x00, 0x05, 0x00, 0x00, 0x00]))).toBe(-1007); // stored LEN/NLEN mismatch
    expect(decompress(i, Buffer.from("hello"))).toBe(-1007);
    // RFC 7692 §7.2.3.2's second "Hello", which refers to the first: a
    // peer that kept its context though it was to reset it. Nothing to refer to.
    expect(decompress(i, Buffer.from([0xf2, 0x00, 0x11, 0x00, 0x00]))).toBe(-1007);
    // A message cut inside a block: the tail does not close an empty stored
    // block (it would open one the next message continues).
    const cut = zlib.deflateRawSync(jsonText(3000), SYNC).subarray(0, -6);
    expect(decompress(i, cut)).toBe(-1007);
    const partial = zlib.deflateRawSync(jsonText(3000), { finishFlush: zlib.constants.Z_PARTIAL_FLUSH });
    expect(decompress(i, partial)).toBe(-1007);
    // The stream was reset after each: the next message reads.
    expect(decompress(i, Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]))?.toString()).toBe("Hello");
    const t = stream("inflate", 15, true);
    expect(decompress(t, Buffer.from([0xff, 0xff]))).toBe(-1007);
    expect(decompress(t, Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]))?.toString()).toBe("Hello");
  });

  test("a compressor and a decompressor of the wrong kind refuse: -1 and -1007", () => {
    const d = stream("deflate", 15, false);
    const i = stream("inflate", 15, false);
    expect(z.fh_zt_compress(i, Buffer.from("x"), 1)).toBe(-1);
    expect(z.fh_zt_decompress(d, Buffer.from([0x00]), 1, 100)).toBe(-1007);
  });
});

describe("c/deflate.c under gcc and clang: no warning, no fault, zlib.h's layout", () => {
  const flags = ["-Wall", "-Wextra", "-Wshadow", "-Werror"];
  for (const [name, path] of [
    ["gcc", gcc],
    ["clang", clang],
  ] as const) {
    const note = path ? "" : ` (SKIPPED: ${name} is not installed)`;
    test.skipIf(!path)(`${name} ${flags.join(" ")}: -std=gnu99 -O2, and -std=c11 -pedantic${note}`, () => {
      const dir = mkdtempSync(join(tmpdir(), "fh-deflate-"));
      try {
        for (const std of [["-std=gnu99", "-O2"], ["-std=c11", "-pedantic"]]) {
          const r = run([path!, ...std, ...flags, "-c", TU, "-o", join(dir, "tu.o")]);
          expect(r.stderr).toBe("");
          expect(r.code).toBe(0);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  // test/c/deflate_asan.c: random round trips, then damaged and cut
  // messages under random limits; it prints its counts and exits 0 if all
  // results were the message, -1009 or -1007.
  const ASAN_SRC = join(import.meta.dir, "c", "deflate_asan.c");
  test.skipIf(!asan)(`clang ASan+UBSan: round trips and damaged messages, no fault${asanNote}`, () => {
    const dir = mkdtempSync(join(tmpdir(), "fh-deflate-asan-"));
    try {
      const exe = join(dir, "deflate_asan");
      const b = run([clang!, "-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", ...flags, ASAN_SRC, "-o", exe, "-ldl"]);
      expect(b.stderr).toBe("");
      expect(b.code).toBe(0);
      const r = run([exe]);
      expect(r.stderr).toBe("");
      expect(r.stdout).toMatch(/^fails 0 ok [1-9]\d* toobig [1-9]\d* invalid [1-9]\d*\n$/);
      expect(r.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  const zlibH = gcc !== null && run(["sh", "-c", "echo '#include <zlib.h>' | gcc -fsyntax-only -x c -"]).code === 0;
  test.skipIf(!zlibH)(
    `the z_stream declared has zlib.h's layout, field by field${zlibH ? "" : " (SKIPPED: gcc with zlib.h is not installed; apt-get install zlib1g-dev)"}`,
    () => {
      const dir = mkdtempSync(join(tmpdir(), "fh-deflate-abi-"));
      try {
        const fields = ["next_in", "avail_in", "total_in", "next_out", "avail_out", "total_out", "msg", "state", "zalloc", "zfree", "opaque", "data_type", "adler", "reserved"];
        const src = join(dir, "abi.c");
        writeFileSync(
          src,
          [
            "#include <stddef.h>",
            "#include <zlib.h>",
            `#include "${TU}"`,
            "_Static_assert(sizeof(fh_zstream) == sizeof(z_stream), \"size\");",
            ...fields.map(
              (f) =>
                `_Static_assert(offsetof(fh_zstream, ${f}) == offsetof(z_stream, ${f}) && sizeof(((fh_zstream *)0)->${f}) == sizeof(((z_stream *)0)->${f}), "${f}");`,
            ),
            "_Static_assert(Z_SYNC_FLUSH == FH_Z_SYNC_FLUSH && Z_NO_FLUSH == FH_Z_NO_FLUSH && Z_OK == FH_Z_OK, \"flush\");",
            "_Static_assert(Z_STREAM_END == FH_Z_STREAM_END && Z_BUF_ERROR == FH_Z_BUF_ERROR, \"codes\");",
            "_Static_assert(Z_DEFLATED == FH_Z_DEFLATED && Z_DEFAULT_STRATEGY == FH_Z_DEFAULT_STRATEGY, \"method\");",
            "",
          ].join("\n"),
        );
        const r = run([gcc!, "-std=gnu11", "-fsyntax-only", src]);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

/** What a client offer gets: the answer's header, or null. */
function header(offer: string | null, option: PerMessageDeflate | boolean | undefined): string | null {
  return negotiateDeflate(offer, option)?.header ?? null;
}

describe("negotiateDeflate: what real clients offer", () => {
  // Offers as sent: Chromium 156 and Bun's WebSocket and ws 8 (captured on
  // a raw socket), Firefox and Safari ("permessage-deflate"), Python
  // websockets (its default: client_max_window_bits), ws with
  // serverNoContextTakeover and serverMaxWindowBits: 10.
  const CHROME = "permessage-deflate; client_max_window_bits";
  const FIREFOX = "permessage-deflate";
  const WS_TUNED = "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits";
  const rows: [string, string | null, PerMessageDeflate | boolean | undefined, string | null, Partial<DeflateParams>][] = [
    ["Chrome, ws, Bun, websockets; true", CHROME, true, "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15, compress: true }],
    ["Firefox; true", FIREFOX, true, "permessage-deflate; client_no_context_takeover; server_no_context_takeover", { compress: true }],
    ["Chrome; dedicated both", CHROME, { compress: "dedicated", decompress: "dedicated" }, "permessage-deflate",
      { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 }],
    ["Firefox; dedicated both", FIREFOX, { compress: "dedicated", decompress: "dedicated" }, "permessage-deflate",
      { serverNoContextTakeover: false, clientNoContextTakeover: false }],
    ["Chrome; 4KB both", CHROME, { compress: "4KB", decompress: "4KB" }, "permessage-deflate; client_max_window_bits=12; server_max_window_bits=9",
      { serverMaxWindowBits: 9, clientMaxWindowBits: 12, serverNoContextTakeover: false, clientNoContextTakeover: false }],
    ["Firefox; 4KB both: no client window to limit, so no client takeover", FIREFOX, { compress: "4KB", decompress: "4KB" },
      "permessage-deflate; client_no_context_takeover; server_max_window_bits=9", { clientNoContextTakeover: true, clientMaxWindowBits: 15 }],
    ["ws tuned; true: a shared compressor cannot keep to 10 bits", WS_TUNED, true, null, {}],
    ["ws tuned; dedicated: no takeover means the shared compressor, likewise", WS_TUNED, { compress: "dedicated", decompress: "dedicated" }, null, {}],
    ["Chrome; compress disabled: negotiated, never compresses", CHROME, { compress: "disable", decompress: "shared" },
      "permessage-deflate; client_no_context_takeover; server_no_context_takeover", { compress: false }],
    ["Chrome; decompress dedicated only: compress is shared by default", CHROME, { decompress: "dedicated" },
      "permessage-deflate; server_no_context_takeover", { compress: true, serverNoContextTakeover: true, clientNoContextTakeover: false }],
    ["no header", null, true, null, {}],
    ["option off", CHROME, false, null, {}],
    ["option undefined", CHROME, undefined, null, {}],
    ["option {}", CHROME, {}, null, {}],
    ["both disabled", CHROME, { compress: "disable", decompress: "disable" }, null, {}],
    ["compress disabled alone", CHROME, { compress: false }, null, {}],
  ];
  for (const [name, offer, option, want, params] of rows) {
    test(name, () => {
      const a = negotiateDeflate(offer, option);
      expect(a?.header ?? null).toBe(want);
      if (a !== null) expect(a.params).toMatchObject(params);
    });
  }
});

describe("negotiateDeflate: parsing and declining (RFC 7692 §5, §7.1; RFC 6455 §9.1)", () => {
  const DED = { compress: "dedicated", decompress: "dedicated" } as const;
  const rows: [string, string, string | null][] = [
    // valid forms
    ["no space after ;", "permessage-deflate;client_max_window_bits=10", "permessage-deflate; client_max_window_bits=10"],
    ["spaces and tabs around", " \tpermessage-deflate ;\tclient_max_window_bits = 10 ", "permessage-deflate; client_max_window_bits=10"],
    ["a quoted value", 'permessage-deflate; client_max_window_bits="11"', "permessage-deflate; client_max_window_bits=11"],
    ["a quoted value with a quoted-pair, unescaped first", 'permessage-deflate; client_max_window_bits="1\\1"', "permessage-deflate; client_max_window_bits=11"],
    ["client window 15 needs no answer", "permessage-deflate; client_max_window_bits=15", "permessage-deflate"],
    ["client window 8 is fine to read (the inflater uses 9)", "permessage-deflate; client_max_window_bits=8", "permessage-deflate; client_max_window_bits=8"],
    ["server window 15 is echoed", "permessage-deflate; server_max_window_bits=15", "permessage-deflate; server_max_window_bits=15"],
    ["server window 9", "permessage-deflate; server_max_window_bits=9", "permessage-deflate; server_max_window_bits=9"],
    ["every parameter, no limits", "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
      "permessage-deflate; client_no_context_takeover; server_no_context_takeover"],
    ["client takeover off wins over its window", "permessage-deflate; client_no_context_takeover; client_max_window_bits=10",
      "permessage-deflate; client_no_context_takeover"],
    ["an empty list element", ", permessage-deflate,", "permessage-deflate"],
    ["another extension first, with a quoted comma", 'x-foo; a="b,c", permessage-deflate; client_max_window_bits=12',
      "permessage-deflate; client_max_window_bits=12"],
    ["x-webkit-deflate-frame is not ours", "x-webkit-deflate-frame", null],
    // declined offers
    ["8-bit server window: never agreed", "permessage-deflate; server_max_window_bits=8", null],
    ["8-bit server window, then a plain offer: the plain one", "permessage-deflate; server_max_window_bits=8, permessage-deflate", "permessage-deflate"],
    ["first acceptable of several", "permessage-deflate; foo, permessage-deflate; server_max_window_bits=12, permessage-deflate",
      "permessage-deflate; server_max_window_bits=12"],
    ["an unknown parameter", "permessage-deflate; foo", null],
    ["an unknown parameter with a value", "permessage-deflate; foo=1", null],
    ["a duplicate", "permessage-deflate; client_no_context_takeover; client_no_context_takeover", null],
    ["a duplicate window", "permessage-deflate; client_max_window_bits=10; client_max_window_bits=11", null],
    ["server window without a value", "permessage-deflate; server_max_window_bits", null],
    ["window 7", "permessage-deflate; client_max_window_bits=7", null],
    ["window 16", "permessage-deflate; server_max_window_bits=16", null],
    ["a leading zero", "permessage-deflate; client_max_window_bits=010", null],
    ["a sign", "permessage-deflate; client_max_window_bits=+10", null],
    ["not a number", "permessage-deflate; server_max_window_bits=abc", null],
    ["a value on a flag", "permessage-deflate; server_no_context_takeover=1", null],
    ["a quoted value that is not a token", 'permessage-deflate; client_max_window_bits="1 0"', null],
    ["an unterminated quote", 'permessage-deflate; client_max_window_bits="12', null],
    ["an empty parameter", "permessage-deflate; ; client_max_window_bits", null],
    ["a trailing ;", "permessage-deflate; client_max_window_bits;", null],
    ["= without a name", "permessage-deflate; =1, permessage-deflate", "permessage-deflate"],
    ["junk after the name", "permessage-deflate x", null],
    ["names are case-sensitive (as Bun and ws read them)", "PERMESSAGE-DEFLATE", null],
    ["parameter names too", "permessage-deflate; Client_Max_Window_Bits", null],
    ["an empty header", "", null],
  ];
  for (const [name, offer, want] of rows) {
    test(`${name}: ${JSON.stringify(offer)}`, () => {
      expect(header(offer, DED)).toBe(want);
    });
  }

  test("the agreed windows and takeovers, dedicated sizes", () => {
    const a = negotiateDeflate("permessage-deflate; client_max_window_bits; server_max_window_bits=12", { compress: "64KB", decompress: "8KB" });
    expect(a).toEqual({
      header: "permessage-deflate; client_max_window_bits=13; server_max_window_bits=12",
      params: { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 12, clientMaxWindowBits: 13, compress: true },
    });
    // A client's window value is its promise even when the answer omits it (§7.1.2.2).
    expect(negotiateDeflate("permessage-deflate; client_max_window_bits=10", true)!.params.clientMaxWindowBits).toBe(10);
    // Each size's windows.
    const sizes: [string, number, number][] = [["3KB", 9, 11], ["4KB", 9, 12], ["8KB", 10, 13], ["16KB", 11, 14], ["32KB", 12, 15],
      ["64KB", 13, 15], ["128KB", 14, 15], ["256KB", 15, 15], ["dedicated", 15, 15]];
    for (const [size, cBits, dBits] of sizes) {
      const p = negotiateDeflate("permessage-deflate; client_max_window_bits", { compress: size as "4KB", decompress: size as "4KB" })!.params;
      expect([size, p.serverMaxWindowBits, p.clientMaxWindowBits]).toEqual([size, cBits, dBits]);
    }
  });

  test("option values Bun refuses throw its TypeError; the ones it takes do not", () => {
    expect(() => deflateConfig({ compress: "5KB" as "4KB" })).toThrow(
      'websocket expects a valid compress option, either "disable" "shared" "dedicated" "3KB" "4KB" "8KB" "16KB" "32KB" "64KB" "128KB" or "256KB"',
    );
    expect(() => deflateConfig({ decompress: "SHARED" as "shared" })).toThrow("websocket expects a valid decompress option");
    expect(() => deflateConfig({ compress: 0 as unknown as boolean })).toThrow(TypeError);
    expect(() => deflateConfig("yes" as unknown as boolean)).toThrow("websocket expects perMessageDeflate to be a boolean or an object");
    expect(() => negotiateDeflate("permessage-deflate", { compress: "1KB" as "4KB" })).toThrow(TypeError);
    expect(deflateConfig(null)).toBeNull();
    expect(deflateConfig({ compress: null as unknown as boolean })).toBeNull();
    expect(deflateConfig({ compress: "" as "4KB", decompress: "dedicated" })).toEqual({
      compressor: "shared",
      compressBits: 15,
      decompressor: "dedicated",
      decompressBits: 15,
    });
  });
});

describe("negotiateDeflate answers as Bun.serve does", () => {
  // Every option form against every offer, the answer of a real Bun.serve
  // (its 101's Sec-WebSocket-Extensions) beside ours.
  const OPTIONS: Record<string, PerMessageDeflate | boolean | undefined> = {
    undefined: undefined,
    false: false,
    true: true,
    "{}": {},
    "shared/shared": { compress: "shared", decompress: "shared" },
    "dedicated/dedicated": { compress: "dedicated", decompress: "dedicated" },
    "4KB/4KB": { compress: "4KB", decompress: "4KB" },
    "3KB/3KB": { compress: "3KB", decompress: "3KB" },
    "16KB/8KB": { compress: "16KB", decompress: "8KB" },
    "64KB/-": { compress: "64KB" },
    "256KB/-": { compress: "256KB" },
    "-/3KB": { decompress: "3KB" },
    "-/16KB": { decompress: "16KB" },
    "-/dedicated": { decompress: "dedicated" },
    "true/-": { compress: true },
    "-/true": { decompress: true },
    "disable/-": { compress: "disable" },
    "-/disable": { decompress: "disable" },
    "disable/shared": { compress: "disable", decompress: "shared" },
    "false/dedicated": { compress: false, decompress: "dedicated" },
    "dedicated/false": { compress: "dedicated", decompress: false },
  };
  const OFFERS = [
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate",
    "permessage-deflate; client_max_window_bits=10",
    "permessage-deflate; client_max_window_bits=8",
    "permessage-deflate; client_max_window_bits=15",
    "permessage-deflate; server_max_window_bits=9",
    "permessage-deflate; server_max_window_bits=12",
    "permessage-deflate; server_max_window_bits=15",
    "permessage-deflate; server_no_context_takeover",
    "permessage-deflate; client_no_context_takeover",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    "permessage-deflate; server_max_window_bits=10; client_max_window_bits",
    "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits",
    "permessage-deflate; server_no_context_takeover; server_max_window_bits=15",
    "permessage-deflate; client_no_context_takeover; client_max_window_bits=10",
    'permessage-deflate; client_max_window_bits="12"',
    "permessage-deflate;client_max_window_bits",
    "permessage-deflate; foo",
    "permessage-deflate; foo, permessage-deflate; client_max_window_bits=10",
    "permessage-deflate; server_max_window_bits=10, permessage-deflate; client_max_window_bits=11",
    "x-webkit-deflate-frame, permessage-deflate",
    "permessage-deflate; server_max_window_bits",
    "permessage-deflate; client_max_window_bits=16",
    "permessage-deflate; client_max_window_bits=010",
    "permessage-deflate; server_no_context_takeover=1",
    "permessage-deflate; client_max_window_bits=10; client_max_window_bits=11",
    'permessage-deflate; client_max_window_bits="1 0"',
    "PERMESSAGE-DEFLATE",
    "permessage-deflate,",
  ];
  /**
   * Where ours differs on purpose: the offer, what ours equals instead (Bun's
   * answer to that other offer, or null), and why. Each is checked: Bun
   * does answer the offer differently for some option, and ours answers as
   * stated for every option.
   */
  const DIFFERENT: [string, string | null, string][] = [
    ["permessage-deflate; server_max_window_bits=8", null, "zlib cannot compress with an 8-bit window; Bun agrees to it"],
    ["permessage-deflate; server_max_window_bits=8, permessage-deflate", "permessage-deflate", "the same: the next offer is taken"],
    ["permessage-deflate; client_max_window_bits = 10", "permessage-deflate; client_max_window_bits=10",
      "whitespace around = (RFC 6455 uses RFC 2616's implied *LWS; Python websockets accepts it); Bun declines"],
    ['permessage-deflate; client_max_window_bits="1\\2"', "permessage-deflate; client_max_window_bits=12",
      "a quoted-pair: RFC 7692 §7.1 checks the value after unescaping; Bun declines"],
  ];

  let server: ReturnType<typeof Bun.serve> | undefined;
  let option: PerMessageDeflate | boolean | undefined;
  afterAll(() => server?.stop(true));

  /** Bun's answer to `offer` under `opt` (a server per option, kept while the option's offers run). */
  async function bun(offer: string, opt: PerMessageDeflate | boolean | undefined): Promise<string | null> {
    if (server === undefined || option !== opt) {
      server?.stop(true);
      option = opt;
      server = Bun.serve<undefined>({
        port: 0,
        hostname: "127.0.0.1",
        fetch(req, srv) {
          return srv.upgrade(req) ? undefined : new Response("no", { status: 400 });
        },
        websocket: { perMessageDeflate: opt, message() {} },
      });
    }
    const port = server.port!;
    return new Promise((resolve, reject) => {
      const s = connect(port, "127.0.0.1");
      let buf = "";
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error("no answer from Bun.serve"));
      }, 5000);
      s.on("data", (d) => {
        buf += d.toString("latin1");
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        clearTimeout(timer);
        s.destroy();
        if (!buf.startsWith("HTTP/1.1 101 ")) return reject(new Error(`not upgraded: ${buf.slice(0, 40)}`));
        const m = /\r\nsec-websocket-extensions: ([^\r]*)/i.exec(buf.slice(0, end + 2));
        resolve(m ? m[1]! : null);
      });
      s.on("error", reject);
      s.write(
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: ${offer}\r\n\r\n`,
      );
    });
  }

  for (const [name, opt] of Object.entries(OPTIONS)) {
    test(`perMessageDeflate ${name}: ${OFFERS.length} offers`, async () => {
      const got: string[] = [];
      const want: string[] = [];
      for (const offer of OFFERS) {
        got.push(`${offer} -> ${header(offer, opt)}`);
        want.push(`${offer} -> ${await bun(offer, opt)}`);
      }
      expect(got).toEqual(want);
    });
  }

  for (const [offer, instead, why] of DIFFERENT) {
    test(`differs on purpose: ${JSON.stringify(offer)} (${why})`, async () => {
      let differs = false;
      for (const opt of Object.values(OPTIONS)) {
        const ours = header(offer, opt);
        expect(ours).toBe(instead === null ? null : await bun(instead, opt));
        if (ours !== (await bun(offer, opt))) differs = true;
      }
      expect(differs).toBe(true);
    });
  }
});
