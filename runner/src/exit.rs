//! Exit codes: few, documented in the README, stable for scripts and Jenkins.

/// Success; for `doctor`, builds can run here (possibly degraded).
pub const OK: i32 = 0;
/// `doctor`: builds are blocked here. `build`: a build step failed.
pub const BLOCKED_OR_FAILED: i32 = 1;
/// Usage error or bad input.
pub const USAGE: i32 = 2;
