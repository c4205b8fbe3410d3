//! The manifest's semantic rules: every problem with its JSON path, what is wrong and the fix.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use super::types::*;
use crate::approvers::Approver;
use crate::error::{Issue, IssueSink};

impl Manifest {
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

    /// What `manifest check` warns about without refusing the manifest, in document order.
    pub fn warnings(&self) -> Vec<Issue> {
        let mut v = IssueSink::default();
        for (i, s) in self.services.iter().enumerate() {
            s.approval.warnings(&format!("services[{i}].approval"), &mut v);
        }
        v.0
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
                "use any of [\"slack\", \"sns\", \"email\"], or set approval.required to false",
            );
        }
        let mut seen = HashSet::new();
        for (j, c) in self.channels.iter().enumerate() {
            if !seen.insert(c) {
                v.push(format!("{at}.channels[{j}]"), "is listed twice", "list each channel once");
            }
        }
        v.range(format!("{at}.required_approvals"), self.required_approvals.into(), 1, MAX_REQUIRED_APPROVALS.into());
        let mut listed = HashSet::new();
        for (j, a) in self.approvers.iter().enumerate() {
            if !listed.insert(a) {
                v.push(format!("{at}.approvers[{j}]"), format!("`{a}` is listed twice"), "list each approver once");
            }
        }
        if self.channels.contains(&Channel::Email) && !self.approvers.iter().any(|a| matches!(a, Approver::Email(_))) {
            v.push(
                format!("{at}.channels"),
                "lists `email`, but approval.approvers has no email address to send to",
                "add the approvers' addresses to approval.approvers, or remove \"email\"",
            );
        }
        if let Some(channel) = &self.slack_channel {
            if !is_slack_channel_id(channel) {
                v.push(
                    format!("{at}.slack_channel"),
                    format!("`{channel}` is not a Slack channel id"),
                    "use the channel's id (C… or G…, capital letters and digits: in Slack, the channel's details show it), not its name",
                );
            }
            if !self.channels.contains(&Channel::Slack) {
                v.push(
                    format!("{at}.slack_channel"),
                    "is set, but `slack` is not among approval.channels, so nothing is posted there",
                    "add \"slack\" to approval.channels, or remove slack_channel",
                );
            }
        }
        let people = listed.iter().filter(|a| a.is_person()).count();
        let groups = listed.len() - people;
        if !self.approvers.is_empty() && groups == 0 && self.required_approvals as usize > people {
            v.push(
                format!("{at}.required_approvals"),
                format!(
                    "is {}, but approvers lists {people} (a deployment could never be approved)",
                    self.required_approvals
                ),
                "list at least as many approvers as required_approvals, or lower it",
            );
        }
    }

    /// What works but deserves a second look: no approver list means anyone decides.
    pub(super) fn warnings(&self, at: &str, v: &mut IssueSink) {
        if self.required && self.approvers.is_empty() {
            v.push(
                format!("{at}.approvers"),
                "is empty, so anyone who can click the Slack button or open a decision link decides",
                "list who may decide: Slack user ids (U…), user group ids (S…), email addresses, AWS principal ARNs",
            );
        }
    }
}

/// A Slack conversation id a bot posts to: `C…` (public) or `G…` (private), then at least eight
/// capital letters and digits.
fn is_slack_channel_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('C' | 'G'))
        && s.len() >= 9
        && s.len() <= 24
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
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

/// Rule helpers: each pushes an issue when its rule fails.
impl IssueSink {
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
