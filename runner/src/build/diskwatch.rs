//! Disk use of a build, measured on its own trees (not the whole filesystem, which other
//! writers share): a background thread walks the run's directories and records the peak.
//! A walk of 200 k files costs ~230 ms (KNOWLEDGE.md §1), so the thread waits 20× as long as
//! its last walk took (at least 500 ms) before the next one: at most ~5 % of one core. The
//! enforced quotas of a later issue build on this watch.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Allocated bytes below `roots`, each hard-linked inode counted once.
pub fn tree_bytes(roots: &[PathBuf]) -> u64 {
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total = 0u64;
    let mut stack: Vec<PathBuf> = roots.to_vec();
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.nlink() > 1 && !m.is_dir() && !seen.insert((m.dev(), m.ino())) {
                continue;
            }
            total += m.blocks() * 512;
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    total
}

pub struct DiskWatch {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
    roots: Vec<PathBuf>,
    base: u64,
}

impl DiskWatch {
    /// Starts watching; what is already there counts as the baseline.
    pub fn start(roots: Vec<PathBuf>) -> Self {
        let base = tree_bytes(&roots);
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(base));
        let (s, p, r) = (stop.clone(), peak.clone(), roots.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let t = Instant::now();
                p.fetch_max(tree_bytes(&r), Ordering::Relaxed);
                let wait = (t.elapsed() * 20).max(Duration::from_millis(500));
                let until = Instant::now() + wait;
                // `finish` unparks us, so stopping costs no wait.
                while !s.load(Ordering::Relaxed) {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    std::thread::park_timeout(left);
                }
            }
        });
        DiskWatch {
            stop,
            peak,
            handle: Some(handle),
            roots,
            base,
        }
    }

    /// Stops watching and returns the peak growth over the baseline, the final size included
    /// when `final_walk` (skipped after a signal: writing the result comes first).
    pub fn finish(mut self, final_walk: bool) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
        let last = if final_walk {
            tree_bytes(&self.roots)
        } else {
            0
        };
        self.peak
            .load(Ordering::Relaxed)
            .max(last)
            .saturating_sub(self.base)
    }
}

/// The directories a run writes to.
pub fn run_roots(run_dir: &Path, graphroot: &Path) -> Vec<PathBuf> {
    if graphroot.starts_with(run_dir) {
        vec![run_dir.to_path_buf()]
    } else {
        vec![run_dir.to_path_buf(), graphroot.to_path_buf()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_growth_and_hard_links_once() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("before"), vec![1u8; 8192]).unwrap();
        let w = DiskWatch::start(vec![d.path().to_path_buf()]);
        std::fs::write(d.path().join("a"), vec![7u8; 1 << 20]).unwrap();
        std::fs::hard_link(d.path().join("a"), d.path().join("b")).unwrap();
        let grown = w.finish(true);
        assert!((1 << 20..(1 << 20) + 65536).contains(&grown), "{grown}");
    }
}
