//! The payloads the state machine passes between functions, as serde types. Each has a JSON
//! fixture under `crates/core/tests/fixtures/payloads/` and a round-trip test.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::approval::Decided;
use crate::event::{Push, Skipped};
use crate::manifest::{Channel, OnTimeout, Service};
use crate::ports::{DeploymentState, ExecutionStart};

/// The state machine's input: one push of one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionInput {
    pub service: String,
    pub push: Push,
    /// Seconds between deployment status reads (1 in tests, 15–30 in production).
    pub wait_seconds: u32,
}

/// What on-image-push did with one event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PushOutcome {
    /// Why the event deploys nothing at all (not a successful tagged push).
    pub ignored: Option<String>,
    pub executions: Vec<StartedExecution>,
    pub skipped: Vec<Skipped>,
    /// Target services that are paused: the push is recorded, not deployed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<Skipped>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartedExecution {
    pub service: String,
    pub name: String,
    pub start: ExecutionStart,
}

/// prepare's result: the revision to deploy, or why there is nothing to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prepared {
    pub already_live: bool,
    pub reason: Option<String>,
    pub previous_task_definition_arn: Option<String>,
    pub task_definition_arn: Option<String>,
    pub revision: Option<u64>,
    /// The load balancer's container port of the new revision (none when already live).
    pub container_port: Option<u16>,
    /// What the state machine does at Ready.
    pub approval: ApprovalStep,
    /// The CodeDeploy application and deployment group the push deploys through (rollback
    /// looks there for a deployment whose id was never recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codedeploy: Option<crate::manifest::CodeDeployTarget>,
    /// Where the outcome is said in Slack when no approval's thread hears it.
    #[serde(default, skip_serializing_if = "crate::slack_outcomes::SlackRoute::is_nowhere")]
    pub slack: crate::slack_outcomes::SlackRoute,
}

/// The approval policy the state machine follows for this execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalStep {
    pub required: bool,
    pub timeout_seconds: u32,
    pub on_timeout: OnTimeout,
}

impl ApprovalStep {
    /// The service's policy for this request: a rollback asks only when `approval.rollbacks`.
    pub fn of(service: &Service, push: &Push) -> Self {
        let asks = push.trigger != crate::request::Trigger::Rollback || service.approval.rollbacks;
        Self {
            required: service.approval.required && asks,
            timeout_seconds: service.approval.timeout_seconds,
            on_timeout: service.approval.on_timeout,
        }
    }
}

/// The parts of the state that later steps read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepInput {
    pub service: String,
    pub push: Push,
    #[serde(default)]
    pub prepared: Option<Prepared>,
    #[serde(default)]
    pub deployment: Option<Started>,
    /// The state machine execution, for logs and notifications.
    #[serde(default)]
    pub execution_id: Option<String>,
    /// When the execution started (RFC 3339), for the queue timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
}

/// start-deployment's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Started {
    pub deployment_id: String,
    pub appspec_sha256: String,
}

/// deployment-status's input: the deployment, and (to renew the lock) whose it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusInput {
    /// `$.deployment`: start-deployment's result, with `continued` once finish has let
    /// production traffic move.
    pub deployment: WatchedDeployment,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub push: Option<Push>,
    /// Seconds between two looks at the deployment (the execution's `wait_seconds`).
    #[serde(default)]
    pub poll_seconds: Option<u32>,
    /// The watch beside a pending approval ([`super::watch_approval`]): the deployment must
    /// stay Ready until the approval is decided.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub awaiting_approval: bool,
}

/// What the watch beside a pending approval saw, when the deployment still waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalWatch {
    /// The approval is decided (its branch ends with the decision); false: the invocation's
    /// budget ran out first, and the state machine looks again.
    pub decided: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchedDeployment {
    pub deployment_id: String,
    /// start-deployment's AppSpec hash, carried along in `$.deployment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appspec_sha256: Option<String>,
    /// finish's `continue` result, once production traffic was let move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continued: Option<Continued>,
}

/// What the finish function is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishAction {
    /// Green is Ready: shift production traffic.
    Continue,
    /// The deployment Succeeded: tell the team.
    Succeeded,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinishInput {
    pub action: FinishAction,
    /// The approver's decision, when production traffic moves after one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Decided>,
    #[serde(flatten)]
    pub step: StepInput,
}

/// finish's `continue` result (the state machine keeps it at `$.deployment.continued`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Continued {
    /// The deployment ContinueDeployment was sent for.
    pub continued: String,
}

/// finish's `succeeded` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notified {
    /// The notification's subject.
    pub notified: String,
}

/// What finish did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FinishOutput {
    Continued(Continued),
    Notified(Notified),
}

/// A state's caught error, as Step Functions writes it (`Catch` with `ResultPath`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

impl CaughtError {
    /// The readable part of the cause: a Lambda error's `errorMessage`, else the cause itself.
    pub fn reason(&self) -> String {
        let cause = self.cause.clone().unwrap_or_default();
        match serde_json::from_str::<Value>(&cause) {
            Ok(v) => v.get("errorMessage").and_then(Value::as_str).map(str::to_string).unwrap_or(cause),
            Err(_) if cause.is_empty() => self.error.clone(),
            Err(_) => cause,
        }
    }
}

/// rollback's payload: the whole execution state (whatever exists of it) and the execution id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackRequest {
    pub state: RollbackInput,
    #[serde(default)]
    pub execution_id: Option<String>,
}

/// Everything the rollback function may find in the state; any part can be missing, depending
/// on where the execution failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackInput {
    pub service: String,
    pub push: Push,
    /// prepare's result, when prepare got that far (the deployment group is in it).
    #[serde(default)]
    pub prepared: Option<Prepared>,
    #[serde(default)]
    pub deployment: Option<Started>,
    #[serde(default)]
    pub status: Option<DeploymentState>,
    #[serde(default)]
    pub error: Option<CaughtError>,
    /// The approver's decision, when there was one.
    #[serde(default)]
    pub approval: Option<Decided>,
}

/// rollback's result: what the state machine's Fail state reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolledBack {
    pub error: String,
    pub reason: String,
    pub stopped_deployment: bool,
    /// What could not be done on the way (the ledger did not answer…), for the logs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// request-approval's payload: the step input and the task token to resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub task_token: String,
    #[serde(flatten)]
    pub step: StepInput,
}

/// What request-approval did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequested {
    pub approval_id: String,
    pub expires_at: i64,
    pub channels: Vec<Channel>,
}

/// The event CodeDeploy sends to a lifecycle hook (validate's input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookEvent {
    #[serde(rename = "DeploymentId")]
    pub deployment_id: String,
    #[serde(rename = "LifecycleEventHookExecutionId")]
    pub hook_execution_id: String,
}
