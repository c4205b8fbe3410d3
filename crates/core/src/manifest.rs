//! The deploy manifest: which services greenlight deploys and how.
//!
//! Parsing rejects unknown fields; [`Manifest::parse`] then validates every rule and reports
//! all problems at once, each naming its JSON path, what is wrong and how to fix it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Issue};
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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

fn default_weight() -> u32 {
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
fn default_hooks() -> Vec<Hook> {
    vec![Hook::AfterAllowTestTraffic]
}
fn default_deadline() -> u32 {
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

fn default_method() -> String {
    "GET".into()
}
fn default_consecutive() -> u32 {
    1
}
fn default_interval() -> u64 {
    1000
}
fn default_timeout() -> u64 {
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

fn default_status() -> String {
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
    Slack,
    Sns,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Sns => "sns",
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
}

impl Default for Approval {
    fn default() -> Self {
        Self {
            required: true,
            timeout_seconds: default_approval_timeout(),
            channels: default_channels(),
            on_timeout: default_on_timeout(),
        }
    }
}

fn default_approval_timeout() -> u32 {
    3600
}
fn default_channels() -> Vec<Channel> {
    vec![Channel::Slack, Channel::Sns]
}
fn default_on_timeout() -> OnTimeout {
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

fn default_policy() -> ConcurrencyPolicy {
    ConcurrencyPolicy::Supersede
}
fn default_queue_timeout() -> u32 {
    1800
}

/// What `greenlight manifest init` needs to write a starter manifest.
#[derive(Debug, Clone)]
pub struct Starter {
    pub service: String,
    pub cluster: String,
    pub repository: String,
    pub container: String,
    pub port: Option<u16>,
    pub test_listener_url: Option<String>,
}

impl Manifest {
    /// Parses and validates a manifest, reporting every problem found.
    pub fn parse(json: &str) -> Result<Self, Error> {
        let manifest = Self::from_json(json).map_err(|i| Error::InvalidManifest(vec![i]))?;
        let issues = manifest.validate();
        if issues.is_empty() { Ok(manifest) } else { Err(Error::InvalidManifest(issues)) }
    }

    /// Reads the JSON into the types without the semantic rules: the error is the first
    /// place where the document is not JSON or not of the manifest's shape.
    pub fn from_json(json: &str) -> Result<Self, Issue> {
        let de = &mut serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(de).map_err(|e| shape_issue(json_path(&e.path().to_string()), e.inner()))
    }

    /// The service entry with this name.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// A valid manifest for one service, every option at its default.
    pub fn starter(s: &Starter) -> Self {
        let validation = Validation {
            enabled: s.test_listener_url.is_some(),
            test_listener_url: s.test_listener_url.clone(),
            checks: vec![Check {
                name: "health".into(),
                method: default_method(),
                path: "/".into(),
                headers: BTreeMap::new(),
                expect: Expect::default(),
                consecutive_successes: default_consecutive(),
                interval_ms: default_interval(),
                timeout_ms: default_timeout(),
            }],
            ..Validation::default()
        };
        Self {
            schema: None,
            version: MANIFEST_VERSION,
            services: vec![Service {
                name: s.service.clone(),
                cluster: s.cluster.clone(),
                service: s.service.clone(),
                repository: s.repository.clone(),
                containers: vec![s.container.clone()],
                tags: TagRules::default(),
                codedeploy: CodeDeployTarget { application: s.service.clone(), deployment_group: s.service.clone() },
                load_balancer: LoadBalancer { container: s.container.clone(), port: s.port },
                platform_version: None,
                network_configuration: None,
                capacity_provider_strategy: Vec::new(),
                validation,
                approval: Approval::default(),
                gates: Gates::default(),
                concurrency: Concurrency::default(),
            }],
        }
    }

    /// Every semantic problem, in document order.
    pub fn validate(&self) -> Vec<Issue> {
        let mut v = IssueSink::default();
        if self.version != MANIFEST_VERSION {
            v.push(
                "version",
                format!("is {}, but this greenlight reads version {MANIFEST_VERSION}", self.version),
                format!("set \"version\": {MANIFEST_VERSION}"),
            );
        }
        if self.services.is_empty() {
            v.push("services", "is empty, so no push deploys anything", "add at least one service entry");
        }
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut ecs_services: HashMap<(&str, &str), usize> = HashMap::new();
        let mut groups: HashMap<(&str, &str), usize> = HashMap::new();
        for (i, s) in self.services.iter().enumerate() {
            let at = format!("services[{i}]");
            if let Some(first) = names.insert(&s.name, i) {
                v.push(
                    format!("{at}.name"),
                    format!("`{}` is also the name of services[{first}]", s.name),
                    "give every service entry a unique name",
                );
            }
            if let Some(first) = ecs_services.insert((&s.cluster, &s.service), i) {
                v.push(
                    format!("{at}.service"),
                    format!(
                        "ECS service `{}` in cluster `{}` is already deployed by services[{first}]",
                        s.service, s.cluster
                    ),
                    "deploy each ECS service from one entry; list several containers in `containers` instead",
                );
            }
            let group = (s.codedeploy.application.as_str(), s.codedeploy.deployment_group.as_str());
            if let Some(first) = groups.insert(group, i) {
                v.push(
                    format!("{at}.codedeploy.deployment_group"),
                    format!(
                        "deployment group `{}` is already used by services[{first}]",
                        s.codedeploy.deployment_group
                    ),
                    "a deployment group belongs to one ECS service; give each entry its own",
                );
            }
            s.validate(&at, &mut v);
        }
        v.0
    }

    pub fn to_json_pretty(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The JSON Schema of the manifest, for editors.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Manifest)).unwrap_or_default()
    }
}

impl Service {
    fn validate(&self, at: &str, v: &mut IssueSink) {
        if self.name.is_empty()
            || self.name.len() > MAX_SERVICE_NAME_LEN
            || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            v.push(
                format!("{at}.name"),
                format!("`{}` is not a valid service entry name", self.name),
                format!("use 1 to {MAX_SERVICE_NAME_LEN} letters, digits, `-` or `_`"),
            );
        }
        v.non_empty(format!("{at}.cluster"), &self.cluster, "the ECS cluster name");
        v.non_empty(format!("{at}.service"), &self.service, "the ECS service name");
        if !is_ecr_repository_name(&self.repository) {
            v.push(
                format!("{at}.repository"),
                format!("`{}` is not an ECR repository name", self.repository),
                "use the repository name as ECR shows it (lowercase, 2-256 characters, e.g. `team/api`), not its URI",
            );
        }
        if self.containers.is_empty() {
            v.push(
                format!("{at}.containers"),
                "is empty, so a push would change no image",
                "list the task definition container(s) that run this repository's image",
            );
        }
        let mut seen = HashSet::new();
        for (j, c) in self.containers.iter().enumerate() {
            v.non_empty(format!("{at}.containers[{j}]"), c, "a container name from the task definition");
            if !seen.insert(c) {
                v.push(format!("{at}.containers[{j}]"), format!("`{c}` is listed twice"), "list each container once");
            }
        }
        self.tags.validate(&format!("{at}.tags"), v);
        v.non_empty(
            format!("{at}.codedeploy.application"),
            &self.codedeploy.application,
            "the CodeDeploy application name",
        );
        v.non_empty(
            format!("{at}.codedeploy.deployment_group"),
            &self.codedeploy.deployment_group,
            "the CodeDeploy deployment group name",
        );
        v.non_empty(
            format!("{at}.load_balancer.container"),
            &self.load_balancer.container,
            "the container the target groups forward to",
        );
        if self.load_balancer.port == Some(0) {
            v.push(
                format!("{at}.load_balancer.port"),
                "is 0",
                "use the container port (1-65535) or null to take it from the task definition",
            );
        }
        if let Some(pv) = &self.platform_version {
            let semver = pv.split('.').count() == 3
                && pv.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            if pv != "LATEST" && !semver {
                v.push(
                    format!("{at}.platform_version"),
                    format!("`{pv}` is not a Fargate platform version"),
                    "use `LATEST`, a version such as `1.4.0`, or null",
                );
            }
        }
        if let Some(net) = &self.network_configuration {
            if net.subnets.is_empty() {
                v.push(
                    format!("{at}.network_configuration.subnets"),
                    "is empty",
                    "list at least one subnet id, or set network_configuration to null",
                );
            }
            for (j, s) in net.subnets.iter().enumerate() {
                v.prefixed(format!("{at}.network_configuration.subnets[{j}]"), s, "subnet-");
            }
            for (j, s) in net.security_groups.iter().enumerate() {
                v.prefixed(format!("{at}.network_configuration.security_groups[{j}]"), s, "sg-");
            }
        }
        let mut providers = HashSet::new();
        for (j, p) in self.capacity_provider_strategy.iter().enumerate() {
            let path = format!("{at}.capacity_provider_strategy[{j}]");
            v.non_empty(
                format!("{path}.capacity_provider"),
                &p.capacity_provider,
                "a capacity provider such as FARGATE",
            );
            if !providers.insert(&p.capacity_provider) {
                v.push(format!("{path}.capacity_provider"), "is listed twice", "list each capacity provider once");
            }
            v.range(format!("{path}.base"), p.base.into(), 0, 100_000);
            v.range(format!("{path}.weight"), p.weight.into(), 0, 1000);
        }
        self.validation.validate(&format!("{at}.validation"), v);
        self.approval.validate(&format!("{at}.approval"), v);
        if let Some(limits) = &self.gates.scan_findings {
            for severity in limits.keys() {
                if !SCAN_SEVERITIES.contains(&severity.as_str()) {
                    v.push(
                        format!("{at}.gates.scan_findings.{severity}"),
                        format!("`{severity}` is not an ECR finding severity"),
                        format!("use one of {}", SCAN_SEVERITIES.join(", ")),
                    );
                }
            }
        }
        v.range(
            format!("{at}.concurrency.queue_timeout_seconds"),
            self.concurrency.queue_timeout_seconds.into(),
            MIN_QUEUE_TIMEOUT_SECONDS.into(),
            MAX_QUEUE_TIMEOUT_SECONDS.into(),
        );
    }
}

impl Validation {
    fn validate(&self, at: &str, v: &mut IssueSink) {
        v.range(
            format!("{at}.deadline_seconds"),
            self.deadline_seconds.into(),
            MIN_VALIDATION_DEADLINE_SECONDS.into(),
            MAX_VALIDATION_DEADLINE_SECONDS.into(),
        );
        match &self.test_listener_url {
            Some(u) => check_http_url(&format!("{at}.test_listener_url"), u, v),
            None if self.enabled => v.push(
                format!("{at}.test_listener_url"),
                "is missing while validation is enabled",
                "set it to the test listener's base URL (e.g. `http://internal-alb:8080`), or set validation.enabled to false",
            ),
            None => {}
        }
        if self.enabled && self.hooks.is_empty() {
            v.push(
                format!("{at}.hooks"),
                "is empty while validation is enabled",
                "use [\"AfterAllowTestTraffic\"], or set validation.enabled to false",
            );
        }
        let mut hooks = HashSet::new();
        for (j, h) in self.hooks.iter().enumerate() {
            if !hooks.insert(h) {
                v.push(format!("{at}.hooks[{j}]"), format!("`{}` is listed twice", h.as_str()), "list each hook once");
            }
        }
        if self.enabled && self.checks.is_empty() {
            v.push(
                format!("{at}.checks"),
                "is empty while validation is enabled",
                "add a check (e.g. GET / expecting 200-299), or set validation.enabled to false",
            );
        }
        let mut names = HashSet::new();
        for (j, c) in self.checks.iter().enumerate() {
            let path = format!("{at}.checks[{j}]");
            if !names.insert(&c.name) {
                v.push(
                    format!("{path}.name"),
                    format!("`{}` is used by another check", c.name),
                    "give every check a unique name",
                );
            }
            c.validate(&path, self.deadline_seconds, v);
        }
    }
}

const HTTP_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl Check {
    fn validate(&self, at: &str, deadline_seconds: u32, v: &mut IssueSink) {
        v.non_empty(format!("{at}.name"), &self.name, "a short name shown in reports");
        if !HTTP_METHODS.contains(&self.method.as_str()) {
            v.push(
                format!("{at}.method"),
                format!("`{}` is not a supported HTTP method", self.method),
                format!("use one of {}", HTTP_METHODS.join(", ")),
            );
        }
        if !self.path.starts_with('/') {
            v.push(
                format!("{at}.path"),
                format!("`{}` does not start with `/`", self.path),
                "give the path relative to the test listener URL, e.g. `/health`",
            );
        }
        if parse_status_range(&self.expect.status).is_none() {
            v.push(
                format!("{at}.expect.status"),
                format!("`{}` is not a status code or range", self.expect.status),
                "use a code such as `200` or an inclusive range such as `200-299` (100-599)",
            );
        }
        if let Some(re) = &self.expect.body_regex {
            if let Err(e) = regex::Regex::new(re) {
                v.push(
                    format!("{at}.expect.body_regex"),
                    format!("does not compile: {}", last_line(&e.to_string())),
                    "fix the regular expression (Rust regex syntax)",
                );
            }
            check_templates(&format!("{at}.expect.body_regex"), re, v);
        }
        if let Some(s) = &self.expect.body_contains {
            check_templates(&format!("{at}.expect.body_contains"), s, v);
        }
        for (k, j) in self.expect.json.iter().enumerate() {
            if !(j.pointer.is_empty() || j.pointer.starts_with('/')) {
                v.push(
                    format!("{at}.expect.json[{k}].pointer"),
                    format!("`{}` is not a JSON pointer", j.pointer),
                    "start it with `/`, e.g. `/version` or `/build/digest` (RFC 6901)",
                );
            }
            if let serde_json::Value::String(s) = &j.equals {
                check_templates(&format!("{at}.expect.json[{k}].equals"), s, v);
            }
        }
        v.range(format!("{at}.consecutive_successes"), self.consecutive_successes.into(), 1, 100);
        v.range(format!("{at}.interval_ms"), self.interval_ms, 0, 60_000);
        v.range(format!("{at}.timeout_ms"), self.timeout_ms, 100, 60_000);
        if self.timeout_ms > u64::from(deadline_seconds) * 1000 {
            v.push(
                format!("{at}.timeout_ms"),
                format!("{} ms is longer than the validation deadline ({deadline_seconds} s)", self.timeout_ms),
                "lower timeout_ms or raise validation.deadline_seconds",
            );
        }
        if let Some(max) = self.expect.max_latency_ms
            && (max == 0 || max > self.timeout_ms)
        {
            v.push(
                format!("{at}.expect.max_latency_ms"),
                format!("{max} ms is outside 1..={} (the check's timeout_ms)", self.timeout_ms),
                "use a latency above 0 and no longer than timeout_ms",
            );
        }
    }
}

impl Approval {
    fn validate(&self, at: &str, v: &mut IssueSink) {
        v.range(
            format!("{at}.timeout_seconds"),
            self.timeout_seconds.into(),
            MIN_APPROVAL_TIMEOUT_SECONDS.into(),
            MAX_APPROVAL_TIMEOUT_SECONDS.into(),
        );
        if self.required && self.channels.is_empty() {
            v.push(
                format!("{at}.channels"),
                "is empty while approval is required, so nobody would be asked",
                "use [\"slack\"], [\"sns\"] or both, or set approval.required to false",
            );
        }
        let mut seen = HashSet::new();
        for (j, c) in self.channels.iter().enumerate() {
            if !seen.insert(c) {
                v.push(format!("{at}.channels[{j}]"), "is listed twice", "list each channel once");
            }
        }
    }
}

/// Parses `200` or `200-299` into an inclusive range within 100..=599.
pub fn parse_status_range(s: &str) -> Option<(u16, u16)> {
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
        None => {
            let c = s.trim().parse().ok()?;
            (c, c)
        }
    };
    ((100..=599).contains(&lo) && (100..=599).contains(&hi) && lo <= hi).then_some((lo, hi))
}

fn check_http_url(path: &str, raw: &str, v: &mut IssueSink) {
    match url::Url::parse(raw) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host_str().is_some_and(|h| !h.is_empty()) => {}
        Ok(u) => v.push(
            path,
            format!("`{raw}` uses scheme `{}`; checks speak HTTP", u.scheme()),
            "use an http:// or https:// URL of the test listener",
        ),
        Err(e) => v.push(
            path,
            format!("`{raw}` is not a URL ({e})"),
            "use an http:// or https:// URL, e.g. `http://internal-alb:8080`",
        ),
    }
}

fn check_templates(path: &str, s: &str, v: &mut IssueSink) {
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            v.push(path, "has `${` without a closing `}`", "close the variable, e.g. `${image_tag}`");
            return;
        };
        let name = &after[..end];
        if !TEMPLATE_VARIABLES.contains(&name) {
            let mut known = String::new();
            for (i, t) in TEMPLATE_VARIABLES.iter().enumerate() {
                let _ = write!(known, "{}${{{t}}}", if i == 0 { "" } else { ", " });
            }
            v.push(path, format!("uses unknown variable `${{{name}}}`"), format!("use one of {known}"));
        }
        rest = &after[end + 1..];
    }
}

/// ECR's repository name rule: lowercase components separated by `/`, 2–256 characters.
fn is_ecr_repository_name(s: &str) -> bool {
    // A URI such as `123456789012.dkr.ecr.us-east-1.amazonaws.com/api` fits the pattern too.
    (2..=256).contains(&s.len())
        && !s.contains(".dkr.ecr.")
        && s.split('/').all(|part| {
            !part.is_empty()
                && part
                    .split(['.', '_', '-'])
                    .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        })
}

fn last_line(s: &str) -> String {
    s.lines().rfind(|l| !l.trim().is_empty()).unwrap_or(s).trim().to_string()
}

/// serde_path_to_error writes the root as `.`.
fn json_path(p: &str) -> String {
    if p.is_empty() || p == "." { "(top level)".into() } else { p.to_string() }
}

fn shape_issue(path: String, e: &serde_json::Error) -> Issue {
    let msg = e.to_string();
    // serde_json appends " at line L column C"; keep it, it helps in large files.
    let fix = if msg.starts_with("unknown field") {
        "remove it or fix its spelling (`greenlight manifest schema` lists every field)"
    } else if msg.starts_with("missing field") {
        "add it (`greenlight manifest init` prints a complete example)"
    } else if msg.starts_with("unknown variant") {
        "use one of the values listed"
    } else if e.is_syntax() || e.is_eof() {
        "fix the JSON syntax"
    } else {
        "use the type `greenlight manifest schema` gives for this field"
    };
    Issue { path, problem: msg, fix: fix.into() }
}

/// Collects issues; small helpers keep each rule one line.
#[derive(Debug, Default)]
pub(crate) struct IssueSink(Vec<Issue>);

impl IssueSink {
    pub(crate) fn extend(&mut self, issue: Issue) {
        self.0.push(issue);
    }

    pub(crate) fn push(&mut self, path: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) {
        self.0.push(Issue { path: path.into(), problem: problem.into(), fix: fix.into() });
    }

    fn non_empty(&mut self, path: String, value: &str, what: &str) {
        if value.trim().is_empty() {
            self.push(path, "is empty", format!("set it to {what}"));
        }
    }

    fn prefixed(&mut self, path: String, value: &str, prefix: &str) {
        if !value.starts_with(prefix) {
            self.push(
                path,
                format!("`{value}` does not look like an id (`{prefix}…`)"),
                format!("use the `{prefix}…` id, not a name"),
            );
        }
    }

    fn range(&mut self, path: String, value: u64, min: u64, max: u64) {
        if !(min..=max).contains(&value) {
            self.push(path, format!("{value} is out of range"), format!("use a value from {min} to {max}"));
        }
    }
}
