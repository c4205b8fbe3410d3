//! The deploy plan: what one push will do. `greenlight plan` prints it; the real path
//! (prepare, start-deployment) builds the same type and acts on it.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::appspec::{AppSpec, AppSpecInput};
use crate::diff::{Change, diff};
use crate::error::Error;
use crate::event::{Push, Skipped, match_push};
use crate::manifest::{Approval, Hook, Manifest, OnTimeout, Service};
use crate::taskdef::{RegisterRequest, Revision, TaskDefinition};

#[derive(Debug, Clone, Serialize)]
pub struct DeployPlan {
    pub image_uri: String,
    pub push: Push,
    pub targets: Vec<TargetPlan>,
    /// Services of the manifest this push does not deploy, and why.
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetPlan {
    pub service: String,
    pub cluster: String,
    pub ecs_service: String,
    pub codedeploy_application: String,
    pub codedeploy_deployment_group: String,
    pub action: Action,
    pub current_task_definition: Option<String>,
    /// The ARN the new revision is expected to get (current revision + 1).
    pub expected_task_definition: Option<String>,
    /// Exactly what `aws ecs register-task-definition --cli-input-json` accepts.
    pub register_task_definition: Option<RegisterRequest>,
    pub appspec: Option<Value>,
    pub appspec_sha256: Option<String>,
    /// Old → new, field by field (tags and read-only fields aside, only images change).
    pub diff: Vec<Change>,
    pub dropped_read_only_fields: Vec<&'static str>,
    /// Hooks in which the validate function runs the checks (empty: validation off).
    pub validation_hooks: Vec<Hook>,
    /// The human decision before production traffic moves (null: none).
    pub approval: Option<Approval>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Register a new revision and start a blue/green deployment.
    Deploy,
    /// The digest already runs: nothing to do.
    AlreadyLive,
}

/// Names the Lambda functions a plan's AppSpec refers to.
#[derive(Debug, Clone)]
pub struct HookFunctions {
    pub validate: String,
}

impl DeployPlan {
    /// Plans a push against a manifest; `current` gives each target's live task definition.
    pub fn build(
        manifest: &Manifest,
        push: &Push,
        only_service: Option<&str>,
        hooks: &HookFunctions,
        mut current: impl FnMut(&Service) -> Result<TaskDefinition, Error>,
    ) -> Result<Self, Error> {
        let matched = match_push(manifest, push);
        let mut targets = Vec::new();
        let mut skipped = matched.skipped;
        for s in matched.targets {
            if only_service.is_some_and(|only| only != s.name) {
                skipped.push(Skipped { service: s.name.clone(), reason: "not selected by --service".into() });
                continue;
            }
            targets.push(TargetPlan::build(s, push, &current(s)?, hooks)?);
        }
        Ok(Self { image_uri: push.image_uri(), push: push.clone(), targets, skipped })
    }

    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "push   {}:{}  ({})", self.push.repository, self.push.tag, self.image_uri);
        if self.targets.is_empty() {
            let _ = writeln!(out, "\nno target: this push deploys nothing");
        }
        for t in &self.targets {
            let _ = writeln!(
                out,
                "\nservice {}  (ECS {}/{}, CodeDeploy {}/{})",
                t.service, t.cluster, t.ecs_service, t.codedeploy_application, t.codedeploy_deployment_group
            );
            match t.action {
                Action::AlreadyLive => {
                    let _ = writeln!(
                        out,
                        "  already live: {} runs this digest; nothing to register or deploy",
                        t.current_task_definition.as_deref().unwrap_or("the current task definition")
                    );
                }
                Action::Deploy => {
                    let _ = writeln!(
                        out,
                        "  register {} -> {}",
                        t.current_task_definition.as_deref().unwrap_or("?"),
                        t.expected_task_definition.as_deref().unwrap_or("?")
                    );
                    for c in &t.diff {
                        let _ = writeln!(out, "    {c}");
                    }
                    if !t.dropped_read_only_fields.is_empty() {
                        let _ =
                            writeln!(out, "    (read-only fields not sent: {})", t.dropped_read_only_fields.join(", "));
                    }
                    let _ = writeln!(out, "  then   {}", t.steps().join(" -> "));
                    let _ = writeln!(out, "  appspec sha256 {}", t.appspec_sha256.as_deref().unwrap_or("?"));
                    if let Some(spec) = &t.appspec {
                        let _ = writeln!(out, "    {spec}");
                    }
                }
            }
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(out, "\nskipped");
            for s in &self.skipped {
                let _ = writeln!(out, "  {}: {}", s.service, s.reason);
            }
        }
        out
    }
}

impl TargetPlan {
    pub fn build(s: &Service, push: &Push, current: &TaskDefinition, hooks: &HookFunctions) -> Result<Self, Error> {
        let image_uri = push.image_uri();
        let mut plan = Self {
            service: s.name.clone(),
            cluster: s.cluster.clone(),
            ecs_service: s.service.clone(),
            codedeploy_application: s.codedeploy.application.clone(),
            codedeploy_deployment_group: s.codedeploy.deployment_group.clone(),
            action: Action::AlreadyLive,
            current_task_definition: current.arn().map(str::to_string),
            expected_task_definition: None,
            register_task_definition: None,
            appspec: None,
            appspec_sha256: None,
            diff: Vec::new(),
            dropped_read_only_fields: Vec::new(),
            validation_hooks: if s.validation.enabled { s.validation.hooks.clone() } else { Vec::new() },
            approval: s.approval.required.then(|| s.approval.clone()),
        };
        let req = match current.next_revision(&s.containers, &image_uri)? {
            Revision::AlreadyLive => return Ok(plan),
            Revision::Register(req) => req,
        };
        let port = container_port(s, current)?;
        let expected = expected_arn(current);
        let spec = AppSpec::render(&appspec_input(s, expected.clone(), port, hooks));
        plan.action = Action::Deploy;
        plan.diff = diff(&current.as_register_request().to_value(), &req.to_value());
        plan.dropped_read_only_fields = current.read_only_fields_present();
        plan.expected_task_definition = Some(expected);
        plan.appspec = Some(spec.value());
        plan.appspec_sha256 = Some(spec.sha256);
        plan.register_task_definition = Some(req);
        Ok(plan)
    }
}

impl TargetPlan {
    /// The deployment's steps after registering, in words.
    pub fn steps(&self) -> Vec<String> {
        let mut steps = vec!["CodeDeploy starts green".to_string()];
        if self.validation_hooks.is_empty() {
            steps.push("no smoke tests (validation off)".into());
        } else {
            let hooks: Vec<&str> = self.validation_hooks.iter().map(|h| h.as_str()).collect();
            steps.push(format!("checks on the test listener ({})", hooks.join(", ")));
        }
        if let Some(a) = &self.approval {
            let channels: Vec<&str> = a.channels.iter().map(|c| c.as_str()).collect();
            let on_timeout = match a.on_timeout {
                OnTimeout::Rollback => "roll back",
                OnTimeout::Continue => "continue",
            };
            steps.push(format!(
                "approval via {} (wait {} s, then {on_timeout})",
                channels.join(" and "),
                a.timeout_seconds
            ));
        }
        steps.push("production traffic to green".into());
        steps
    }
}

/// The AppSpec input for a service once its new revision is known.
pub fn appspec_input(
    s: &Service,
    task_definition_arn: String,
    container_port: u16,
    hooks: &HookFunctions,
) -> AppSpecInput {
    // With validation off, the validate function still runs in AfterAllowTestTraffic: it is the
    // service lock's last word before production traffic moves ("latest digest wins").
    let hook_list = if s.validation.enabled && !s.validation.hooks.is_empty() {
        s.validation.hooks.iter().map(|h| (*h, hooks.validate.clone())).collect()
    } else {
        vec![(crate::manifest::Hook::AfterAllowTestTraffic, hooks.validate.clone())]
    };
    AppSpecInput {
        task_definition_arn,
        container_name: s.load_balancer.container.clone(),
        container_port,
        platform_version: s.platform_version.clone(),
        network_configuration: s.network_configuration.clone(),
        capacity_provider_strategy: s.capacity_provider_strategy.clone(),
        hooks: hook_list,
    }
}

/// The load balancer's container port: from the manifest, else the container's only mapping.
pub fn container_port(s: &Service, td: &TaskDefinition) -> Result<u16, Error> {
    let container = &s.load_balancer.container;
    if !td.container_names().contains(container) {
        return Err(Error::ContainerNotFound {
            container: container.clone(),
            family: td.family().into(),
            available: td.container_names(),
        });
    }
    let ports = td.container_ports(container);
    match (s.load_balancer.port, ports.as_slice()) {
        (Some(p), _) if ports.contains(&p) => Ok(p),
        (Some(p), _) => Err(Error::ContainerPortUnknown {
            service: s.name.clone(),
            problem: format!("container `{container}` maps ports {ports:?}, not {p}"),
        }),
        (None, [p]) => Ok(*p),
        (None, []) => Err(Error::ContainerPortUnknown {
            service: s.name.clone(),
            problem: format!("container `{container}` has no port mappings"),
        }),
        (None, many) => Err(Error::ContainerPortUnknown {
            service: s.name.clone(),
            problem: format!("container `{container}` maps several ports {many:?}"),
        }),
    }
}

fn expected_arn(td: &TaskDefinition) -> String {
    let next = td.revision().map_or(1, |r| r + 1);
    match td.arn().and_then(|a| a.rsplit_once(':')) {
        Some((base, _)) => format!("{base}:{next}"),
        None => format!("{}:{next}", td.family()),
    }
}
