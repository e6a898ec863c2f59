//! Findings and decisions on fixture trees recorded from real hosts and containers (and two
//! constructed ones, CentOS 7 and Ubuntu 24.04, marked so in their ORIGIN file). Each test
//! states what an operator of that machine must be told; see issue 3, point 6.

use std::path::PathBuf;

use preflight::{
    fixture, Decision, DoctorReport, Isolation, Status, StorageDriver, Verdict, CHECK_IDS,
};

fn report(name: &str) -> DoctorReport {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let facts = fixture::load(&dir).unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    preflight::assess(&facts, std::time::Duration::ZERO)
}

fn status(r: &DoctorReport, id: &str) -> Status {
    r.checks
        .iter()
        .find(|c| c.id == id)
        .map(|c| c.status)
        .unwrap_or_else(|| panic!("no check {id}"))
}

fn hint(r: &DoctorReport, id: &str) -> String {
    r.checks
        .iter()
        .find(|c| c.id == id)
        .and_then(|c| c.hint.clone())
        .unwrap_or_default()
}

fn assert_decision(
    d: &Decision,
    driver: StorageDriver,
    fuse: bool,
    isolation: Isolation,
    userns: bool,
    layers: bool,
) {
    assert_eq!(d.storage_driver, driver, "{d:#?}");
    assert_eq!(d.mount_program.is_some(), fuse, "{d:#?}");
    assert_eq!(d.isolation, isolation, "{d:#?}");
    assert_eq!(d.userns, userns, "{d:#?}");
    assert_eq!(d.layers, layers, "{d:#?}");
    assert!(
        d.layers_with_cache,
        "a remote cache always needs intermediate layers"
    );
}

const ALL: &[&str] = &[
    "debian12-host-root",
    "debian12-root-no-sysadmin",
    "debian12-user-subuid",
    "debian12-user-no-subuid",
    "docker-default",
    "docker-sysadmin",
    "docker-sysadmin-volume",
    "docker-sysadmin-overlay-root",
    "centos7-user-userns-disabled",
    "ubuntu2404-user-apparmor-userns",
];

#[test]
fn every_fixture_reports_every_check_once_and_hints_every_problem() {
    for name in ALL {
        let r = report(name);
        let ids: Vec<&str> = r.checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, CHECK_IDS, "{name}");
        for c in &r.checks {
            if matches!(c.status, Status::Warn | Status::Fail) {
                assert!(
                    c.hint.as_deref().is_some_and(|h| !h.is_empty()),
                    "{name}: {} has no hint",
                    c.id
                );
            }
        }
        for reason in &r.decision.reasons {
            for id in &reason.findings {
                assert!(
                    CHECK_IDS.contains(&id.as_str()),
                    "{name}: reason cites unknown finding {id}"
                );
            }
        }
        assert_eq!(r.verdict, r.decision.verdict);
        assert_eq!(
            r.verdict == Verdict::Blocked,
            r.decision.unblock.is_some(),
            "{name}"
        );
    }
}

#[test]
fn debian_host_root_gets_native_overlay_without_userns() {
    let r = report("debian12-host-root");
    assert_eq!(r.verdict, Verdict::Ok);
    assert_decision(
        &r.decision,
        StorageDriver::Overlay,
        false,
        Isolation::Oci,
        false,
        true,
    );
    assert_eq!(status(&r, "caps"), Status::Pass);
    assert_eq!(status(&r, "subid.ranges"), Status::Skip);
    assert_eq!(
        status(&r, "cgroup.mode"),
        Status::Warn,
        "this host runs hybrid cgroups"
    );
    assert_eq!(
        status(&r, "docker.socket"),
        Status::Warn,
        "root on the host can reach dockerd"
    );
}

#[test]
fn root_without_sys_admin_needs_a_user_namespace_and_gets_one() {
    let r = report("debian12-root-no-sysadmin");
    assert_eq!(r.verdict, Verdict::Ok);
    // runc cannot write cgroup v1 controllers from a user namespace: chroot.
    assert_eq!(status(&r, "cgroup.mode"), Status::Warn);
    assert_decision(
        &r.decision,
        StorageDriver::Overlay,
        false,
        Isolation::Chroot,
        true,
        true,
    );
    assert_eq!(status(&r, "caps"), Status::Warn);
    assert_eq!(status(&r, "userns.probe"), Status::Pass);
}

#[test]
fn rootless_user_with_subuid_ranges_builds_on_native_overlay() {
    let r = report("debian12-user-subuid");
    assert_eq!(r.verdict, Verdict::Ok);
    assert_decision(
        &r.decision,
        StorageDriver::Overlay,
        false,
        Isolation::Chroot,
        true,
        true,
    );
    assert_eq!(status(&r, "subid.ranges"), Status::Pass);
    assert_eq!(status(&r, "subid.helpers"), Status::Pass);
}

#[test]
fn rootless_user_without_subuid_is_blocked_with_a_subuid_hint() {
    // buildah falls back to a single mapping and every RUN fails setting supplemental groups.
    let r = report("debian12-user-no-subuid");
    assert_eq!(r.verdict, Verdict::Blocked);
    assert_eq!(status(&r, "subid.ranges"), Status::Fail);
    assert!(
        hint(&r, "subid.ranges").contains("brtest:100000:65536"),
        "{}",
        hint(&r, "subid.ranges")
    );
    assert_eq!(r.decision.blocked_by, vec!["subid.ranges".to_string()]);
    assert!(r
        .decision
        .unblock
        .as_deref()
        .is_some_and(|u| u.contains("/etc/subuid")));
}

#[test]
fn docker_default_confinement_is_blocked_by_seccomp_with_the_cap_add_hint() {
    let r = report("docker-default");
    assert_eq!(r.verdict, Verdict::Blocked);
    assert_eq!(status(&r, "userns.probe"), Status::Fail);
    assert_eq!(status(&r, "seccomp"), Status::Fail);
    assert_eq!(status(&r, "caps"), Status::Warn);
    assert_eq!(status(&r, "proc.masked"), Status::Warn);
    assert_eq!(status(&r, "proc.sys.ro"), Status::Warn);
    assert_eq!(status(&r, "fuse"), Status::Warn);
    assert!(r.decision.blocked_by.contains(&"userns.probe".to_string()));
    assert!(r.decision.blocked_by.contains(&"seccomp".to_string()));
    let unblock = r.decision.unblock.clone().unwrap_or_default();
    assert!(
        unblock.contains("--cap-add SYS_ADMIN") && unblock.contains("seccomp"),
        "{unblock}"
    );
}

#[test]
fn docker_with_sys_admin_on_its_fuse_rootfs_falls_back_to_vfs_without_layers() {
    let r = report("docker-sysadmin");
    assert_eq!(r.verdict, Verdict::Degraded);
    assert_decision(
        &r.decision,
        StorageDriver::Vfs,
        false,
        Isolation::Chroot,
        false,
        false,
    );
    assert_eq!(status(&r, "storage.fs"), Status::Warn);
    assert_eq!(status(&r, "overlay.probe"), Status::Warn);
    assert_eq!(
        status(&r, "proc.masked"),
        Status::Pass,
        "no userns: the kernel allows a fresh procfs"
    );
    assert_eq!(
        status(&r, "proc.sys.ro"),
        Status::Warn,
        "chroot because /proc/sys is read-only"
    );
}

#[test]
fn docker_with_sys_admin_and_a_volume_gets_native_overlay_and_chroot() {
    let r = report("docker-sysadmin-volume");
    assert_eq!(r.verdict, Verdict::Ok);
    assert_decision(
        &r.decision,
        StorageDriver::Overlay,
        false,
        Isolation::Chroot,
        false,
        true,
    );
}

#[test]
fn storage_root_on_overlayfs_is_named_and_the_volume_fix_given() {
    let r = report("docker-sysadmin-overlay-root");
    assert_eq!(status(&r, "storage.fs"), Status::Warn);
    assert!(r
        .checks
        .iter()
        .any(|c| c.id == "storage.fs" && c.summary.contains("not supported over overlayfs")));
    assert!(hint(&r, "storage.fs").contains("volume"));
    assert_eq!(r.decision.storage_driver, StorageDriver::Vfs);
    assert!(r
        .decision
        .reasons
        .iter()
        .any(|x| x.topic == "storage" && x.text.contains("overlayfs")));
}

#[test]
fn centos7_with_userns_disabled_is_blocked_with_the_sysctl_fix() {
    let r = report("centos7-user-userns-disabled");
    assert_eq!(r.verdict, Verdict::Blocked);
    assert_eq!(status(&r, "userns.sysctl"), Status::Fail);
    assert_eq!(status(&r, "userns.probe"), Status::Fail);
    assert_eq!(
        status(&r, "buildah.version"),
        Status::Warn,
        "1.11 has no registry cache"
    );
    assert_eq!(
        status(&r, "lsm.selinux"),
        Status::Warn,
        "SELinux on a 3.10 kernel"
    );
    assert!(r
        .decision
        .unblock
        .as_deref()
        .is_some_and(|u| u.contains("max_user_namespaces=15000")));
    assert!(r.decision.blocked_by.contains(&"userns.sysctl".to_string()));
}

#[test]
fn ubuntu_apparmor_userns_restriction_is_blocked_with_the_apparmor_fix() {
    let r = report("ubuntu2404-user-apparmor-userns");
    assert_eq!(r.verdict, Verdict::Blocked);
    assert_eq!(status(&r, "userns.apparmor"), Status::Fail);
    assert_eq!(status(&r, "userns.probe"), Status::Fail);
    assert_eq!(status(&r, "cgroup.mode"), Status::Pass);
    let unblock = r.decision.unblock.clone().unwrap_or_default();
    assert!(
        unblock.contains("apparmor_restrict_unprivileged_userns=0") && unblock.contains("userns,"),
        "{unblock}"
    );
}

#[test]
fn rootless_with_failing_id_map_helpers_is_blocked() {
    // buildah's fallback to a single mapping makes every RUN fail ("error setting
    // supplemental groups list"), so failing helpers block, they do not merely warn.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/debian12-user-subuid");
    let mut facts = fixture::load(&dir).unwrap();
    let idmap = preflight::live::IdMapOutcome {
        method: "single".into(),
        uids: 1,
        gids: 1,
        helper_error: Some(
            "newuidmap exit status: 1: newuidmap: write to uid_map failed: Operation not permitted"
                .into(),
        ),
    };
    facts.live.userns_probe.idmap = Some(idmap);
    let r = preflight::assess(&facts, std::time::Duration::ZERO);
    assert_eq!(r.verdict, Verdict::Blocked);
    assert_eq!(status(&r, "subid.helpers"), Status::Fail);
    assert!(r.decision.blocked_by.contains(&"subid.helpers".to_string()));
    assert!(r
        .decision
        .unblock
        .as_deref()
        .is_some_and(|u| u.contains("setcap cap_setuid=ep")));
}
