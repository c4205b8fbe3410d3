//! `greenlight rollback SERVICE [--to DIGEST|REVISION] --reason TEXT`: back to the last
//! known-good revision through core's `revert` (the path a success message's "Roll back"
//! button in Slack takes too): exactly that task definition (not a re-derived one), blue/green
//! with validation. With a deployment in flight whose production traffic has not moved, that
//! deployment is stopped with rollback first; the known-good revision is then the one
//! production runs. Otherwise it is the revision production ran before the newest release,
//! which every ledger record keeps (also when that revision predates greenlight). Allowed while
//! the service is paused. Whether it asks for approval is the manifest's `approval.rollbacks`.

use greenlight_aws::{CodeDeployDeployments, SfnExecutions};
use greenlight_core::Error;
use greenlight_core::pipeline::{RevertPorts, RevertRequest, RevertTarget, revert};
use greenlight_core::request::Requested;

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
    let to = match &args.to {
        Some(to) if to.starts_with("sha256:") => RevertTarget::Digest(to),
        Some(to) => RevertTarget::Revision(to),
        None => RevertTarget::KnownGood,
    };
    let request = RevertRequest {
        service,
        to,
        requested: Requested { by: actor.caller.arn.clone(), reason: Some(args.reason.clone()) },
        account: actor.caller.account.clone(),
        region: actor.online.region(),
        wait_seconds: args.acting.wait_seconds,
    };
    let arn = actor.online.state_machine_arn(&actor.caller);
    let ports = RevertPorts {
        task_definitions: &actor.task_definitions(),
        images: &actor.images(),
        deployments: &CodeDeployDeployments::new(aws_sdk_codedeploy::Client::new(&actor.online.config)),
        executions: &SfnExecutions::new(aws_sdk_sfn::Client::new(&actor.online.config), arn.clone()),
        ledger: &actor.online.ledger,
    };
    let reverted = revert(&request, ports).await.map_err(|e| match e {
        Error::RollbackRefused { .. } => Failure::Rejected(format!("greenlight: {e}")),
        e => aws_failure(&format!("rolling {} back through {arn}", service.name), &e),
    })?;
    let mut notes = reverted.notes.clone();
    notes.extend(actor.notify(&reverted.subject, &reverted.message).await);
    started(args.acting.output, &reverted.push, &reverted.started, &notes)
}
