//! The ledger of deployments: one record per execution, with a timeline of typed states, the
//! outcome and the reason.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A step of a deployment's timeline, as the ledger stores it (snake_case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineState {
    /// on-image-push started the execution.
    Accepted,
    /// prepare took the service's lock.
    Locked,
    /// prepare registered the new task definition revision.
    Registered,
    /// start-deployment created the CodeDeploy deployment.
    DeploymentCreated,
    /// request-approval asked for a decision.
    ApprovalRequested,
    /// finish sent ContinueDeployment: production traffic moves.
    TrafficShifting,
    Succeeded,
    RolledBack,
    Superseded,
    AlreadyLive,
    /// greenlight failed after CodeDeploy had already finished: it is in production.
    FailedAfterSuccess,
    /// The service was paused: the push is recorded, not deployed (`greenlight resume`).
    Held,
    /// `greenlight resume` lifted the pause and deploys this held push.
    Resumed,
    /// Someone stopped the deployment in flight (Slack's Stop button): CodeDeploy rolls it back.
    StopRequested,
}

impl TimelineState {
    pub const ALL: [Self; 14] = [
        Self::Accepted,
        Self::Locked,
        Self::Registered,
        Self::DeploymentCreated,
        Self::ApprovalRequested,
        Self::TrafficShifting,
        Self::Succeeded,
        Self::RolledBack,
        Self::Superseded,
        Self::AlreadyLive,
        Self::FailedAfterSuccess,
        Self::Held,
        Self::Resumed,
        Self::StopRequested,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Locked => "locked",
            Self::Registered => "registered",
            Self::DeploymentCreated => "deployment_created",
            Self::ApprovalRequested => "approval_requested",
            Self::TrafficShifting => "traffic_shifting",
            Self::Succeeded => "succeeded",
            Self::RolledBack => "rolled_back",
            Self::Superseded => "superseded",
            Self::AlreadyLive => "already_live",
            Self::FailedAfterSuccess => "failed_after_success",
            Self::Held => "held",
            Self::Resumed => "resumed",
            Self::StopRequested => "stop_requested",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

impl std::fmt::Display for TimelineState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a deployment's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub state: TimelineState,
    /// RFC 3339.
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// How a deployment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Deployed,
    AlreadyLive,
    RolledBack,
    Superseded,
    /// Recorded while the service was paused; not deployed (unless resumed).
    Held,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployed => "deployed",
            Self::AlreadyLive => "already_live",
            Self::RolledBack => "rolled_back",
            Self::Superseded => "superseded",
            Self::Held => "held",
        }
    }
}

/// One step's addition to a deployment's ledger item: a timeline entry and the fields it
/// learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryUpdate {
    pub state: TimelineState,
    pub detail: Option<String>,
    pub execution_id: Option<String>,
    pub task_definition: Option<String>,
    /// The revision production ran before this request (what a rollback goes back to).
    pub previous_task_definition: Option<String>,
    pub deployment_id: Option<String>,
    pub approver: Option<String>,
    pub validation: Option<String>,
    pub outcome: Option<Outcome>,
    pub reason: Option<String>,
    /// The request is under way again (a held push, resumed): its outcome so far is removed.
    pub reopen: bool,
}

impl HistoryUpdate {
    pub fn state(state: TimelineState) -> Self {
        Self {
            state,
            detail: None,
            execution_id: None,
            task_definition: None,
            previous_task_definition: None,
            deployment_id: None,
            approver: None,
            validation: None,
            outcome: None,
            reason: None,
            reopen: false,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// One execution's item in the ledger of deployments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    pub service: String,
    pub order: String,
    pub execution: String,
    pub digest: String,
    pub tag: String,
    #[serde(default)]
    pub execution_id: Option<String>,
    #[serde(default)]
    pub task_definition: Option<String>,
    #[serde(default)]
    pub previous_task_definition: Option<String>,
    #[serde(default)]
    pub deployment_id: Option<String>,
    pub timeline: Vec<TimelineEntry>,
    #[serde(default)]
    pub validation: Option<String>,
    #[serde(default)]
    pub approver: Option<String>,
    #[serde(default)]
    pub outcome: Option<Outcome>,
    #[serde(default)]
    pub reason: Option<String>,
    /// The request as it was first recorded (trigger, who asked and why, the image).
    #[serde(default)]
    pub request: Option<crate::event::Push>,
}

impl DeploymentRecord {
    pub fn trigger(&self) -> crate::request::Trigger {
        self.request.as_ref().map(|r| r.trigger).unwrap_or_default()
    }

    pub fn requested(&self) -> Option<&crate::request::Requested> {
        self.request.as_ref().and_then(|r| r.requested.as_ref())
    }
}

/// RFC 3339 of seconds since the epoch.
pub fn rfc3339(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or_default().to_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_states_read_and_write_their_ledger_names() {
        for state in TimelineState::ALL {
            let wire = serde_json::to_value(state).expect("serializes");
            assert_eq!(wire, state.as_str(), "serde and as_str agree");
            assert_eq!(TimelineState::parse(state.as_str()), Some(state));
        }
        assert_eq!(TimelineState::parse("celebrated"), None);
    }
}
