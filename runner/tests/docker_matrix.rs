//! The runner image under the real Docker engine, in every common confinement (issue 5).
//!
//! 1. The production image `images/runner/Containerfile` is built *with buildrunner itself*
//!    (on this host, as root) FROM a Debian 12 base made locally with debootstrap
//!    (`tests/support/debian-base.sh`), shipping a statically linked buildrunner, pushed to
//!    the local TLS registry (`tests/support/registry.sh`), copied out with skopeo and
//!    `docker load`ed. Cached between runs: the image is rebuilt only when the Containerfile,
//!    the binary or the base changes (key = their sha256s, a label on the image), and then
//!    with `--cache-repo` so only the layers from `COPY buildrunner` on are rebuilt.
//! 2. For each confinement cell, in containers of that image started with those `docker run`
//!    options (all with `--network host`, so `localhost:PORT` reaches the host's registry):
//!    `buildrunner doctor --format json`, then `buildrunner build --push` of
//!    `tests/fixtures/matrix-app` (RUN steps, a whiteout, a file owned by uid 4242) on the
//!    busybox base, through the image's own entrypoint (tini → buildrunner). Asserted:
//!    - the doctor's verdict is the real outcome: `blocked` ⇔ the build exits 3; otherwise
//!      it exits 0 and the registry holds the image with the digest the result reports;
//!    - the build's own preflight decided what the doctor said (driver, isolation, userns);
//!    - blocked is real: buildah by hand, in the least demanding configuration (vfs, chroot
//!      isolation), fails in that cell too;
//!    - a blocked cell's result carries the doctor's hint, and every `docker run` option that
//!      hint suggests, added to the cell, really unblocks it (doctor not blocked, build + push
//!      succeed);
//!    - the driver is the most efficient one that works: every better driver (native
//!      overlay, then overlay with fuse-overlayfs, then vfs) is tried by hand with buildah
//!      in that cell, with the decided isolation, and must fail; where the decision is
//!      chroot isolation, OCI isolation is tried by hand too and must fail ("native
//!      overlay" by hand runs with fuse-overlayfs off PATH: containers/storage otherwise
//!      swaps it in quietly when native overlay fails).
//!
//!    Recorded, not asserted: a second build with `--keep-storage` in each cell that builds,
//!    and `du` of the storage it kept, next to the result's `disk.peak_bytes`.
//!
//!    Cell (f) `--privileged` cannot start any container on a host whose capability
//!    bounding set lacks a capability Docker grants privileged containers (`runc create
//!    failed: unable to apply caps`): that exact error is recorded as "not runnable on this
//!    host"; any other failure is a test failure.
//! 3. `docs/matrix.md` is generated from the run, only when every asserted cell passed.
//!
//! The image declares `VOLUME /var/lib/containers /home/build/.local/share`, so Docker gives
//! every container anonymous volumes there unless the cell mounts its own: the storage root
//! is on a volume in every cell except (b), which puts buildrunner's work dir on the
//! container's own root filesystem (`BUILDRUNNER_WORK_DIR=/var/tmp/buildrunner`, the doctor
//! examining the same place with `--storage-root`) — the case the issue's (b) vs (c) is about.
//! Cell (g), the non-root `build` user, adds the containers seccomp profile: Docker's default
//! profile refuses `unshare(CLONE_NEWUSER)` to a container without CAP_SYS_ADMIN, and a
//! rootless build cannot work without a user namespace (cell (i) shows the user alone is
//! blocked, and that both options the hint names unblock it). Cell (h) gives /dev/fuse where
//! native overlay cannot work (storage on the FUSE root filesystem).
//!
//! Takes about a minute with the image cached (`cargo test -p buildrunner --test
//! docker_matrix`); a cold run adds debootstrap (~1 min, cached in `$BUILDRUNNER_FIXTURES` or
//! `target/test-support`), the static release build and the image build. Needs root, Docker,
//! buildah, skopeo, debootstrap, docker-registry and deb.debian.org (for debootstrap and the
//! image's `apt-get install`). `$BUILDRUNNER_RUNNER_BIN` overrides the binary shipped.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// The Docker tag the runner image is loaded as.
const IMAGE: &str = "buildrunner-runner:matrix";
/// Image label holding the cache key (sha256s of Containerfile, binary and base).
const KEY_LABEL: &str = "io.buildrunner.test.matrix-key";
const CONTAINERS_SECCOMP: &str = "/usr/share/containers/seccomp.json";
/// What Docker says when the host cannot give a container every capability (`--privileged`
/// on a host whose own bounding set is short).
const CAPS_UNSUPPORTED: &str = "unable to apply caps";
/// The fixture's base inside the cells.
const CELL_BASE: &str = "oci-archive:/fixtures/busybox.oci.tar";

/// The tests here start containers that compete for the 2 cores: one at a time, so the
/// matrix's build times mean something.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn ready() -> bool {
    require(
        is_root(),
        "not root: the matrix builds the runner image and starts containers as root",
    ) && require(docker_ok(), "the Docker engine is not reachable")
        && require(have("buildah"), "buildah is not installed")
        && require(have("skopeo"), "skopeo is not installed")
        && require(
            have("debootstrap"),
            "debootstrap is not installed (apt-get install debootstrap): it makes the Debian base",
        )
        && require(
            have("docker-registry"),
            "docker-registry is not installed (the local TLS registry)",
        )
        && require(
            Path::new(CONTAINERS_SECCOMP).exists(),
            "no containers seccomp profile at /usr/share/containers/seccomp.json",
        )
}

/// The last `n` lines of a command's output (buildah and apt are verbose).
fn tail(o: &Output, n: usize) -> String {
    let cut = |s: &[u8]| {
        let s = String::from_utf8_lossy(s);
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    };
    format!(
        "status {}\nstdout (tail):\n{}\nstderr (tail):\n{}",
        o.status,
        cut(&o.stdout),
        cut(&o.stderr)
    )
}

fn sh(cmd: &str) -> String {
    let o = run(Command::new("sh").args(["-c", cmd]));
    stdout_of(&o).trim().to_string()
}

fn fixtures_dir() -> PathBuf {
    std::env::var_os("BUILDRUNNER_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(support_dir)
}

// ---------------------------------------------------------------------------------------
// The runner image
// ---------------------------------------------------------------------------------------

/// A statically linked buildrunner for the image: `$BUILDRUNNER_RUNNER_BIN`, else built here
/// (`cargo build --release --target <arch>-unknown-linux-gnu` with `+crt-static`;
/// incremental, a no-op when nothing changed).
fn runner_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("BUILDRUNNER_RUNNER_BIN") {
        return PathBuf::from(p);
    }
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = repo().join("target");
    let o = run(Command::new(cargo)
        .current_dir(repo())
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "buildrunner",
            "--target",
        ])
        .arg(&triple)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("CARGO_TARGET_DIR", &target_dir));
    assert!(
        o.status.success(),
        "static build of buildrunner failed: {}",
        text(&o)
    );
    let bin = target_dir.join(&triple).join("release/buildrunner");
    let ldd = run(Command::new("ldd").arg(&bin));
    let says = format!("{}{}", stdout_of(&ldd), stderr_of(&ldd));
    assert!(
        says.contains("statically linked") || says.contains("not a dynamic executable"),
        "{} is not statically linked: {says}",
        bin.display()
    );
    bin
}

/// `tests/support/debian-base.sh` (cached by the script itself).
fn debian_base() -> PathBuf {
    let dir = fixtures_dir();
    let o = run(Command::new("bash")
        .arg(repo().join("tests/support/debian-base.sh"))
        .arg(&dir));
    assert!(o.status.success(), "debian-base.sh failed: {}", text(&o));
    dir.join("debian12.oci.tar")
}

fn sha256_of(files: &[&Path]) -> Vec<String> {
    let o = run(Command::new("sha256sum").args(files));
    assert!(o.status.success(), "sha256sum: {}", text(&o));
    stdout_of(&o)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// What the tests know about the runner image in Docker.
#[derive(Debug, Clone)]
struct RunnerImage {
    key: String,
    /// Where buildrunner pushed it.
    reference: String,
    digest: String,
    /// Built by an earlier run with the same key (this run only checked the label).
    cached: bool,
    /// The build's result (`buildrunner.result/v1`), from this run or the one that built it.
    result: Value,
    built_at: String,
    /// Seconds this run spent on the static binary, the base and the image.
    prepare_secs: f64,
}

fn docker_label(image: &str, label: &str) -> Option<String> {
    let o = run(Command::new("docker").args([
        "image",
        "inspect",
        "-f",
        &format!("{{{{index .Config.Labels \"{label}\"}}}}"),
        image,
    ]));
    o.status.success().then(|| stdout_of(&o).trim().to_string())
}

/// The runner image, built once per test process (and cached across runs by key).
fn runner_image() -> RunnerImage {
    static IMG: OnceLock<RunnerImage> = OnceLock::new();
    IMG.get_or_init(prepare_runner_image).clone()
}

fn prepare_runner_image() -> RunnerImage {
    let t = Instant::now();
    let binary = runner_binary();
    let base = debian_base();
    let containerfile = repo().join("images/runner/Containerfile");
    let sums = sha256_of(&[&containerfile, &binary, &base]);
    assert_eq!(sums.len(), 3);
    let key: String = sums.iter().map(|s| &s[..8]).collect();
    let dir = support_dir().join("runner-image");
    std::fs::create_dir_all(&dir).expect("create runner-image dir");
    let record_path = dir.join(format!("build-{key}.json"));

    if docker_label(IMAGE, KEY_LABEL).as_deref() == Some(key.as_str()) && record_path.exists() {
        let rec = read_json(&record_path);
        eprintln!("runner image {IMAGE} is up to date (key {key})");
        return RunnerImage {
            key,
            reference: rec["reference"].as_str().unwrap_or_default().into(),
            digest: rec["digest"].as_str().unwrap_or_default().into(),
            cached: true,
            result: rec["result"].clone(),
            built_at: rec["built_at"].as_str().unwrap_or_default().into(),
            prepare_secs: t.elapsed().as_secs_f64(),
        };
    }

    // Build context: the binary only (the Containerfile reads nothing else).
    let ctx = dir.join("context");
    let _ = std::fs::remove_dir_all(&ctx);
    std::fs::create_dir_all(&ctx).expect("create context");
    std::fs::copy(&binary, ctx.join("buildrunner")).expect("copy binary into the context");

    let reg = registry();
    let reference = format!("{}/buildrunner/runner:{key}", reg.v4);
    let work = Scratch::new();
    let result_path = work.join("result.json");
    let mut c = br("build", work.path());
    c.arg(&ctx)
        .arg("-f")
        .arg(&containerfile)
        .arg("--build-arg")
        .arg(format!("BASE=oci-archive:{}", base.display()))
        .args(["-t", &reference, "--label", &format!("{KEY_LABEL}={key}")])
        // The registry layer cache: a new binary rebuilds only the layers from COPY on.
        .args([
            "--cache-repo",
            &format!("{}/buildrunner/runner-cache", reg.v4),
        ])
        .arg("--push")
        .arg("--authfile")
        .arg(&reg.auth_file)
        .arg("--cert-dir")
        .arg(&reg.cert_dir)
        .arg("--result")
        .arg(&result_path)
        .args(["--format", "json", "--log-format", "plain"]);
    let o = run(&mut c);
    assert!(
        o.status.success(),
        "buildrunner build of images/runner/Containerfile failed: {}",
        tail(&o, 60)
    );
    let result = read_json(&result_path);
    assert_eq!(result["status"], "succeeded", "{result:#}");
    let digest = result["images"][0]["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("no pushed digest in {result:#}"))
        .to_string();
    assert_eq!(
        reg.inspect(&reference)["Digest"].as_str(),
        Some(digest.as_str()),
        "the registry holds another digest for {reference}"
    );

    // Registry → Docker: skopeo to a docker-archive, then `docker load`.
    let archive = work.join("runner.docker.tar");
    let o = run(Command::new("skopeo")
        .env_remove("REGISTRY_AUTH_FILE")
        .arg("copy")
        .arg("--quiet")
        .arg("--src-cert-dir")
        .arg(&reg.cert_dir)
        .arg("--src-authfile")
        .arg(&reg.auth_file)
        .arg(format!("docker://{reference}"))
        .arg(format!("docker-archive:{}:{IMAGE}", archive.display())));
    assert!(o.status.success(), "skopeo copy: {}", text(&o));
    let old_id = run(Command::new("docker").args(["image", "inspect", "-f", "{{.Id}}", IMAGE]));
    let o = run(Command::new("docker").arg("load").arg("-i").arg(&archive));
    assert!(o.status.success(), "docker load: {}", text(&o));
    assert_eq!(
        docker_label(IMAGE, KEY_LABEL).as_deref(),
        Some(key.as_str()),
        "docker load did not give {IMAGE} the new image"
    );
    let old_id = stdout_of(&old_id).trim().to_string();
    if !old_id.is_empty() {
        let _ = run(Command::new("docker").args(["rmi", &old_id]));
    }

    let built_at = sh("date -u +%Y-%m-%dT%H:%M:%SZ");
    let rec = serde_json::json!({
        "reference": reference, "digest": digest, "built_at": built_at, "result": result,
    });
    std::fs::write(&record_path, serde_json::to_vec_pretty(&rec).unwrap())
        .expect("write build record");
    RunnerImage {
        key,
        reference,
        digest,
        cached: false,
        result,
        built_at,
        prepare_secs: t.elapsed().as_secs_f64(),
    }
}

// ---------------------------------------------------------------------------------------
// Cells
// ---------------------------------------------------------------------------------------

/// One confinement.
struct Cell {
    id: &'static str,
    /// The `docker run` options, as shown in the table.
    shown: String,
    flags: Vec<String>,
    /// `BUILDRUNNER_WORK_DIR` inside (storage somewhere other than the image's volumes).
    work_dir: Option<&'static str>,
    /// Where the storage root is, for the table.
    storage: &'static str,
    /// This cell may hit Docker's "unable to apply caps" on this host.
    privileged: bool,
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// Everything the cells share: mounts and the registry.
struct Env {
    reg: Registry,
    fixtures: PathBuf,
    ctx: PathBuf,
    auth_dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let reg = registry();
        // The auth file, readable by the `build` user (uid 1000) as well as root.
        let auth_dir = open_tempdir();
        std::fs::copy(&reg.auth_file, auth_dir.path().join("auth.json")).expect("copy auth");
        chown_r(auth_dir.path(), 1000);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            auth_dir.path().join("auth.json"),
            std::fs::Permissions::from_mode(0o400),
        )
        .expect("chmod auth");
        std::fs::set_permissions(auth_dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod auth dir");
        Env {
            reg,
            fixtures: busybox_base(),
            ctx: fixture("matrix-app"),
            auth_dir,
        }
    }

    /// `docker run --rm --network host FLAGS MOUNTS [ENV] [--entrypoint E] IMAGE ARGS`.
    fn docker_run(
        &self,
        flags: &[String],
        work_dir: Option<&str>,
        entrypoint: Option<&str>,
        args: &[String],
    ) -> (Output, f64) {
        let mut c = Command::new("docker");
        c.args(["run", "--rm", "--network", "host"]).args(flags);
        for (src, dst) in [
            (self.fixtures.clone(), "/fixtures/busybox.oci.tar"),
            (self.ctx.clone(), "/ctx"),
            (self.reg.cert_dir.clone(), "/certs"),
            (self.auth_dir.path().to_path_buf(), "/auth"),
        ] {
            c.arg("-v").arg(format!("{}:{dst}:ro", src.display()));
        }
        if let Some(w) = work_dir {
            c.arg("-e").arg(format!("BUILDRUNNER_WORK_DIR={w}"));
        }
        if let Some(e) = entrypoint {
            c.args(["--entrypoint", e]);
        }
        c.arg(IMAGE).args(args).stdin(std::process::Stdio::null());
        let t = Instant::now();
        let o = run(&mut c);
        (o, t.elapsed().as_secs_f64())
    }
}

/// The storage label the table uses: `overlay`, `fuse-overlayfs` or `vfs`.
fn driver_of(decision: &Value) -> String {
    match (
        decision["storage_driver"].as_str(),
        decision["mount_program"].as_str(),
    ) {
        (Some("overlay"), None) => "overlay".into(),
        (Some("overlay"), Some(_)) => "fuse-overlayfs".into(),
        (Some(d), _) => d.into(),
        (None, _) => "?".into(),
    }
}

fn shown_driver(label: &str) -> &str {
    if label == "overlay" {
        "native overlay"
    } else {
        label
    }
}

/// Drivers from most to least efficient: (label, buildah driver, mount program).
const DRIVERS: [(&str, &str, &str); 3] = [
    ("overlay", "overlay", ""),
    ("fuse-overlayfs", "overlay", "/usr/bin/fuse-overlayfs"),
    ("vfs", "vfs", ""),
];

/// `docker run` options a hint names in backticks (`--cap-add SYS_ADMIN`, …).
fn hint_flags(hint: &str) -> Vec<String> {
    hint.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with("--"))
        .map(str::to_string)
        .collect()
}

/// buildah by hand inside a cell. Argument 1: `measure` to also run `buildrunner build
/// --keep-storage` and `du` the per-run root it kept (the storage the build really used),
/// else `-`. Then one attempt per argument `label|driver|mount program|isolation|layers`,
/// each `buildah bud` in a fresh root on the filesystem buildrunner's per-run roots use
/// there ("native overlay" with fuse-overlayfs off PATH, so it cannot be swapped in). Prints `ATTEMPT <n> rc=<code>` and the attempt's log as `LOG <n> <line>`, and
/// `MEASURE rc=<code> du=<bytes> peak=<disk.peak_bytes>`.
const BY_HAND: &str = r#"
w=${BUILDRUNNER_WORK_DIR:-}
if [ -z "$w" ]; then
  if [ "$(id -u)" = 0 ]; then w=/var/lib/containers/buildrunner; else w=$HOME/.local/share/buildrunner; fi
fi
measure=$1
shift
# containers/storage quietly falls back to fuse-overlayfs (found on PATH) when native overlay
# fails its own check: native attempts get a PATH without it.
native_path=/tmp/by-hand-native-path
mkdir -p "$native_path"
for t in buildah newuidmap newgidmap; do
  p=$(command -v "$t") && ln -sf "$p" "$native_path/$t"
done
i=0
for a in "$@"; do
  i=$((i + 1))
  IFS='|' read -r label driver mp iso layers <<SPEC
$a
SPEC
  d=$w/by-hand-$i
  mkdir -p "$d"
  opt=
  [ -n "$mp" ] && opt="--storage-opt overlay.mount_program=$mp"
  path=$PATH
  [ "$driver" = overlay ] && [ -z "$mp" ] && path=$native_path
  # shellcheck disable=SC2086
  PATH=$path buildah --root "$d/root" --runroot "$d/run" --storage-driver "$driver" $opt bud \
    --isolation "$iso" --layers="$layers" --build-arg BASE=oci-archive:/fixtures/busybox.oci.tar \
    -t "localhost/by-hand:$i" /ctx >"$d.log" 2>&1
  echo "ATTEMPT $i rc=$?"
  tail -n 40 "$d.log" | sed "s/^/LOG $i /"
done
if [ "$measure" = measure ]; then
  buildrunner build /ctx --build-arg BASE=oci-archive:/fixtures/busybox.oci.tar --keep-storage \
    --result /tmp/measure.json --format json --log-format plain >/dev/null 2>/tmp/measure.log
  rc=$?
  if [ "$(id -u)" = 0 ]; then
    size=$(du -sxc -B1 "$w"/run-* | tail -n 1 | cut -f1)
  else # files owned by subordinate ids: count them inside the user namespace
    size=$(buildah unshare sh -c "du -sxc -B1 $w/run-* | tail -n 1 | cut -f1" 2>/dev/null)
  fi
  peak=$(sed -n 's/.*"peak_bytes": *\([0-9]*\).*/\1/p' /tmp/measure.json)
  echo "MEASURE rc=$rc du=${size:-?} peak=${peak:-?}"
fi
"#;

/// The line of a buildah log that says why it failed.
fn cause(log: &[&str]) -> String {
    let find = |pat: &dyn Fn(&str) -> bool| log.iter().rev().find(|l| pat(l)).copied();
    let line = find(&|l| l.contains("Error during unshare"))
        .or_else(|| find(&|l| l.contains("error running container")))
        .or_else(|| {
            find(&|l| l.contains("kernel does not support overlay") && !l.contains("level=warning"))
        })
        .or_else(|| find(&|l| l.starts_with("fuse: ") || l.starts_with("fuse-overlayfs: ")))
        .or_else(|| {
            find(&|l| {
                let l = l.to_ascii_lowercase();
                l.contains("operation not permitted")
                    || l.contains("not supported")
                    || l.contains("permission denied")
                    || l.contains("read-only file system")
            })
        })
        .or_else(|| find(&|l| l.starts_with("Error:")))
        .or_else(|| log.last().copied())
        .unwrap_or_default();
    // `… creating container for [the whole RUN command]: the reason`: keep the reason.
    let line = match line.rfind("]: ") {
        Some(i) if line.contains("error running container") => &line[i + 3..],
        _ => line,
    };
    let line = line.trim();
    let n = line.chars().count();
    if n > 200 {
        format!("…{}", line.chars().skip(n - 200).collect::<String>())
    } else {
        line.to_string()
    }
}

#[derive(Debug, Clone)]
struct Attempt {
    what: String,
    rc: i32,
    error: String,
}

#[derive(Debug, Default)]
struct Row {
    id: &'static str,
    shown: String,
    storage: &'static str,
    /// Set when the cell cannot run on this host at all.
    not_runnable: Option<String>,
    verdict: String,
    why: String,
    driver: String,
    isolation: String,
    userns: String,
    build_exit: i32,
    build_secs: f64,
    peak_bytes: u64,
    hint: String,
    buildah_version: String,
    by_hand: Vec<Attempt>,
    /// A second build in the cell with `--keep-storage`: `du` of the per-run root it kept,
    /// and that build's `disk.peak_bytes`.
    du_bytes: Option<u64>,
    peak_again: Option<u64>,
    unblocked_by: Vec<(String, String)>,
}

/// Doctor + build (+ push) in a fresh container each, with `extra` options on top of the
/// cell's. Checks the agreement between the two and with the registry; returns the doctor
/// report and the build result (None when the cell could not run: Docker's error text).
fn doctor_and_build(
    env: &Env,
    cell: &Cell,
    extra: &[String],
    label: &str,
    problems: &mut Vec<String>,
) -> Result<(Value, Value, Output, f64), String> {
    let mut flags = cell.flags.clone();
    flags.extend(extra.iter().cloned());
    let mut dargs = words("doctor --format json");
    if let Some(w) = cell.work_dir {
        dargs.extend(["--storage-root".to_string(), w.to_string()]);
    }
    let (d, _) = env.docker_run(&flags, cell.work_dir, None, &dargs);
    if d.status.code() == Some(125) && stderr_of(&d).contains(CAPS_UNSUPPORTED) {
        return Err(stderr_of(&d)
            .lines()
            .find(|l| l.contains(CAPS_UNSUPPORTED))
            .unwrap_or_default()
            .trim()
            .to_string());
    }
    let report: Value = match serde_json::from_slice(&d.stdout) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!(
                "{label}: doctor printed no JSON ({e}): {}",
                tail(&d, 30)
            ));
            return Ok((Value::Null, Value::Null, d, 0.0));
        }
    };
    let blocked = report["verdict"] == "blocked";
    if d.status.code() != Some(if blocked { 1 } else { 0 }) {
        problems.push(format!(
            "{label}: doctor exit {:?} does not match its verdict {}",
            d.status.code(),
            report["verdict"]
        ));
    }

    let reference = format!(
        "{}/matrix/{}:{}",
        env.reg.v4,
        cell.id.replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
        unique("t")
    );
    let bargs = vec![
        "build".to_string(),
        "/ctx".into(),
        "--build-arg".into(),
        format!("BASE={CELL_BASE}"),
        "--build-arg".into(),
        format!("GREETING=cell-{}", cell.id),
        "-t".into(),
        reference.clone(),
        "--push".into(),
        "--authfile".into(),
        "/auth/auth.json".into(),
        "--cert-dir".into(),
        "/certs".into(),
        "--result".into(),
        "/tmp/buildrunner-result.json".into(),
        "--format".into(),
        "json".into(),
        "--log-format".into(),
        "plain".into(),
    ];
    let (b, secs) = env.docker_run(&flags, cell.work_dir, None, &bargs);
    if b.status.code() == Some(125) && stderr_of(&b).contains(CAPS_UNSUPPORTED) {
        problems.push(format!(
            "{label}: the doctor ran but the build container could not start: {}",
            tail(&b, 5)
        ));
        return Ok((report, Value::Null, b, secs));
    }
    let result: Value = match serde_json::from_slice(&b.stdout) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!(
                "{label}: build printed no result JSON ({e}): {}",
                tail(&b, 30)
            ));
            return Ok((report, Value::Null, b, secs));
        }
    };
    let code = b.status.code().unwrap_or(-1);
    let dd = &report["decision"];
    let rd = &result["decision"];
    // A blocked build decided nothing: its result leaves driver and isolation null.
    let keys: &[&str] = if blocked {
        if !rd["storage_driver"].is_null() || !rd["isolation"].is_null() {
            problems.push(format!(
                "{label}: a blocked result must not name a driver: {rd}"
            ));
        }
        &["userns"]
    } else {
        &["storage_driver", "mount_program", "isolation", "userns"]
    };
    for &k in keys {
        if dd[k] != rd[k] {
            problems.push(format!(
                "{label}: doctor decided {k}={} but the build's preflight decided {k}={}",
                dd[k], rd[k]
            ));
        }
    }
    if blocked {
        if code != 3 || result["status"] != "blocked" {
            problems.push(format!(
                "{label}: doctor says blocked, build exited {code} with status {}: {}",
                result["status"],
                tail(&b, 20)
            ));
        }
        let hint = result["error"]["hint"].as_str().unwrap_or_default();
        if result["error"]["kind"] != "blocked" || hint.is_empty() {
            problems.push(format!(
                "{label}: a blocked build must say why and how to unblock: {}",
                result["error"]
            ));
        }
        if Some(hint) != dd["unblock"].as_str() {
            problems.push(format!(
                "{label}: the build's hint {hint:?} is not the doctor's {}",
                dd["unblock"]
            ));
        }
    } else {
        if code != 0 || result["status"] != "succeeded" {
            problems.push(format!(
                "{label}: doctor says {} but the build exited {code} ({}): {}",
                report["verdict"],
                result["status"],
                tail(&b, 30)
            ));
        } else {
            let digest = result["images"][0]["digest"].as_str().unwrap_or_default();
            let got = env.reg.inspect(&reference);
            if got["Digest"].as_str() != Some(digest) || digest.is_empty() {
                problems.push(format!(
                    "{label}: result digest {digest:?} but the registry has {} for {reference}",
                    got["Digest"]
                ));
            }
        }
    }
    Ok((report, result, b, secs))
}

fn run_cell(env: &Env, cell: &Cell, problems: &mut Vec<String>) -> Row {
    let label = format!("cell ({}) `{}`", cell.id, cell.shown);
    let mut row = Row {
        id: cell.id,
        shown: cell.shown.clone(),
        storage: cell.storage,
        ..Row::default()
    };
    let (report, result, b, _) = match doctor_and_build(env, cell, &[], &label, problems) {
        Ok(x) => x,
        Err(docker_error) => {
            if !cell.privileged {
                problems.push(format!(
                    "{label}: Docker could not start the container: {docker_error}"
                ));
            }
            eprintln!("{label}: not runnable on this host: {docker_error}");
            row.not_runnable = Some(docker_error);
            return row;
        }
    };
    if report.is_null() {
        return row;
    }
    let dd = &report["decision"];
    row.verdict = report["verdict"].as_str().unwrap_or_default().into();
    // Why not `ok`: the blocking checks, or the verdict's reason (`degraded: …`).
    row.why = if report["verdict"] == "blocked" {
        let ids: Vec<&str> = dd["blocked_by"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        format!("blocked by {}", ids.join(", "))
    } else {
        dd["reasons"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["topic"] == "verdict")
            .filter_map(|r| r["text"].as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    row.driver = driver_of(dd);
    row.isolation = dd["isolation"].as_str().unwrap_or_default().into();
    row.userns = if dd["userns"] == true { "yes" } else { "no" }.into();
    row.buildah_version = report["host"]["buildah"]
        .as_str()
        .unwrap_or_default()
        .into();
    row.build_exit = b.status.code().unwrap_or(-1);
    row.build_secs = result["duration_ms"].as_u64().unwrap_or(0) as f64 / 1000.0;
    row.peak_bytes = result["disk"]["peak_bytes"].as_u64().unwrap_or(0);
    row.hint = dd["unblock"].as_str().unwrap_or_default().into();
    let blocked = row.verdict == "blocked";
    let layers = dd["layers"] == true;

    // buildah by hand in the same confinement: what must fail for the decision to be right.
    let mut attempts: Vec<(String, String)> = Vec::new(); // (description, spec)
    if blocked {
        attempts.push((
            "vfs + chroot isolation (the least demanding)".into(),
            "vfs|vfs||chroot|false".into(),
        ));
    } else {
        let rank = DRIVERS
            .iter()
            .position(|(l, _, _)| *l == row.driver)
            .unwrap_or(0);
        for (l, drv, mp) in &DRIVERS[..rank] {
            attempts.push((
                format!("{} + {} isolation", shown_driver(l), row.isolation),
                format!("{l}|{drv}|{mp}|{}|{layers}", row.isolation),
            ));
        }
        if row.isolation == "chroot" {
            let (_, drv, mp) = DRIVERS[rank];
            attempts.push((
                format!("{} + oci isolation", shown_driver(&row.driver)),
                format!("{}|{drv}|{mp}|oci|{layers}", row.driver),
            ));
        }
    }
    let measure = !blocked;
    if !attempts.is_empty() || measure {
        let mut args = vec![
            "-c".to_string(),
            BY_HAND.to_string(),
            "by-hand".into(),
            if measure { "measure" } else { "-" }.into(),
        ];
        args.extend(attempts.iter().map(|(_, s)| s.clone()));
        let (o, _) = env.docker_run(&cell.flags, cell.work_dir, Some("/bin/sh"), &args);
        let out = stdout_of(&o);
        for (i, (what, _)) in attempts.iter().enumerate() {
            let n = i + 1;
            let prefix = format!("ATTEMPT {n} rc=");
            let Some(line) = out.lines().find(|l| l.starts_with(&prefix)) else {
                problems.push(format!(
                    "{label}: by-hand attempt {what} did not report: {}",
                    tail(&o, 20)
                ));
                continue;
            };
            let log_prefix = format!("LOG {n} ");
            let log: Vec<&str> = out
                .lines()
                .filter_map(|l| l.strip_prefix(log_prefix.as_str()))
                .collect();
            let a = Attempt {
                what: what.clone(),
                rc: line[prefix.len()..].trim().parse().unwrap_or(-1),
                error: cause(&log),
            };
            if a.rc == 0 {
                problems.push(if blocked {
                    format!(
                        "{label}: the doctor says blocked, but buildah builds by hand with {what}"
                    )
                } else {
                    format!(
                        "{label}: the doctor chose {} / {}, but buildah also builds with {what}",
                        row.driver, row.isolation
                    )
                });
            }
            row.by_hand.push(a);
        }
        if measure {
            let m = out.lines().find_map(|l| l.strip_prefix("MEASURE "));
            let field = |k: &str| {
                m.and_then(|m| {
                    m.split_whitespace()
                        .find_map(|w| w.strip_prefix(k)?.parse::<u64>().ok())
                })
            };
            if field("rc=") != Some(0) {
                problems.push(format!(
                    "{label}: the measuring build (--keep-storage) failed: {}",
                    tail(&o, 20)
                ));
            }
            row.du_bytes = field("du=");
            row.peak_again = field("peak=");
        }
    }

    // A blocked cell: every docker option its hint names must unblock it.
    if blocked {
        let flags = hint_flags(&row.hint);
        if flags.is_empty() {
            problems.push(format!(
                "{label}: the hint names no `docker run` option to unblock: {:?}",
                row.hint
            ));
        }
        for f in flags {
            let sub = format!("{label} + `{f}` (from the hint)");
            let mut sub_problems = Vec::new();
            let outcome = doctor_and_build(env, cell, &words(&f), &sub, &mut sub_problems);
            let said = match &outcome {
                Ok((r, res, _, _)) if !r.is_null() => {
                    if r["verdict"] == "blocked" {
                        sub_problems.push(format!(
                            "{sub}: still blocked: {}",
                            r["decision"]["unblock"]
                        ));
                    }
                    format!(
                        "{} ({}), build exit {}",
                        r["verdict"].as_str().unwrap_or("?"),
                        driver_of(&r["decision"]),
                        res["exit_code"]
                    )
                }
                Ok(_) => "no report".into(),
                Err(e) => {
                    sub_problems.push(format!("{sub}: container did not start: {e}"));
                    format!("did not start: {e}")
                }
            };
            row.unblocked_by.push((
                f.clone(),
                if sub_problems.is_empty() {
                    format!("builds and pushes: {said}")
                } else {
                    format!("FAILED: {said}")
                },
            ));
            problems.extend(sub_problems);
        }
    }
    eprintln!(
        "{label}: {} / {} / {} / userns {}, build exit {} in {:.1} s, peak {} B; by hand: {:?}; unblock: {:?}",
        row.verdict,
        row.driver,
        row.isolation,
        row.userns,
        row.build_exit,
        row.build_secs,
        row.peak_bytes,
        row.by_hand,
        row.unblocked_by
    );
    row
}

/// Removes a named Docker volume when dropped.
struct Volume(String);
impl Drop for Volume {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["volume", "rm", "-f", &self.0])
            .output();
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn write_docs(img: &RunnerImage, rows: &[Row], total_secs: f64) {
    let docker = sh(
        "docker info --format '{{.ServerVersion}}|{{.Driver}}|{{.CgroupVersion}}|{{.CgroupDriver}}'",
    );
    let d: Vec<&str> = docker.split('|').chain(["?"; 4]).collect();
    let buildah = rows
        .iter()
        .find(|r| !r.buildah_version.is_empty())
        .map(|r| r.buildah_version.clone())
        .unwrap_or_default();
    let ib = &img.result;
    let dash = || "–".to_string();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# buildrunner under Docker: the confinement matrix\n\n\
         <!-- Generated by `cargo test -p buildrunner --test docker_matrix` \
         (runner/tests/docker_matrix.rs) from a passing run. Do not edit by hand. -->\n"
    );
    let _ = writeln!(
        s,
        "Run {} on kernel {}, Docker {} (storage driver {}, cgroup v{}, {} cgroup driver), \
         host `/dev/fuse` mode {}, 2 cores shared with other work.\n\n\
         The image is `images/runner/Containerfile` FROM a local `debootstrap --variant=minbase \
         bookworm` base (Debian 12: buildah {buildah}), with a statically linked buildrunner, \
         built by `buildrunner build --push --cache-repo …` on the host ({} storage, {} isolation, \
         {:.1} s{}; `apt-get install` from deb.debian.org unless the registry layer cache \
         had it), copied into Docker with `skopeo copy` + `docker load`.\n",
        sh("date -u +%Y-%m-%dT%H:%MZ"),
        sh("uname -r"),
        d[0],
        d[1],
        d[2],
        d[3],
        sh("stat -c %a /dev/fuse 2>/dev/null || echo absent"),
        driver_of(&ib["decision"]),
        ib["decision"]["isolation"].as_str().unwrap_or("?"),
        ib["duration_ms"].as_u64().unwrap_or(0) as f64 / 1000.0,
        if img.cached {
            format!("; cached: built by the run at {}", img.built_at)
        } else {
            String::new()
        },
    );
    let _ = writeln!(
        s,
        "Each cell: `buildrunner doctor --format json`, then `buildrunner build --push` of \
         `tests/fixtures/matrix-app` (3 `RUN` steps, a whiteout, a file owned by uid 4242) on a \
         busybox base to a TLS + htpasswd registry on the host, each in a container started \
         with `docker run --rm --network host <options> buildrunner-runner …` through the \
         image's entrypoint (tini → buildrunner). *Build time* is the result's `duration_ms` \
         (preflight, build and push). *Disk* is the result's `disk.peak_bytes`, and next to it \
         what the build really left in its storage root (`du` of the per-run root a second \
         build in the same cell kept with `--keep-storage`). Unless a cell mounts its own, the \
         storage root is on the anonymous volume Docker creates for the image's `VOLUME`s.\n"
    );
    let _ = writeln!(
        s,
        "| cell | `docker run` options | storage root on | verdict | driver | isolation | user namespace | build | build time | disk (`peak_bytes`) | storage used (`du`) |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let opts = format!("`{}`", md_cell(&r.shown));
        if let Some(e) = &r.not_runnable {
            let _ = writeln!(
                s,
                "| ({}) | {opts} | {} | not runnable on this host | – | – | – | Docker refuses to start it: `{}` | – | – | – |",
                r.id,
                r.storage,
                md_cell(e.trim_start_matches("docker: "))
            );
            continue;
        }
        let blocked = r.verdict == "blocked";
        let built = match r.build_exit {
            0 => "built, pushed".to_string(),
            3 => "exit 3 (blocked)".to_string(),
            c => format!("exit {c}"),
        };
        let or_dash = |v: String| if blocked { dash() } else { v };
        let _ = writeln!(
            s,
            "| ({}) | {opts} | {} | {} | {} | {} | {} | {built} | {} | {} | {} |",
            r.id,
            r.storage,
            r.verdict,
            or_dash(r.driver.clone()),
            or_dash(r.isolation.clone()),
            or_dash(r.userns.clone()),
            or_dash(format!("{:.1} s", r.build_secs)),
            or_dash(mib(r.peak_bytes)),
            or_dash(r.du_bytes.map(mib).unwrap_or_else(dash)),
        );
    }
    let _ = writeln!(
        s,
        "\n## Why, and what was checked by hand\n\n\
         In every cell buildah was also run by hand (`buildah bud` of the same fixture, in the \
         same confinement, on the same filesystem): in a blocked cell with the least demanding \
         configuration (vfs, chroot isolation); elsewhere with every driver better than the \
         one chosen (native overlay, then overlay with fuse-overlayfs, then vfs) and, where \
         chroot was chosen, with OCI isolation. Each had to fail, and did. Every `docker run` \
         option a blocked cell's hint names was added to that cell and had to unblock it \
         (doctor not blocked, build and push succeed), and did.\n"
    );
    for r in rows {
        let _ = write!(s, "- **({})** `{}`: ", r.id, r.shown);
        if let Some(e) = &r.not_runnable {
            let _ = writeln!(
                s,
                "not runnable on this host. Docker cannot start *any* `--privileged` \
                 container here (`{}`): the host's own capability bounding set lacks a \
                 capability (CAP_SYS_RESOURCE) that privileged containers are given.",
                e.trim_start_matches("docker: ")
            );
            continue;
        }
        let _ = write!(s, "**{}**", r.verdict);
        if !r.why.is_empty() {
            let _ = write!(s, " ({})", r.why);
        }
        let _ = write!(s, ".");
        if !r.hint.is_empty() {
            let _ = write!(s, " Hint: {}.", r.hint.trim_end_matches('.'));
        }
        for a in &r.by_hand {
            let _ = write!(
                s,
                " By hand, {}: {}.",
                a.what,
                if a.rc == 0 {
                    "builds".to_string()
                } else {
                    format!("fails (`{}`)", a.error.replace('`', "'"))
                }
            );
        }
        for (f, outcome) in &r.unblocked_by {
            let _ = write!(s, " With `{f}` added: {outcome}.");
        }
        if let (Some(du), Some(peak)) = (r.du_bytes, r.peak_again) {
            let _ = write!(
                s,
                " Second build (`--keep-storage`): `du` {}, `peak_bytes` {}.",
                mib(du),
                mib(peak)
            );
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "\nThe whole matrix took {total_secs:.0} s, {:.1} s of it preparing the image (static \
         binary, Debian base, runner image{}).",
        img.prepare_secs,
        if img.cached { ": cached" } else { "" }
    );
    // The README shows the same table between its markers.
    let table: String = s
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| format!("{l}\n"))
        .collect();
    let readme_path = repo().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("read README.md");
    let (begin, end) = ("<!-- matrix:begin -->\n", "<!-- matrix:end -->");
    let (Some(b), Some(e)) = (readme.find(begin), readme.find(end)) else {
        panic!("README.md lacks the {begin:?} … {end:?} markers for the matrix table");
    };
    let updated = format!("{}{begin}{table}{}", &readme[..b], &readme[e..]);
    std::fs::write(&readme_path, updated).expect("write README.md");
    std::fs::write(repo().join("docs/matrix.md"), s).expect("write docs/matrix.md");
}

#[test]
fn confinement_matrix() {
    if !ready() {
        return;
    }
    let _serial = serial();
    let t = Instant::now();
    let img = runner_image();
    eprintln!(
        "runner image {IMAGE} = {} ({}), key {}, {}",
        img.reference,
        img.digest,
        img.key,
        if img.cached { "cached" } else { "built now" }
    );
    let env = Env::new();
    let vol = Volume(unique("buildrunner-matrix"));
    let seccomp = format!("--security-opt seccomp={CONTAINERS_SECCOMP}");
    let rootfs = "-e BUILDRUNNER_WORK_DIR=/var/tmp/buildrunner";
    let (image_volume, named_volume, own_rootfs) = (
        "the image's anonymous volume (ext4)",
        "a named volume (ext4)",
        "the container's root filesystem (fuse-overlayfs)",
    );
    // (id, options shown, options used, work dir, storage, may be unrunnable)
    let cell = |id, shown: String, flags: String, work_dir, storage, privileged| Cell {
        id,
        shown,
        flags: words(&flags),
        work_dir,
        storage,
        privileged,
    };
    let cells = [
        cell(
            "a",
            "(none: Docker's defaults)".into(),
            String::new(),
            None,
            image_volume,
            false,
        ),
        cell(
            "b",
            format!("--cap-add SYS_ADMIN {rootfs}"),
            "--cap-add SYS_ADMIN".into(),
            Some("/var/tmp/buildrunner"),
            own_rootfs,
            false,
        ),
        cell(
            "c",
            "--cap-add SYS_ADMIN -v VOLUME:/var/lib/containers".into(),
            format!("--cap-add SYS_ADMIN -v {}:/var/lib/containers", vol.0),
            None,
            named_volume,
            false,
        ),
        cell(
            "d",
            "--device /dev/fuse".into(),
            "--device /dev/fuse".into(),
            None,
            image_volume,
            false,
        ),
        cell(
            "e",
            seccomp.clone(),
            seccomp.clone(),
            None,
            image_volume,
            false,
        ),
        cell(
            "f",
            "--privileged".into(),
            "--privileged".into(),
            None,
            image_volume,
            true,
        ),
        cell(
            "g",
            format!("--user build {seccomp}"),
            format!("--user build {seccomp}"),
            None,
            image_volume,
            false,
        ),
        // Beyond the issue's list: /dev/fuse where native overlay cannot work, and the
        // non-root user without the seccomp profile.
        cell(
            "h",
            format!("--cap-add SYS_ADMIN --device /dev/fuse {rootfs}"),
            "--cap-add SYS_ADMIN --device /dev/fuse".into(),
            Some("/var/tmp/buildrunner"),
            own_rootfs,
            false,
        ),
        cell(
            "i",
            "--user build".into(),
            "--user build".into(),
            None,
            image_volume,
            false,
        ),
    ];
    let mut problems = Vec::new();
    let mut rows = Vec::new();
    for c in &cells {
        rows.push(run_cell(&env, c, &mut problems));
    }
    drop(vol);

    // What the issue expects of the cells this host can run (beyond doctor == reality).
    let row = |id: &str| rows.iter().find(|r| r.id == id).unwrap();
    for (id, want) in [("a", "blocked"), ("d", "blocked"), ("i", "blocked")] {
        if row(id).verdict != want {
            problems.push(format!(
                "cell ({id}): expected {want}, got {:?}",
                row(id).verdict
            ));
        }
    }
    for id in ["b", "c", "e", "g", "h"] {
        if row(id).build_exit != 0 {
            problems.push(format!("cell ({id}) must build here"));
        }
    }
    let f = row("f");
    if f.not_runnable.is_none() && f.build_exit != 0 {
        problems.push("cell (f) --privileged started but did not build".into());
    }

    assert!(
        problems.is_empty(),
        "the doctor and reality disagree ({} problems):\n- {}",
        problems.len(),
        problems.join("\n- ")
    );
    write_docs(&img, &rows, t.elapsed().as_secs_f64());
    eprintln!(
        "matrix passed in {:.0} s; wrote docs/matrix.md",
        t.elapsed().as_secs_f64()
    );
}

/// Removes a container when dropped.
struct Container(String);
impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v", &self.0])
            .output();
    }
}

/// The image as shipped: id-map helpers with file capabilities and no setuid bit, the
/// `build` user's subordinate ids, tini as PID 1 forwarding SIGTERM to buildrunner (which
/// stops buildah and still writes its result) and reaping orphaned zombies.
#[test]
fn runner_image_helpers_and_pid1() {
    if !ready() {
        return;
    }
    let _serial = serial();
    runner_image();

    let o = run(Command::new("docker").args([
        "run",
        "--rm",
        "--entrypoint",
        "/bin/sh",
        IMAGE,
        "-c",
        "stat -c '%a %U %n' /usr/bin/newuidmap /usr/bin/newgidmap; \
         getcap /usr/bin/newuidmap /usr/bin/newgidmap; \
         echo subuid $(cat /etc/subuid); echo subgid $(cat /etc/subgid); \
         echo build $(id -u build):$(id -g build); \
         echo volumes-owner $(stat -c %u /home/build/.local/share); \
         buildah --version; buildrunner --version",
    ]));
    assert!(o.status.success(), "{}", text(&o));
    let out = stdout_of(&o);
    for want in [
        "755 root /usr/bin/newuidmap",
        "755 root /usr/bin/newgidmap",
        "/usr/bin/newuidmap cap_setuid=ep",
        "/usr/bin/newgidmap cap_setgid=ep",
        "subuid build:1:999 build:1001:64535",
        "subgid build:1:999 build:1001:64535",
        "build 1000:1000",
        "volumes-owner 1000",
        "buildah version 1.",
        "buildrunner ",
    ] {
        assert!(out.contains(want), "image lacks {want:?}:\n{out}");
    }
    let entry = run(Command::new("docker").args([
        "image",
        "inspect",
        "-f",
        "{{json .Config.Entrypoint}} {{json .Config.Volumes}}",
        IMAGE,
    ]));
    let entry = stdout_of(&entry);
    assert!(
        entry.contains(r#"["/usr/bin/tini","--","/usr/local/bin/buildrunner"]"#)
            && entry.contains("/var/lib/containers")
            && entry.contains("/home/build/.local/share"),
        "entrypoint/volumes: {entry}"
    );

    // A slow build under the image's entrypoint, stopped the way Nomad/Docker stop a task.
    let out_dir = open_tempdir();
    let name = unique("buildrunner-pid1");
    let started = run(Command::new("docker")
        .args([
            "run",
            "-d",
            "--name",
            &name,
            "--cap-add",
            "SYS_ADMIN",
            "--network",
            "none",
        ])
        .arg("-v")
        .arg(format!(
            "{}:/fixtures/busybox.oci.tar:ro",
            busybox_base().display()
        ))
        .arg("-v")
        .arg(format!("{}:/ctx:ro", fixture("slow-step").display()))
        .arg("-v")
        .arg(format!("{}:/out", out_dir.path().display()))
        .args([
            IMAGE,
            "build",
            "/ctx",
            "--build-arg",
            &format!("BASE={CELL_BASE}"),
            "--build-arg",
            "NAP=300",
            "--result",
            "/out/result.json",
            "--log-format",
            "plain",
        ]));
    assert!(started.status.success(), "{}", text(&started));
    let _guard = Container(name.clone());
    let logs = || {
        let o = run(Command::new("docker").args(["logs", &name]));
        format!("{}{}", stdout_of(&o), stderr_of(&o))
    };
    assert!(
        wait_until(Duration::from_secs(60), || logs()
            .contains("started-slow-step")),
        "the slow step never started:\n{}",
        logs()
    );

    // An orphan: its parent exits at once, so it is re-parented to PID 1, which must reap it.
    let o = run(Command::new("docker").args([
        "exec",
        &name,
        "sh",
        "-c",
        "p=$(sh -c 'sleep 0.5 >/dev/null 2>&1 & echo $!'); sleep 0.2; \
         pp=$(sed -n 's/^[0-9]* (.*) . \\([0-9]*\\) .*/\\1/p' /proc/$p/stat); sleep 1.5; \
         if [ -e /proc/$p ]; then st=$(sed -n 's/^[0-9]* (.*) \\(.\\) .*/\\1/p' /proc/$p/stat); else st=gone; fi; \
         echo \"ppid=$pp after=$st\"; echo \"pid1=$(tr '\\0' ' ' </proc/1/cmdline)\"",
    ]));
    let out = stdout_of(&o);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        out.contains("ppid=1 ") && out.contains("after=gone"),
        "PID 1 did not reap the orphan: {out}"
    );
    assert!(
        out.contains("pid1=/usr/bin/tini -- /usr/local/bin/buildrunner build"),
        "PID 1 is not tini running buildrunner: {out}"
    );

    // docker stop: SIGTERM to PID 1, SIGKILL after 20 s. tini must forward it.
    let t = Instant::now();
    let stop = run(Command::new("docker").args(["stop", "-t", "20", &name]));
    let took = t.elapsed();
    assert!(stop.status.success(), "{}", text(&stop));
    let code = run(Command::new("docker").args(["inspect", "-f", "{{.State.ExitCode}}", &name]));
    let code = stdout_of(&code).trim().to_string();
    assert_eq!(
        code,
        "143",
        "SIGTERM must end the run with 143 (took {took:?}):\n{}",
        logs()
    );
    assert!(
        took < Duration::from_secs(15),
        "stopping took {took:?}: SIGTERM was not forwarded"
    );
    let result = read_json(&out_dir.path().join("result.json"));
    assert_eq!(result["status"], "aborted", "{result:#}");
    assert_eq!(result["exit_code"], 143, "{result:#}");
    eprintln!("docker stop → exit {code} in {took:?}; orphan reaped by tini");
}
