#!/usr/bin/env bash
# busybox-base.sh OUT_DIR — build OUT_DIR/busybox.oci.tar, a tiny base image
# (static busybox + applet symlinks, owned by root) for tests that need a
# `FROM` image but have no registry to pull from. It uses a private, throwaway
# containers-storage root (vfs), so the host's default store is never touched,
# and smoke-tests the result with `buildah bud --isolation chroot` before
# moving it into place. Skips the work if the archive is newer than this script.
set -euo pipefail

out_dir=${1:?usage: busybox-base.sh OUT_DIR}
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
archive=$out_dir/busybox.oci.tar

if [[ -z ${BUSYBOX_BASE_PRIVATE_NS:-} ]]; then # (the re-exec below inherits the lock)
  exec 9>"$out_dir/.busybox-base.lock"
  flock 9 # tests running in parallel may all ask for the archive at once
fi
if [[ -s $archive && $archive -nt ${BASH_SOURCE[0]} ]]; then
  echo "busybox-base: $archive is up to date"
  exit 0
fi

# As root, buildah also writes outside --root/--runroot (/var/lib/containers/cache
# blob-info cache, /run/containers/networks). Re-run in a private mount
# namespace with tmpfs over those two dirs, so nothing lands in them.
if [[ $(id -u) == 0 && -z ${BUSYBOX_BASE_PRIVATE_NS:-} ]] && unshare --mount true 2>/dev/null; then
  exec env BUSYBOX_BASE_PRIVATE_NS=1 unshare --mount --propagation private -- bash "${BASH_SOURCE[0]}" "$@"
fi
if [[ -n ${BUSYBOX_BASE_PRIVATE_NS:-} ]]; then
  for d in /var/lib/containers /run/containers; do
    mkdir -p "$d" && mount -t tmpfs -o mode=0700 tmpfs "$d"
  done
fi

busybox=$(command -v busybox || true)
if [[ -z $busybox ]] || ! command -v buildah >/dev/null; then
  echo "busybox-base: need buildah and busybox-static (apt-get install buildah busybox-static)" >&2
  exit 1
fi
# A dynamically linked busybox would need its libraries in the image too.
if ldd "$busybox" >/dev/null 2>&1; then
  echo "busybox-base: $busybox is not static; install busybox-static" >&2
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/busybox-base.XXXXXX")
store=(--root "$tmp/root" --runroot "$tmp/runroot" --storage-driver vfs)
cleanup() {
  buildah "${store[@]}" rm --all >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
export TMPDIR=$tmp   # buildah unpacks oci-archives under TMPDIR

# Root filesystem: /bin/busybox, one symlink per applet, minimal /etc.
rootfs=$tmp/rootfs
mkdir -p "$rootfs"/{bin,etc,root,tmp,var/tmp,usr}
install -m 0755 "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [[ $applet == busybox ]] || ln -sf busybox "$rootfs/bin/$applet"
done
ln -s bin "$rootfs/sbin"
ln -s ../bin "$rootfs/usr/bin"
ln -s ../bin "$rootfs/usr/sbin"
chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"

ctr=$(buildah "${store[@]}" from scratch)
buildah "${store[@]}" copy --quiet --chown 0:0 "$ctr" "$rootfs/" / >/dev/null
buildah "${store[@]}" config --env PATH=/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/sh \
  --label org.opencontainers.image.title=buildrunner-test-busybox "$ctr"
buildah "${store[@]}" commit --quiet --format oci "$ctr" "oci-archive:$tmp/busybox.oci.tar" >/dev/null

# Smoke test: a RUN step on top of the archive, chroot isolation.
mkdir "$tmp/ctx"
printf 'FROM oci-archive:%s\nRUN echo hi > /x && cat /x\n' "$tmp/busybox.oci.tar" >"$tmp/ctx/Containerfile"
if ! log=$(buildah "${store[@]}" bud --isolation chroot "$tmp/ctx" 2>&1) || ! grep -qx hi <<<"$log"; then
  printf 'busybox-base: smoke build failed:\n%s\n' "$log" >&2
  exit 1
fi

cp "$tmp/busybox.oci.tar" "$archive.tmp" && mv -f "$archive.tmp" "$archive" # atomic for readers
echo "busybox-base: wrote $archive ($(du -h "$archive" | cut -f1))"
