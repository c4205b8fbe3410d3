//! request-approval's step: a single-use, expiring approval in the ledger, then the request on
//! every channel of the service, with the evidence.

use crate::approval::{ApprovalRecord, Decision, Evidence, email_message, new_id, notice_message, slack_message};
use crate::approvers::Approver;
use crate::error::Error;
use crate::history::{HistoryUpdate, TimelineState, rfc3339};
use crate::links::{LinkTarget, link};
use crate::lock::Renew;
use crate::manifest::Channel;
use crate::ports::{
    Approvals, History, Locks, Mailer, ManifestSource, Notifier, Secrets, SlackApi, TaskDefinitions, Validations,
};

use super::lease::{Lease, keep_lock};
use super::{ApprovalRequest, ApprovalRequested, find_service, missing_input, validation_summary};

/// Where request-approval sends the request, and with which secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalChannels {
    /// The approval-callback function URL (signed links point there).
    pub callback_url: String,
    /// Secrets Manager id of the key that signs links.
    pub link_key_secret: Option<String>,
}

/// Ports request-approval uses.
#[derive(Debug)]
pub struct ApprovalPorts<'a, M, T, A, L, S, N, W, E> {
    pub manifests: &'a M,
    pub task_definitions: &'a T,
    pub approvals: &'a A,
    pub ledger: &'a L,
    pub secrets: &'a S,
    pub notifier: &'a N,
    /// Slack: the bot token for services with `approval.slack_channel`, the incoming webhook
    /// for the others.
    pub slack: &'a W,
    /// Amazon SES: one email per listed email approver (`email` channel).
    pub mailer: &'a E,
}

/// request-approval: stores a single-use, expiring approval, then asks on every channel of the
/// service with the evidence (image, task definition diff, validation report).
pub async fn request_approval<M, T, A, L, S, N, W, E>(
    request: &ApprovalRequest,
    ports: ApprovalPorts<'_, M, T, A, L, S, N, W, E>,
    channels: &ApprovalChannels,
    lease: Lease,
) -> Result<ApprovalRequested, Error>
where
    M: ManifestSource,
    T: TaskDefinitions,
    A: Approvals,
    L: Validations + Locks + History,
    S: Secrets,
    N: Notifier,
    W: SlackApi,
    E: Mailer,
{
    let manifest = ports.manifests.manifest().await?;
    let service = find_service(&manifest, &request.step.service)?;
    let deployment = request.step.deployment.as_ref().ok_or_else(|| missing_input("deployment"))?;
    let push = &request.step.push;
    let mut diff = Vec::new();
    if let Some(prepared) = &request.step.prepared
        && let (Some(old), Some(new)) = (&prepared.previous_task_definition_arn, &prepared.task_definition_arn)
    {
        let (old, new) = (ports.task_definitions.describe(old).await?, ports.task_definitions.describe(new).await?);
        diff = crate::diff::diff(&old.as_register_request().to_value(), &new.as_register_request().to_value())
            .iter()
            .map(ToString::to_string)
            .collect();
    }
    let (validation, _) = validation_summary(ports.ledger, &deployment.deployment_id).await;
    let evidence = Evidence {
        image_uri: push.image_uri(),
        diff,
        validation: validation.trim().trim_start_matches("Validation:").trim().to_string(),
        links: vec![(
            "deployment".into(),
            format!(
                "https://console.aws.amazon.com/codesuite/codedeploy/deployments/{}?region={}",
                deployment.deployment_id, push.region
            ),
        )],
        requested_by: super::requested_by(push),
    };
    let record = ApprovalRecord {
        id: new_id(),
        task_token: request.task_token.clone(),
        service: service.name.clone(),
        tag: push.tag.clone(),
        digest: push.digest.clone(),
        deployment_id: deployment.deployment_id.clone(),
        execution_id: request.step.execution_id.clone(),
        expires_at: lease.now + i64::from(service.approval.timeout_seconds),
        decided: None,
        approvers: service.approval.approvers.clone(),
        required_approvals: service.approval.required_approvals,
        approvals: Vec::new(),
        refusals: Vec::new(),
        evidence: Some(evidence.clone()),
        slack_post: None,
    };
    ports.approvals.put_approval(&record).await?;
    // The lock outlives the wait for a decision, and names the approval so that a newer push
    // can cancel it.
    let renew = Renew { approval_id: Some(&record.id), ..Renew::default() };
    keep_lock(ports.ledger, &service.name, push, record.expires_at + lease.seconds, &renew).await?;

    // Every channel is tried: one that is down (Slack answering 5xx) must not keep the request
    // from the others. The step fails only when no channel reached anyone.
    let mut sent = Vec::new();
    let mut failed: Vec<(Channel, Error)> = Vec::new();
    for channel in &service.approval.channels {
        match ask(*channel, &ports, channels, service, &record, &evidence).await {
            Ok(()) => sent.push(*channel),
            Err(e) => {
                tracing::warn!(channel = channel.as_str(), error = %e, "the approval request did not go out on this channel");
                failed.push((*channel, e));
            }
        }
    }
    if sent.is_empty() && !failed.is_empty() {
        return Err(failed.swap_remove(0).1);
    }
    let names: Vec<&str> = sent.iter().map(|c| c.as_str()).collect();
    let mut detail = format!("via {}, until {}", names.join(" and "), rfc3339(record.expires_at));
    for (channel, e) in &failed {
        detail.push_str(&format!("; not sent in {}: {e}", channel.as_str()));
    }
    let update = HistoryUpdate::state(TimelineState::ApprovalRequested).detail(detail);
    ports.ledger.record(&service.name, push, &update).await?;
    Ok(ApprovalRequested { approval_id: record.id, expires_at: record.expires_at, channels: sent })
}

/// Sends the request on one channel: the Slack message, the topic's email, or one email per
/// listed address.
async fn ask<M, T, A, L, S, N, W, E>(
    channel: Channel,
    ports: &ApprovalPorts<'_, M, T, A, L, S, N, W, E>,
    channels: &ApprovalChannels,
    service: &crate::manifest::Service,
    record: &ApprovalRecord,
    evidence: &Evidence,
) -> Result<(), Error>
where
    A: Approvals,
    S: Secrets,
    N: Notifier,
    W: SlackApi,
    E: Mailer,
{
    let subject = format!("greenlight: approve {} {} for production?", record.service, record.tag);
    match channel {
        Channel::Slack => {
            let message = slack_message(record, evidence, service.approval.timeout_seconds);
            if let Some(slack_channel) = &service.approval.slack_channel {
                let post = ports.slack.post_message(slack_channel, &message, None).await?;
                // Kept so that the message can be edited when the approval ends without a click.
                return ports.approvals.note_slack_post(&record.id, &post).await;
            }
            ports.slack.post_webhook(&message).await
        }
        // Once the approval names its approvers, a link of the shared topic (naming no person)
        // could decide nothing: the topic hears of the request, without links.
        Channel::Sns if !record.approvers.is_empty() => {
            ports.notifier.notify(&subject, &notice_message(record, evidence)).await
        }
        Channel::Sns => {
            let key = link_key(ports, channels, service).await?;
            let link_to = |decision| {
                let target = LinkTarget { id: &record.id, decision, expires: record.expires_at, to: None };
                link(&channels.callback_url, key.as_bytes(), &target)
            };
            let message = email_message(record, evidence, &link_to(Decision::Approve), &link_to(Decision::Reject));
            ports.notifier.notify(&subject, &message).await
        }
        Channel::Email => {
            let key = link_key(ports, channels, service).await?;
            // Each address is tried: one that bounces must not keep the request from the others.
            let mut first_failure = None;
            let mut sent = 0;
            for to in record.approvers.iter().filter_map(|a| match a {
                Approver::Email(address) => Some(address.as_str()),
                _ => None,
            }) {
                let link_to = |decision| {
                    let target = LinkTarget { id: &record.id, decision, expires: record.expires_at, to: Some(to) };
                    link(&channels.callback_url, key.as_bytes(), &target)
                };
                let body = email_message(record, evidence, &link_to(Decision::Approve), &link_to(Decision::Reject));
                match ports.mailer.send(to, &subject, &body).await {
                    Ok(()) => sent += 1,
                    Err(e) => {
                        tracing::warn!(to, error = %e, "the approval email was not sent to this approver");
                        first_failure.get_or_insert(e);
                    }
                }
            }
            match first_failure {
                Some(e) if sent == 0 => Err(e),
                _ => Ok(()),
            }
        }
    }
}

/// The key that signs links.
async fn link_key<M, T, A, L, S, N, W, E>(
    ports: &ApprovalPorts<'_, M, T, A, L, S, N, W, E>,
    channels: &ApprovalChannels,
    service: &crate::manifest::Service,
) -> Result<String, Error>
where
    S: Secrets,
{
    let secret = channels.link_key_secret.as_deref().ok_or(Error::Configuration {
        variable: "GREENLIGHT_LINK_KEY_SECRET",
        problem: format!("is not set, and service `{}` asks for approval by email links", service.name),
    })?;
    ports.secrets.secret(secret).await
}
