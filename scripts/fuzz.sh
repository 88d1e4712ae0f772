#!/usr/bin/env bash
# Fuzzes one of the core's parsers with libFuzzer under ASan and UBSan:
#   scanner  the request scanner, chunked framer and de-chunker (c/scanner.c,
#            c/chunked.c): test/c/fuzz_scanner.c, seeded from the raw request
#            cases of test/cases/requests.ts (the default)
#   ws       the WebSocket frame reader and UTF-8 validator (c/ws_read.c,
#            c/utf8.c): test/c/fuzz_ws.c, seeded from the frames below
#
#   npm run fuzz -- 600             # the scanner, ten minutes
#   npm run fuzz:ws -- 600          # the WebSocket reader (scripts/fuzz.sh ws 600)
#   scripts/fuzz.sh ws 60 -jobs=2   # extra arguments go to libFuzzer
#
# The corpus grows in $FUZZ_OUT/corpus (default build/fuzz/ or build/fuzz-ws/,
# git-ignored) and is reused by the next run; a crash leaves its input in
# $FUZZ_OUT/crash-*. Needs clang and its runtimes (Debian: apt-get install
# clang libclang-rt-14-dev).
set -euo pipefail
cd "$(dirname "$0")/.."

target=scanner
case "${1:-}" in scanner | ws) target=$1; shift ;; esac
secs="${1:-60}"
[ $# -gt 0 ] && shift
case "$secs" in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [scanner|ws] [seconds] [libFuzzer args...]" >&2; exit 2 ;; esac

if [ "$target" = ws ]; then name=fuzz_ws; out="${FUZZ_OUT:-build/fuzz-ws}"
else name=fuzz_scanner; out="${FUZZ_OUT:-build/fuzz}"; fi
cc="${FUZZ_CC:-clang}"
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "fuzz: $cc not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
  exit 3
fi

mkdir -p "$out/corpus" "$out/seeds"
"$cc" -g -O1 -std=gnu99 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  "test/c/$name.c" -o "$out/$name"

if [ "$target" = scanner ]; then
  "$(command -v bun || echo node_modules/.bin/bun)" scripts/fuzz-seeds.ts "$out/seeds" 4096 >/dev/null
else
  # Two settings bytes (see test/c/fuzz_ws.c: c2 = a server's reader,
  # max_payload 16 MiB; c3 = the same with permessage-deflate; c0 = a client's;
  # 42 = max_payload 125), then frames, masked with the key 00000000 so that
  # payloads read plainly.
  seed() { printf "$2" >"$out/seeds/$1"; }
  K='\x00\x00\x00\x00'
  seed text "\xc2\x00\x81\x85${K}Hello"
  seed fragments-ping "\xc2\x07\x01\x83${K}Hel\x89\x81${K}p\x00\x82${K}lo\x8a\x80${K}\x80\x81${K}!"
  seed close-reason "\xc2\x00\x88\x85${K}\x03\xe8bye"
  seed close-empty "\xc2\x00\x88\x80${K}\x81\x80${K}"
  seed close-codes "\xc2\x00\x88\x82${K}\x13\x87\x88\x82${K}\x13\x88"
  seed len16 "\xc2\x03\x82\xfe\x00\x7e${K}$(printf '%0126d' 0)"
  seed len64 "\xc2\x05\x82\xff\x00\x00\x00\x00\x00\x00\x00\x03${K}abc\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00"
  seed deflate "\xc3\x09\xc1\x83${K}abc\x41\x81${K}x\x80\x81${K}y"
  seed kosme "\xc2\x02\x81\x8b${K}\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
  seed kosme-split "\xc2\x0b\x01\x83${K}\xce\xba\xe1\x00\x83${K}\xbd\xb9\xcf\x89\x80${K}\x00\x82${K}\x83\xce\x00\x80${K}\x80\x83${K}\xbc\xce\xb5"
  seed utf8-bad "\xc2\x00\x81\x88${K}ab\xed\xa0\x80\xf4\x90\x80"
  seed client "\xc0\x00\x81\x05Hello\x89\x00\x82\x00"
  seed max125 "\x42\x00\x82\xfd${K}$(printf '%0125d' 0)\x82\xfe\x00\x7e${K}"
  seed reserved "\xc2\x00\x83\x80${K}"
fi

echo "fuzz $target: $secs s; corpus $out/corpus, seeds $out/seeds" >&2
exec "$out/$name" -max_total_time="$secs" -max_len=4096 -timeout=10 -print_final_stats=1 \
  -dict="test/c/$name.dict" -artifact_prefix="$out/" "$@" "$out/corpus" "$out/seeds"
