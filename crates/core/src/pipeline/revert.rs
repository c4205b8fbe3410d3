//! An operator's rollback, as `greenlight rollback` and the "Roll back" button of a success
//! message in Slack both ask for it: back to a known-good revision, exactly that task
//! definition (not a re-derived one), blue/green with validation, started through `begin` as
//! every request is. With a deployment in flight whose production traffic has not moved, that
//! deployment is stopped with rollback first.

use crate::error::Error;
use crate::event::Push;
use crate::history::{DeploymentRecord, Outcome};
use crate::lock::{LockHolder, short_digest};
use crate::manifest::Service;
use crate::ports::{Deployments, Executions, History, Image, Images, Locks, TaskDefinitions};
use crate::request::{Requested, Trigger};
use crate::slack_outcomes::SlackRoute;
use crate::taskdef::TaskDefinition;

use super::{BeginPorts, StartedExecution, begin};

/// Ports a rollback request is resolved and started with.
#[derive(Debug)]
pub struct RevertPorts<'a, T, I, D, E, L> {
    pub task_definitions: &'a T,
    pub images: &'a I,
    pub deployments: &'a D,
    pub executions: &'a E,
    pub ledger: &'a L,
}

/// Where a rollback goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevertTarget<'a> {
    /// With a deploy in flight, what production ran before it; otherwise what production ran
    /// before the newest release (a rollback is not a release: rolling back twice does not
    /// return to the bad one).
    KnownGood,
    /// The revision a digest greenlight deployed ran as.
    Digest(&'a str),
    /// A revision of the service's family: `web:7`, `7`, or its ARN.
    Revision(&'a str),
    /// What production ran before the release this execution made, which must still be the
    /// newest release (the "Roll back" button of its success message).
    Release { execution: &'a str },
}

/// A rollback asked for by someone.
#[derive(Debug, Clone)]
pub struct RevertRequest<'a> {
    pub service: &'a Service,
    pub to: RevertTarget<'a>,
    pub requested: Requested,
    /// The account and region the request is made in (the push's).
    pub account: String,
    pub region: String,
    pub wait_seconds: u32,
}

/// A rollback started.
#[derive(Debug, Clone)]
pub struct Reverted {
    pub push: Push,
    pub started: StartedExecution,
    /// What was done on the way (a deployment in flight stopped, or left to end).
    pub notes: Vec<String>,
    /// The notification that tells the team (subject, message).
    pub subject: String,
    pub message: String,
    /// Where the service's deploys are told in Slack.
    pub slack: SlackRoute,
}

fn refused(service: &Service, problem: String) -> Error {
    Error::RollbackRefused { service: service.name.clone(), problem }
}

/// Resolves the target, stops a deploy in flight that production traffic has not reached, and
/// starts the rollback's execution. Nothing is stopped or started when the target cannot be
/// resolved.
pub async fn revert<T, I, D, E, L>(
    request: &RevertRequest<'_>,
    ports: RevertPorts<'_, T, I, D, E, L>,
) -> Result<Reverted, Error>
where
    T: TaskDefinitions,
    I: Images,
    D: Deployments,
    E: Executions,
    L: Locks + History,
{
    let service = request.service;
    let records = ports.ledger.deployments(&service.name, 100).await?;
    let holder = ports.ledger.holder(&service.name).await?;
    let live = ports.task_definitions.current(&service.cluster, &service.service).await?;
    let target = match request.to {
        RevertTarget::Digest(digest) => deployed_revision(service, digest, &records)?,
        RevertTarget::Revision(to) => revision_id(to, live.family()),
        RevertTarget::KnownGood => known_good(service, &records, holder.as_ref(), &live)?,
        RevertTarget::Release { execution } => before_release(service, execution, &records)?,
    };
    let target = ports.task_definitions.describe(&target).await?;
    if target.family() != live.family() {
        return Err(refused(
            service,
            format!(
                "{} is of family `{}`; {} runs family `{}`. Roll back --to a revision of its own family",
                target.arn().unwrap_or_default(),
                target.family(),
                service.name,
                live.family()
            ),
        ));
    }
    let image = image_of(ports.images, service, &target).await?;
    let tag = records
        .iter()
        .find(|r| r.digest == image.digest)
        .map(|r| r.tag.clone())
        .or_else(|| service.tags.first_accepted(&image.tags))
        .unwrap_or_else(|| short_digest(&image.digest));
    let place = (request.account.as_str(), request.region.as_str());
    let mut push = Push::requested(
        place,
        service,
        (&image.digest, image.pushed_at),
        &tag,
        Trigger::Rollback,
        request.requested.clone(),
    );
    push.task_definition = target.arn().map(str::to_string);
    let mut notes = Vec::new();
    if let Some(h) = &holder {
        notes.push(stop_in_flight(ports.deployments, h).await?);
    }
    let begin_ports = BeginPorts { executions: ports.executions, ledger: ports.ledger };
    let started = begin(&service.name, &push, begin_ports, request.wait_seconds).await?;
    let subject = format!("greenlight: {} rolls back to {tag}", service.name);
    let message = format!(
        "{} rolls back to {} ({tag}, {}), requested by {}: {}\n\nExecution: {}",
        service.name,
        push.task_definition.as_deref().unwrap_or_default(),
        short_digest(&image.digest),
        request.requested.by,
        request.requested.reason.as_deref().unwrap_or("no reason given"),
        started.name
    );
    Ok(Reverted { push, started, notes, subject, message, slack: SlackRoute::of(&service.approval) })
}

/// The ECR image a task definition's first target container runs: by its digest, or (a
/// revision that predates greenlight, pinned by tag) the image the tag names now.
pub async fn image_of<I: Images>(images: &I, service: &Service, td: &TaskDefinition) -> Result<Image, Error> {
    let container = service.containers.first().map(String::as_str).unwrap_or_default();
    let uri = td.image_of(container).unwrap_or_default();
    match uri.split_once('@') {
        Some((_, digest)) => images.image(&service.repository, digest).await,
        None => {
            let tag = uri.rsplit_once(':').map(|(_, t)| t).filter(|t| !t.contains('/')).unwrap_or("latest");
            images.image_tagged(&service.repository, tag).await
        }
    }
}

/// Stops the deployment in flight when its production traffic has not moved (CodeDeploy rolls
/// it back); one whose traffic moves is left to end, and the rollback deploys after it.
async fn stop_in_flight<D: Deployments>(deployments: &D, holder: &LockHolder) -> Result<String, Error> {
    let Some(id) = &holder.deployment_id else {
        return Ok(format!(
            "{} holds the lock with no deployment yet; the rollback takes its place",
            holder.describe()
        ));
    };
    if holder.shifting {
        return Ok(format!(
            "{}'s production traffic is moving ({id}); it is never stopped halfway, so the rollback deploys once it ends",
            holder.describe()
        ));
    }
    deployments.stop(id).await?;
    Ok(format!("stopped {id} of {} with rollback", holder.describe()))
}

/// The revision a digest ran as when greenlight deployed it.
fn deployed_revision(service: &Service, digest: &str, records: &[DeploymentRecord]) -> Result<String, Error> {
    records
        .iter()
        .find(|r| r.digest == digest && r.outcome == Some(Outcome::Deployed))
        .and_then(|r| r.task_definition.clone())
        .ok_or_else(|| {
            refused(
                service,
                format!(
                    "the ledger has no deployment of {digest} to {}; roll back --to a revision instead (`web:7`, `7` or its ARN)",
                    service.name
                ),
            )
        })
}

/// `web:7`, `7` (of the live family) or an ARN, as DescribeTaskDefinition takes it.
fn revision_id(to: &str, family: &str) -> String {
    if !to.is_empty() && to.bytes().all(|b| b.is_ascii_digit()) { format!("{family}:{to}") } else { to.to_string() }
}

/// The newest release: the newest deployed record that is not itself a rollback.
fn newest_release(records: &[DeploymentRecord]) -> Option<&DeploymentRecord> {
    records.iter().find(|r| r.outcome == Some(Outcome::Deployed) && r.trigger() != Trigger::Rollback)
}

fn known_good(
    service: &Service,
    records: &[DeploymentRecord],
    holder: Option<&LockHolder>,
    live: &TaskDefinition,
) -> Result<String, Error> {
    let found = match holder {
        Some(h) => records
            .iter()
            .find(|r| r.execution == h.execution)
            .and_then(|r| r.previous_task_definition.clone())
            .or_else(|| live.arn().map(str::to_string)),
        None => newest_release(records).and_then(|r| r.previous_task_definition.clone()),
    };
    found.ok_or_else(|| {
        refused(
            service,
            format!(
                "the ledger records no release of {} to roll back from; name the revision with --to (`web:7`, `7` or its ARN)",
                service.name
            ),
        )
    })
}

/// What ran before the release `execution` made, while it is the newest release and has not
/// been rolled back since (a "Roll back" button on an older release's message is refused).
pub fn before_release(service: &Service, execution: &str, records: &[DeploymentRecord]) -> Result<String, Error> {
    let Some(release) = records.iter().find(|r| r.execution == execution) else {
        return Err(refused(service, format!("the ledger has no deployment {execution} of {}", service.name)));
    };
    if release.outcome != Some(Outcome::Deployed) {
        return Err(refused(
            service,
            format!("{} {} was never live; there is nothing to roll back", service.name, release.tag),
        ));
    }
    let newer: Vec<&DeploymentRecord> = records
        .iter()
        .take_while(|r| r.execution != execution)
        .filter(|r| r.outcome == Some(Outcome::Deployed))
        .collect();
    if let Some(since) = newer.first() {
        let what = if since.trigger() == Trigger::Rollback { "was rolled back to" } else { "released" };
        return Err(refused(
            service,
            format!(
                "{} {} is no longer what production runs: {} {what} {} since. Use `greenlight rollback {}` to choose a revision",
                service.name, release.tag, service.name, since.tag, service.name
            ),
        ));
    }
    release.previous_task_definition.clone().ok_or_else(|| {
        refused(
            service,
            format!(
                "the ledger does not say what ran before {} {}; roll back with `greenlight rollback {} --to`",
                service.name, release.tag, service.name
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        execution: &str,
        tag: &str,
        outcome: Option<Outcome>,
        trigger: Trigger,
        previous: &str,
    ) -> DeploymentRecord {
        let mut push: Push = serde_json::from_value(serde_json::json!({
            "account": "1", "region": "r", "repository": "web", "digest": format!("sha256:{tag}"), "tag": tag
        }))
        .expect("push");
        push.trigger = trigger;
        DeploymentRecord {
            service: "web".into(),
            order: String::new(),
            execution: execution.into(),
            digest: push.digest.clone(),
            tag: tag.into(),
            execution_id: None,
            task_definition: Some(format!("web:{}", tag.trim_start_matches('v'))),
            previous_task_definition: Some(previous.into()),
            deployment_id: None,
            timeline: Vec::new(),
            validation: None,
            approver: None,
            outcome,
            reason: None,
            request: Some(push),
        }
    }

    fn service() -> Service {
        let starter = crate::manifest::Starter {
            service: "web".into(),
            cluster: "prod".into(),
            repository: "web".into(),
            container: "app".into(),
            port: None,
            test_listener_url: None,
        };
        crate::manifest::Manifest::starter(&starter).services.remove(0)
    }

    #[test]
    fn a_release_is_rolled_back_only_while_it_is_the_newest() {
        let s = service();
        let deployed = Some(Outcome::Deployed);
        let v2 = record("e2", "v2", deployed, Trigger::Push, "web:1");
        let failed = record("e3", "v3", Some(Outcome::RolledBack), Trigger::Push, "web:2");
        assert_eq!(before_release(&s, "e2", &[failed.clone(), v2.clone()]).expect("newest"), "web:1");
        let v4 = record("e4", "v4", deployed, Trigger::Push, "web:2");
        let err = before_release(&s, "e2", &[v4, failed.clone(), v2.clone()]).expect_err("superseded").to_string();
        assert!(err.contains("released v4 since"), "{err}");
        let back = record("e5", "v1", deployed, Trigger::Rollback, "web:2");
        let err = before_release(&s, "e2", &[back, v2.clone()]).expect_err("rolled back").to_string();
        assert!(err.contains("was rolled back to v1 since"), "{err}");
        let err = before_release(&s, "e3", &[failed, v2]).expect_err("never live").to_string();
        assert!(err.contains("never live"), "{err}");
        assert!(before_release(&s, "nope", &[]).is_err());
    }

    #[test]
    fn the_known_good_revision_is_before_the_newest_release_not_before_a_rollback() {
        let s = service();
        let deployed = Some(Outcome::Deployed);
        let records = [
            record("e3", "v1", deployed, Trigger::Rollback, "web:2"),
            record("e2", "v2", deployed, Trigger::Push, "web:1"),
        ];
        let live = TaskDefinition::from_json(
            serde_json::json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "web:v1"}]}),
        )
        .expect("task definition");
        assert_eq!(known_good(&s, &records, None, &live).expect("found"), "web:1");
        assert!(known_good(&s, &[], None, &live).is_err());
        assert_eq!(revision_id("7", "web"), "web:7");
        assert_eq!(revision_id("web:7", "web"), "web:7");
    }
}
