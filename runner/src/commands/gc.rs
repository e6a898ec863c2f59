//! `buildrunner gc`: remove per-run roots left by runs whose process is gone.

use std::io::Write;

use crate::build::workdir;
use crate::cli::GcArgs;
use crate::error::CliError;
use crate::exit;

pub fn run(args: &GcArgs) -> Result<i32, CliError> {
    let stale = workdir::gc(args.dry_run, args.include_kept).map_err(|e| {
        CliError::new(
            exit::USAGE,
            format!("cannot read {}", workdir::work_dir().display()),
        )
        .cause(e)
        .hint("set BUILDRUNNER_WORK_DIR to the work dir your builds use")
    })?;
    let mut out = std::io::stdout().lock();
    let mut failed = false;
    for s in &stale {
        match &s.removed {
            Ok(()) if s.kept => {
                let _ = writeln!(
                    out,
                    "kept {} (--keep-storage; `gc --include-kept` removes it)",
                    s.dir.display()
                );
            }
            Ok(()) if args.dry_run => {
                let _ = writeln!(out, "would remove {}", s.dir.display());
            }
            Ok(()) => {
                let _ = writeln!(out, "removed {}", s.dir.display());
            }
            Err(e) => {
                failed = true;
                let _ = writeln!(out, "failed {}: {e}", s.dir.display());
            }
        }
    }
    if stale.is_empty() {
        let _ = writeln!(
            out,
            "nothing to remove in {}",
            workdir::work_dir().display()
        );
    }
    Ok(if failed {
        exit::BLOCKED_OR_FAILED
    } else {
        exit::OK
    })
}
