#!/usr/bin/env bash
# demo.sh — the front door: on a fresh Debian/Ubuntu machine, install what is missing
# (buildah, fuse-overlayfs, uidmap; a Rust toolchain must already be there), build
# buildrunner, and run `buildrunner doctor` on this machine: what works here, what does not,
# the one-line fix for each, and how buildah will build. Installing needs root; without it
# the demo says what to install and runs with what is there.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"

need=()
for pair in buildah:buildah fuse-overlayfs:fuse-overlayfs newuidmap:uidmap; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if ((${#need[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "demo: installing ${need[*]}" >&2
    apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
  else
    echo "demo: missing ${need[*]} (as root: apt-get install ${need[*]}); continuing" >&2
  fi
fi
[[ -d $HOME/.cargo/bin ]] && PATH=$HOME/.cargo/bin:$PATH
command -v cargo >/dev/null || { printf "error: cargo not found\n\nhint: install Rust with rustup, then rerun ./demo.sh\n" >&2; exit 2; }
cargo build --release --quiet
exec ./target/release/buildrunner doctor "$@"
