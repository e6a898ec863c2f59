#!/usr/bin/env bash
# bench/build.sh [RUNS] — `buildrunner build` measured side by side with what it replaces, in
# one run, on this host. Prints one line per goal of issue 4 ("Performance") with the measured
# figures and the ratio. A benchmark, not a test: it asserts only with BENCH_ASSERT=1.
#
#   P1  buildrunner build wall time / the same `buildah bud` typed by hand (the exact flags
#       buildrunner logged as `$ buildah …`: same driver, isolation, --layers), quick fixture
#       (bench/fixtures/quick on the busybox base). Both sides build in a fresh storage root
#       and remove it afterwards (buildrunner does both itself; the hand side runs
#       `mkdir; buildah …; rm -rf`). Goal <= 1.03.
#   P2  the seed's fixed setup (`buildah --storage-driver vfs bud --layers`) / buildrunner's own
#       choice, twice: on this host as it is (seed isolation = buildrunner's unless
#       SEED_ISOLATION=chroot|oci; not judged), and confined like a fleet container (root
#       without CAP_SYS_ADMIN via setpriv: user namespace, chroot on both sides; judged), on a
#       6-layer ~100 MB base (made once from bench/fixtures/base6, cached as
#       target/bench/base6.oci.tar) plus 4 RUN steps (bench/fixtures/layered). Both build into
#       a fresh storage root kept for `du -sb` (buildrunner: its per-run root, with
#       --keep-storage, as users get it); removal untimed.
#       Goals: time ratio >= 3, disk ratio >= 4.
#   P3  warm build on empty storage with the registry cache / cold build (bench/fixtures/cached:
#       RUN steps that sleep), both `--cache-repo REG/bench/cache-<unique> --push`, each on
#       fresh storage; a new cache repo for every cold/warm pair. Goal <= 0.25.
#   P6  buildrunner's own peak RSS during a cold cache+push build: VmHWM of the buildrunner
#       process polled every 10 ms from /proc (its buildah children are separate processes
#       and not counted; `/usr/bin/time` would count them). Goal <= 30 MB.
#
# Timed pairs alternate (and swap order every run); figures are medians over RUNS (default 5).
# Registry: the one .ci/run exported (REGISTRY_*), else a private pair started with
# tests/support/registry.sh on target/bench/registry, ports $BENCH_REGISTRY_PORT (5100) and
# +1, stopped on exit (the tests start and stop theirs on 5000/5001). Scratch space
# lives under target/bench/ and is removed on exit. Needs root (buildah with real overlay), as
# the rest of the live tests do. Takes about 2 minutes on 2 cores (RUNS=5), plus ~10 s once
# for the base. The host's load shows in the "pairs" spreads: on a busy machine P1's 3 % is
# within the noise.
set -euo pipefail
runs=${1:-5}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/build.sh [RUNS]" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
for tool in buildah cargo curl du; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is not installed" >&2; exit 1; }
done
cd "$here"
cargo build --release --quiet
bin=$here/target/release/buildrunner
fix=$here/bench/fixtures
note() { printf 'bench: %s\n' "$*" >&2; }

mkdir -p target/bench
store=$(mktemp -d "$here/target/bench/run.XXXXXX")
started_registry=
cleanup() {
  local rc=$? m
  # An interrupted buildah can leave mounts in its storage root: detach them first.
  for m in $(awk -v d="$store/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$store"
  if [[ -n $started_registry ]]; then # ours: stop it and drop what the runs pushed
    tests/support/registry.sh stop "$started_registry" >/dev/null || true
    rm -rf "$started_registry"/storage-v4 "$started_registry"/storage-v6
  fi
  return $rc
}
trap cleanup EXIT
# On a signal, exit once the running child has (buildrunner writes its result as it stops),
# so cleanup never races it.
trap 'exit 130' INT
trap 'exit 143' TERM
export BUILDRUNNER_WORK_DIR=$store/work # buildrunner's per-run roots: same filesystem as ours

# --- fixtures ---------------------------------------------------------------------------
fixtures=${BUILDRUNNER_FIXTURES:-$here/target/test-support}
bash tests/support/busybox-base.sh "$fixtures" >&2
busybox=oci-archive:$fixtures/busybox.oci.tar
base6=$here/target/bench/base6.oci.tar
if [[ ! -s $base6 || $fix/base6/Containerfile -nt $base6 || $fixtures/busybox.oci.tar -nt $base6 ]]; then
  note "building the 6-layer base once ($base6)"
  b=(--root "$store/base6/root" --runroot "$store/base6/run" --storage-driver vfs)
  buildah "${b[@]}" bud --quiet --isolation chroot --layers --build-arg "BASE=$busybox" \
    -t localhost/bench/base6 "$fix/base6" >/dev/null
  buildah "${b[@]}" push --quiet localhost/bench/base6 "oci-archive:$base6.tmp:localhost/bench/base6"
  mv -f "$base6.tmp" "$base6"
  rm -rf "$store/base6"
fi

# --- helpers ----------------------------------------------------------------------------
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# json_str FILE KEY — a string field of buildrunner's pretty-printed result
json_str() { sed -n "s/^ *\"$2\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" "$1" | head -n1; }
json_raw() { sed -n "s/^ *\"$2\": \\([^,]*\\),\\{0,1\\}\$/\\1/p" "$1" | head -n1; }
# pair_spread A B — min-max of A[i]/B[i] over two arrays (by name) of back-to-back runs: how
# noisy the host was while they ran
pair_spread() {
  local -n a=$1 b=$2
  paste <(printf '%s\n' "${a[@]}") <(printf '%s\n' "${b[@]}") |
    awk '{ r = $1 / $2; lo = (NR == 1 || r < lo) ? r : lo; hi = (NR == 1 || r > hi) ? r : hi }
      END { printf "%.2f-%.2f", lo, hi }'
}
# run_logged LOG CMD... — runs CMD with its output in LOG; on failure shows the log and stops
run_logged() {
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    note "failed: $*"
    tail -n 30 "$log" >&2
    exit 1
  fi
}
br_build() { # br_build NAME ARGS... — buildrunner build, result in $store/NAME.json, log NAME.log
  local name=$1
  shift
  run_logged "$store/$name.log" "$bin" build --log-format plain --format text \
    --result "$store/$name.json" "$@"
}

# --- P1: buildrunner vs the same buildah bud by hand ------------------------------------
p1_args=(--build-arg "BASE=$busybox" -t localhost/bench/p1 "$fix/quick")
br_build p1-warmup "${p1_args[@]}"
line=$(sed -n 's/^[^ ]* buildrunner: \$ buildah //p' "$store/p1-warmup.log" | head -n1)
rundir=$(sed -n 's/^[^ ]* buildrunner: run dir //p' "$store/p1-warmup.log" | head -n1)
[[ -n $line && -n $rundir ]] || { note "no logged buildah command line"; cat "$store/p1-warmup.log" >&2; exit 1; }
eval "hand=($line)"                          # buildrunner quotes it for a shell
hand=("${hand[@]//"$rundir"/$store/hand}")   # its run dir → the hand side's fresh dir
driver=$(json_str "$store/p1-warmup.json" storage_driver)
isolation=$(json_str "$store/p1-warmup.json" isolation)
layers=$(json_raw "$store/p1-warmup.json" layers)
hand_build() {
  mkdir -p "$store/hand"
  run_logged "$store/p1-hand.log" buildah "${hand[@]}"
  rm -rf "$store/hand"
}
hand_build # warm-up
note "P1: $runs x buildrunner build / buildah ${hand[*]}"
p1_br=() p1_hand=()
for ((i = 0; i < runs; i++)); do # times in µs, from $EPOCHREALTIME
  for side in $( ((i % 2)) && echo "hand br" || echo "br hand"); do
    t0=${EPOCHREALTIME/[.,]/}
    if [[ $side == br ]]; then br_build p1 "${p1_args[@]}"; else hand_build; fi
    t1=${EPOCHREALTIME/[.,]/}
    if [[ $side == br ]]; then p1_br+=($((t1 - t0))); else p1_hand+=($((t1 - t0))); fi
  done
done
p1_br_med=$(printf '%s\n' "${p1_br[@]}" | median)
p1_hand_med=$(printf '%s\n' "${p1_hand[@]}" | median)
p1_spread=$(pair_spread p1_br p1_hand)

# --- P2: the seed's vfs + intermediate layers vs buildrunner's choice --------------------
# Measured twice: on this host as it is (root with every capability: buildrunner picks OCI
# isolation, and the seed gets the same), and confined like a fleet container (root without
# CAP_SYS_ADMIN, so buildah runs in a user namespace and buildrunner picks chroot isolation,
# as in every Docker cell of docs/matrix.md; the seed gets chroot, as in KNOWLEDGE.md §4).
p2_common=(--build-arg "BASE=oci-archive:$base6" -t localhost/bench/p2)
confine=(setpriv --bounding-set=-sys_admin --inh-caps=-sys_admin --)
p2_measure() { # p2_measure TAG SEED_ISOLATION [PREFIX...] — sets p2_<TAG>_{st,bt,sd,bd,peak,drv,iso,spread}
  local tag=$1 siso=$2 i side t0 t1 d
  shift 2
  local seed_t=() br_t=() seed_d=() br_d=()
  note "P2 ($tag): $runs x seed (vfs, --layers, isolation $siso) / buildrunner, 6-layer base"
  for ((i = 0; i < runs; i++)); do
    for side in $( ((i % 2)) && echo "br seed" || echo "seed br"); do
      rm -rf "$store/p2"
      t0=${EPOCHREALTIME/[.,]/}
      if [[ $side == seed ]]; then
        run_logged "$store/p2-seed.log" "$@" buildah --root "$store/p2/root" --runroot "$store/p2/run" \
          --storage-driver vfs bud --isolation "$siso" --layers "${p2_common[@]}" "$fix/layered"
      else
        # What users get: a fresh per-run root (kept here only to be measured).
        BUILDRUNNER_WORK_DIR=$store/p2 run_logged "$store/p2.log" "$@" "$bin" build --log-format plain \
          --format text --result "$store/p2.json" --keep-storage "${p2_common[@]}" "$fix/layered"
      fi
      t1=${EPOCHREALTIME/[.,]/}
      d=$( (du -sb "$store"/p2/root "$store"/p2/run-*/root 2>/dev/null || true) | awk '{s += $1} END {print s + 0}')
      if [[ $side == seed ]]; then seed_t+=($((t1 - t0))) seed_d+=("$d"); else br_t+=($((t1 - t0))) br_d+=("$d"); fi
    done
  done
  rm -rf "$store/p2"
  printf -v "p2_${tag}_st" '%s' "$(printf '%s\n' "${seed_t[@]}" | median)"
  printf -v "p2_${tag}_bt" '%s' "$(printf '%s\n' "${br_t[@]}" | median)"
  printf -v "p2_${tag}_sd" '%s' "$(printf '%s\n' "${seed_d[@]}" | median)"
  printf -v "p2_${tag}_bd" '%s' "$(printf '%s\n' "${br_d[@]}" | median)"
  printf -v "p2_${tag}_peak" '%s' "$(json_raw "$store/p2.json" peak_bytes)"
  printf -v "p2_${tag}_drv" '%s' "$(json_str "$store/p2.json" storage_driver)"
  printf -v "p2_${tag}_iso" '%s' "$(json_str "$store/p2.json" isolation)"
  printf -v "p2_${tag}_spread" '%s' "$(pair_spread seed_t br_t)"
}
p2_measure host "${SEED_ISOLATION:-$isolation}"
p2_measure confined chroot "${confine[@]}"

# --- P3: warm (registry cache, empty storage) vs cold -------------------------------------
if [[ -z ${REGISTRY_V4:-} || -z ${REGISTRY_CERT_DIR:-} || -z ${REGISTRY_AUTH_FILE:-} ]]; then
  # Our own pair of registries (own dir, own ports): the tests start and stop theirs on
  # 5000/5001 (target/test-support/registry) and must not lose it to us, nor we to them.
  export REGISTRY_V4_PORT=${BENCH_REGISTRY_PORT:-5100} REGISTRY_V6_PORT=$((${BENCH_REGISTRY_PORT:-5100} + 1))
  started_registry=$here/target/bench/registry
  tests/support/registry.sh start "$started_registry" >&2
  eval "$(tests/support/registry.sh env "$started_registry")"
fi
export REGISTRY_AUTH_FILE # buildrunner's default --authfile
reg=$REGISTRY_V4
cache_base=$reg/bench/cache-$(date +%s)-$$
p3_build() { # p3_build NAME CACHE_REPO
  br_build "$1" --cache-repo "$2" --push -t "$reg/bench/app:cold" --cert-dir "$REGISTRY_CERT_DIR" \
    --build-arg "BASE=$busybox" "$fix/cached"
}
steps=$(grep -c '^RUN' "$fix/cached/Containerfile")
note "P3: $runs x cold then warm with --cache-repo $cache_base-N --push"
p3_cold=() p3_warm=() hits=()
for ((i = 1; i <= runs; i++)); do
  t0=${EPOCHREALTIME/[.,]/}
  p3_build p3-cold "$cache_base-$i"
  t1=${EPOCHREALTIME/[.,]/}
  p3_build p3-warm "$cache_base-$i"
  t2=${EPOCHREALTIME/[.,]/}
  p3_cold+=($((t1 - t0))) p3_warm+=($((t2 - t1)))
  hits+=("$(grep -c -- '--> Using cache' "$store/p3-warm.log" || true)")
done
p3_cold_med=$(printf '%s\n' "${p3_cold[@]}" | median)
p3_warm_med=$(printf '%s\n' "${p3_warm[@]}" | median)
hits_min=$(printf '%s\n' "${hits[@]}" | sort -n | head -n1)

# --- P6: buildrunner's own peak RSS ----------------------------------------------------
peak_rss_kb() { # peak_rss_kb PID — max VmHWM of PID alone until it exits (is a zombie)
  local pid=$1 peak=0 k v state fd
  exec {fd}<> <(:) # a pipe that never delivers: `read -t` on it sleeps without a fork
  while [[ -r /proc/$pid/status ]]; do
    state=
    while read -r k v _; do
      case $k in
        State:) state=$v ;;
        VmHWM:) ((v > peak)) && peak=$v ;;
      esac
    done <"/proc/$pid/status" 2>/dev/null || true
    [[ $state == [ZX] ]] && break
    read -r -t 0.01 -u "$fd" _ || true
  done
  exec {fd}<&-
  echo "$peak"
}
note "P6: peak RSS of buildrunner during a cold cache + push build"
"$bin" build --log-format plain --result "$store/p6.json" --cache-repo "$cache_base-rss" --push \
  -t "$reg/bench/app:rss" --cert-dir "$REGISTRY_CERT_DIR" --build-arg "BASE=$busybox" \
  "$fix/cached" >"$store/p6.log" 2>&1 &
p6_pid=$!
rss_kb=$(peak_rss_kb "$p6_pid")
if ! wait "$p6_pid"; then note "P6 build failed"; tail -n 30 "$store/p6.log" >&2; exit 1; fi

# --- report -----------------------------------------------------------------------------
awk -v assert="${BENCH_ASSERT:-0}" \
  -v runs="$runs" -v p1b="$p1_br_med" -v p1h="$p1_hand_med" -v p1s="$p1_spread" \
  -v driver="$driver" -v iso="$isolation" -v layers="$layers" \
  -v hst="$p2_host_st" -v hbt="$p2_host_bt" -v hsd="$p2_host_sd" -v hbd="$p2_host_bd" \
  -v hpeak="$p2_host_peak" -v hs="$p2_host_spread" -v hdrv="$p2_host_drv" -v hiso="$p2_host_iso" \
  -v cst="$p2_confined_st" -v cbt="$p2_confined_bt" -v csd="$p2_confined_sd" -v cbd="$p2_confined_bd" \
  -v cpeak="$p2_confined_peak" -v cs="$p2_confined_spread" -v cdrv="$p2_confined_drv" -v ciso="$p2_confined_iso" \
  -v p3c="$p3_cold_med" -v p3w="$p3_warm_med" -v hits="$hits_min" -v steps="$steps" \
  -v rss="$rss_kb" '
  BEGIN {
    missed = 0
    r1 = p1b / p1h
    printf "P1 build wall, median of %d: buildrunner %.3f s, same buildah bud by hand %.3f s (%s, %s isolation, --layers=%s); ratio %.3f (goal <= 1.03; pairs %s)\n",
      runs, p1b / 1e6, p1h / 1e6, driver, iso, layers, r1, p1s
    missed += r1 > 1.03
    rt = hst / hbt; rd = hsd / hbd
    printf "P2 on this host (root, all caps) seed (vfs, --layers, %s) vs buildrunner (%s, %s), median of %d: time %.2f s / %.2f s = %.2fx (pairs %s); disk %.0f MB / %.0f MB = %.2fx [peak_bytes %.0f MB]\n",
      hiso, hdrv, hiso, runs, hst / 1e6, hbt / 1e6, rt, hs, hsd / 1e6, hbd / 1e6, rd, hpeak / 1e6
    rt = cst / cbt; rd = csd / cbd
    printf "P2 confined like a fleet container (no SYS_ADMIN: user namespace) seed (vfs, --layers, chroot) vs buildrunner (%s, %s), median of %d: time %.2f s / %.2f s = %.2fx (goal >= 3; pairs %s); disk %.0f MB / %.0f MB = %.2fx (goal >= 4) [peak_bytes %.0f MB]\n",
      cdrv, ciso, runs, cst / 1e6, cbt / 1e6, rt, cs, csd / 1e6, cbd / 1e6, rd, cpeak / 1e6
    missed += (rt < 3) + (rd < 4)
    r3 = p3w / p3c
    printf "P3 registry cache, median of %d: warm on empty storage %.2f s / cold %.2f s = %.3f (goal <= 0.25); cache hits in warm builds >= %d/%d steps\n",
      runs, p3w / 1e6, p3c / 1e6, r3, hits, steps
    missed += (r3 > 0.25) + (hits < steps)
    printf "P6 buildrunner peak RSS (VmHWM of its own process, cold cache + push build): %.1f MB (goal <= 30 MB)\n",
      rss * 1024 / 1e6
    missed += rss * 1024 > 30e6 || rss == 0
    if (assert == 1 && missed) { print "bench: goal missed" > "/dev/stderr"; exit 1 }
  }'
