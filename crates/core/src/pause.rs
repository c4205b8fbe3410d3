//! A deploy freeze: while a service is paused, its pushes are recorded (the newest one still
//! counts as the newest request) but not deployed; `greenlight resume` lifts it and deploys the
//! newest held push when it is newer than what runs. Deploys already under way carry on (a
//! rollback stops one); `greenlight deploy` and `retry` are refused while paused, `rollback`
//! is not.

use serde::{Deserialize, Serialize};

/// Who paused a service, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// The caller's AWS identity.
    pub by: String,
    pub reason: String,
    /// RFC 3339.
    pub at: String,
}

impl Pause {
    /// `paused by arn:… at 2026-…: the reason`.
    pub fn describe(&self) -> String {
        format!("paused by {} at {}: {}", self.by, self.at, self.reason)
    }
}
