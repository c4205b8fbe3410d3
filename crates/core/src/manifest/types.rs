//! The manifest's types, their defaults and the limits the rules enforce.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::tags::TagRules;

/// The only manifest format version this build understands.
pub const MANIFEST_VERSION: u32 = 1;

/// Template variables a check expectation may use.
pub const TEMPLATE_VARIABLES: &[&str] = &["image_tag", "image_digest", "task_definition_revision"];

/// The validate function runs in Lambda, which stops a function after 900 s; the hook must
/// report before that, so its overall deadline stays below with a margin.
pub const MAX_VALIDATION_DEADLINE_SECONDS: u32 = 840;
pub const MIN_VALIDATION_DEADLINE_SECONDS: u32 = 5;
pub const MIN_APPROVAL_TIMEOUT_SECONDS: u32 = 60;
/// Two days: longer than any team waits on a release, and within CodeDeploy's ready wait.
pub const MAX_APPROVAL_TIMEOUT_SECONDS: u32 = 172_800;
/// More distinct approvals than any release process asks for.
pub const MAX_REQUIRED_APPROVALS: u32 = 10;
pub const MIN_QUEUE_TIMEOUT_SECONDS: u32 = 60;
pub const MAX_QUEUE_TIMEOUT_SECONDS: u32 = 86_400;
/// Step Functions execution names are at most 80 characters; the service name plus a digest
/// prefix must fit.
pub const MAX_SERVICE_NAME_LEN: usize = 40;

/// greenlight's deploy manifest: one entry per ECS service it deploys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "greenlight deploy manifest")]
pub struct Manifest {
    /// Optional link to this schema, for editors.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Manifest format version. Must be 1.
    pub version: u32,
    /// The services greenlight deploys.
    pub services: Vec<Service>,
}

/// One ECS service deployed from one ECR repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Unique name of this entry; used in execution names and the ledger. Letters, digits,
    /// `-` and `_`, at most 40 characters.
    pub name: String,
    /// ECS cluster name or ARN.
    pub cluster: String,
    /// ECS service name (the service must use the CODE_DEPLOY deployment controller).
    pub service: String,
    /// ECR repository name whose pushes deploy this service, e.g. `team/api`.
    pub repository: String,
    /// Containers of the task definition whose image becomes the pushed digest.
    pub containers: Vec<String>,
    /// Which tags deploy. `latest` never deploys unless `include` names it explicitly.
    #[serde(default)]
    pub tags: TagRules,
    /// The CodeDeploy application and deployment group that run the blue/green deployment.
    pub codedeploy: CodeDeployTarget,
    /// The container and port the load balancer's target groups forward to.
    pub load_balancer: LoadBalancer,
    /// Fargate platform version for the green task set (e.g. `LATEST`, `1.4.0`); null keeps
    /// the service's.
    #[serde(default)]
    pub platform_version: Option<String>,
    /// awsvpc configuration for the green task set; null keeps the service's.
    #[serde(default)]
    pub network_configuration: Option<NetworkConfiguration>,
    /// Capacity provider strategy for the green task set; empty keeps the service's.
    #[serde(default)]
    pub capacity_provider_strategy: Vec<CapacityProviderItem>,
    /// Smoke tests run against the test listener before production traffic moves.
    #[serde(default)]
    pub validation: Validation,
    /// The human decision between "green passed" and "production traffic moves".
    #[serde(default)]
    pub approval: Approval,
    /// Checks that stop a deploy before it starts.
    #[serde(default)]
    pub gates: Gates,
    /// What happens when pushes of this service overlap.
    #[serde(default)]
    pub concurrency: Concurrency,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeDeployTarget {
    /// CodeDeploy application name (compute platform ECS).
    pub application: String,
    /// Deployment group name (blue/green, with traffic control).
    pub deployment_group: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    /// Container the target groups forward to (AppSpec `LoadBalancerInfo.ContainerName`).
    pub container: String,
    /// Its container port; null takes the container's only port mapping.
    #[serde(default)]
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfiguration {
    /// Subnet ids (`subnet-…`), at least one.
    pub subnets: Vec<String>,
    /// Security group ids (`sg-…`).
    #[serde(default)]
    pub security_groups: Vec<String>,
    #[serde(default)]
    pub assign_public_ip: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityProviderItem {
    /// e.g. `FARGATE` or `FARGATE_SPOT`.
    pub capacity_provider: String,
    #[serde(default)]
    pub base: u32,
    #[serde(default = "default_weight")]
    pub weight: u32,
}

pub(crate) fn default_weight() -> u32 {
    1
}

/// Lifecycle hooks the validate function runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Hook {
    AfterAllowTestTraffic,
    BeforeAllowTraffic,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AfterAllowTestTraffic => "AfterAllowTestTraffic",
            Self::BeforeAllowTraffic => "BeforeAllowTraffic",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Validation {
    /// Run the validate hook. When false, CodeDeploy moves on without smoke tests.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Base URL of the load balancer's test listener, e.g. `http://internal-alb:8080`.
    #[serde(default)]
    pub test_listener_url: Option<String>,
    /// Lifecycle hooks in which the checks run.
    #[serde(default = "default_hooks")]
    pub hooks: Vec<Hook>,
    /// Overall deadline for all checks, in seconds (5–840).
    #[serde(default = "default_deadline")]
    pub deadline_seconds: u32,
    /// The checks; all must pass.
    #[serde(default)]
    pub checks: Vec<Check>,
}

impl Default for Validation {
    fn default() -> Self {
        Self {
            enabled: true,
            test_listener_url: None,
            hooks: default_hooks(),
            deadline_seconds: default_deadline(),
            checks: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
pub(crate) fn default_hooks() -> Vec<Hook> {
    vec![Hook::AfterAllowTestTraffic]
}
pub(crate) fn default_deadline() -> u32 {
    120
}

/// One HTTP check against the test listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Unique name within the service, shown in reports.
    pub name: String,
    #[serde(default = "default_method")]
    pub method: String,
    /// Path and query, starting with `/`.
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub expect: Expect,
    /// Successes in a row needed to pass (1–100).
    #[serde(default = "default_consecutive")]
    pub consecutive_successes: u32,
    /// Pause between attempts, in milliseconds (0–60000).
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
    /// Timeout of one attempt, in milliseconds (100–60000).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

pub(crate) fn default_method() -> String {
    "GET".into()
}
pub(crate) fn default_consecutive() -> u32 {
    1
}
pub(crate) fn default_interval() -> u64 {
    1000
}
pub(crate) fn default_timeout() -> u64 {
    5000
}

/// What a response must look like. Strings may use `${image_tag}`, `${image_digest}` and
/// `${task_definition_revision}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// A status code (`200`) or an inclusive range (`200-299`).
    #[serde(default = "default_status")]
    pub status: String,
    #[serde(default)]
    pub body_contains: Option<String>,
    /// A regular expression the body must match.
    #[serde(default)]
    pub body_regex: Option<String>,
    /// JSON fields (RFC 6901 pointers) and the values they must equal.
    #[serde(default)]
    pub json: Vec<JsonExpectation>,
    /// Slowest acceptable response, in milliseconds.
    #[serde(default)]
    pub max_latency_ms: Option<u64>,
}

impl Default for Expect {
    fn default() -> Self {
        Self { status: default_status(), body_contains: None, body_regex: None, json: Vec::new(), max_latency_ms: None }
    }
}

pub(crate) fn default_status() -> String {
    "200-299".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonExpectation {
    /// RFC 6901 JSON pointer, e.g. `/version`.
    pub pointer: String,
    /// The value it must equal (strings may use template variables).
    pub equals: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// The Block Kit message with Approve and Reject buttons.
    Slack,
    /// The shared notification topic: the request, with signed links only while anyone may
    /// decide (no `approvers` listed; such a link names no person).
    Sns,
    /// One email per listed email approver (Amazon SES), each with links bound to that address.
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Sns => "sns",
            Self::Email => "email",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnTimeout {
    /// No decision in time: roll back.
    Rollback,
    /// No decision in time: shift production traffic anyway.
    Continue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Ask a human before production traffic moves. The deployment group's ready option
    /// must match: STOP_DEPLOYMENT when true, CONTINUE_DEPLOYMENT when false.
    #[serde(default = "yes")]
    pub required: bool,
    /// How long to wait for a decision, in seconds (60–172800).
    #[serde(default = "default_approval_timeout")]
    pub timeout_seconds: u32,
    /// Where the request goes.
    #[serde(default = "default_channels")]
    pub channels: Vec<Channel>,
    #[serde(default = "default_on_timeout")]
    pub on_timeout: OnTimeout,
    /// Whether `greenlight rollback` waits for a decision too (when `required`). Off by
    /// default: a rollback deploys a revision production already ran.
    #[serde(default)]
    pub rollbacks: bool,
    /// Who may decide: Slack user ids (`U…`/`W…`) and user group ids (`S…`), email addresses
    /// (each gets its own signed links), AWS principal ARNs (`greenlight approve`). Empty: anyone
    /// who can click the Slack button or open the link decides (`manifest check` warns).
    #[serde(default)]
    pub approvers: Vec<crate::approvers::Approver>,
    /// How many distinct approvers must approve before production traffic moves; one
    /// rejection decides.
    #[serde(default = "one")]
    pub required_approvals: u32,
    /// The Slack channel id (C… or G…) to post the request to with the bot token
    /// (`chat.postMessage`) instead of the incoming webhook: greenlight can then edit the
    /// message when the approval ends without a click (the deployment stopped while it waited).
    #[serde(default)]
    pub slack_channel: Option<String>,
}

impl Default for Approval {
    fn default() -> Self {
        Self {
            required: true,
            timeout_seconds: default_approval_timeout(),
            channels: default_channels(),
            on_timeout: default_on_timeout(),
            rollbacks: false,
            approvers: Vec::new(),
            required_approvals: 1,
            slack_channel: None,
        }
    }
}

pub(crate) fn default_approval_timeout() -> u32 {
    3600
}
pub(crate) fn default_channels() -> Vec<Channel> {
    vec![Channel::Slack, Channel::Sns]
}
pub(crate) fn default_on_timeout() -> OnTimeout {
    OnTimeout::Rollback
}

/// ECR image scan severities, as ECR names them.
pub const SCAN_SEVERITIES: &[&str] = &["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED"];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// Maximum ECR scan findings per severity (e.g. `{"CRITICAL": 0, "HIGH": 5}`); null
    /// turns the gate off.
    #[serde(default)]
    pub scan_findings: Option<BTreeMap<String, u32>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConcurrencyPolicy {
    /// A newer push stops an older in-flight deployment and proceeds.
    Supersede,
    /// A newer push waits; of several waiting pushes only the newest deploys.
    Queue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Concurrency {
    #[serde(default = "default_policy")]
    pub policy: ConcurrencyPolicy,
    /// With `queue`: how long a push may wait for the lock, in seconds (60–86400).
    #[serde(default = "default_queue_timeout")]
    pub queue_timeout_seconds: u32,
}

impl Default for Concurrency {
    fn default() -> Self {
        Self { policy: default_policy(), queue_timeout_seconds: default_queue_timeout() }
    }
}

pub(crate) fn default_policy() -> ConcurrencyPolicy {
    ConcurrencyPolicy::Supersede
}
pub(crate) fn default_queue_timeout() -> u32 {
    1800
}
