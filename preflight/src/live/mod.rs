//! Live facts: what the preflight learns by *doing* on this machine: real namespace and mount
//! probes (in single-threaded children, see [`child`]), `statfs` of the storage root, the
//! id-map helpers' file capabilities, `/dev/fuse`, the buildah version. Unlike the static
//! facts these cannot be read from a file tree, so a fixture records them as `live.json`.

pub mod buildah;
pub mod child;
pub mod outcome;
pub mod spawn;
pub mod system;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use outcome::{IdMapOutcome, ProbeOutcome, ProbeResult, RefusedBy};

use crate::host::StaticFacts;

/// The storage root and the filesystem under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageFacts {
    pub root: PathBuf,
    /// The directory actually examined: the root, or its nearest existing ancestor.
    pub examined: PathBuf,
    /// `statfs` f_type.
    pub fs_magic: Option<i64>,
    pub fs_name: Option<String>,
    pub free_bytes: Option<u64>,
    pub total_bytes: Option<u64>,
    /// Whether `readdir` returns file types; `None` when it could not be tried.
    pub d_type: Option<bool>,
    /// Cached storage decisions found under the graph root and run root.
    #[serde(default)]
    pub cache_files: Vec<String>,
}

/// An id-map helper binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelperFacts {
    pub path: PathBuf,
    pub setuid_root: bool,
    /// Names of the permitted file capabilities (`security.capability`), if any.
    pub file_caps: Vec<String>,
}

/// `/dev/fuse` and the fuse-overlayfs binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FuseFacts {
    /// `None` when the device opened read-write; the error otherwise.
    pub device_error: Option<String>,
    pub fuse_overlayfs: Option<PathBuf>,
}

/// `buildah version --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildahFacts {
    pub path: Option<PathBuf>,
    pub version: Option<String>,
    pub error: Option<String>,
    /// The version came from the cache keyed on the binary's inode, size and times.
    #[serde(default)]
    pub cached: bool,
}

/// Everything found by doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveFacts {
    pub storage: StorageFacts,
    pub newuidmap: Option<HelperFacts>,
    pub newgidmap: Option<HelperFacts>,
    pub fuse: FuseFacts,
    pub docker_sockets: Vec<PathBuf>,
    pub oci_runtime: Option<PathBuf>,
    /// slirp4netns or pasta: what a rootless OCI `RUN` needs for its network.
    #[serde(default)]
    pub rootless_net: Option<PathBuf>,
    pub buildah: BuildahFacts,
    pub userns_probe: ProbeOutcome,
    pub overlay_probe: ProbeOutcome,
    pub freshproc_probe: ProbeOutcome,
}

/// How to gather live facts.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub storage_root: PathBuf,
    /// The executable that answers the hidden probe subcommand; `None` skips the namespace
    /// probes (library unit tests have no such binary).
    pub probe_exe: Option<PathBuf>,
    pub probe_timeout: Duration,
    /// Where the buildah version cache lives; `None` disables it.
    pub cache_dir: Option<PathBuf>,
    /// The buildah binary; `None` searches `PATH`.
    pub buildah: Option<PathBuf>,
}

/// Gathers the live facts. Never fails: what cannot be learnt is recorded as such.
pub fn gather(facts: &StaticFacts, opts: &LiveOptions) -> LiveFacts {
    let buildah_path = opts.buildah.clone().or_else(|| system::which("buildah"));
    // buildah's version is the one slow fact (a Go binary start, ~12 ms): ask it on a thread
    // while the probes run.
    let (cache, timeout) = (opts.cache_dir.clone(), opts.probe_timeout);
    let version = std::thread::spawn(move || {
        buildah::version(buildah_path.as_deref(), cache.as_deref(), timeout)
    });
    let newuidmap = system::which("newuidmap").map(|p| system::helper_facts(&p));
    let newgidmap = system::which("newgidmap").map(|p| system::helper_facts(&p));
    let (storage, probes) = system::storage_and_probes(facts, opts, &newuidmap, &newgidmap);
    let [userns_probe, overlay_probe, freshproc_probe] = probes;
    LiveFacts {
        storage,
        newuidmap,
        newgidmap,
        fuse: system::fuse_facts(),
        docker_sockets: system::docker_sockets(),
        oci_runtime: system::which("crun").or_else(|| system::which("runc")),
        rootless_net: system::which("slirp4netns").or_else(|| system::which("pasta")),
        buildah: version.join().unwrap_or_else(|_| BuildahFacts {
            path: None,
            version: None,
            error: Some("version query panicked".into()),
            cached: false,
        }),
        userns_probe,
        overlay_probe,
        freshproc_probe,
    }
}
