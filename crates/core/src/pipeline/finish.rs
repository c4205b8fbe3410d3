//! finish's step: let production traffic move (ContinueDeployment), or record and announce the
//! success (and say it in Slack: in the approval's thread, with a "Roll back" button).

use crate::approval::{Decided, DecidedVia};
use crate::error::Error;
use crate::history::{HistoryUpdate, Outcome, TimelineState};
use crate::lock::Renew;
use crate::ports::{Approvals, Deployments, History, Locks, Notifier, SlackApi, Validations};
use crate::slack_outcomes::{Told, slack_live_message};

use super::lease::{Lease, keep_lock};
use super::thread::{asked_approval, show_cli_decision, tell_outcome};
use super::validation_summary;
use super::{Continued, FinishAction, FinishInput, FinishOutput, Notified, execution_name, missing_input};

/// Ports of the steps that end a deployment and tell the team (finish, rollback).
#[derive(Debug)]
pub struct NotifyPorts<'a, D, N, L> {
    pub deployments: &'a D,
    pub notifier: &'a N,
    pub ledger: &'a L,
}

/// finish: ContinueDeployment (once the lock records that production traffic moves, so no
/// newer push stops it halfway), or the success: ledger, lock released, notification.
pub async fn finish<D, N, L, W>(
    input: &FinishInput,
    ports: NotifyPorts<'_, D, N, L>,
    slack: &W,
    lease: Lease,
) -> Result<FinishOutput, Error>
where
    D: Deployments,
    N: Notifier,
    L: Validations + Locks + History + Approvals,
    W: SlackApi,
{
    let deployment = input.step.deployment.as_ref().ok_or_else(|| missing_input("deployment"))?;
    let (step, ledger) = (&input.step, ports.ledger);
    match input.action {
        FinishAction::Continue => {
            let shifting = Renew { shifting: true, ..Renew::default() };
            keep_lock(ledger, &step.service, &step.push, lease.until(), &shifting).await?;
            ports.deployments.continue_deployment(&deployment.deployment_id).await?;
            // Only a CLI decision is not on the request's message yet (clicks and links edit it).
            if input.approval.as_ref().is_some_and(|d| d.channel == DecidedVia::Cli)
                && let Ok(Some(record)) = asked_approval(ledger, &step.service, &step.push).await
            {
                let _ = show_cli_decision(slack, &record).await;
            }
            let mut update = HistoryUpdate::state(TimelineState::TrafficShifting);
            update.approver = input.approval.as_ref().map(Decided::summary);
            ledger.record(&step.service, &step.push, &update).await?;
            Ok(FinishOutput::Continued(Continued { continued: deployment.deployment_id.clone() }))
        }
        FinishAction::Succeeded => {
            let push = &step.push;
            let subject = format!("greenlight: {} {} is live", step.service, push.tag);
            let revision = step.prepared.as_ref().and_then(|p| p.task_definition_arn.as_deref()).unwrap_or("?");
            let (validation, _) = validation_summary(ledger, &deployment.deployment_id).await;
            let mut update = HistoryUpdate::state(TimelineState::Succeeded);
            update.outcome = Some(Outcome::Deployed);
            update.validation = Some(validation.trim().to_string()).filter(|v| !v.is_empty());
            ledger.record(&step.service, push, &update).await?;
            // Read while the lock still names it: the approval whose thread hears of the success.
            let asked = asked_approval(ledger, &step.service, push).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the approval's thread is not told: its approval could not be read");
                None
            });
            // The team hears of the success even when the lock cannot be released now: its
            // lease ends it, and the next push waits at most that long.
            let lock = match ledger.release(&step.service, &execution_name(&step.service, push)).await {
                Ok(_) => String::new(),
                Err(e) => {
                    tracing::warn!(error = %e, "the service's lock was not released; its lease ends it");
                    format!("\nThe service's lock was not released ({e}); its lease ends it.\n")
                }
            };
            let message = format!(
                "{service}: {tag} is in production.\n\nImage: {image}\nTask definition: {revision}\nDeployment: {id}\n{validation}{lock}",
                service = step.service,
                tag = push.tag,
                image = push.image_uri(),
                id = deployment.deployment_id,
            );
            ports.notifier.notify(&subject, &message).await?;
            let unasked = Told {
                service: &step.service,
                tag: &push.tag,
                deployment_id: &deployment.deployment_id,
                approval_id: None,
            };
            // Slack failing never undoes a healthy deploy: tell_outcome only logs it.
            let live = |told: &Told<'_>| slack_live_message(told, revision);
            let _ = tell_outcome(slack, step.prepared.as_ref(), asked.as_ref(), unasked, live).await;
            Ok(FinishOutput::Notified(Notified { notified: subject }))
        }
    }
}
