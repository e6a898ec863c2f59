//! `buildrunner build`: validate, preflight, plan, run buildah under the supervisor, push,
//! and always write the result (from the moment the arguments parse).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use preflight::{PreflightOptions, Verdict};

use crate::build::clock::rfc3339;
use crate::build::diskwatch::{run_roots, DiskWatch};
use crate::build::input::BuildRequest;
use crate::build::logs::Logger;
use crate::build::plan::BuildPlan;
use crate::build::result::{
    self, BuildResult, DecisionOut, DiskOut, ErrorOut, ImageOut, NomadOut, RunStatus,
};
use crate::build::workdir::RunDir;
use crate::build::{push, secret_values, signals, supervise};
use crate::cli::{BuildArgs, Format, LogFormat};
use crate::error::CliError;
use crate::exit;

/// What every outcome needs to write its result.
struct Run {
    started: SystemTime,
    clock: Instant,
    result_path: PathBuf,
    format: Format,
    decision: DecisionOut,
    peak_bytes: u64,
    images: Vec<ImageOut>,
    image_id: Option<String>,
    tail: Vec<String>,
}

impl Run {
    fn finish(
        &self,
        status: RunStatus,
        code: i32,
        error: Option<ErrorOut>,
        log: Option<&Logger>,
    ) -> i32 {
        let r = BuildResult {
            schema: result::RESULT_SCHEMA,
            status,
            exit_code: code,
            started_at: rfc3339(self.started),
            finished_at: rfc3339(SystemTime::now()),
            duration_ms: self.clock.elapsed().as_millis() as u64,
            images: self.images.clone(),
            image_id: self.image_id.clone(),
            decision: self.decision.clone(),
            disk: DiskOut {
                quota_bytes: None,
                peak_bytes: self.peak_bytes,
            },
            nomad: NomadOut::from_env(),
            error,
            log_tail: self.tail.clone(),
        };
        if let Err(e) = result::write(&self.result_path, &r) {
            let msg = format!(
                "cannot write the result to {}: {e}",
                self.result_path.display()
            );
            match log {
                Some(l) => l.event(&msg),
                None => eprintln!("buildrunner: {msg}"),
            }
        }
        let mut out = std::io::stdout().lock();
        match self.format {
            Format::Json => {
                if let Ok(s) = serde_json::to_string_pretty(&r) {
                    let _ = writeln!(out, "{s}");
                }
            }
            Format::Text => {
                let _ = writeln!(out, "status: {} (exit {code})", status.as_str());
                for i in &r.images {
                    let _ = writeln!(
                        out,
                        "image: {} {}",
                        i.reference,
                        i.digest.as_deref().unwrap_or("(not pushed)")
                    );
                }
                if let Some(id) = &r.image_id {
                    let _ = writeln!(out, "image id: {id}");
                }
                let _ = writeln!(out, "result: {}", self.result_path.display());
            }
        }
        code
    }

    /// Stopped by a signal: status `aborted`, exit 130/143.
    fn aborted(&self, sig: i32, message: String, log: &Logger) -> i32 {
        let code = if sig == libc::SIGINT {
            exit::SIGINT
        } else {
            exit::SIGTERM
        };
        let error = ErrorOut {
            kind: "signal".into(),
            message,
            hint: None,
        };
        self.finish(RunStatus::Aborted, code, Some(error), Some(log))
    }

    /// Bad input: the result says so, the error renderer prints it (exit 2).
    fn invalid(&self, err: CliError) -> Result<i32, CliError> {
        self.finish(
            RunStatus::Invalid,
            exit::USAGE,
            Some(ErrorOut {
                kind: "bad_input".into(),
                message: err.message.clone(),
                hint: err.hint.clone(),
            }),
            None,
        );
        Err(err)
    }
}

/// The result's decision. Where the plan overrides the preflight's layer policy (a fresh
/// per-run root without a cache keeps no intermediate layers), the layers reason says so.
fn decision_out(d: &preflight::Decision, layers: bool) -> DecisionOut {
    let mut reasons: Vec<String> = d
        .reasons
        .iter()
        .map(|r| format!("{}: {}", r.topic, r.text))
        .collect();
    if layers != d.layers {
        reasons.retain(|r| !r.starts_with("layers: "));
        reasons.push(if layers {
            "layers: kept (--layers): a --cache-repo or a kept --storage-root reuses them".into()
        } else {
            "layers: none (--layers=false): the fresh per-run root is removed after the run and no --cache-repo reuses them".into()
        });
    }
    DecisionOut {
        storage_driver: Some(d.storage_driver.as_str().into()),
        mount_program: d.mount_program.as_ref().map(|p| p.display().to_string()),
        isolation: Some(d.isolation.as_str().into()),
        userns: Some(d.userns),
        layers: Some(layers),
        reasons,
    }
}

pub fn run(args: &BuildArgs) -> Result<i32, CliError> {
    signals::install();
    let mut run = Run {
        started: SystemTime::now(),
        clock: Instant::now(),
        result_path: result::default_path(args.result.as_deref()),
        format: args.format,
        decision: DecisionOut::default(),
        peak_bytes: 0,
        images: Vec::new(),
        image_id: None,
        tail: Vec::new(),
    };
    let req = match BuildRequest::from_args(args) {
        Ok(r) => r,
        Err(e) => return run.invalid(e),
    };
    let format = args
        .log_format
        .unwrap_or(if std::io::stderr().is_terminal() {
            LogFormat::Human
        } else {
            LogFormat::Plain
        });
    let log = Logger::new(format, secret_values(&req));

    let rundir = match RunDir::create(args.storage_root.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            let hint = match &e {
                crate::build::workdir::RunDirError::Busy { .. } => "wait for the other run, or pass another `--storage-root`",
                _ => "set BUILDRUNNER_WORK_DIR (or `--storage-root`) to a writable directory on a volume with space",
            };
            return run.invalid(CliError::new(exit::USAGE, e.to_string()).hint(hint));
        }
    };
    log.event(&format!("run dir {}", rundir.dir.display()));
    let code = build_in(&mut run, &req, &rundir, &log);
    if rundir.user_root {
        log.event(&format!(
            "kept the storage root {} (--storage-root)",
            rundir.graphroot.display()
        ));
    }
    if args.keep_storage {
        rundir.mark_kept();
        log.event(&format!("kept {} (--keep-storage)", rundir.dir.display()));
    } else if let Err(e) = rundir.remove() {
        log.event(&format!("warning: {e}; `buildrunner gc` will retry"));
    }
    Ok(code)
}

fn build_in(run: &mut Run, req: &BuildRequest, rundir: &RunDir, log: &Logger) -> i32 {
    // Preflight, on the storage filesystem this build will use.
    let opts =
        PreflightOptions::for_this_host(Some(rundir.graphroot.clone()), super::doctor::probe_exe());
    let (facts, report) = preflight::run(&opts);
    let d = &report.decision;
    run.decision = decision_out(
        d,
        crate::build::plan::layers(d, req.cache_repo.is_some(), rundir.user_root),
    );
    log.event(&format!(
        "preflight: {} in {:.1} ms — storage {}, isolation {}, user namespace {}",
        report.verdict.as_str(),
        report.elapsed_ms,
        d.storage_label(),
        d.isolation.as_str(),
        if d.userns { "yes" } else { "no" }
    ));
    for r in &d.reasons {
        log.event(&format!("  {}: {}", r.topic, r.text));
    }
    if report.verdict == Verdict::Blocked {
        // Nothing was decided: the driver and isolation the failed probes left are no choice.
        run.decision = DecisionOut {
            userns: Some(d.userns),
            reasons: run.decision.reasons.clone(),
            ..DecisionOut::default()
        };
        let failed: Vec<String> = report
            .checks
            .iter()
            .filter(|c| d.blocked_by.contains(&c.id))
            .map(|c| format!("{}: {}", c.id, c.summary))
            .collect();
        for f in &failed {
            log.event(&format!("blocked by {f}"));
        }
        return run.finish(
            RunStatus::Blocked,
            exit::ENV_BLOCKED,
            Some(ErrorOut {
                kind: "blocked".into(),
                message: format!("buildah cannot build here: {}", failed.join("; ")),
                hint: d.unblock.clone(),
            }),
            Some(log),
        );
    }
    let Some(buildah) = facts.live.buildah.path.clone() else {
        return run.finish(
            RunStatus::Blocked,
            exit::ENV_BLOCKED,
            Some(ErrorOut {
                kind: "blocked".into(),
                message: "buildah not found".into(),
                hint: Some("install buildah".into()),
            }),
            Some(log),
        );
    };

    let plan = BuildPlan::new(req, d, rundir, buildah);
    let written = std::fs::write(&plan.storage_conf, plan.storage_conf_text())
        .and_then(|_| std::fs::create_dir_all(&plan.tmpdir));
    if let Err(e) = written {
        return run.finish(
            RunStatus::BuildFailed,
            exit::BLOCKED_OR_FAILED,
            Some(ErrorOut {
                kind: "internal".into(),
                message: format!("cannot write {}: {e}", plan.storage_conf.display()),
                hint: Some("make the work dir writable".into()),
            }),
            Some(log),
        );
    }
    if let Some(sig) = signals::received() {
        return run.aborted(
            sig,
            format!("stopped by signal {sig} before the build started"),
            log,
        );
    }
    let argv = plan.bud_argv();
    log.event(&format!("$ buildah {}", BuildPlan::show(&argv)));
    let env = plan.env();
    let watch = DiskWatch::start(run_roots(&rundir.dir, &rundir.graphroot));
    let fin = supervise::run(&plan.buildah, &argv, &env, &plan.lock_fds, log);
    // After a signal Nomad's SIGKILL is near: no final walk, the result comes first.
    run.peak_bytes = watch.finish(signals::received().is_none());
    let fin = match fin {
        Ok(f) => f,
        Err(e) => {
            return run.finish(
                RunStatus::BuildFailed,
                exit::BLOCKED_OR_FAILED,
                Some(ErrorOut {
                    kind: "internal".into(),
                    message: format!("cannot start buildah: {e}"),
                    hint: Some("check the buildah installation".into()),
                }),
                Some(log),
            );
        }
    };
    run.tail = fin.tail.clone();
    if let Some(sig) = fin.interrupted {
        return run.aborted(
            sig,
            format!("stopped by signal {sig} during the build"),
            log,
        );
    }
    if fin.code != 0 {
        let last = fin.last_line();
        return run.finish(
            RunStatus::BuildFailed,
            exit::BLOCKED_OR_FAILED,
            Some(ErrorOut {
                kind: "build".into(),
                message: format!("buildah bud exited with {}: {last}", fin.code),
                hint: Some("the build's own output is in the log and in log_tail".into()),
            }),
            Some(log),
        );
    }
    run.image_id = std::fs::read_to_string(&plan.iidfile)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    run.images = req
        .tags
        .iter()
        .map(|t| ImageOut {
            reference: t.to_string(),
            digest: None,
        })
        .collect();

    if req.push {
        match push::push_all(&plan, log, &rundir.dir) {
            Ok(images) => run.images = images,
            Err(e) => {
                run.tail = e.tail.clone();
                for p in &e.pushed {
                    if let Some(i) = run.images.iter_mut().find(|i| i.reference == p.reference) {
                        i.digest.clone_from(&p.digest);
                    }
                }
                if let Some(sig) = e.interrupted {
                    return run.aborted(sig, e.message, log);
                }
                return run.finish(
                    RunStatus::PushFailed,
                    exit::PUSH_FAILED,
                    Some(ErrorOut {
                        kind: "push".into(),
                        message: e.message,
                        hint: Some(e.hint),
                    }),
                    Some(log),
                );
            }
        }
    }
    log.event(&format!(
        "done in {:.1}s",
        run.clock.elapsed().as_secs_f64()
    ));
    run.finish(RunStatus::Succeeded, exit::OK, None, Some(log))
}
