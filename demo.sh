#!/usr/bin/env bash
# demo.sh — the front door: on a fresh Debian/Ubuntu machine, install what is missing
# (buildah, skopeo, docker-registry, fuse-overlayfs, uidmap, busybox-static, openssl,
# apache2-utils; a Rust toolchain must already be there), build buildrunner, show what
# `buildrunner doctor` finds here, then build the bundled example (examples/hello) and push
# it to a throwaway TLS + htpasswd registry on localhost:5480 that the demo starts and stops,
# printing the result. Installing needs root; without it the demo says what is missing.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
repo=$PWD

need=()
for pair in buildah:buildah skopeo:skopeo docker-registry:docker-registry fuse-overlayfs:fuse-overlayfs \
  newuidmap:uidmap busybox:busybox-static openssl:openssl htpasswd:apache2-utils curl:curl; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if ((${#need[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "demo: installing ${need[*]}" >&2
    apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
    # Debian starts its own registry service on :5000; the demo's needs the port.
    if [[ -d /run/systemd/system ]] && systemctl is-active -q docker-registry 2>/dev/null; then
      systemctl disable --now docker-registry >&2
    fi
  else
    printf 'error: missing %s\n\nhint: as root: apt-get install %s\n' "${need[*]}" "${need[*]}" >&2
    exit 2
  fi
fi
[[ -d $HOME/.cargo/bin ]] && PATH=$HOME/.cargo/bin:$PATH
command -v cargo >/dev/null || { printf 'error: cargo not found\n\nhint: install Rust with rustup, then rerun ./demo.sh\n' >&2; exit 2; }
cargo build --release --quiet
br=$repo/target/release/buildrunner

echo "== buildrunner doctor" >&2
"$br" doctor || true

work=$(mktemp -d /tmp/buildrunner-demo.XXXXXX)
trap '"$repo/tests/support/registry.sh" stop "$work/registry" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
echo "== making a base image (busybox) and starting a local registry" >&2
base=/var/tmp/buildrunner-fixtures
"$repo/tests/support/busybox-base.sh" "$base" >&2
# Ports of their own, so a registry already on 5000/5001 does not get in the way.
export REGISTRY_V4_PORT=${DEMO_V4_PORT:-5480} REGISTRY_V6_PORT=${DEMO_V6_PORT:-5481}
"$repo/tests/support/registry.sh" start "$work/registry" >&2
eval "$("$repo/tests/support/registry.sh" env "$work/registry")"

echo "== buildrunner build --push" >&2
BUILDRUNNER_WORK_DIR=$work/runs "$br" build examples/hello \
  --build-arg "BASE=oci-archive:$base/busybox.oci.tar" --build-arg GREETING=hi \
  -t "$REGISTRY_V4/demo/hello:latest" --push \
  --authfile "$REGISTRY_AUTH_FILE" --cert-dir "$REGISTRY_CERT_DIR" \
  --result "$work/result.json" --format json
