//! `greenlight approve|reject SERVICE [--comment TEXT]`: decides the service's pending approval
//! through the same single-use path as Slack's buttons and the signed links (a conditional write
//! in the ledger, then SendTaskSuccess); the approver is the caller's AWS identity.

use greenlight_aws::SfnExecutions;
use greenlight_core::approval::{DecidedVia, Decision};
use greenlight_core::approvers::Identity;
use greenlight_core::lock::short_digest;
use greenlight_core::pipeline::{Applied, DecidePorts, Decider, decide};
use greenlight_core::ports::{Locks, NoSlackDirectory};
use serde_json::json;

use super::{Orchestrator, aws_failure};
use crate::{Failure, Output};

#[derive(Debug, clap::Args)]
pub(crate) struct DecideArgs {
    /// The manifest's service entry whose pending approval is decided.
    service: String,
    /// Said with the decision; kept in the ledger with it.
    #[arg(long)]
    comment: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(flatten)]
    orchestrator: Orchestrator,
}

pub(crate) async fn decide_pending(args: DecideArgs, decision: Decision) -> Result<String, Failure> {
    let online = args.orchestrator.connect().await?;
    let service = online.service(&args.service)?;
    let holder = online.ledger.holder(&service.name).await.map_err(|e| aws_failure("the ledger's lock", &e))?;
    let Some(id) = holder.as_ref().and_then(|h| h.approval_id.clone()) else {
        let who = holder.map(|h| format!(" ({} holds its lock and waits for no decision)", h.describe()));
        return Err(Failure::Rejected(format!(
            "greenlight: {} has no approval pending{}",
            service.name,
            who.unwrap_or_default()
        )));
    };
    let by = online.caller().await?.arn;
    let tokens = SfnExecutions::new(aws_sdk_sfn::Client::new(&online.config), String::new());
    let decider = Decider {
        by: &by,
        channel: DecidedVia::Cli,
        comment: args.comment.as_deref(),
        identity: Identity::Principal(by.clone()),
    };
    let now = chrono::Utc::now().timestamp();
    let ports = DecidePorts { approvals: &online.ledger, tokens: &tokens, directory: &NoSlackDirectory };
    let applied =
        decide(&id, decision, decider, now, ports).await.map_err(|e| aws_failure(&format!("approval {id}"), &e))?;
    let verb = |approved: bool| if approved { "approved" } else { "rejected" };
    match applied {
        Applied::Done(record, decided) => {
            let next = if decided.approved {
                "production traffic moves to it next"
            } else {
                "its deployment is stopped and rolled back"
            };
            Ok(match args.output {
                Output::Json => format!(
                    "{}\n",
                    json!({
                        "service": record.service, "tag": record.tag, "digest": record.digest,
                        "approval_id": record.id, "deployment_id": record.deployment_id, "decided": decided,
                    })
                ),
                Output::Text => format!(
                    "{} {} {} ({}) as {by}: {next}\n",
                    verb(decided.approved),
                    record.service,
                    record.tag,
                    short_digest(&record.digest)
                ),
            })
        }
        Applied::Counted { record, count, .. } => Ok(match args.output {
            Output::Json => format!(
                "{}\n",
                json!({
                    "service": record.service, "tag": record.tag, "digest": record.digest,
                    "approval_id": record.id, "deployment_id": record.deployment_id,
                    "approvals": count, "required_approvals": record.required_approvals,
                })
            ),
            Output::Text => format!(
                "approval of {} {} ({}) counted as {by}: {count} of {}; production traffic moves once {} distinct approvers approved\n",
                record.service,
                record.tag,
                short_digest(&record.digest),
                record.required_approvals,
                record.required_approvals
            ),
        }),
        Applied::AlreadyCounted(record, a) => Err(Failure::Rejected(format!(
            "greenlight: your approval of {} {} ({}) was counted at {}; {} of {} so far, another approver must approve",
            record.service,
            record.tag,
            short_digest(&record.digest),
            a.at,
            record.approvals.len(),
            record.required_approvals
        ))),
        Applied::Refused(record, refused) => Err(Failure::Rejected(format!(
            "greenlight: refused for {} {} ({}): {}; nothing changed (the refusal is kept with the approval)",
            record.service,
            record.tag,
            short_digest(&record.digest),
            refused.reason
        ))),
        Applied::AlreadyDecided(record, d) => Err(Failure::Rejected(format!(
            "greenlight: {} {} ({}) was already {} by {} via {} at {}",
            record.service,
            record.tag,
            short_digest(&record.digest),
            verb(d.approved),
            d.by,
            d.channel,
            d.at
        ))),
        Applied::Expired(record) => Err(Failure::Rejected(format!(
            "greenlight: the approval of {} {} expired at {}; nothing changed",
            record.service,
            record.tag,
            greenlight_core::history::rfc3339(record.expires_at)
        ))),
        Applied::Unknown => Err(Failure::Rejected(format!("greenlight: approval {id} is not in the ledger"))),
    }
}
