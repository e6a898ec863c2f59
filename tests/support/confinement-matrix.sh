#!/usr/bin/env bash
# confinement-matrix.sh FIXTURES_DIR [TAG] — run `buildah bud` of the run-step
# fixture inside the Docker test image under several Docker confinement
# settings and storage drivers, and print one line per cell (OK or the first
# error line). Documents what the preflight has to detect; re-run it after
# changing the test image or the host. Needs FIXTURES_DIR/busybox.oci.tar
# (busybox-base.sh) and the image (docker-test-image.sh).
set -euo pipefail

fixtures=$(cd "${1:?usage: confinement-matrix.sh FIXTURES_DIR [TAG]}" && pwd)
tag=${2:-buildrunner-test:local}
ctx=$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures/run-step" && pwd)
vol=buildrunner-matrix-$$
trap 'docker volume rm -f "$vol" >/dev/null 2>&1 || true' EXIT

confinements=(
  ""
  "--cap-add SYS_ADMIN"
  "--cap-add SYS_ADMIN -v $vol:/var/lib/containers"
  "--device /dev/fuse"
  "--cap-add SYS_ADMIN --device /dev/fuse"
  "--cap-add SYS_ADMIN --device /dev/fuse -v $vol:/var/lib/containers"
  "--security-opt seccomp=/usr/share/containers/seccomp.json"
  "--security-opt seccomp=/usr/share/containers/seccomp.json -v $vol:/var/lib/containers"
  "--user build"
  "--user build --cap-add SYS_ADMIN"
  "--user build --security-opt seccomp=/usr/share/containers/seccomp.json"
  "--user build --security-opt seccomp=/usr/share/containers/seccomp.json --device /dev/fuse"
  "--user build --security-opt seccomp=/usr/share/containers/seccomp.json -v $vol:/home/build/.local/share/containers"
  "--security-opt seccomp=/usr/share/containers/seccomp.json --device /dev/fuse"
  "--privileged"
  "--cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined --device /dev/fuse"
)
storages=(
  "--storage-driver vfs"
  "--storage-driver overlay"
  "--storage-driver overlay --storage-opt overlay.mount_program=/usr/bin/fuse-overlayfs"
)

docker info --format 'Docker {{.ServerVersion}}, storage driver {{.Driver}}, cgroup v{{.CgroupVersion}}, kernel {{.KernelVersion}}'
echo "host /dev/fuse: $(stat -c '%A' /dev/fuse 2>/dev/null || echo absent); all builds use --isolation chroot"
echo
echo "| docker run options | buildah storage | outcome | first cause line |"
echo "|---|---|---|---|"
for conf in "${confinements[@]}"; do
  for storage in "${storages[@]}"; do
    docker volume rm -f "$vol" >/dev/null 2>&1 || true
    # shellcheck disable=SC2086 # word splitting of the option strings is intended
    if out=$(docker run --rm $conf -v "$fixtures:/fixtures:ro" -v "$ctx:/ctx:ro" "$tag" \
      buildah $storage bud --isolation chroot \
      --build-arg BASE=oci-archive:/fixtures/busybox.oci.tar /ctx 2>&1); then
      outcome=OK
    else
      outcome=$(grep -E '^(Error|docker: Error)' <<<"$out" | tail -n1 | cut -c1-220)
    fi
    cause=$(grep -m1 -E 'unshare|uid_map|gid_map|fuse:|supplemental|mkdir|not supported|Permission denied|not permitted' <<<"$out" |
      grep -v '^Error' | cut -c1-160 || true)
    # shellcheck disable=SC2016 # the backticks are Markdown
    printf '| `%s` | `%s` | %s | %s |\n' "${conf:-(defaults)}" "${storage#--storage-driver }" "${outcome:-failed}" "$cause"
  done
done
