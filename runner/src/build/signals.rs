//! SIGINT/SIGTERM become a flag the supervisor polls: it forwards SIGTERM to buildah's
//! process group, waits, then kills, and the run still writes its result (status `aborted`,
//! exit 130/143). Nomad's docker driver sends SIGTERM to PID 1 and SIGKILL `kill_timeout`
//! later (default 5 s), so the grace period stays below that.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// How long buildah gets between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(3);

extern "C" fn on_signal(sig: libc::c_int) {
    RECEIVED.store(sig, Ordering::SeqCst);
}

/// Installs the handlers (idempotent).
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// The signal received, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Sleeps up to `d`, returning early (false) when a signal arrives.
pub fn sleep(d: Duration) -> bool {
    let end = std::time::Instant::now() + d;
    while std::time::Instant::now() < end {
        if received().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}
