//! The build plan: the one place the buildah command lines are made, from the validated
//! request, the preflight decision and the run's directories. Tests assert on these argv
//! vectors. Credentials never appear here: registries authenticate through `--authfile`.
//!
//! containers/storage also reads `storage.conf`; an admin's `mount_program` or additional
//! image stores there would silently change the decided driver, so each run gets its own
//! `storage.conf` (via `CONTAINERS_STORAGE_CONF`) that says exactly what was decided.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use preflight::{Decision, Isolation, StorageDriver};

use super::input::BuildRequest;
use super::refs::ImageRef;
use super::workdir::RunDir;

#[derive(Debug, Clone)]
pub struct BuildPlan {
    pub buildah: PathBuf,
    pub graphroot: PathBuf,
    pub runroot: PathBuf,
    pub driver: StorageDriver,
    pub mount_program: Option<PathBuf>,
    pub isolation: Isolation,
    pub layers: bool,
    pub storage_conf: PathBuf,
    pub iidfile: PathBuf,
    /// buildah's TMPDIR: inside the run dir, so what it unpacks counts against the run and
    /// goes away with it.
    pub tmpdir: PathBuf,
    /// The OCI runtime's state directory (`--runtime-flag root=`): inside the run dir, so a
    /// buildah killed mid-`RUN` leaves no container state in the host's /run/runc.
    pub runtime_root: PathBuf,
    /// The run's lock descriptors, inherited by every buildah process.
    pub lock_fds: Vec<std::os::unix::io::RawFd>,
    pub req: BuildRequest,
}

/// Whether to keep intermediate layers. They pay off only where something can reuse them: a
/// remote cache, or a storage root that outlives the run. A fresh per-run root is removed
/// afterwards, so its intermediate layers would be committed for nothing.
pub fn layers(decision: &Decision, remote_cache: bool, persistent_root: bool) -> bool {
    decision.layers_for(remote_cache) && (remote_cache || persistent_root)
}

impl BuildPlan {
    pub fn new(req: &BuildRequest, decision: &Decision, run: &RunDir, buildah: PathBuf) -> Self {
        BuildPlan {
            buildah,
            graphroot: run.graphroot.clone(),
            runroot: run.runroot.clone(),
            driver: decision.storage_driver,
            mount_program: decision.mount_program.clone(),
            isolation: decision.isolation,
            layers: layers(decision, req.cache_repo.is_some(), run.user_root),
            storage_conf: run.dir.join("storage.conf"),
            iidfile: run.dir.join("image-id"),
            tmpdir: run.dir.join("tmp"),
            runtime_root: run.dir.join("runtime"),
            lock_fds: run.lock_fds(),
            req: req.clone(),
        }
    }

    /// The `storage.conf` for this run.
    pub fn storage_conf_text(&self) -> String {
        let mut s = format!(
            "# written by buildrunner for one run\n[storage]\ndriver = \"{}\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            self.driver.as_str(),
            self.graphroot.display(),
            self.runroot.display()
        );
        if let Some(mp) = &self.mount_program {
            s.push_str(&format!(
                "\n[storage.options.overlay]\nmount_program = \"{}\"\n",
                mp.display()
            ));
        }
        s
    }

    /// The environment every buildah call of this run gets.
    pub fn env(&self) -> Vec<(&'static str, OsString)> {
        vec![
            (
                "CONTAINERS_STORAGE_CONF",
                self.storage_conf.clone().into_os_string(),
            ),
            ("TMPDIR", self.tmpdir.clone().into_os_string()),
        ]
    }

    /// Global options: which store, which driver.
    fn global(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec![
            "--root".into(),
            self.graphroot.clone().into(),
            "--runroot".into(),
            self.runroot.clone().into(),
            "--storage-driver".into(),
            self.driver.as_str().into(),
        ];
        if let Some(mp) = &self.mount_program {
            a.push("--storage-opt".into());
            a.push(format!("overlay.mount_program={}", mp.display()).into());
        }
        a
    }

    /// Registry options shared by `bud` (cache, base pulls) and `push`.
    fn registry(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        if let Some(f) = &self.req.authfile {
            a.push("--authfile".into());
            a.push(f.clone().into());
        }
        if let Some(d) = &self.req.cert_dir {
            a.push("--cert-dir".into());
            a.push(d.clone().into());
        }
        a.push(format!("--tls-verify={}", self.req.tls_verify).into());
        a
    }

    /// `buildah … bud …`.
    pub fn bud_argv(&self) -> Vec<OsString> {
        let r = &self.req;
        let mut a = self.global();
        a.push("bud".into());
        a.push("--isolation".into());
        a.push(self.isolation.as_str().into());
        if self.isolation == Isolation::Oci {
            a.push("--runtime-flag".into());
            a.push(format!("root={}", self.runtime_root.display()).into());
        }
        a.push(format!("--layers={}", self.layers).into());
        if let Some(c) = &r.cache_repo {
            let c = c.to_string();
            a.extend([
                "--cache-from".into(),
                c.clone().into(),
                "--cache-to".into(),
                c.into(),
            ]);
        }
        a.push("--iidfile".into());
        a.push(self.iidfile.clone().into());
        a.push("-f".into());
        a.push(r.containerfile.clone().into());
        for t in &r.tags {
            a.push("-t".into());
            a.push(t.to_string().into());
        }
        for kv in &r.build_args {
            a.push("--build-arg".into());
            a.push(format!("{}={}", kv.key, kv.value).into());
        }
        if let Some(t) = &r.target {
            a.push("--target".into());
            a.push(t.into());
        }
        for kv in &r.labels {
            a.push("--label".into());
            a.push(format!("{}={}", kv.key, kv.value).into());
        }
        for s in &r.secrets {
            a.push("--secret".into());
            a.push(format!("id={},src={}", s.id, s.src.display()).into());
        }
        if let Some(p) = &r.platform {
            a.push("--platform".into());
            a.push(p.into());
        }
        if let Some(t) = r.timestamp {
            a.push("--timestamp".into());
            a.push(t.to_string().into());
        }
        a.extend(self.registry());
        a.push(r.context.clone().into());
        a
    }

    /// `buildah … push … REF docker://REF`. buildah 1.28 always retries a failed push 3 times
    /// itself (its `--retry` count is not honoured, its delay is); buildrunner makes those
    /// quick (`--retry-delay 250ms`) and puts its own exponential backoff between attempts.
    pub fn push_argv(&self, image: &ImageRef, digestfile: &Path) -> Vec<OsString> {
        let mut a = self.global();
        a.push("push".into());
        a.extend(["--retry-delay".into(), "250ms".into()]);
        a.push("--digestfile".into());
        a.push(digestfile.into());
        a.extend(self.registry());
        a.push(image.to_string().into());
        a.push(format!("docker://{image}").into());
        a
    }

    /// The argv as one loggable line.
    pub fn show(argv: &[OsString]) -> String {
        argv.iter()
            .map(|a| {
                let s = a.to_string_lossy();
                if s.is_empty() || s.contains(|c: char| c.is_whitespace() || "\"'$`\\".contains(c))
                {
                    format!("'{}'", s.replace('\'', "'\\''"))
                } else {
                    s.into_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::input::{KeyValue, Secret};
    use crate::build::refs::parse;

    fn req() -> BuildRequest {
        BuildRequest {
            context: "/ctx".into(),
            containerfile: "/ctx/Containerfile".into(),
            tags: vec![parse("localhost:5000/ns/app:1").unwrap()],
            build_args: vec![KeyValue {
                key: "A".into(),
                value: "b c".into(),
            }],
            target: Some("final".into()),
            labels: vec![KeyValue {
                key: "org.x".into(),
                value: "y".into(),
            }],
            secrets: vec![Secret {
                id: "token".into(),
                src: "/run/secrets/token".into(),
            }],
            platform: None,
            push: true,
            cache_repo: Some(parse("localhost:5000/cache/app").unwrap()),
            authfile: Some("/secrets/auth.json".into()),
            auth: None,
            cert_dir: Some("/certs".into()),
            tls_verify: true,
            timestamp: Some(0),
        }
    }

    fn plan(driver: StorageDriver, layers: bool) -> BuildPlan {
        BuildPlan {
            buildah: "buildah".into(),
            graphroot: "/w/run-1/root".into(),
            runroot: "/w/run-1/run".into(),
            driver,
            mount_program: None,
            isolation: Isolation::Chroot,
            layers,
            storage_conf: "/w/run-1/storage.conf".into(),
            iidfile: "/w/run-1/image-id".into(),
            tmpdir: "/w/run-1/tmp".into(),
            runtime_root: "/w/run-1/runtime".into(),
            lock_fds: vec![],
            req: req(),
        }
    }

    fn strs(v: Vec<OsString>) -> Vec<String> {
        v.into_iter().map(|s| s.into_string().unwrap()).collect()
    }

    #[test]
    fn bud_argv_carries_every_option_and_no_credentials() {
        let a = strs(plan(StorageDriver::Overlay, true).bud_argv());
        let joined = a.join(" ");
        for want in [
            "--root /w/run-1/root",
            "--storage-driver overlay",
            "bud --isolation chroot --layers=true",
            "--cache-from localhost:5000/cache/app --cache-to localhost:5000/cache/app",
            "-t localhost:5000/ns/app:1",
            "--build-arg A=b c",
            "--target final",
            "--label org.x=y",
            "--secret id=token,src=/run/secrets/token",
            "--timestamp 0",
            "--authfile /secrets/auth.json",
            "--cert-dir /certs",
            "--tls-verify=true",
        ] {
            assert!(joined.contains(want), "{want} missing in {joined}");
        }
        assert_eq!(a.last().map(String::as_str), Some("/ctx"));
        assert!(!joined.contains("--creds"));
    }

    #[test]
    fn oci_isolation_keeps_runtime_state_in_the_run_dir() {
        let mut p = plan(StorageDriver::Overlay, true);
        p.isolation = Isolation::Oci;
        let joined = strs(p.bud_argv()).join(" ");
        assert!(
            joined.contains("--isolation oci --runtime-flag root=/w/run-1/runtime"),
            "{joined}"
        );
    }

    #[test]
    fn vfs_without_cache_has_no_intermediate_layers() {
        let mut p = plan(StorageDriver::Vfs, false);
        p.req.cache_repo = None;
        let joined = strs(p.bud_argv()).join(" ");
        assert!(joined.contains("--storage-driver vfs") && joined.contains("--layers=false"));
        assert!(!joined.contains("--cache-to"));
    }

    #[test]
    fn push_argv_and_storage_conf() {
        let mut p = plan(StorageDriver::Overlay, true);
        p.mount_program = Some("/usr/bin/fuse-overlayfs".into());
        let a = strs(p.push_argv(&p.req.tags[0].clone(), Path::new("/w/d")));
        let joined = a.join(" ");
        assert!(joined.contains("--storage-opt overlay.mount_program=/usr/bin/fuse-overlayfs push --retry-delay 250ms --digestfile /w/d"));
        assert!(joined.ends_with("localhost:5000/ns/app:1 docker://localhost:5000/ns/app:1"));
        assert!(p
            .storage_conf_text()
            .contains("mount_program = \"/usr/bin/fuse-overlayfs\""));
        assert_eq!(BuildPlan::show(&["a b".into(), "c".into()]), "'a b' c");
    }
}
