//! Exit codes: few, documented in the README, stable for scripts and Jenkins.

/// Success; for `doctor`, builds can run here (possibly degraded).
pub const OK: i32 = 0;
/// `doctor`: builds are blocked here. `build`: a build step failed.
pub const BLOCKED_OR_FAILED: i32 = 1;
/// Usage error or bad input.
pub const USAGE: i32 = 2;
/// `build`: the environment cannot build (the preflight verdict is `blocked`).
pub const ENV_BLOCKED: i32 = 3;
/// `build`: the disk quota was exceeded.
#[allow(dead_code)] // enforced quotas arrive with the quota issue; the code is reserved now
pub const QUOTA: i32 = 4;
/// `build`: pushing failed.
pub const PUSH_FAILED: i32 = 5;
/// `build`: denied by policy.
#[allow(dead_code)] // the admin policy arrives with its own issue; the code is reserved now
pub const DENIED: i32 = 6;
/// Interrupted by SIGINT (128 + 2).
pub const SIGINT: i32 = 130;
/// Stopped by SIGTERM (128 + 15).
pub const SIGTERM: i32 = 143;
