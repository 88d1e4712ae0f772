#!/usr/bin/env bash
# cpu-per-request.sh [DIR] [RUNS] - server CPU per request (../shared/tools/cpu-per-request) for
# fasthttp (DIR/bench/servers/fasthttp.ts: a precomputed raw hello-world response) and the C limit
# (DIR/bench/servers/c-limit.c, gcc -O2), at -c50 and pipelined (-c256 -s bench/pipeline.lua, 16 per
# write). Each figure is taken RUNS times (default 3), each on a fresh server process pinned to CPU 0
# (wrk runs on CPU 1: the tool pins it); prints every run, then median [min-max] per figure.
# DIR is the checkout to measure (default: this repo), so the same command measures a baseline copy
# and the working tree. Set CPU_PER_REQUEST to the tool's path if it is not at ../shared/tools/.
#   bench/cpu-per-request.sh /tmp/fh-base-8da5b74 3 | tee /tmp/fh-bench/cpu-per-request.txt
set -u
here=$(cd "$(dirname "$0")" && pwd)
dir=$(cd "${1:-$here/..}" && pwd); runs=${2:-3}
bun=$dir/node_modules/.bin/bun; [ -x "$bun" ] || bun=$(command -v bun)
tool=${CPU_PER_REQUEST:-$here/../../shared/tools/cpu-per-request}
[ -x "$tool" ] || { echo "no cpu-per-request tool at $tool (set CPU_PER_REQUEST)" >&2; exit 2; }
work=$(mktemp -d /tmp/fh-cpu-per-request.XXXXXX); trap 'kill "${pid:-}" 2>/dev/null; rm -rf "$work"' EXIT
gcc -O2 -o "$work/c-limit" "$dir/bench/servers/c-limit.c" || exit 1
echo "cpu-per-request: $dir at $(git -C "$dir" rev-parse --short=12 HEAD 2>/dev/null || echo '?')$( [ -n "$(git -C "$dir" status --porcelain -- src c 2>/dev/null)" ] && echo ' (src/ or c/ edited)'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$runs"); do
  for server in fasthttp c-limit; do
    for shape in c50 pipelined; do
      if [ "$server" = fasthttp ]; then taskset -c 0 "$bun" "$dir/bench/servers/fasthttp.ts" 0 >"$work/log" 2>&1 &
      else taskset -c 0 "$work/c-limit" 0 >"$work/log" 2>&1 & fi
      pid=$!
      for _ in $(seq 200); do grep -q '^ready' "$work/log" && break; sleep 0.05; done
      port=$(sed -n 's/^ready.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/log" | head -1)
      [ -n "$port" ] || { echo "$server did not start:"; cat "$work/log"; exit 1; } >&2
      if [ "$shape" = c50 ]; then opts=(-c50); else opts=(-c256 -s "$here/pipeline.lua"); fi
      echo "$(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg) run $run $server $shape: $("$tool" "$pid" "http://127.0.0.1:$port/" "${opts[@]}")" | tee -a "$work/out"
      kill -TERM "$pid"; wait "$pid" 2>/dev/null; pid=
    done
  done
done
echo "median [min-max] of $runs run(s), server CPU per request in us:"
for server in fasthttp c-limit; do
  for shape in c50 pipelined; do
    grep " $server $shape: " "$work/out" | sed 's/.*: \([0-9.]*\) req\/s; server CPU per request \([0-9.]*\) us (user \([0-9.]*\), system \([0-9.]*\)).*/\2 \3 \4 \1/' |
      sort -n | awk -v name="$server $shape" '{ c[NR] = $1; u[NR] = $2; s[NR] = $3; r[NR] = $4 }
        END { if (!NR) exit; m = int((NR + 1) / 2); med = NR % 2 ? c[m] : (c[m] + c[m + 1]) / 2
              printf "  %-20s %.3f [%.3f-%.3f] us/req (the median run: user %.3f, system %.3f; %d req/s)\n", name, med, c[1], c[NR], u[m], s[m], r[m] }'
  done
done
