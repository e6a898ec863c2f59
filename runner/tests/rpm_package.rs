//! The RPM (issue 5, point 4): `rpm/build.sh` builds it from this checkout with Debian's
//! `rpmbuild`, and what an admin would install is checked from the package file itself —
//! the payload (`rpm -qlp`: binary, completions, man page, `/etc/buildrunner/`), the
//! dependencies (`rpm -qp --requires`: buildah), the version against Cargo.toml, and that the
//! packaged binary, completions and man page work once unpacked.
//!
//! One test, so the package is built once and its temp dir removed afterwards; the checks
//! are separate functions. The release build reuses compiled crates in `target/rpm/cargo`
//! (CARGO_TARGET_DIR) between runs; the spec alone builds cold.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::*;

/// The built package, in the temp dir it was built into.
struct Package {
    rpm: PathBuf,
    _dir: tempfile::TempDir,
}

/// Tools the build and the checks run. `cpio` is not in Debian's `rpm` dependencies, so the
/// payload may be unpacked with `rpm2archive` (from `rpm2cpio`, which `rpm` pulls in) instead.
fn tools_present() -> bool {
    require(
        ["git", "rpmbuild", "rpm", "rpm2cpio", "tar", "gzip", "bash"]
            .iter()
            .all(|t| have(t))
            && (have("cpio") || have("rpm2archive")),
        "git, rpmbuild, rpm2cpio, cpio or rpm2archive missing (apt-get install git rpm cpio)",
    ) && require(
        run(Command::new("git")
            .arg("-C")
            .arg(repo())
            .args(["rev-parse", "--git-dir"]))
        .status
        .success(),
        "the RPM is built from a git checkout (rpm/build.sh uses git archive)",
    )
}

/// `rpm/build.sh OUTDIR` into a fresh temp dir.
fn build_package() -> Package {
    let dir = tempfile::Builder::new()
        .prefix("br-rpm-test-")
        .tempdir()
        .expect("tempdir");
    let started = Instant::now();
    let o = run(Command::new("bash")
        .arg(repo().join("rpm/build.sh"))
        .arg(dir.path())
        .env("CARGO", env!("CARGO"))
        .env("CARGO_TARGET_DIR", repo().join("target/rpm/cargo"))
        .stdin(Stdio::null()));
    eprintln!("rpm/build.sh took {:.1}s", started.elapsed().as_secs_f64());
    assert!(o.status.success(), "rpm/build.sh failed: {}", text(&o));
    let out = stdout_of(&o);
    assert_eq!(
        out.lines().count(),
        1,
        "build.sh must print only the path of the .rpm on stdout: {}",
        text(&o)
    );
    let rpm = PathBuf::from(out.trim());
    assert!(
        rpm.parent() == Some(dir.path()) && rpm.is_file(),
        "{} is not a file in OUTDIR {}",
        rpm.display(),
        dir.path().display()
    );
    Package { rpm, _dir: dir }
}

#[test]
fn rpm_from_checkout_installs_binary_completions_man_page_and_config_dir() {
    if !tools_present() {
        return;
    }
    let pkg = build_package();
    payload_has_binary_completions_man_page_and_config_dir(&pkg);
    requires_buildah_1_28_and_recommends_the_helpers(&pkg);
    version_and_license_come_from_the_workspace(&pkg);
    packaged_binary_completions_and_man_page_work(&pkg);
}

/// `rpm -qp ARGS PACKAGE`, stdout.
fn query(pkg: &Package, args: &[&str]) -> String {
    let o = run(Command::new("rpm").arg("-qp").args(args).arg(&pkg.rpm));
    assert!(o.status.success(), "rpm -qp {args:?}: {}", text(&o));
    stdout_of(&o)
}

/// `version = "…"` under `[workspace.package]` in Cargo.toml.
fn workspace_version() -> String {
    let toml = std::fs::read_to_string(repo().join("Cargo.toml")).expect("Cargo.toml");
    let mut in_section = false;
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line == "[workspace.package]";
        } else if in_section {
            if let Some(v) = line
                .strip_prefix("version")
                .map(str::trim_start)
                .and_then(|l| l.strip_prefix('='))
            {
                return v.trim().trim_matches('"').to_string();
            }
        }
    }
    panic!("no version under [workspace.package] in Cargo.toml")
}

const BINARY: &str = "/usr/bin/buildrunner";
const BASH_COMPLETION: &str = "/usr/share/bash-completion/completions/buildrunner";
const ZSH_COMPLETION: &str = "/usr/share/zsh/site-functions/_buildrunner";
const FISH_COMPLETION: &str = "/usr/share/fish/vendor_completions.d/buildrunner.fish";
const MAN_PAGE: &str = "/usr/share/man/man1/buildrunner.1.gz";
const CONFIG_DIR: &str = "/etc/buildrunner";

fn payload_has_binary_completions_man_page_and_config_dir(pkg: &Package) {
    let listed = query(pkg, &["--list"]);
    eprintln!("rpm -qlp:\n{listed}");
    let files: Vec<&str> = listed.lines().collect();
    for want in [
        BINARY,
        BASH_COMPLETION,
        ZSH_COMPLETION,
        FISH_COMPLETION,
        MAN_PAGE,
        CONFIG_DIR,
    ] {
        assert!(
            files.contains(&want),
            "{want} missing from rpm -qlp:\n{listed}"
        );
    }
    assert!(
        files.iter().any(|f| f.ends_with("/README.md")),
        "README.md is not packaged as documentation:\n{listed}"
    );
    // The policy format is not defined yet: the package owns the directory, nothing in it.
    let inside: Vec<&&str> = files
        .iter()
        .filter(|f| f.starts_with("/etc/buildrunner/"))
        .collect();
    assert!(
        inside.is_empty(),
        "files under /etc/buildrunner/: {inside:?}"
    );

    let modes = query(
        pkg,
        &[
            "--qf",
            "[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]",
        ],
    );
    let mode_of = |path: &str| {
        modes
            .lines()
            .find(|l| l.ends_with(&format!(" {path}")))
            .unwrap_or_else(|| panic!("{path} not in:\n{modes}"))
            .rsplit_once(' ')
            .unwrap()
            .0
            .to_string()
    };
    assert_eq!(mode_of(CONFIG_DIR), "drwxr-xr-x root:root");
    assert_eq!(mode_of(BINARY), "-rwxr-xr-x root:root");
}

fn requires_buildah_1_28_and_recommends_the_helpers(pkg: &Package) {
    let requires = query(pkg, &["--requires"]);
    assert!(
        requires.lines().any(|l| l.trim() == "buildah >= 1.28"),
        "no `buildah >= 1.28` in rpm -qp --requires:\n{requires}"
    );
    let recommends = query(pkg, &["--recommends"]);
    for want in ["fuse-overlayfs", "shadow-utils"] {
        assert!(
            recommends.lines().any(|l| l.trim() == want),
            "{want} not in rpm -qp --recommends:\n{recommends}"
        );
    }
}

fn version_and_license_come_from_the_workspace(pkg: &Package) {
    let version = workspace_version();
    assert_eq!(
        query(pkg, &["--qf", "%{NAME} %{VERSION} %{LICENSE}"]),
        format!("buildrunner {version} Apache-2.0")
    );
    // A plain `rpmbuild -bb rpm/buildrunner.spec` (no build.sh) falls back to the spec's own
    // version: it must not drift from Cargo.toml.
    let spec = std::fs::read_to_string(repo().join("rpm/buildrunner.spec")).expect("spec");
    let default = spec
        .lines()
        .find_map(|l| l.strip_prefix("%{!?br_version:%global br_version "))
        .and_then(|l| l.strip_suffix('}'))
        .expect("the spec's default br_version");
    assert_eq!(
        default, version,
        "rpm/buildrunner.spec's default version differs from Cargo.toml"
    );
}

/// Unpacks the payload into `dir`: `rpm2cpio | cpio -idm`, or `rpm2archive | tar` without cpio.
fn unpack(pkg: &Package, dir: &Path) {
    let pipeline = if have("cpio") {
        r#"rpm2cpio "$1" | cpio -idm --quiet"#
    } else {
        r#"rpm2archive - <"$1" | tar -xzf -"#
    };
    eprintln!("unpacking with `{pipeline}`");
    let o = run(Command::new("bash")
        .args(["-o", "pipefail", "-c", pipeline, "unpack"])
        .arg(&pkg.rpm)
        .current_dir(dir));
    assert!(o.status.success(), "{pipeline}: {}", text(&o));
}

fn packaged_binary_completions_and_man_page_work(pkg: &Package) {
    let root = tempfile::tempdir().expect("tempdir");
    unpack(pkg, root.path());
    let at = |p: &str| root.path().join(p.trim_start_matches('/'));

    let o = run(Command::new(at(BINARY)).arg("--version"));
    assert!(o.status.success(), "{BINARY} --version: {}", text(&o));
    assert_eq!(
        stdout_of(&o).trim(),
        format!("buildrunner {}", workspace_version())
    );
    assert!(at(CONFIG_DIR).is_dir(), "{CONFIG_DIR} not unpacked");

    // bash loads the completion and registers it for the command.
    let o = run(Command::new("bash")
        .args([
            "--norc",
            "-c",
            r#"source "$1" && complete -p buildrunner"#,
            "bash",
        ])
        .arg(at(BASH_COMPLETION)));
    assert!(o.status.success(), "bash completion: {}", text(&o));
    assert!(stdout_of(&o).contains("buildrunner"), "{}", text(&o));

    let read =
        |p: &str| std::fs::read_to_string(at(p)).unwrap_or_else(|e| panic!("cannot read {p}: {e}"));
    let zsh = read(ZSH_COMPLETION);
    assert!(
        zsh.starts_with("#compdef buildrunner"),
        "{ZSH_COMPLETION}:\n{zsh}"
    );
    let fish = read(FISH_COMPLETION);
    assert!(
        fish.contains("complete -c buildrunner"),
        "{FISH_COMPLETION}:\n{fish}"
    );
    for (path, text) in [(ZSH_COMPLETION, &zsh), (FISH_COMPLETION, &fish)] {
        assert!(text.contains("doctor"), "{path} does not complete `doctor`");
    }

    let o = run(Command::new("gzip").arg("-dc").arg(at(MAN_PAGE)));
    assert!(o.status.success(), "gzip -dc {MAN_PAGE}: {}", text(&o));
    let man = stdout_of(&o);
    assert!(
        man.lines().any(|l| l.starts_with(".TH buildrunner 1")),
        "{MAN_PAGE} has no `.TH buildrunner 1` header:\n{man}"
    );
}
