//! Shared helpers for the binary's integration tests: finding the binary and the repo,
//! requiring root/tools (fail loudly under `CI=true`, skip with a printed reason locally),
//! and the busybox base image built by `tests/support/busybox-base.sh`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_buildrunner"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Returns false (after printing why) when a requirement is missing locally; panics in CI.
pub fn require(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    if in_ci() {
        panic!("CI=true but {what}: this test must run in CI (see .ci/run)");
    }
    eprintln!("SKIP: {what}");
    false
}

pub fn is_root() -> bool {
    // SAFETY: geteuid never fails.
    unsafe { libc::geteuid() == 0 }
}

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn docker_ok() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// uid of a local user, if it exists.
pub fn uid_of(user: &str) -> Option<u32> {
    let o = Command::new("id").args(["-u", user]).output().ok()?;
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .ok()
        .filter(|_| o.status.success())
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Directory shared by tests for built support artefacts (`target/test-support`).
pub fn support_dir() -> PathBuf {
    let d = repo().join("target/test-support");
    std::fs::create_dir_all(&d).expect("create target/test-support");
    d
}

/// The busybox base image as an OCI archive (made once; the script locks and caches), in
/// `$BUILDRUNNER_FIXTURES` (set by .ci/run) or `target/test-support`.
pub fn busybox_base() -> PathBuf {
    let dir = std::env::var_os("BUILDRUNNER_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(support_dir);
    let o = run(Command::new("bash")
        .arg(repo().join("tests/support/busybox-base.sh"))
        .arg(&dir));
    assert!(o.status.success(), "busybox-base.sh failed: {}", text(&o));
    dir.join("busybox.oci.tar")
}

/// A directory world-readable tests can hand to another user or a container.
pub fn open_tempdir() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("br-test-")
        .tempdir_in("/tmp")
        .expect("tempdir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    d
}

pub fn chown_r(path: &Path, uid: u32) {
    let o = run(Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{uid}"))
        .arg(path));
    assert!(o.status.success(), "{}", text(&o));
}

// ---------------------------------------------------------------------------------------
// `buildrunner build` helpers (runner/tests/build_*.rs)
// ---------------------------------------------------------------------------------------

/// A fixture directory under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

/// A lowercase name unique to this test process and call (registry repositories, tags).
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Variables `buildrunner build` reads that a developer's shell or `.ci/run` may have set
/// (`.ci/run` exports `REGISTRY_AUTH_FILE`): removed so every test states its own input.
pub const BUILD_ENV_VARS: &[&str] = &[
    "BUILDRUNNER_CONTEXT",
    "BUILDRUNNER_FILE",
    "BUILDRUNNER_TAG",
    "BUILDRUNNER_BUILD_ARG",
    "BUILDRUNNER_TARGET",
    "BUILDRUNNER_LABEL",
    "BUILDRUNNER_SECRET",
    "BUILDRUNNER_PLATFORM",
    "BUILDRUNNER_PUSH",
    "BUILDRUNNER_CACHE_REPO",
    "BUILDRUNNER_STORAGE_ROOT",
    "BUILDRUNNER_AUTHFILE",
    "BUILDRUNNER_CERT_DIR",
    "BUILDRUNNER_TLS_VERIFY",
    "BUILDRUNNER_RESULT",
    "BUILDRUNNER_FORMAT",
    "BUILDRUNNER_LOG_FORMAT",
    "BUILDRUNNER_KEEP_STORAGE",
    "BUILDRUNNER_TIMESTAMP",
    "BUILDRUNNER_WORK_DIR",
    "REGISTRY_AUTH_FILE",
    "NOMAD_ALLOC_DIR",
    "NOMAD_ALLOC_ID",
    "NOMAD_JOB_ID",
    "NOMAD_JOB_PARENT_ID",
    "NOMAD_NAMESPACE",
];

/// `buildrunner <verb>` with a clean build environment, per-run roots under `work_dir`
/// (`BUILDRUNNER_WORK_DIR`), no colour and no stdin.
pub fn br(verb: &str, work_dir: &Path) -> Command {
    let mut c = Command::new(bin());
    c.arg(verb);
    for v in BUILD_ENV_VARS {
        c.env_remove(v);
    }
    c.env("BUILDRUNNER_WORK_DIR", work_dir)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    c
}

/// `--build-arg BASE=oci-archive:…` for the busybox base image.
pub fn base_arg() -> String {
    format!("BASE=oci-archive:{}", busybox_base().display())
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let s = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{} is not JSON: {e}\n{s}", path.display()))
}

pub fn stderr_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The documented bad-input shape on stderr: exactly one `error: …` line and one non-empty
/// `hint: …` line. Returns (error text, hint text).
pub fn one_line_error(stderr: &str) -> (String, String) {
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    let hints: Vec<&str> = stderr.lines().filter(|l| l.starts_with("hint: ")).collect();
    assert_eq!(
        errors.len(),
        1,
        "want exactly one `error: …` line:\n{stderr}"
    );
    assert_eq!(hints.len(), 1, "want exactly one `hint: …` line:\n{stderr}");
    let e = errors[0]["error: ".len()..].trim().to_string();
    let h = hints[0]["hint: ".len()..].trim().to_string();
    assert!(
        !e.is_empty() && !h.is_empty(),
        "empty error or hint:\n{stderr}"
    );
    (e, h)
}

/// Names in `dir` (none if it does not exist).
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub fn unmount_under(dir: &Path) {
    for m in preflight::host::mountinfo::current_mounts_below(dir) {
        if let Ok(c) = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()) {
            // SAFETY: a valid C string; MNT_DETACH cannot hang.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// A temporary directory that is unmounted below (a killed buildah may leave overlay
/// mounts) before it is removed, so a failing test leaves nothing behind.
pub struct Scratch(tempfile::TempDir);

impl Scratch {
    pub fn new() -> Self {
        Scratch(
            tempfile::Builder::new()
                .prefix("br-build-test-")
                .tempdir()
                .expect("tempdir"),
        )
    }
    pub fn path(&self) -> &Path {
        self.0.path()
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.path().join(p)
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        unmount_under(self.0.path());
    }
}

/// The containers-storage graph root at or below `dir` (the dir holding `<driver>-images/`),
/// searched a few levels deep.
pub fn find_graph_root(dir: &Path) -> Option<PathBuf> {
    fn walk(d: &Path, depth: u32) -> Option<PathBuf> {
        let rd = std::fs::read_dir(d).ok()?;
        let mut subdirs = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with("-images") && e.path().join("images.json").exists() {
                return Some(d.to_path_buf());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                subdirs.push(e.path());
            }
        }
        if depth == 0 {
            return None;
        }
        subdirs.into_iter().find_map(|s| walk(&s, depth - 1))
    }
    walk(dir, 3)
}

/// Standard base64 (for auth.json `auth` values).
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for ch in data.chunks(3) {
        let b = [ch[0], *ch.get(1).unwrap_or(&0), *ch.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= ch.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// The two local TLS + htpasswd registries (tests/support/registry.sh).
#[derive(Debug, Clone)]
pub struct Registry {
    /// `localhost:5000` (IPv4).
    pub v4: String,
    /// `ip6-localhost:5001` (a name that resolves only to ::1).
    pub v6: String,
    pub cert_dir: PathBuf,
    pub auth_file: PathBuf,
    pub user: String,
    pub password: String,
}

impl Registry {
    /// The `auth` value of auth.json: base64(user:password) — a credential too.
    pub fn basic_auth(&self) -> String {
        base64(format!("{}:{}", self.user, self.password).as_bytes())
    }

    /// skopeo with this registry's CA and credentials (for `copy`: on the source side).
    pub fn skopeo(&self, verb: &str) -> Command {
        let mut c = Command::new("skopeo");
        let cert_dir = if verb == "copy" {
            "--src-cert-dir"
        } else {
            "--cert-dir"
        };
        c.arg(verb)
            .arg(cert_dir)
            .arg(&self.cert_dir)
            .arg("--authfile")
            .arg(&self.auth_file)
            .env_remove("REGISTRY_AUTH_FILE");
        c
    }

    /// `skopeo inspect docker://REF` as JSON.
    pub fn inspect(&self, reference: &str) -> serde_json::Value {
        let o = run(self.skopeo("inspect").arg(format!("docker://{reference}")));
        assert!(
            o.status.success(),
            "skopeo inspect {reference}: {}",
            text(&o)
        );
        serde_json::from_slice(&o.stdout).expect("skopeo inspect JSON")
    }
}

/// The test registries: the ones `.ci/run` started (`REGISTRY_*` exported), else started
/// once per test process with `tests/support/registry.sh start target/test-support/registry`
/// (idempotent; the script reuses running registries and key material).
pub fn registry() -> Registry {
    use std::sync::OnceLock;
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| {
        let vars = [
            "REGISTRY_V4",
            "REGISTRY_V6",
            "REGISTRY_CERT_DIR",
            "REGISTRY_AUTH_FILE",
            "REGISTRY_USER",
            "REGISTRY_PASSWORD_FILE",
        ];
        let mut env: std::collections::HashMap<String, String> = vars
            .iter()
            .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
            .collect();
        if env.len() != vars.len() {
            let dir = support_dir().join("registry");
            let script = repo().join("tests/support/registry.sh");
            // Up already (ours: TLS verified by our CA, 401 without credentials)? Then someone
            // else owns it; else this process starts it and stops it at exit, as
            // bench/build.sh does, so no daemon outlives the tests and blocks the ports.
            let up = run(Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
                .arg(dir.join("ca.crt"))
                .arg("https://localhost:5000/v2/"))
            .stdout
                == b"401";
            let o = run(Command::new("bash").arg(&script).arg("start").arg(&dir));
            assert!(o.status.success(), "registry.sh start failed: {}", text(&o));
            if !up {
                stop_registry_at_exit(script.clone(), dir.clone());
            }
            let o = run(Command::new("bash").arg(&script).arg("env").arg(&dir));
            assert!(o.status.success(), "registry.sh env failed: {}", text(&o));
            env = stdout_of(&o)
                .lines()
                .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        }
        let get = |k: &str| env.get(k).cloned().unwrap_or_else(|| panic!("{k} not set"));
        let password = std::fs::read_to_string(get("REGISTRY_PASSWORD_FILE"))
            .expect("registry password file")
            .trim()
            .to_string();
        Registry {
            v4: get("REGISTRY_V4"),
            v6: get("REGISTRY_V6"),
            cert_dir: get("REGISTRY_CERT_DIR").into(),
            auth_file: get("REGISTRY_AUTH_FILE").into(),
            user: get("REGISTRY_USER"),
            password,
        }
    })
    .clone()
}

/// Registers `registry.sh stop DIR` to run when the test process exits.
fn stop_registry_at_exit(script: PathBuf, dir: PathBuf) {
    use std::sync::OnceLock;
    static STOP: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    extern "C" fn stop() {
        if let Some((script, dir)) = STOP.get() {
            let _ = Command::new("bash")
                .arg(script)
                .arg("stop")
                .arg(dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
    if STOP.set((script, dir)).is_ok() {
        // SAFETY: registers a plain function; it only reads a OnceLock and runs a command.
        unsafe { libc::atexit(stop) };
    }
}

/// Runs `cmd` to completion (stdout and stderr captured) while `probe` is called over and
/// over (a few ms apart) until the child has exited. Returns the output and how many times
/// the probe ran.
pub fn run_probed(cmd: &mut Command, mut probe: impl FnMut()) -> (Output, usize) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let waiter = std::thread::spawn(move || {
        let o = child.wait_with_output();
        d.store(true, Ordering::SeqCst);
        o
    });
    let mut n = 0;
    while !done.load(Ordering::SeqCst) {
        probe();
        n += 1;
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let o = waiter.join().expect("waiter").expect("wait for child");
    (o, n)
}

/// Every process's command line (arguments joined by spaces), by pid.
pub fn cmdlines() -> Vec<(i32, String)> {
    let mut v = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return v;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(raw) = std::fs::read(e.path().join("cmdline")) {
            if !raw.is_empty() {
                let s = String::from_utf8_lossy(&raw).replace('\0', " ");
                v.push((pid, s.trim_end().to_string()));
            }
        }
    }
    v
}

/// What a scan of every `/proc/*/cmdline` during a run saw.
#[derive(Debug, Default)]
pub struct CmdlineWatch {
    /// Distinct (pid, command line) pairs seen.
    pub seen: std::collections::BTreeSet<(i32, String)>,
    /// Command lines that contained a needle (the needle itself replaced by `<SECRET>`).
    pub leaks: Vec<String>,
    pub scans: usize,
}

impl CmdlineWatch {
    /// Distinct pids of `buildah …` processes whose arguments include the word `verb` (e.g.
    /// `push`) and, anywhere, `mark` (e.g. this test's tag: other tests, or other people's,
    /// may be pushing on this machine at the same time).
    pub fn buildah_pids_with(&self, verb: &str, mark: &str) -> std::collections::BTreeSet<i32> {
        self.seen
            .iter()
            .filter(|(_, c)| {
                let mut args = c.split(' ');
                args.next().is_some_and(|a0| a0.ends_with("buildah"))
                    && args.any(|a| a == verb)
                    && c.contains(mark)
            })
            .map(|(p, _)| *p)
            .collect()
    }
    /// Whether a `buildah …` process whose command line contains `mark` was seen.
    pub fn saw_buildah(&self, mark: &str) -> bool {
        self.seen.iter().any(|(_, c)| {
            c.split(' ')
                .next()
                .is_some_and(|a0| a0.ends_with("buildah"))
                && c.contains(mark)
        })
    }
}

/// Runs `cmd` while scanning every `/proc/*/cmdline` for `needles` (credentials).
pub fn run_watching_cmdlines(cmd: &mut Command, needles: &[String]) -> (Output, CmdlineWatch) {
    let mut w = CmdlineWatch::default();
    let (o, scans) = run_probed(cmd, || {
        for (pid, c) in cmdlines() {
            if needles
                .iter()
                .any(|n| !n.is_empty() && c.contains(n.as_str()))
            {
                let mut shown = c.clone();
                for n in needles {
                    shown = shown.replace(n.as_str(), "<SECRET>");
                }
                w.leaks.push(format!("pid {pid}: {shown}"));
            }
            w.seen.insert((pid, c));
        }
    });
    w.scans = scans;
    (o, w)
}

/// Pids of processes whose root, cwd or command line is at or below `dir` (what a killed
/// build left running there).
pub fn pids_using(dir: &Path) -> Vec<i32> {
    let d = dir.to_string_lossy().into_owned();
    let mut v = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return v;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == std::process::id() as i32 {
            continue;
        }
        let at = |l: &str| std::fs::read_link(e.path().join(l)).is_ok_and(|p| p.starts_with(dir));
        let in_cmdline = std::fs::read(e.path().join("cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(d.as_str()));
        if at("root") || at("cwd") || in_cmdline {
            v.push(pid);
        }
    }
    v
}

/// Polls until `f` holds or `timeout` passes.
pub fn wait_until(timeout: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = std::time::Instant::now();
    while t.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    f()
}

/// Every blob of an OCI layout (`skopeo copy … oci:DIR`), decompressed if gzipped.
pub fn oci_blobs(layout: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    let dir = layout.join("blobs/sha256");
    for name in entries(&dir) {
        let o = run(Command::new("gzip").arg("-dcf").arg(dir.join(&name)));
        assert!(o.status.success(), "gzip -dcf {name}: {}", text(&o));
        v.push((name, o.stdout));
    }
    v
}

pub fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
