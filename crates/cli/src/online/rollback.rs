//! `greenlight rollback SERVICE [--to DIGEST|REVISION] --reason TEXT`: back to the last
//! known-good revision, exactly that task definition (not a re-derived one), blue/green with
//! validation. With a deployment in flight whose production traffic has not moved, that
//! deployment is stopped with rollback first; the known-good revision is then the one
//! production runs. Otherwise it is the revision production ran before the newest release,
//! which every ledger record keeps (also when that revision predates greenlight). Allowed while
//! the service is paused. Whether it asks for approval is the manifest's `approval.rollbacks`.

use greenlight_aws::CodeDeployDeployments;
use greenlight_core::history::{DeploymentRecord, Outcome};
use greenlight_core::lock::{LockHolder, short_digest};
use greenlight_core::ports::{Deployments, Locks, TaskDefinitions};
use greenlight_core::request::Trigger;
use greenlight_core::taskdef::TaskDefinition;

use super::act::{Acting, Actor, started};
use super::aws_failure;
use crate::Failure;

#[derive(Debug, clap::Args)]
pub(crate) struct RollbackArgs {
    /// The manifest's service entry to roll back.
    service: String,
    /// Where to: a digest greenlight deployed (the revision it ran as), or a revision of the
    /// service's family (`web:7`, `7`, or its ARN). Default: the last known-good revision.
    #[arg(long)]
    to: Option<String>,
    /// Why; kept in the ledger and said in the notification.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    acting: Acting,
}

pub(crate) async fn rollback(args: RollbackArgs) -> Result<String, Failure> {
    let actor = Actor::connect(&args.acting.orchestrator).await?;
    let service = actor.online.service(&args.service)?;
    let ledger = &actor.online.ledger;
    let records = actor.online.deployments(service, 100).await?;
    let holder = ledger.holder(&service.name).await.map_err(|e| aws_failure("the ledger's lock", &e))?;
    let (live, _) = actor.live(service).await?;
    let target = match &args.to {
        Some(to) if to.starts_with("sha256:") => deployed_revision(&service.name, to, &records)?,
        Some(to) => revision_id(to, live.family()),
        None => known_good(&service.name, &records, holder.as_ref(), &live)?,
    };
    let target = actor
        .task_definitions()
        .describe(&target)
        .await
        .map_err(|e| aws_failure(&format!("task definition {target}"), &e))?;
    if target.family() != live.family() {
        return Err(Failure::Rejected(format!(
            "greenlight: {} is of family `{}`; {} runs family `{}`. Roll back --to a revision of its own family",
            target.arn().unwrap_or_default(),
            target.family(),
            service.name,
            live.family()
        )));
    }
    let image = actor.image_of(service, &target).await?;
    let tag = records
        .iter()
        .find(|r| r.digest == image.digest)
        .map(|r| r.tag.clone())
        .or_else(|| service.tags.first_accepted(&image.tags))
        .unwrap_or_else(|| short_digest(&image.digest));
    let mut push = actor.request(service, &image, &tag, Trigger::Rollback, Some(&args.reason));
    push.task_definition = target.arn().map(str::to_string);
    let mut notes = Vec::new();
    if let Some(h) = &holder {
        notes.push(stop_in_flight(&actor, h).await?);
    }
    let execution = actor.start(&service.name, &push, args.acting.wait_seconds).await?;
    let subject = format!("greenlight: {} rolls back to {tag}", service.name);
    let message = format!(
        "{} rolls back to {} ({tag}, {}), requested by {}: {}\n\nExecution: {}",
        service.name,
        push.task_definition.as_deref().unwrap_or_default(),
        short_digest(&image.digest),
        actor.caller.arn,
        args.reason,
        execution.name
    );
    notes.extend(actor.notify(&subject, &message).await);
    started(args.acting.output, &push, &execution, &notes)
}

/// Stops the deployment in flight when its production traffic has not moved (CodeDeploy rolls
/// it back); one whose traffic moves is left to end, and the rollback deploys after it.
async fn stop_in_flight(actor: &Actor, holder: &LockHolder) -> Result<String, Failure> {
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
    let deployments = CodeDeployDeployments::new(aws_sdk_codedeploy::Client::new(&actor.online.config));
    deployments.stop(id).await.map_err(|e| aws_failure(&format!("stopping deployment {id}"), &e))?;
    Ok(format!("stopped {id} of {} with rollback", holder.describe()))
}

/// The revision a digest ran as when greenlight deployed it.
fn deployed_revision(service: &str, digest: &str, records: &[DeploymentRecord]) -> Result<String, Failure> {
    records
        .iter()
        .find(|r| r.digest == digest && r.outcome == Some(Outcome::Deployed))
        .and_then(|r| r.task_definition.clone())
        .ok_or_else(|| {
            Failure::Rejected(format!(
                "greenlight: the ledger has no deployment of {digest} to {service}; roll back --to a revision instead (`web:7`, `7` or its ARN)"
            ))
        })
}

/// `web:7`, `7` (of the live family) or an ARN, as DescribeTaskDefinition takes it.
fn revision_id(to: &str, family: &str) -> String {
    if !to.is_empty() && to.bytes().all(|b| b.is_ascii_digit()) { format!("{family}:{to}") } else { to.to_string() }
}

/// With a deploy in flight: what production ran before it. Otherwise: what production ran before
/// the newest release (a rollback is not a release: rolling back twice does not return to the
/// bad one).
fn known_good(
    service: &str,
    records: &[DeploymentRecord],
    holder: Option<&LockHolder>,
    live: &TaskDefinition,
) -> Result<String, Failure> {
    let found = match holder {
        Some(h) => records
            .iter()
            .find(|r| r.execution == h.execution)
            .and_then(|r| r.previous_task_definition.clone())
            .or_else(|| live.arn().map(str::to_string)),
        None => records
            .iter()
            .find(|r| r.outcome == Some(Outcome::Deployed) && r.trigger() != Trigger::Rollback)
            .and_then(|r| r.previous_task_definition.clone()),
    };
    found.ok_or_else(|| {
        Failure::Rejected(format!(
            "greenlight: the ledger records no release of {service} to roll back from; name the revision with --to (`web:7`, `7` or its ARN)"
        ))
    })
}
