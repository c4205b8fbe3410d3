//! "Latest digest wins": the order of a service's pushes and the per-service lock.
//!
//! Pushes are ordered by ECR's push time, then by the event's time, then by digest (so the
//! order is total and the same everywhere). on-image-push records the newest push of each
//! service; prepare takes the lock before registering anything. The lock names the execution
//! holding it, carries a lease (renewed by every step) so that a crashed execution cannot hold
//! it forever, and says once production traffic may move (`shifting`): from then on the
//! deployment is never stopped by a newer push, which waits for it instead, so an older digest
//! never serves production after a newer one.

use serde::{Deserialize, Serialize};

use crate::event::Push;

/// Where a push sits in its service's order; compares as a string.
pub fn order_key(push: &Push) -> String {
    let event = push.event_time.map(|t| t.timestamp_millis()).unwrap_or(0).max(0);
    let pushed = push.pushed_at.unwrap_or(event).max(0);
    format!("{pushed:015}.{event:015}.{}", push.digest.trim_start_matches("sha256:"))
}

/// The newest push recorded for a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewestPush {
    pub order: String,
    pub tag: String,
    pub digest: String,
}

/// Who holds a service's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// The execution's name (`<service>-<digest prefix>`).
    pub execution: String,
    pub order: String,
    pub tag: String,
    pub digest: String,
    /// Seconds since the epoch after which anyone may take the lock.
    pub lease_until: i64,
    #[serde(default)]
    pub deployment_id: Option<String>,
    #[serde(default)]
    pub approval_id: Option<String>,
    /// Production traffic may be moving: the deployment must be left to finish.
    #[serde(default)]
    pub shifting: bool,
}

impl LockHolder {
    /// `v1.4.0 (sha256:0123456789ab)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.tag, short_digest(&self.digest))
    }
}

pub fn short_digest(digest: &str) -> String {
    digest.chars().take("sha256:".len() + 12).collect()
}

/// What taking the lock found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquire {
    /// The lock is ours; `previous` held it before us (expired, or older and taken over).
    Acquired { previous: Option<LockHolder> },
    /// Someone else holds it.
    Held(LockHolder),
}

/// What renewing the lock found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renewal {
    Held,
    /// Another execution holds the lock now (or nobody does).
    Lost(Option<LockHolder>),
}

/// What a renewal also records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renew<'a> {
    pub deployment_id: Option<&'a str>,
    pub approval_id: Option<&'a str>,
    pub shifting: bool,
}

/// Why a lost lock means this execution is superseded, for its error message.
pub fn lost_to(holder: Option<&LockHolder>) -> String {
    match holder {
        Some(h) => format!("{} now holds the service's lock", h.describe()),
        None => "the service's lock is no longer held by this execution".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::rfc3339;
    use chrono::{DateTime, Utc};

    fn push(digest: &str, pushed_at: Option<i64>, event_ms: i64) -> Push {
        Push {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            repository: "web".into(),
            digest: digest.into(),
            tag: "v1".into(),
            event_id: None,
            event_time: DateTime::<Utc>::from_timestamp_millis(event_ms),
            pushed_at,
        }
    }

    #[test]
    fn pushes_order_by_push_time_then_event_time_then_digest() {
        let keys = [
            order_key(&push("sha256:ff", Some(1_000), 9_000)),
            order_key(&push("sha256:aa", Some(2_000), 1_000)),
            order_key(&push("sha256:aa", Some(2_000), 1_500)),
            order_key(&push("sha256:bb", Some(2_000), 1_500)),
            order_key(&push("sha256:00", Some(10_000_000_000_000), 0)),
        ];
        for pair in keys.windows(2) {
            assert!(pair[0] < pair[1], "{} should sort before {}", pair[0], pair[1]);
        }
        // Without ECR's push time, the event's time stands in for it.
        assert!(order_key(&push("sha256:aa", None, 3_000)) > order_key(&push("sha256:aa", Some(2_999), 5_000)));
        assert_eq!(order_key(&push("sha256:ab", None, -5)), format!("{:015}.{:015}.ab", 0, 0));
    }

    #[test]
    fn descriptions_name_the_tag_and_a_short_digest() {
        let h = LockHolder {
            execution: "web-0123".into(),
            order: "1".into(),
            tag: "v2".into(),
            digest: "sha256:0123456789abcdef0123".into(),
            lease_until: 0,
            deployment_id: None,
            approval_id: None,
            shifting: false,
        };
        assert_eq!(h.describe(), "v2 (sha256:0123456789ab)");
        assert_eq!(lost_to(Some(&h)), "v2 (sha256:0123456789ab) now holds the service's lock");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00+00:00");
    }
}
