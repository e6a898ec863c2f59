#!/usr/bin/env bash
# bench/doctor.sh [RUNS] — `buildrunner doctor` (all live probes) against `buildah info`,
# measured side by side in one run with hyperfine (both commands, same warm-up, same runs).
# Prints each median and the ratio; the goals (issue 3) are a doctor median ≤ 50 ms and a
# ratio ≤ 0.5. It measures the binary as shipped: statically linked (no loader work at each
# of the probe children's exec). A benchmark, not a test: it asserts only with BENCH_ASSERT=1.
set -euo pipefail
runs=${1:-50}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
for tool in buildah hyperfine cargo rustc; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is not installed" >&2; exit 1; }
done
host=$(rustc -vV | sed -n 's/^host: //p')
(cd "$here" && RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --quiet --target "$host")
bin=$here/target/$host/release/buildrunner
store=$(mktemp -d)
trap 'rm -rf "$store"' EXIT

hyperfine -N --style basic -w 5 -r "$runs" --export-csv "$store/r.csv" \
  -n doctor "$bin doctor --storage-root $store/doctor" \
  -n "buildah info" "buildah --root $store/buildah --runroot $store/run info" >&2
# CSV columns: command,mean,stddev,median,user,system,min,max (seconds)
awk -F, -v assert="${BENCH_ASSERT:-0}" '
  NR == 2 { d = $4 } NR == 3 { b = $4 }
  END {
    printf "doctor (all live probes): median %.1f ms\n", d * 1000
    printf "buildah info:             median %.1f ms\n", b * 1000
    printf "ratio doctor / buildah info: %.2f (goal <= 0.50; doctor goal <= 50 ms)\n", d / b
    if (assert == 1 && (d / b > 0.5 || d > 0.05)) { print "bench: goal missed" > "/dev/stderr"; exit 1 }
  }' "$store/r.csv"
