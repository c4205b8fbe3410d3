//! The emulation's fault injection (`tests/emulator/greenlight_emulator/faults.py`), from Rust:
//! rules per caller and AWS action, and what the emulation counted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::emulator::Emulator;

/// How a faulted call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The service's throttling error (400 `ThrottlingException`, DynamoDB's
    /// `ProvisionedThroughputExceededException`, SNS's 429 `Throttled`).
    Throttle,
    /// HTTP 500 with the service's internal error code.
    ServerError,
    /// Held past the SDK's attempt timeout, then served (its effect lands late).
    Delay,
    /// The connection dropped with nothing answered or applied.
    Reset,
    /// An error AWS answers in its own words: the rule's `status`, `code` and `message`.
    Error,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Throttle, Kind::ServerError, Kind::Delay, Kind::Reset];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Throttle => "throttle",
            Kind::ServerError => "server_error",
            Kind::Delay => "delay",
            Kind::Reset => "reset",
            Kind::Error => "error",
        }
    }
}

/// One rule: which calls fail and how.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// A function name (`greenlight-prepare`) or `*`.
    pub caller: String,
    /// `<service>:<Operation>`, `<service>:*` or `*`.
    pub action: String,
    pub kind: Kind,
    /// The first matching call that fails (1-based).
    pub nth: u32,
    /// How many matching calls fail from the nth; `None`: every one.
    pub times: Option<u32>,
    /// Instead of nth/times: each matching call fails with this probability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    pub seed: u64,
    /// For [`Kind::Delay`]: seconds the call is held.
    pub delay_s: f64,
    /// For [`Kind::Error`]: the answer.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub error: Option<AwsError>,
}

/// An error as AWS answers it: HTTP status, error code, message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AwsError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl Rule {
    /// The first matching call fails, the retry goes through.
    pub fn once(caller: &str, action: &str, kind: Kind) -> Self {
        Self {
            caller: caller.into(),
            action: action.into(),
            kind,
            nth: 1,
            times: Some(1),
            share: None,
            seed: 0,
            delay_s: delay_for(kind),
            error: None,
        }
    }

    /// The first matching call is answered with AWS's `status`, `code` and `message`.
    pub fn error(caller: &str, action: &str, status: u16, code: &str, message: &str) -> Self {
        let error = AwsError { status, code: code.into(), message: message.into() };
        Self { error: Some(error), ..Self::once(caller, action, Kind::Error) }
    }

    pub fn times(mut self, times: Option<u32>) -> Self {
        self.times = times;
        self
    }

    /// Every matching call fails from the nth on.
    pub fn always(caller: &str, action: &str, kind: Kind) -> Self {
        Self { times: None, ..Self::once(caller, action, kind) }
    }

    /// Each matching call fails with probability `share`, repeatably for a seed.
    pub fn share(caller: &str, action: &str, kind: Kind, share: f64, seed: u64) -> Self {
        Self { share: Some(share), seed, ..Self::once(caller, action, kind) }
    }

    /// Whether the rule's caller (a name, `greenlight-*` or `*`) names this function.
    pub fn caller_matches(&self, function: &str) -> bool {
        match self.caller.strip_suffix('*') {
            Some(prefix) => function.starts_with(prefix),
            None => self.caller == function,
        }
    }

    /// Whether the rule covers this (caller, action), as the emulation matches them.
    pub fn matches(&self, function: &str, action: &str) -> bool {
        let action_matches = match self.action.strip_suffix(":*") {
            _ if self.action == "*" => true,
            Some(service) => action.split(':').next() == Some(service),
            None => self.action == action,
        };
        self.caller_matches(function) && action_matches
    }

    pub fn from_nth(mut self, nth: u32) -> Self {
        self.nth = nth;
        self
    }
}

/// A delay past greenlight's SDK attempt timeout.
fn delay_for(kind: Kind) -> f64 {
    match kind {
        Kind::Delay => greenlight_aws::ATTEMPT_TIMEOUT.as_secs_f64() + 1.0,
        _ => 0.0,
    }
}

/// What the emulation counted since the rules were last cleared.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Report {
    /// Calls by caller, then by action.
    pub calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// Every fault injected: `{rule, caller, action, kind, at}`.
    pub injected: Vec<Value>,
}

impl Report {
    pub fn calls_of(&self, caller: &str, action: &str) -> u64 {
        self.calls.get(caller).and_then(|a| a.get(action)).copied().unwrap_or(0)
    }
}

impl Emulator {
    pub async fn add_faults(&self, rules: &[Rule]) {
        let (status, answer) = self.control_raw("faults", &json!({ "rules": rules })).await;
        assert_eq!(status, 200, "POST faults: {answer}");
    }

    pub async fn fault_report(&self) -> Report {
        serde_json::from_value(self.control_get("faults").await).expect("the emulation's fault report")
    }

    pub async fn clear_faults(&self) {
        self.control_delete("faults").await;
    }
}
