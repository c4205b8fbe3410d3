//! `greenlight deploy SERVICE (--tag T | --digest D | --config)` and `greenlight retry SERVICE`:
//! requests made by hand that go through the same state machine as a push (lock, checks,
//! approval), each its own execution and the newest request of the service when it is made.

use greenlight_core::history::{DeploymentRecord, Outcome};
use greenlight_core::lock::short_digest;
use greenlight_core::ports::Images;
use greenlight_core::request::{Requested, Trigger, new_request_id};

use super::act::{Acting, Actor, started};
use super::aws_failure;
use crate::Failure;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["tag", "digest", "config"])))]
pub(crate) struct DeployArgs {
    /// The manifest's service entry to deploy.
    service: String,
    /// An image tag of the service's repository (the service's tag rules must accept it).
    #[arg(long)]
    tag: Option<String>,
    /// An image digest of the service's repository (`sha256:…`), deployed whatever its tags.
    #[arg(long)]
    digest: Option<String>,
    /// The live image again, on the newest configuration of the task definition family.
    #[arg(long)]
    config: bool,
    /// Why; kept in the ledger with the request.
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    acting: Acting,
}

pub(crate) async fn deploy(args: DeployArgs) -> Result<String, Failure> {
    let actor = Actor::connect(&args.acting.orchestrator).await?;
    let service = actor.online.service(&args.service)?;
    actor.refuse_if_paused(service, "deploy").await?;
    let reason = args.reason.as_deref();
    let (image, tag) = if let Some(tag) = &args.tag {
        let rules = service.tags.compile().map_err(|issues| Failure::Rejected(format!("greenlight: {}", issues[0])))?;
        let verdict = rules.verdict(tag);
        if !verdict.accepted() {
            return Err(Failure::Rejected(format!(
                "greenlight: {} does not deploy tag `{tag}`: {}. Deploy it by digest (--digest) to deploy it anyway",
                service.name,
                verdict.explain(tag)
            )));
        }
        let image = actor
            .images()
            .image_tagged(&service.repository, tag)
            .await
            .map_err(|e| aws_failure(&format!("ECR image {}:{tag}", service.repository), &e))?;
        (image, tag.clone())
    } else if let Some(digest) = &args.digest {
        if !greenlight_core::event::is_digest(digest) {
            return Err(Failure::Unreadable(format!(
                "--digest `{digest}` is not an image digest (sha256: and hex digits)"
            )));
        }
        let image = actor
            .images()
            .image(&service.repository, digest)
            .await
            .map_err(|e| aws_failure(&format!("ECR image {}@{digest}", service.repository), &e))?;
        let tag = service.tags.first_accepted(&image.tags).unwrap_or_else(|| short_digest(digest));
        (image, tag)
    } else {
        let (_, image) = actor.live(service).await?;
        let tag = service.tags.first_accepted(&image.tags).unwrap_or_else(|| short_digest(&image.digest));
        (image, tag)
    };
    let push = actor.request(service, &image, &tag, Trigger::Manual, reason);
    let execution = actor.start(&service.name, &push, args.acting.wait_seconds).await?;
    started(args.acting.output, &push, &execution, &[])
}

#[derive(Debug, clap::Args)]
pub(crate) struct RetryArgs {
    /// The manifest's service entry whose newest failed (or superseded) request runs again.
    service: String,
    /// Why; kept in the ledger with the request.
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    acting: Acting,
}

pub(crate) async fn retry(args: RetryArgs) -> Result<String, Failure> {
    let actor = Actor::connect(&args.acting.orchestrator).await?;
    let service = actor.online.service(&args.service)?;
    actor.refuse_if_paused(service, "retry").await?;
    let records = actor.online.deployments(service, 50).await?;
    let failed = retry_candidate(&service.name, &records)?;
    let Some(original) = &failed.request else {
        return Err(Failure::Rejected(format!(
            "greenlight: the ledger keeps no request for {} {} (recorded before requests were kept); deploy it with `greenlight deploy {} --digest {}`",
            service.name, failed.tag, service.name, failed.digest
        )));
    };
    let mut push = original.clone();
    push.event_id = Some(new_request_id());
    push.event_time = Some(chrono::Utc::now());
    push.trigger = Trigger::Retry;
    push.requested = Some(Requested { by: actor.caller.arn.clone(), reason: args.reason.clone() });
    let execution = actor.start(&service.name, &push, args.acting.wait_seconds).await?;
    let note = format!(
        "retries {} {} ({}), which ended {}: {}",
        service.name,
        failed.tag,
        short_digest(&failed.digest),
        failed.outcome.map(Outcome::as_str).unwrap_or("?"),
        failed.reason.as_deref().unwrap_or("no reason recorded")
    );
    started(args.acting.output, &push, &execution, &[note])
}

/// The newest request that rolled back or was superseded, unless something newer deployed
/// since (retrying it would take production back to an older image: that is a deliberate
/// `deploy`, not a retry).
fn retry_candidate<'a>(service: &str, records: &'a [DeploymentRecord]) -> Result<&'a DeploymentRecord, Failure> {
    for record in records {
        match record.outcome {
            Some(Outcome::RolledBack | Outcome::Superseded) => return Ok(record),
            Some(Outcome::Deployed | Outcome::AlreadyLive) => {
                return Err(Failure::Rejected(format!(
                    "greenlight: {service}'s newest request, {} ({}), ended {}; there is nothing newer to retry. \
                     `greenlight deploy {service} --tag …` deploys an older image deliberately",
                    record.tag,
                    short_digest(&record.digest),
                    record.outcome.map(Outcome::as_str).unwrap_or_default()
                )));
            }
            None => {
                return Err(Failure::Rejected(format!(
                    "greenlight: {service}'s deploy of {} ({}) has not ended; retry once it has (`greenlight watch {service}`)",
                    record.tag,
                    short_digest(&record.digest)
                )));
            }
            Some(Outcome::Held) => {}
        }
    }
    Err(Failure::Rejected(format!("greenlight: {service} has no failed or superseded request in the ledger to retry")))
}
