#!/usr/bin/env bash
# debian-base.sh [--force] OUT_DIR — build OUT_DIR/debian12.oci.tar, a Debian 12
# (bookworm) base image made locally with `debootstrap --variant=minbase`, for
# tests that need a real distribution base but have no image registry (the
# runner image in images/runner is built FROM it by runner/tests/docker_matrix.rs).
# The packages come from $DEBIAN_MIRROR (default http://deb.debian.org/debian);
# the image's sources.list points at deb.debian.org (bookworm, -updates,
# -security) so `apt-get install` works in RUN steps.
#
# Slow (a minute or more: debootstrap downloads ~40 MB), so it is cached: the work
# is skipped while the archive is newer than this script (--force rebuilds).
# Like busybox-base.sh it commits with buildah into a private, throwaway
# containers-storage root (vfs) inside a private mount namespace, so the host's
# default store is never touched, and smoke-tests the archive before moving it
# into place atomically.
#
# Needs root, debootstrap and buildah (apt-get install debootstrap buildah).
set -euo pipefail

force=0 out_dir=
for arg; do
  case $arg in
    --force) force=1 ;;
    -*) echo "usage: $0 [--force] OUT_DIR" >&2; exit 2 ;;
    *) out_dir=$arg ;;
  esac
done
[[ -n $out_dir ]] || { echo "usage: $0 [--force] OUT_DIR" >&2; exit 2; }
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
archive=$out_dir/debian12.oci.tar
script=$(readlink -f "${BASH_SOURCE[0]}")
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [[ -z ${DEBIAN_BASE_PRIVATE_NS:-} ]]; then # (the re-exec below inherits the lock)
  exec 9>"$out_dir/.debian-base.lock"
  flock 9 # tests running in parallel may all ask for the archive at once
fi
if ((!force)) && [[ -s $archive && $archive -nt $script ]]; then
  echo "debian-base: $archive is up to date"
  exit 0
fi

if [[ $(id -u) != 0 ]]; then
  echo "debian-base: must run as root (debootstrap)" >&2
  exit 1
fi
for tool in debootstrap buildah; do
  command -v "$tool" >/dev/null || { echo "debian-base: need $tool (apt-get install debootstrap buildah)" >&2; exit 1; }
done

# As root, buildah also writes outside --root/--runroot (/var/lib/containers/cache,
# /run/containers): re-run in a private mount namespace with tmpfs over those dirs.
if [[ -z ${DEBIAN_BASE_PRIVATE_NS:-} ]] && unshare --mount true 2>/dev/null; then
  exec env DEBIAN_BASE_PRIVATE_NS=1 unshare --mount --propagation private -- bash "$script" "$@"
fi
if [[ -n ${DEBIAN_BASE_PRIVATE_NS:-} ]]; then
  for d in /var/lib/containers /run/containers; do
    mkdir -p "$d" && mount -t tmpfs -o mode=0700 tmpfs "$d"
  done
fi

# Not under /tmp if that is a small tmpfs: the rootfs is ~200 MB, the store twice that.
tmp=$(mktemp -d "$out_dir/.debian-base.XXXXXX")
store=(--root "$tmp/root" --runroot "$tmp/runroot" --storage-driver vfs)
cleanup() {
  buildah "${store[@]}" rm --all >/dev/null 2>&1 || true
  # debootstrap may leave /proc etc. mounted in the rootfs if it was interrupted.
  grep -o " $tmp/[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
export TMPDIR=$tmp # buildah unpacks oci-archives under TMPDIR

start=$SECONDS
rootfs=$tmp/rootfs
echo "debian-base: debootstrap --variant=minbase bookworm from $mirror"
if ! debootstrap --variant=minbase --merged-usr bookworm "$rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
  echo "debian-base: debootstrap failed; last lines of its log:" >&2
  tail -n 30 "$tmp/debootstrap.log" >&2
  [[ -f $rootfs/debootstrap/debootstrap.log ]] && tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
  exit 1
fi

# Image hygiene: package sources a RUN step can use, no caches, no device nodes,
# no machine identity, no policy that would stop services from being configured.
cat >"$rootfs/etc/apt/sources.list" <<'SRC'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SRC
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
  >"$rootfs/etc/apt/apt.conf.d/90buildrunner-no-recommends"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
  "$rootfs"/var/log/* "$rootfs"/debootstrap
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/etc/hostname"
printf 'nameserver 127.0.0.53\n' >"$rootfs/etc/resolv.conf" # replaced by the runtime

# From scratch: the rootfs as one layer (tar without /dev, /proc, /sys contents).
tar --numeric-owner --xattrs -C "$rootfs" \
  --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* -cf "$tmp/rootfs.tar" .
rm -rf "$rootfs"
ctr=$(buildah "${store[@]}" from scratch)
buildah "${store[@]}" add --quiet "$ctr" "$tmp/rootfs.tar" / >/dev/null
rm -f "$tmp/rootfs.tar"
buildah "${store[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 --cmd /bin/bash --os linux --arch amd64 \
  --label org.opencontainers.image.title=buildrunner-test-debian12 \
  --label org.opencontainers.image.description="debootstrap --variant=minbase bookworm, made by tests/support/debian-base.sh" \
  "$ctr"
buildah "${store[@]}" commit --quiet --format oci "$ctr" "oci-archive:$tmp/debian12.oci.tar" >/dev/null

# Smoke test: a RUN step on top of the archive, chroot isolation.
mkdir "$tmp/ctx"
printf 'FROM oci-archive:%s\nRUN . /etc/os-release && echo "id=$ID version=$VERSION_ID" && dpkg -s apt >/dev/null\n' \
  "$tmp/debian12.oci.tar" >"$tmp/ctx/Containerfile"
if ! log=$(buildah "${store[@]}" bud --isolation chroot "$tmp/ctx" 2>&1) || ! grep -qx 'id=debian version=12' <<<"$log"; then
  printf 'debian-base: smoke build failed:\n%s\n' "$log" >&2
  exit 1
fi

mv -f "$tmp/debian12.oci.tar" "$archive" # same filesystem: atomic for readers
echo "debian-base: wrote $archive ($(du -h "$archive" | cut -f1)) in $((SECONDS - start))s"
