//! The deploy plan: what one push will do. `greenlight plan` prints it; the real path carries
//! out the same two halves: prepare the [`Registration`] (register a revision, or nothing when
//! the digest is already live), start-deployment the AppSpec of [`deployment_appspec`].

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::appspec::{AppSpec, AppSpecInput};
use crate::diff::{Change, diff};
use crate::drift::drift;
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
    /// The revision the next one is based on: the newest registered outside greenlight.
    pub base_task_definition: Option<String>,
    /// What the base sets differently from the live revision (images and tags aside): what the
    /// next deploy brings to production besides the image.
    pub drift: Vec<Change>,
    /// The family the new revision is registered in; ECS numbers the revision when it
    /// registers it (other revisions may have been registered since the live one).
    pub task_definition_family: Option<String>,
    /// Exactly what `aws ecs register-task-definition --cli-input-json` accepts.
    pub register_task_definition: Option<RegisterRequest>,
    /// The load balancer's container port in the new revision.
    pub container_port: Option<u16>,
    /// The AppSpec start-deployment sends, its `TaskDefinition` standing for the registered
    /// revision's ARN ([`NEXT_REVISION`] in place of the revision number).
    pub appspec: Option<Value>,
    /// Old → new, field by field (read-only fields aside, only images change, and the
    /// `greenlight:base` tag; with drift, what the base sets differently too).
    pub diff: Vec<Change>,
    pub dropped_read_only_fields: Vec<&'static str>,
    /// Hooks in which the validate function runs the checks (empty: validation off).
    pub validation_hooks: Vec<Hook>,
    /// The human decision before production traffic moves (null: none).
    pub approval: Option<Approval>,
}

/// Stands for the revision number ECS gives the new revision, in a plan's AppSpec.
pub const NEXT_REVISION: &str = "<next revision>";

/// What a push asks of one service's task definition: the first half of its plan, which
/// prepare carries out.
#[derive(Debug, Clone, PartialEq)]
pub enum Registration {
    /// The listed containers already run the digest: nothing to register or deploy.
    AlreadyLive,
    /// Register this revision; the load balancer reaches green on `container_port`.
    Register { request: RegisterRequest, container_port: u16 },
    /// Deploy this registered revision exactly as it is (a rollback's known-good revision).
    Existing { arn: String, revision: Option<u64>, container_port: u16 },
}

impl Registration {
    /// "Already live" when the live revision runs the digest and nothing drifted from the base
    /// (see `crate::drift`), else the base revision with the target images set, and the load
    /// balancer's port in it.
    pub fn of(s: &Service, push: &Push, current: &TaskDefinition, base: &TaskDefinition) -> Result<Self, Error> {
        let live = current.next_revision(&s.containers, &push.image_uri())?;
        if live == Revision::AlreadyLive && drift(current, base, &s.containers).is_empty() {
            return Ok(Self::AlreadyLive);
        }
        let request = base.with_images(&s.containers, &push.image_uri())?;
        Ok(Self::Register { container_port: container_port(s, base)?, request })
    }

    /// A request for one exact revision (`pinned`): already live when the service runs it,
    /// else that revision as it is. A deregistered revision cannot be deployed (ECS refuses to
    /// start tasks from it), so it is refused here, before anything changes.
    pub fn pinned(s: &Service, current: &TaskDefinition, pinned: &TaskDefinition) -> Result<Self, Error> {
        let arn = pinned.arn().unwrap_or_default().to_string();
        if current.arn() == Some(arn.as_str()) {
            return Ok(Self::AlreadyLive);
        }
        if let Some(status @ ("INACTIVE" | "DELETE_IN_PROGRESS")) = pinned.status() {
            return Err(Error::InvalidInput {
                field: "task definition".into(),
                problem: format!(
                    "{arn} is {status} (deregistered): ECS cannot start tasks from it. Roll back --to an ACTIVE revision"
                ),
            });
        }
        Ok(Self::Existing { container_port: container_port(s, pinned)?, revision: pinned.revision(), arn })
    }
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
    /// Plans a push against a manifest; `revisions` gives each target's live task definition
    /// and the base of its next revision (`None`: the live one; see `crate::drift`).
    pub fn build(
        manifest: &Manifest,
        push: &Push,
        only_service: Option<&str>,
        hooks: &HookFunctions,
        mut revisions: impl FnMut(&Service) -> Result<(TaskDefinition, Option<TaskDefinition>), Error>,
    ) -> Result<Self, Error> {
        let matched = match_push(manifest, push);
        let mut targets = Vec::new();
        let mut skipped = matched.skipped;
        for s in matched.targets {
            if only_service.is_some_and(|only| only != s.name) {
                skipped.push(Skipped { service: s.name.clone(), reason: "not selected by --service".into() });
                continue;
            }
            let (current, base) = revisions(s)?;
            targets.push(TargetPlan::build(s, push, &current, base.as_ref().unwrap_or(&current), hooks)?);
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
            if !t.drift.is_empty() {
                let _ = writeln!(
                    out,
                    "  drift: {} sets, beside the live revision:",
                    t.base_task_definition.as_deref().unwrap_or("the base revision")
                );
                for c in &t.drift {
                    let _ = writeln!(out, "    {c}");
                }
            }
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
                        "  register {} -> a new revision of {} (ECS numbers it)",
                        t.current_task_definition.as_deref().unwrap_or("?"),
                        t.task_definition_family.as_deref().unwrap_or("?")
                    );
                    for c in &t.diff {
                        let _ = writeln!(out, "    {c}");
                    }
                    if !t.dropped_read_only_fields.is_empty() {
                        let _ =
                            writeln!(out, "    (read-only fields not sent: {})", t.dropped_read_only_fields.join(", "));
                    }
                    let _ = writeln!(out, "  then   {}", t.steps().join(" -> "));
                    if let Some(spec) = &t.appspec {
                        let _ = writeln!(out, "  appspec (TaskDefinition: the registered revision)");
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
    pub fn build(
        s: &Service,
        push: &Push,
        current: &TaskDefinition,
        base: &TaskDefinition,
        hooks: &HookFunctions,
    ) -> Result<Self, Error> {
        let mut plan = Self {
            service: s.name.clone(),
            cluster: s.cluster.clone(),
            ecs_service: s.service.clone(),
            codedeploy_application: s.codedeploy.application.clone(),
            codedeploy_deployment_group: s.codedeploy.deployment_group.clone(),
            action: Action::AlreadyLive,
            current_task_definition: current.arn().map(str::to_string),
            base_task_definition: base.arn().map(str::to_string),
            drift: drift(current, base, &s.containers),
            task_definition_family: None,
            register_task_definition: None,
            container_port: None,
            appspec: None,
            diff: Vec::new(),
            dropped_read_only_fields: Vec::new(),
            validation_hooks: if s.validation.enabled { s.validation.hooks.clone() } else { Vec::new() },
            approval: s.approval.required.then(|| s.approval.clone()),
        };
        let (req, port) = match Registration::of(s, push, current, base)? {
            Registration::AlreadyLive | Registration::Existing { .. } => return Ok(plan),
            Registration::Register { request, container_port } => (request, container_port),
        };
        let spec = deployment_appspec(s, next_revision_arn(current), port, hooks);
        plan.action = Action::Deploy;
        plan.diff = diff(&current.as_register_request().to_value(), &req.to_value());
        plan.dropped_read_only_fields = current.read_only_fields_present();
        plan.task_definition_family = Some(current.family().to_string());
        plan.container_port = Some(port);
        plan.appspec = Some(spec.value());
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

/// The AppSpec of a service's deployment once its new revision is registered: what
/// start-deployment sends, and (with [`NEXT_REVISION`] for the revision) what the plan shows.
pub fn deployment_appspec(
    s: &Service,
    task_definition_arn: String,
    container_port: u16,
    hooks: &HookFunctions,
) -> AppSpec {
    AppSpec::render(&appspec_input(s, task_definition_arn, container_port, hooks))
}

fn appspec_input(s: &Service, task_definition_arn: String, container_port: u16, hooks: &HookFunctions) -> AppSpecInput {
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

/// The live revision's ARN with [`NEXT_REVISION`] for its revision number.
fn next_revision_arn(td: &TaskDefinition) -> String {
    match td.arn().and_then(|a| a.rsplit_once(':')) {
        Some((base, _)) => format!("{base}:{NEXT_REVISION}"),
        None => format!("{}:{NEXT_REVISION}", td.family()),
    }
}
