#!/usr/bin/env bash
# docker-test-image.sh [--force] [TAG] — build a Docker image (default
# buildrunner-test:local) for running buildah INSIDE a container under the real
# Docker engine. CI has no registry, so the image is assembled from the HOST's
# installed files: buildah, runc/crun, fuse-overlayfs, newuidmap/newgidmap,
# getcap/setcap, busybox-static (sh, ls, …), every shared library they need,
# /etc/containers, /usr/share/containers, the CA bundle, and a user `build`
# (1000:1000, subuid/subgid build:1:999 and build:1001:64535). Loaded with
# `docker import`, which keeps security.capability xattrs (checked at the end
# with getcap inside a container). Skips if TAG exists, is newer than this
# script and has the same ID_MAP_HELPERS, unless --force.
#
# ID_MAP_HELPERS=fcaps (default) | setuid | both — how newuidmap/newgidmap get
# their privilege. Measured under Docker 20.10 as `--user build` with
# `--security-opt seccomp=/usr/share/containers/seccomp.json`:
#   fcaps  0755 + cap_setuid/cap_setgid=ep   rootless build works
#   setuid 4755 (Debian's packaging)         write to uid_map failed: Operation not permitted
#   both   4755 + file caps                  open of uid_map failed: Permission denied
#          (a setuid-root binary that also has file caps gets only those caps,
#          so euid 0 lacks CAP_DAC_OVERRIDE for the caller's /proc/PID/uid_map)
# The other modes exist to test the preflight's diagnosis; give them another TAG.
set -euo pipefail

helpers=${ID_MAP_HELPERS:-fcaps}
case $helpers in fcaps | setuid | both) ;; *) echo "ID_MAP_HELPERS must be fcaps, setuid or both" >&2; exit 2 ;; esac

tag=buildrunner-test:local force=0
for arg; do
  case $arg in
    --force) force=1 ;;
    -*) echo "usage: $0 [--force] [TAG]" >&2; exit 2 ;;
    *) tag=$arg ;;
  esac
done
script=$(readlink -f "${BASH_SOURCE[0]}")
exec 9<"$script"
flock 9 # tests running in parallel may all ask for the image at once

if ((!force)) && created=$(docker image inspect -f '{{.Created}}' "$tag" 2>/dev/null) &&
  (($(date -d "$created" +%s) > $(stat -c %Y "$script"))) &&
  [[ $(docker image inspect -f '{{index .Config.Labels "buildrunner.test-image.helpers"}}' "$tag") == "$helpers" ]]; then
  echo "docker-test-image: $tag is up to date"
  exit 0
fi

old_id=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/docker-test-image.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
rootfs=$tmp/rootfs

# Merged-/usr layout, so host paths like /lib64/ld-linux-x86-64.so.2 land right.
mkdir -p "$rootfs"/usr/{bin,sbin,lib,lib64} "$rootfs"/{etc,home,root,run,var/lib/containers}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$rootfs/$d"; done
mkdir -m 1777 "$rootfs/tmp" "$rootfs/var/tmp"

add() { # copy host files (following symlinks) to the same path in the rootfs
  local f
  for f; do
    mkdir -p "$rootfs${f%/*}"
    cp -L --preserve=mode "$f" "$rootfs$f"
  done
}
add_bin() { # executables plus every shared library ldd lists and the ELF interpreter
  local b path
  for b; do
    path=$(command -v "$b") || { echo "docker-test-image: $b not installed on the host" >&2; exit 1; }
    add "$path"
    while read -r lib; do add "$lib"; done < <(
      ldd "$path" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
  done
}

add_bin buildah fuse-overlayfs newuidmap newgidmap getcap setcap busybox
# buildrunner itself is mounted in by the tests: a Rust binary that also links libgcc_s.
add "$(ldconfig -p | awk '$1 == "libgcc_s.so.1" {print $NF; exit}')"
# An OCI runtime is only needed for --isolation oci (which fails in containers anyway).
for rt in runc crun; do command -v "$rt" >/dev/null && add_bin "$rt"; done
add /etc/ssl/certs/ca-certificates.crt
cp -a /etc/containers "$rootfs/etc/"
cp -a /usr/share/containers "$rootfs/usr/share/"

# busybox provides sh, ls, cat, … where no real binary was copied.
for applet in $("$rootfs/usr/bin/busybox" --list); do
  [[ -e $rootfs/usr/bin/$applet || -e $rootfs/usr/sbin/$applet ]] ||
    ln -s busybox "$rootfs/usr/bin/$applet"
done

cat >"$rootfs/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
build:x:1000:1000:build:/home/build:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PW
printf 'root:x:0:\nbuild:x:1000:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
printf 'build:1:999\nbuild:1001:64535\n' | tee "$rootfs/etc/subuid" >"$rootfs/etc/subgid"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
# Rootless storage dir exists, owned by build, so a fresh volume mounted there
# (-v vol:/home/build/.local/share/containers) inherits the ownership.
for d in /home/build /home/build/.local /home/build/.local/share /home/build/.local/share/containers; do
  install -d -m 0755 -o 1000 -g 1000 "$rootfs$d"
done
chmod 0700 "$rootfs/root"

# Id-map helpers (see ID_MAP_HELPERS above).
for h in newuidmap:cap_setuid newgidmap:cap_setgid; do
  f=$rootfs/usr/bin/${h%%:*}
  case $helpers in
    fcaps) chmod 0755 "$f" && setcap "${h#*:}=ep" "$f" ;;
    setuid) chmod 4755 "$f" ;;
    both) chmod 4755 "$f" && setcap "${h#*:}=ep" "$f" ;;
  esac
done

tar --numeric-owner --xattrs --xattrs-include='security.capability' \
  -C "$rootfs" -cf "$tmp/rootfs.tar" .
rm -rf "$rootfs"
docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/sh"]' \
  --change "LABEL buildrunner.test-image.script-sha256=$(sha256sum "$script" | cut -d' ' -f1)" \
  --change "LABEL buildrunner.test-image.helpers=$helpers" \
  "$tmp/rootfs.tar" "$tag" >/dev/null

caps=$(docker run --rm "$tag" getcap /usr/bin/newuidmap /usr/bin/newgidmap)
if [[ $helpers != setuid && $caps != *newuidmap*cap_setuid=ep*newgidmap*cap_setgid=ep* ]]; then
  echo "docker-test-image: file caps lost in $tag: '$caps'" >&2
  exit 1
fi
new_id=$(docker image inspect -f '{{.Id}}' "$tag")
[[ -z $old_id || $old_id == "$new_id" ]] || docker rmi "$old_id" >/dev/null 2>&1 || true
echo "docker-test-image: built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | numfmt --to=iec))"
