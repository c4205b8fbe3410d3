//! `greenlight status [SERVICE]`: what production and the test listener serve (read from the
//! listeners, not assumed), the active deployment and its lifecycle events, the lock and its
//! lease, the newest recorded push and a pending approval.

use greenlight_aws::inspect::{ActiveDeployment, Forward, TaskSet};
use greenlight_aws::{EcrImages, EcsTaskDefinitions, Inspector};
use greenlight_core::approval::Decided;
use greenlight_core::diff::Change;
use greenlight_core::drift::drift;
use greenlight_core::history::{DeploymentRecord, rfc3339};
use greenlight_core::lock::{pushed_at, requested_at, short_digest};
use greenlight_core::manifest::Service;
use greenlight_core::pause::Pause;
use greenlight_core::ports::{Approvals, History, Images, Locks, Pauses, TaskDefinitions};
use serde::Serialize;

use super::{Online, Orchestrator, aws_failure};
use crate::{Failure, Output};

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// The manifest's service entry; every service when omitted.
    service: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(flatten)]
    orchestrator: Orchestrator,
}

/// One service's state.
#[derive(Debug, Serialize)]
struct ServiceStatus {
    service: String,
    cluster: String,
    ecs_service: String,
    application: String,
    deployment_group: String,
    /// What each production listener forwards to.
    production: Vec<Serving>,
    test: Vec<Serving>,
    /// The group's active deployments (CodeDeploy allows one at a time).
    deployments: Vec<Deployment>,
    lock: Option<Lock>,
    newest_push: Option<NewestPush>,
    approval: Option<Approval>,
    /// A deploy freeze (`greenlight pause`): who, when, why.
    paused: Option<Pause>,
    /// The revision the next deploy is based on: the newest registered outside greenlight.
    base_task_definition: Option<String>,
    /// What that revision sets differently from the live one (images and tags aside): what the
    /// next deploy (or `greenlight deploy --config`) brings to production.
    drift: Vec<Change>,
}

/// A target group a listener forwards to, and what runs behind it.
#[derive(Debug, Serialize)]
pub(super) struct Serving {
    listener: String,
    target_group: String,
    /// Its share of the listener's traffic, in percent of the weights.
    pub(super) weight: i32,
    task_set: Option<String>,
    task_set_status: Option<String>,
    task_definition: Option<String>,
    revision: Option<u64>,
    image: Option<String>,
    pub(super) digest: Option<String>,
    pub(super) tag: Option<String>,
}

#[derive(Debug, Serialize)]
struct Deployment {
    id: String,
    status: String,
    description: Option<String>,
    lifecycle: Vec<LifecycleEvent>,
}

#[derive(Debug, Serialize)]
struct LifecycleEvent {
    event: String,
    status: String,
}

#[derive(Debug, Serialize)]
struct Lock {
    execution: String,
    tag: String,
    digest: String,
    lease_until: String,
    lease_expired: bool,
    /// Production traffic may be moving: no newer push stops its deployment.
    traffic_moving: bool,
    deployment_id: Option<String>,
    approval_id: Option<String>,
}

#[derive(Debug, Serialize)]
struct NewestPush {
    tag: String,
    digest: String,
    /// When ECR received the image.
    pushed_at: Option<String>,
    /// When it was requested (a retag, a re-push or a command: later than the push).
    requested_at: Option<String>,
}

#[derive(Debug, Serialize)]
struct Approval {
    id: String,
    tag: String,
    digest: String,
    deployment_id: String,
    expires_at: String,
    /// Where the request went (the manifest's channels).
    channels: Vec<&'static str>,
    decided: Option<Decided>,
    /// Distinct approvals needed, and those counted so far.
    required_approvals: u32,
    approvals: Vec<Decided>,
    /// Decisions refused (not listed, not distinct), kept beside the approval.
    refusals: Vec<greenlight_core::approval::Refused>,
}

pub(crate) async fn status(args: StatusArgs) -> Result<String, Failure> {
    let online = args.orchestrator.connect().await?;
    let services: Vec<&Service> = match &args.service {
        Some(name) => vec![online.service(name)?],
        None => online.manifest.services.iter().collect(),
    };
    let mut all = Vec::new();
    for service in services {
        all.push(gather(&online, service).await?);
    }
    Ok(match args.output {
        Output::Json if args.service.is_some() => json(&all[0]),
        Output::Json => json(&all),
        Output::Text => all.iter().map(text).collect::<Vec<_>>().join("\n"),
    })
}

fn json(value: &impl Serialize) -> String {
    format!("{}\n", serde_json::to_string_pretty(value).unwrap_or_default())
}

async fn gather(online: &Online, service: &Service) -> Result<ServiceStatus, Failure> {
    let inspector = Inspector::new(&online.config);
    let (application, group) = (&service.codedeploy.application, &service.codedeploy.deployment_group);
    let what = format!("deployment group {application}/{group}");
    let routes = inspector.routes(application, group).await.map_err(|e| aws_failure(&what, &e))?;
    let task_sets = inspector
        .task_sets(&service.cluster, &service.service)
        .await
        .map_err(|e| aws_failure(&format!("ECS service {}/{}", service.cluster, service.service), &e))?;
    let history = online.ledger.deployments(&service.name, 50).await.map_err(|e| aws_failure("the ledger", &e))?;
    let looks = Looks { online, service, task_sets: &task_sets, history: &history };
    let production = looks.serving(&inspector, &routes.production_listeners).await?;
    let test = looks.serving(&inspector, &routes.test_listeners).await?;
    let deployments = inspector
        .active_deployments(application, group)
        .await
        .map_err(|e| aws_failure(&what, &e))?
        .into_iter()
        .map(deployment)
        .collect();
    let now = chrono::Utc::now().timestamp();
    let holder = online.ledger.holder(&service.name).await.map_err(|e| aws_failure("the ledger's lock", &e))?;
    let approval = match holder.as_ref().and_then(|h| h.approval_id.clone()) {
        Some(id) => online.ledger.approval(&id).await.map_err(|e| aws_failure("the ledger's approval", &e))?,
        None => None,
    };
    let newest = online.ledger.newest_push(&service.name).await.map_err(|e| aws_failure("the ledger", &e))?;
    let paused = online.ledger.paused(&service.name).await.map_err(|e| aws_failure("the ledger's pause", &e))?;
    let ecs = EcsTaskDefinitions::new(aws_sdk_ecs::Client::new(&online.config));
    let ecs_what = format!("ECS service {}/{}", service.cluster, service.service);
    let live = ecs.current(&service.cluster, &service.service).await.map_err(|e| aws_failure(&ecs_what, &e))?;
    let base = ecs.base(&live).await.map_err(|e| aws_failure(&format!("the revisions of {}", live.family()), &e))?;
    Ok(ServiceStatus {
        paused,
        drift: drift(&live, &base, &service.containers),
        base_task_definition: base.arn().map(str::to_string),
        service: service.name.clone(),
        cluster: service.cluster.clone(),
        ecs_service: service.service.clone(),
        application: application.clone(),
        deployment_group: group.clone(),
        production,
        test,
        deployments,
        lock: holder.map(|h| Lock {
            lease_expired: h.lease_until < now,
            lease_until: rfc3339(h.lease_until),
            traffic_moving: h.shifting,
            execution: h.execution,
            tag: h.tag,
            digest: h.digest,
            deployment_id: h.deployment_id,
            approval_id: h.approval_id,
        }),
        newest_push: newest.map(|n| NewestPush {
            pushed_at: pushed_at(&n.order).map(|t| t.to_rfc3339()),
            requested_at: requested_at(&n.order).map(|t| t.to_rfc3339()),
            tag: n.tag,
            digest: n.digest,
        }),
        approval: approval.map(|a| Approval {
            expires_at: rfc3339(a.expires_at),
            channels: service.approval.channels.iter().map(|c| c.as_str()).collect(),
            id: a.id,
            tag: a.tag,
            digest: a.digest,
            deployment_id: a.deployment_id,
            decided: a.decided,
            required_approvals: a.required_approvals,
            approvals: a.approvals,
            refusals: a.refusals,
        }),
    })
}

fn deployment(d: ActiveDeployment) -> Deployment {
    Deployment {
        id: d.id,
        status: d.status,
        description: d.description,
        lifecycle: d.lifecycle.into_iter().map(|(event, status)| LifecycleEvent { event, status }).collect(),
    }
}

/// What the lookups of one service share.
pub(super) struct Looks<'a> {
    pub(super) online: &'a Online,
    pub(super) service: &'a Service,
    pub(super) task_sets: &'a [TaskSet],
    pub(super) history: &'a [DeploymentRecord],
}

impl Looks<'_> {
    /// For each listener, each target group it forwards to and what runs behind it.
    pub(super) async fn serving(&self, inspector: &Inspector, listeners: &[String]) -> Result<Vec<Serving>, Failure> {
        let mut out = Vec::new();
        for listener in listeners {
            let forwards =
                inspector.forwards(listener).await.map_err(|e| aws_failure(&format!("listener {listener}"), &e))?;
            let total: i32 = forwards.iter().map(|f| f.weight).sum::<i32>().max(1);
            for forward in forwards {
                out.push(self.behind(listener, &forward, total).await?);
            }
        }
        Ok(out)
    }

    async fn behind(&self, listener: &str, forward: &Forward, total: i32) -> Result<Serving, Failure> {
        let task_set = self.task_sets.iter().find(|t| t.target_group_arns.contains(&forward.target_group_arn));
        let mut serving = Serving {
            listener: listener.to_string(),
            target_group: forward.target_group_arn.clone(),
            weight: forward.weight * 100 / total,
            task_set: task_set.map(|t| t.arn.clone()),
            task_set_status: task_set.map(|t| t.status.clone()),
            task_definition: task_set.map(|t| t.task_definition_arn.clone()),
            revision: None,
            image: None,
            digest: None,
            tag: None,
        };
        let Some(task_set) = task_set else { return Ok(serving) };
        let ecs = EcsTaskDefinitions::new(aws_sdk_ecs::Client::new(&self.online.config));
        let td = ecs
            .describe(&task_set.task_definition_arn)
            .await
            .map_err(|e| aws_failure(&format!("task definition {}", task_set.task_definition_arn), &e))?;
        serving.revision = td.revision();
        let container = self.service.containers.first().map(String::as_str).unwrap_or_default();
        let image = td.image_of(container).map(str::to_string);
        let digest = image.as_deref().and_then(|i| i.split_once('@')).map(|(_, d)| d.to_string());
        serving.tag = match &digest {
            Some(digest) => self.tag_of(digest).await,
            None => None,
        };
        serving.image = image;
        serving.digest = digest;
        Ok(serving)
    }

    /// The tag greenlight deployed the digest under, else one ECR gives it.
    async fn tag_of(&self, digest: &str) -> Option<String> {
        if let Some(record) = self.history.iter().find(|r| r.digest == digest) {
            return Some(record.tag.clone());
        }
        let ecr = EcrImages::new(aws_sdk_ecr::Client::new(&self.online.config));
        ecr.image(&self.service.repository, digest).await.ok().and_then(|i| i.tags.first().cloned())
    }
}

fn text(s: &ServiceStatus) -> String {
    let mut out = format!(
        "{}  (ECS {}/{}, CodeDeploy {}/{})\n",
        s.service, s.cluster, s.ecs_service, s.application, s.deployment_group
    );
    let line = |label: &str, value: String| format!("  {label:<12} {value}\n");
    for (label, serving) in [("production", &s.production), ("test", &s.test)] {
        if serving.is_empty() {
            out.push_str(&line(label, "no listener".into()));
        }
        for sv in serving {
            out.push_str(&line(label, serving_text(sv)));
        }
    }
    if s.deployments.is_empty() {
        out.push_str(&line("deployment", "none active".into()));
    }
    for d in &s.deployments {
        let events: Vec<String> = d.lifecycle.iter().map(|e| format!("{} {}", e.event, e.status)).collect();
        let by = d.description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
        out.push_str(&line("deployment", format!("{} {}{by}: {}", d.id, d.status, events.join(", "))));
    }
    out.push_str(&line(
        "lock",
        match &s.lock {
            None => "free".into(),
            Some(l) => {
                let mut v = format!(
                    "held by {} ({} {}) until {}{}",
                    l.execution,
                    l.tag,
                    short_digest(&l.digest),
                    l.lease_until,
                    if l.lease_expired { " (expired)" } else { "" }
                );
                if l.traffic_moving {
                    v.push_str(", production traffic moving");
                }
                if let Some(d) = &l.deployment_id {
                    v.push_str(&format!(", deployment {d}"));
                }
                v
            }
        },
    ));
    out.push_str(&line(
        "newest push",
        match &s.newest_push {
            None => "none recorded".into(),
            Some(n) => format!(
                "{} {}{}",
                n.tag,
                short_digest(&n.digest),
                n.pushed_at.as_deref().map(|t| format!(" at {t}")).unwrap_or_default()
            ),
        },
    ));
    out.push_str(&line(
        "drift",
        match (&s.base_task_definition, s.drift.is_empty()) {
            (_, true) => "none".into(),
            (base, false) => {
                format!("{} sets, beside the live revision:", base.as_deref().unwrap_or("the base revision"))
            }
        },
    ));
    for change in &s.drift {
        out.push_str(&format!("    {change}\n"));
    }
    out.push_str(&line(
        "paused",
        match &s.paused {
            None => "no".into(),
            Some(p) => format!("yes, by {} at {}: {}", p.by, p.at, p.reason),
        },
    ));
    out.push_str(&line(
        "approval",
        match &s.approval {
            None => "none pending".into(),
            Some(a) => match &a.decided {
                Some(d) => format!(
                    "{} {} {} by {} at {}",
                    a.tag,
                    short_digest(&a.digest),
                    if d.approved { "approved" } else { "rejected" },
                    d.by,
                    d.at
                ),
                None => {
                    let counted: Vec<&str> = a.approvals.iter().map(|d| d.by.as_str()).collect();
                    let progress = if a.required_approvals > 1 {
                        format!(
                            ", {} of {} approvals{}",
                            counted.len(),
                            a.required_approvals,
                            if counted.is_empty() { String::new() } else { format!(" ({})", counted.join(", ")) }
                        )
                    } else {
                        String::new()
                    };
                    let refused = match a.refusals.len() {
                        0 => String::new(),
                        n => format!(", {n} refused (last: {} — {})", a.refusals[n - 1].by, a.refusals[n - 1].reason),
                    };
                    format!(
                        "{} {} waiting until {}, asked in {}{progress}{refused}",
                        a.tag,
                        short_digest(&a.digest),
                        a.expires_at,
                        a.channels.join(" and ")
                    )
                }
            },
        },
    ));
    out
}

fn serving_text(s: &Serving) -> String {
    let what = match (&s.tag, &s.digest) {
        (Some(tag), Some(digest)) => format!("{tag} {}", short_digest(digest)),
        (None, Some(digest)) => short_digest(digest),
        _ => s.image.clone().unwrap_or_else(|| "nothing registered behind it".into()),
    };
    let revision = s.revision.map(|r| format!("  revision {r}")).unwrap_or_default();
    let weight = if s.weight < 100 { format!("  {}% of traffic", s.weight) } else { String::new() };
    let task_set = match (&s.task_set, &s.task_set_status) {
        (Some(arn), Some(status)) => format!("  task set {} {status}", arn.rsplit('/').next().unwrap_or(arn)),
        _ => String::new(),
    };
    format!("{what}{revision}{task_set}{weight}")
}
