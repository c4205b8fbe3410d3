//! Every deploy is a request: an image pushed to ECR (one EventBridge event), or an operator's
//! command (`greenlight deploy`, `retry`, `rollback`, or `resume` deploying a push held while
//! the service was paused). A request has its own identity, so that a duplicated delivery of
//! one event starts one execution while a deliberate re-push of an image, a retag, a manual
//! deploy, a retry and a rollback each start their own; and its own place in the service's
//! order ("latest digest wins"): when it was made.

use serde::{Deserialize, Serialize};

/// What asked for a deploy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// An image pushed to ECR (or retagged), as its EventBridge event says.
    #[default]
    Push,
    /// `greenlight deploy`: an image already in ECR, or the live one on the newest configuration.
    Manual,
    /// `greenlight retry`: a push that failed or was superseded, once more.
    Retry,
    /// `greenlight rollback`: a known-good task definition, exactly as it was.
    Rollback,
}

impl Trigger {
    pub const ALL: [Self; 4] = [Self::Push, Self::Manual, Self::Retry, Self::Rollback];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Manual => "manual",
            Self::Retry => "retry",
            Self::Rollback => "rollback",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn is_push(&self) -> bool {
        *self == Self::Push
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a request by hand, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requested {
    /// The caller's AWS identity (an STS caller ARN).
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A new id for an operator's request (the `event_id` it is named and recorded by).
pub fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    // The OS random source does not fail on the platforms the CLI runs on.
    let _ = getrandom::getrandom(&mut bytes);
    format!("request-{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_read_and_write_their_ledger_names() {
        for t in Trigger::ALL {
            assert_eq!(serde_json::to_value(t).expect("serializes"), t.as_str());
            assert_eq!(Trigger::parse(t.as_str()), Some(t));
        }
        assert_eq!(Trigger::parse("cron"), None);
    }
}
