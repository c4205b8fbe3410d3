//! rollback's step: stop what is still running, record why, release the lock, tell the team.

use crate::approval::{ApprovalRecord, Decided, DecidedVia, decision_time, slack_cancelled_message};
use crate::error::{Error, raised};
use crate::history::{HistoryUpdate, Outcome, TimelineState};
use crate::ports::{
    Approvals, DeploymentState, DeploymentStatus, Deployments, History, Locks, Notifier, Settle, SlackApi, Traffic,
    Validations,
};
use crate::slack_outcomes::{Told, slack_rolled_back_message};

use super::finish::NotifyPorts;
use super::serving::Production;
use super::start::deployment_description;
use super::thread::{asked_approval, show_cli_decision, tell_outcome};
use super::{RollbackRequest, RolledBack, execution_name, validation_summary};

fn ended(s: &DeploymentState) -> String {
    format!("deployment {} ended {}: {}", s.id, s.status, s.error_message.as_deref().unwrap_or("no reason given"))
}

/// Stops the deployment; a stop that fails for a deployment that has ended anyway (CodeDeploy
/// rolled it back itself) is no failure. Whether this call stopped it.
async fn stop_if_active(deployments: &impl Deployments, id: &str) -> Result<bool, Error> {
    match deployments.stop(id).await {
        Ok(stopped) => Ok(stopped),
        Err(e) => match deployments.state(id).await {
            Ok(s) if s.status.is_terminal() => Ok(false),
            _ => Err(e),
        },
    }
}

/// Cancels the approval if it still waits, so that no late click decides a deployment that is
/// gone; whether this call cancelled it.
async fn cancel_if_pending<L: Approvals>(ledger: &L, record: &ApprovalRecord, reason: &str) -> Result<bool, Error> {
    if record.decided.is_some() {
        return Ok(false);
    }
    let now = chrono::Utc::now().timestamp();
    let cancelled = Decided {
        approved: false,
        by: "greenlight".into(),
        at: decision_time(now),
        channel: DecidedVia::Cancelled,
        comment: Some(reason.to_string()),
        approver: None,
    };
    let change = Settle { counted: record.approvals.len(), approval: None, decided: Some(&cancelled) };
    ledger.settle(&record.id, change, now).await
}

/// rollback: stop the deployment with auto-rollback (traffic back to blue) if it is still
/// active, record why in the ledger, release the service's lock, and tell the team. A push
/// superseded before anything of it was deployed is recorded, not announced.
pub async fn rollback<D, N, L, W, T>(
    request: &RollbackRequest,
    ports: NotifyPorts<'_, D, N, L>,
    slack: &W,
    traffic: &T,
) -> Result<RolledBack, Error>
where
    D: Deployments,
    N: Notifier,
    L: Validations + Locks + History + Approvals,
    W: SlackApi,
    T: Traffic,
{
    let (deployments, ledger) = (ports.deployments, ports.ledger);
    let input = &request.state;
    let error = input.error.as_ref().map_or_else(|| raised::DEPLOYMENT_FAILED.to_string(), |e| e.error.clone());
    let reason = match (&input.error, &input.status) {
        (Some(e), _) if e.error == raised::REJECTED && input.approval.is_some() => {
            format!("rejected by {}", input.approval.as_ref().map(Decided::summary).unwrap_or_default())
        }
        (Some(e), Some(s)) if e.cause.as_deref().is_none_or(str::is_empty) => ended(s),
        (Some(e), _) => e.reason(),
        (None, Some(s)) => ended(s),
        (None, None) => "the deployment failed for an unknown reason".into(),
    };
    let stopped = match &input.deployment {
        Some(d) => stop_if_active(deployments, &d.deployment_id).await?,
        None => false,
    };
    // start-deployment may have created a deployment it could not record (it failed right
    // after CreateDeployment, and its own stop failed too): find it by its description.
    let mut orphans = Vec::new();
    let mut notes = Vec::new();
    if input.deployment.is_none()
        && let Some(group) = input.prepared.as_ref().and_then(|p| p.codedeploy.as_ref())
    {
        let description = deployment_description(&input.service, &input.push);
        match deployments.active_with_description(&group.application, &group.deployment_group, &description).await {
            Ok(ids) => {
                for id in ids {
                    if stop_if_active(deployments, &id).await? {
                        orphans.push(id);
                    }
                }
            }
            // The outcome is still recorded and announced; what could not be checked is said.
            Err(e) => notes.push(format!(
                "could not look for a deployment of this push in {}/{}: {e}",
                group.application, group.deployment_group
            )),
        }
    }
    // A failed validation says more than "the hook reported Failed": add its reason.
    let (validation, failure) = match &input.deployment {
        Some(d) => validation_summary(ledger, &d.deployment_id).await,
        None => (String::new(), None),
    };
    let reason = match failure {
        Some(f) if !reason.contains(&f) => format!("{reason} Validation: {f}."),
        _ => reason,
    };
    let push = &input.push;
    // A deployment that ended before the stop may have succeeded on its own (the failure was
    // greenlight's, after CodeDeploy finished): say so instead of claiming a rollback.
    let succeeded = match &input.deployment {
        Some(d) if !stopped => {
            deployments.state(&d.deployment_id).await.is_ok_and(|s| s.status == DeploymentStatus::Succeeded)
        }
        _ => false,
    };
    let subject = format!("greenlight: {} {} rolled back", input.service, push.tag);
    let deployment = match &input.deployment {
        Some(d) if stopped => format!("{} (stopped and rolled back)", d.deployment_id),
        Some(d) if succeeded => format!("{} (had already succeeded before it could be stopped)", d.deployment_id),
        Some(d) => format!("{} (had already ended)", d.deployment_id),
        None if !orphans.is_empty() => {
            format!("{} (created but not recorded; stopped and rolled back)", orphans.join(", "))
        }
        None => "none started".into(),
    };
    // Once a deployment existed, what production serves is read, not assumed: a stop in the
    // console without rollback leaves traffic wherever it was.
    let production = match input.prepared.as_ref().and_then(|p| p.codedeploy.as_ref()) {
        Some(group) if input.deployment.is_some() || !orphans.is_empty() => Some(Production::now(traffic, group).await),
        _ => None,
    };
    let outcome = match &production {
        _ if succeeded => "greenlight failed after CodeDeploy had finished: it is in production. Check it, and push a fix if it must not stay".to_string(),
        Some(p) if p.serves(&push.digest) => format!(
            "did not finish, and production serves it: {}. The deployment ended without rolling back; check it, and roll back with `greenlight rollback {}` if it must not stay",
            p.describe(),
            input.service
        ),
        Some(p @ Production::Read(_)) => format!("was not deployed; production serves {}", p.describe()),
        Some(p) => format!("was not deployed; production should still serve the previous version ({})", p.describe()),
        None => "was not deployed; production stays on the previous version".to_string(),
    };
    // What the ledger, the approval's Slack message and its thread say: the reason, and what
    // production serves when it was read.
    let recorded = match &production {
        Some(p @ Production::Read(_)) if !succeeded => format!("{reason} Production serves {}.", p.describe()),
        _ => reason.clone(),
    };
    let message = format!(
        "{service}: {tag} {outcome}.\n\nReason: {reason}\nError: {error}\nImage: {image}\nDeployment: {deployment}\nExecution: {execution}\n{validation}",
        service = input.service,
        tag = push.tag,
        image = push.image_uri(),
        execution = request.execution_id.as_deref().unwrap_or("?"),
    );
    let is_superseded = error == Error::SUPERSEDED;
    let (state, outcome) = match (is_superseded, succeeded) {
        (true, _) => (TimelineState::Superseded, Outcome::Superseded),
        (false, true) => (TimelineState::FailedAfterSuccess, Outcome::Deployed),
        (false, false) => (TimelineState::RolledBack, Outcome::RolledBack),
    };
    let mut update = HistoryUpdate::state(state);
    update.outcome = Some(outcome);
    update.reason = Some(recorded.clone());
    update.validation = Some(validation.trim().to_string()).filter(|v| !v.is_empty());
    update.approver = input.approval.as_ref().map(Decided::summary);
    if let Err(e) = ledger.record(&input.service, push, &update).await {
        notes.push(format!("the ledger did not record the outcome: {e}"));
    }
    let asked = match asked_approval(ledger, &input.service, push).await {
        Ok(asked) => asked,
        Err(e) => {
            notes.push(format!("its approval could not be read (a pending one expires on its own): {e}"));
            None
        }
    };
    if let Some(record) = &asked {
        match cancel_if_pending(ledger, record, &recorded).await {
            Ok(true) => {
                notes.push("its pending approval is cancelled".into());
                // The request's message says so instead of offering buttons that decide nothing.
                if let Some(post) = &record.slack_post
                    && let Err(e) = slack.update_message(post, &slack_cancelled_message(record, &recorded)).await
                {
                    notes.push(format!("its Slack message could not be updated: {e}"));
                }
            }
            Ok(false) => notes.extend(show_cli_decision(slack, record).await),
            Err(e) => notes.push(format!("its pending approval could not be cancelled (it expires on its own): {e}")),
        }
    }
    if let Err(e) = ledger.release(&input.service, &execution_name(&input.service, push)).await {
        notes.push(format!("the lock was not released (its lease ends it): {e}"));
    }
    if is_superseded && input.deployment.is_none() && orphans.is_empty() {
        return Ok(RolledBack { error, reason, stopped_deployment: stopped || !orphans.is_empty(), notes });
    }
    let subject = if is_superseded { subject.replace("rolled back", "superseded") } else { subject };
    // What greenlight could not write is part of what the team hears.
    let message = if notes.is_empty() { message } else { format!("{message}\nAlso: {}.\n", notes.join("; ")) };
    ports.notifier.notify(&subject, &message).await?;
    let said = match (is_superseded, succeeded) {
        (_, true) => "failed after CodeDeploy had finished: it is in production",
        (true, false) => "was superseded and did not go live",
        (false, false) => "did not go live",
    };
    let unasked = Told {
        service: &input.service,
        tag: &push.tag,
        deployment_id: input.deployment.as_ref().map_or("", |d| d.deployment_id.as_str()),
        approval_id: None,
    };
    let rolled_back = |told: &Told<'_>| slack_rolled_back_message(told, said, &recorded);
    notes.extend(tell_outcome(slack, input.prepared.as_ref(), asked.as_ref(), unasked, rolled_back).await);
    Ok(RolledBack { error, reason, stopped_deployment: stopped || !orphans.is_empty(), notes })
}
