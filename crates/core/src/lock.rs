//! "Latest digest wins": the order of a service's requests and the per-service lock.
//!
//! A request's place is when it was made: the later of ECR's push time and the event's time (a
//! fresh push: ECR's push time, at its full precision; a retag or a re-push of an image ECR
//! already had: the event's time; an operator's command: when it ran), then ECR's push time,
//! then the digest, so the order is total and the same everywhere. Times count in nanoseconds
//! since the epoch. Two requests at one time for one digest tie: neither is newer than the
//! other. on-image-push (and the CLI, for a command) records the newest request of each
//! service; prepare takes the lock before registering anything. The lock names the execution
//! holding it, carries a lease (renewed by every step) so that a crashed execution cannot hold
//! it forever, and says once production traffic may move (`shifting`): from then on the
//! deployment is never stopped by a newer request, which waits for it instead, so an older
//! digest never serves production after a newer one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::Push;

/// Where a request sits in its service's order; compares as a string:
/// `<requested>.<pushed>.<digest hex>`. Times before the epoch (or after 2262, beyond
/// nanoseconds in an i64) count as the epoch.
pub fn order_key(push: &Push) -> String {
    let nanos = |t: Option<DateTime<Utc>>| t.and_then(|t| t.timestamp_nanos_opt()).unwrap_or(0).max(0);
    let event = nanos(push.event_time);
    let pushed = push.pushed_at.map(|_| nanos(push.pushed_at)).unwrap_or(event);
    let requested = pushed.max(event);
    format!("{requested:019}.{pushed:019}.{}", push.digest.trim_start_matches("sha256:"))
}

/// When the request was made, read back from its order key (`None` for a key that is not one).
pub fn requested_at(order: &str) -> Option<DateTime<Utc>> {
    key_time(order, 0)
}

/// When ECR received the image, read back from its order key.
pub fn pushed_at(order: &str) -> Option<DateTime<Utc>> {
    key_time(order, 1)
}

fn key_time(order: &str, part: usize) -> Option<DateTime<Utc>> {
    let nanos: i64 = order.split('.').nth(part)?.parse().ok()?;
    Some(DateTime::<Utc>::from_timestamp_nanos(nanos))
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
    /// The execution's name (see the `execution` module).
    pub execution: String,
    /// The request's id (`Push::event_id`), so that its ledger record can be found again.
    #[serde(default)]
    pub request: Option<String>,
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
    /// Someone else holds it (or this execution, with its deployment recorded: a late repeat of
    /// its own acquire, which changes nothing).
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

    /// A push whose ECR push time is `pushed_ns` nanoseconds and whose event time is
    /// `event_ms` milliseconds after the epoch (EventBridge stamps events to the second or the
    /// millisecond).
    fn push(digest: &str, pushed_ns: Option<i64>, event_ms: i64) -> Push {
        Push {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            repository: "web".into(),
            digest: digest.into(),
            tag: "v1".into(),
            event_id: None,
            event_time: DateTime::<Utc>::from_timestamp_millis(event_ms),
            pushed_at: pushed_ns.map(DateTime::<Utc>::from_timestamp_nanos),
            ..Push::default()
        }
    }

    const MS: i64 = 1_000_000;

    #[test]
    fn requests_order_by_when_they_were_made_then_push_time_then_digest() {
        let keys = [
            order_key(&push("sha256:ff", Some(1_000 * MS), 900)),
            order_key(&push("sha256:aa", Some(2_000 * MS), 1_000)),
            order_key(&push("sha256:bb", Some(2_000 * MS), 1_500)),
            // ECR's push time below the millisecond still orders.
            order_key(&push("sha256:00", Some(2_000 * MS + 1), 0)),
            // An old image retagged later: the retag's event time places it.
            order_key(&push("sha256:ee", Some(500 * MS), 3_000)),
            order_key(&push("sha256:00", Some(4_000_000_000_000 * MS), 0)),
        ];
        for pair in keys.windows(2) {
            assert!(pair[0] < pair[1], "{} should sort before {}", pair[0], pair[1]);
        }
        // Without ECR's push time, the event's time stands in for it, in the same unit.
        assert!(order_key(&push("sha256:aa", None, 3_000)) > order_key(&push("sha256:aa", Some(2_999 * MS), 0)));
        assert!(order_key(&push("sha256:aa", None, 3_000)) < order_key(&push("sha256:aa", Some(3_000 * MS + 1), 0)));
        assert_eq!(order_key(&push("sha256:ab", None, -5)), format!("{:019}.{:019}.ab", 0, 0));
    }

    #[test]
    fn the_times_read_back_from_the_key() {
        let at = 1_764_600_000_123_456_789;
        let key = order_key(&push("sha256:aa", Some(at), 1_764_600_100_000));
        assert_eq!(pushed_at(&key), Some(DateTime::<Utc>::from_timestamp_nanos(at)));
        assert_eq!(requested_at(&key), DateTime::<Utc>::from_timestamp_millis(1_764_600_100_000));
        assert_eq!(pushed_at("not a key"), None);
    }

    #[test]
    fn a_true_tie_is_one_push() {
        // One image pushed with two tags: the same digest at the same push and event time. The
        // keys are equal, so neither push is newer than the other and recording the second as
        // the newest (`push_order <= :order`) changes nothing.
        let mut latest = push("sha256:aa", Some(5 * MS), 5);
        latest.tag = "latest".into();
        assert_eq!(order_key(&push("sha256:aa", Some(5 * MS), 5)), order_key(&latest));
        // Two digests at the same time: the digest decides, the same way in every function.
        assert!(order_key(&push("sha256:0a", Some(5 * MS), 5)) < order_key(&push("sha256:0b", Some(5 * MS), 5)));
    }

    proptest::proptest! {
        /// The order is total and agrees with (request time, push time, digest): for any two
        /// pushes, their keys compare as those triples do.
        #[test]
        fn the_order_agrees_with_push_time(
            a in (proptest::option::of(0..i64::MAX), 0..4_102_444_800_000_i64, "[0-9a-f]{1,64}"),
            b in (proptest::option::of(0..i64::MAX), 0..4_102_444_800_000_i64, "[0-9a-f]{1,64}"),
        ) {
            let triple = |(pushed, event, digest): &(Option<i64>, i64, String)| {
                let pushed = pushed.unwrap_or(event * MS);
                (pushed.max(event * MS), pushed, digest.clone())
            };
            let key = |(pushed, event, digest): &(Option<i64>, i64, String)| {
                order_key(&push(&format!("sha256:{digest}"), *pushed, *event))
            };
            proptest::prop_assert_eq!(key(&a).cmp(&key(&b)), triple(&a).cmp(&triple(&b)));
        }
    }

    #[test]
    fn descriptions_name_the_tag_and_a_short_digest() {
        let h = LockHolder {
            execution: "web-0123".into(),
            request: None,
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
