#!/usr/bin/env bash
# rpm/build.sh [OUTDIR] — build the buildrunner RPM from this checkout and print its path.
#
#     rpm/build.sh                 # → target/rpm/out/buildrunner-0.1.0-1.x86_64.rpm
#     rpm/build.sh /tmp/out        # the .rpm goes to /tmp/out
#
# Needs git, rpmbuild (Debian: `apt-get install rpm`) and a Rust toolchain (cargo on PATH, or
# CARGO=/path/to/cargo). Works on a clean clone: Source0 is `git archive` of HEAD, plus any
# uncommitted changes to tracked files (`git stash create`); untracked files are not packed
# (a warning names those that could matter). The version comes from [workspace.package] in
# Cargo.toml. rpmbuild's _topdir is a temporary directory, removed afterwards.
#
# Environment:
#   CARGO             the cargo to run (default: cargo on PATH)
#   CARGO_TARGET_DIR  reuse compiled dependencies between runs (default: none, a cold build in
#                     rpmbuild's build directory); made absolute here
#   CARGO_HOME, .cargo/config.toml (vendored sources): honoured by cargo as usual
#   BUILDRUNNER_RPM_OFFLINE=1   pass --offline to cargo (all crates must be in CARGO_HOME)
#
# stdout: the path of the .rpm, nothing else. rpmbuild's and cargo's output go to stderr.
set -euo pipefail

die() { # die MESSAGE HINT
  printf 'error: %s\n\nhint: %s\n' "$1" "$2" >&2
  exit 1
}

here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
command -v git >/dev/null || die "git not found" "install git (apt-get install git)"
command -v rpmbuild >/dev/null ||
  die "rpmbuild not found" \
    "install it: \`apt-get install rpm\` (Debian) or \`dnf install rpm-build\`"
repo=$(git -C "$here/.." rev-parse --show-toplevel 2>/dev/null) ||
  die "$here/.. is not a git checkout" "run this from a \`git clone\` of buildrunner"
cargo=${CARGO:-$(command -v cargo || true)}
[[ -n $cargo && -x $cargo ]] ||
  die "cargo not found" \
    "install a Rust toolchain (https://rustup.rs) and put ~/.cargo/bin on PATH, or set CARGO"

out=${1:-$repo/target/rpm/out}
mkdir -p "$out"
out=$(readlink -f "$out")
if [[ -n ${CARGO_TARGET_DIR:-} ]]; then
  CARGO_TARGET_DIR=$(readlink -m "$CARGO_TARGET_DIR")
  export CARGO_TARGET_DIR
fi

# The version under [workspace.package], the one every crate inherits.
version=$(sed -n '/^\[workspace\.package\]/,/^\[/ s/^version *= *"\([^"]*\)".*/\1/p' \
  "$repo/Cargo.toml" | head -n1)
[[ -n $version ]] ||
  die "no version under [workspace.package] in $repo/Cargo.toml" "add \`version = \"X.Y.Z\"\` there"

top=$(mktemp -d "${TMPDIR:-/tmp}/buildrunner-rpm.XXXXXX")
trap 'rm -rf "$top"' EXIT
mkdir -p "$top"/{SOURCES,BUILD,RPMS,SRPMS,SPECS}

# HEAD, or a commit object holding HEAD plus the working tree's changes to tracked files
# (the stash list and the working tree are left untouched).
tree=$(git -C "$repo" stash create)
if [[ -n $tree ]]; then
  echo "note: the working tree has uncommitted changes; they are packed" >&2
else
  tree=HEAD
fi
# Untracked sources would be missing from the build (a new module: "file not found").
untracked=$(git -C "$repo" ls-files --others --exclude-standard -- \
  Cargo.toml Cargo.lock '*/Cargo.toml' '*/build.rs' preflight/src runner/src)
if [[ -n $untracked ]]; then
  printf 'warning: untracked sources are not in the source tarball (git add them):\n%s\n' \
    "$untracked" >&2
fi
tarball=$top/SOURCES/buildrunner-$version.tar.gz
git -C "$repo" archive --format=tar.gz --prefix="buildrunner-$version/" -o "$tarball" "$tree"

args=(-bb --nodeps
  --define "_topdir $top"
  --define "br_version $version"
  --define "br_cargo $cargo")
[[ ${BUILDRUNNER_RPM_OFFLINE:-} == 1 ]] && args+=(--define "br_cargo_args --offline")

# --nodeps: Debian's rpm database is empty, so BuildRequires (cargo, rust) cannot be checked
# there; the cargo check above stands in for it.
rpmbuild "${args[@]}" "$here/buildrunner.spec" >&2

shopt -s nullglob
rpms=("$top"/RPMS/*/buildrunner-"$version"-*.rpm)
((${#rpms[@]} == 1)) || die "rpmbuild made ${#rpms[@]} packages, expected 1: ${rpms[*]}" \
  "read rpmbuild's output above"
cp -f "${rpms[0]}" "$out/"
echo "$out/$(basename "${rpms[0]}")"
