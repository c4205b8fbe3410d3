//! The service lock's lease as every step renews it: a step that still holds the lock extends
//! it; one whose lock was taken over is `Superseded`.

use crate::error::Error;
use crate::event::Push;
use crate::lock::{Renew, Renewal, lost_to};
use crate::ports::Locks;

use super::execution_name;

/// How long a lock taken now lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Seconds since the epoch.
    pub now: i64,
    pub seconds: i64,
}

impl Lease {
    pub fn until(self) -> i64 {
        self.now + self.seconds
    }
}

/// Extends this execution's lease; `Superseded` when another execution holds the lock.
pub(super) async fn keep_lock(
    ledger: &impl Locks,
    service: &str,
    push: &Push,
    until: i64,
    renew: &Renew<'_>,
) -> Result<(), Error> {
    hold_lock(ledger, service, &push.tag, &execution_name(service, push), until, renew).await
}

/// `keep_lock` for a caller that knows the execution's name and the pushed tag, not the push.
pub(super) async fn hold_lock(
    ledger: &impl Locks,
    service: &str,
    tag: &str,
    execution: &str,
    until: i64,
    renew: &Renew<'_>,
) -> Result<(), Error> {
    match ledger.renew(service, execution, until, renew).await? {
        Renewal::Held => Ok(()),
        Renewal::Lost(holder) => {
            Err(Error::Superseded { service: service.into(), tag: tag.into(), by: lost_to(holder.as_ref()) })
        }
    }
}

/// `$$.Execution.StartTime` in seconds: RFC 3339, or with a space between date and time.
pub fn epoch_seconds(time: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(time)
        .or_else(|_| chrono::DateTime::parse_from_str(time, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .ok()
        .map(|t| t.timestamp())
}
