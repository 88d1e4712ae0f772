#!/usr/bin/env bash
# Fuzzes the request scanner, chunked framer and de-chunker (c/scanner.c) with
# libFuzzer under ASan and UBSan: test/c/fuzz_scanner.c, seeded from the raw
# request cases of test/cases/requests.ts.
#
#   npm run fuzz -- 600             # ten minutes
#   scripts/fuzz.sh 60 -jobs=2      # extra arguments go to libFuzzer
#
# The corpus grows in $FUZZ_OUT/corpus (default build/fuzz/, git-ignored) and
# is reused by the next run; a crash leaves its input in $FUZZ_OUT/crash-*.
# Needs clang and its runtimes (Debian: apt-get install clang libclang-rt-14-dev).
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-60}"
[ $# -gt 0 ] && shift
case "$secs" in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [seconds] [libFuzzer args...]" >&2; exit 2 ;; esac

out="${FUZZ_OUT:-build/fuzz}"
cc="${FUZZ_CC:-clang}"
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "fuzz: $cc not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
  exit 3
fi
bun="$(command -v bun || echo node_modules/.bin/bun)"

mkdir -p "$out/corpus" "$out/seeds"
"$cc" -g -O1 -std=gnu99 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  test/c/fuzz_scanner.c -o "$out/fuzz_scanner"
"$bun" scripts/fuzz-seeds.ts "$out/seeds" 4096 >/dev/null

echo "fuzz: $secs s; corpus $out/corpus, seeds $out/seeds" >&2
exec "$out/fuzz_scanner" -max_total_time="$secs" -max_len=4096 -timeout=10 -print_final_stats=1 \
  -dict=test/c/fuzz_scanner.dict -artifact_prefix="$out/" "$@" "$out/corpus" "$out/seeds"
