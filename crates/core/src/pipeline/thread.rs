//! The approval an execution asked (named by the lock it holds), and saying an outcome in Slack:
//! in that approval's thread when its request was posted with the bot token
//! (`approval.slack_channel`), otherwise where the service's deploys are told.

use serde_json::Value;

use crate::approval::{ApprovalRecord, DecidedVia, SlackPost};
use crate::error::Error;
use crate::event::Push;
use crate::ports::{Approvals, Locks, SlackApi};
use crate::slack_outcomes::{SlackRoute, Told, slack_decided};

use super::Prepared;

use super::execution_name;

/// The approval this push's execution asked, while its execution holds the service's lock.
pub(crate) async fn asked_approval<L: Locks + Approvals>(
    ledger: &L,
    service: &str,
    push: &Push,
) -> Result<Option<ApprovalRecord>, Error> {
    let Some(holder) = ledger.holder(service).await? else { return Ok(None) };
    if holder.execution != execution_name(service, push) {
        return Ok(None);
    }
    let Some(id) = holder.approval_id else { return Ok(None) };
    ledger.approval(&id).await
}

/// Says `payload` in the thread of `thread` when there is one (the approval's request, posted
/// with the bot token), otherwise by `route`. Slack failing is said in the note it returns,
/// never fatal: the deployment's outcome stands.
pub async fn tell_slack<W: SlackApi>(
    slack: &W,
    route: &SlackRoute,
    thread: Option<&SlackPost>,
    payload: &Value,
) -> Option<String> {
    let told = match (thread, route) {
        (Some(post), _) => slack.post_message(&post.channel, payload, Some(&post.ts)).await.map(|_| ()),
        (None, SlackRoute::Channel(channel)) => slack.post_message(channel, payload, None).await.map(|_| ()),
        (None, SlackRoute::Webhook) => slack.post_webhook(payload).await,
        (None, SlackRoute::Nowhere) => return None,
    };
    let e = told.err()?;
    tracing::warn!(error = %e, "the outcome was not said in Slack");
    Some(format!("the outcome was not said in Slack: {e}"))
}

/// Says an outcome in Slack: the message of the approval when one was asked (in its thread, with
/// its buttons), otherwise of the deployment alone (`unasked`), by the service's route.
pub(crate) async fn tell_outcome<W: SlackApi>(
    slack: &W,
    prepared: Option<&Prepared>,
    asked: Option<&ApprovalRecord>,
    unasked: Told<'_>,
    message: impl FnOnce(&Told<'_>) -> Value,
) -> Option<String> {
    let route = prepared.map_or(&SlackRoute::Nowhere, |p| &p.slack);
    let told = asked.map_or(unasked, Told::of);
    tell_slack(slack, route, asked.and_then(|r| r.slack_post.as_ref()), &message(&told)).await
}

/// A decision taken with `greenlight approve|reject` shown on the request's Slack message (a
/// click or a link edits it when it decides; the CLI holds no Slack token): the note of a
/// failure, never fatal.
pub(crate) async fn show_cli_decision<W: SlackApi>(slack: &W, record: &ApprovalRecord) -> Option<String> {
    let decided = record.decided.as_ref().filter(|d| d.channel == DecidedVia::Cli)?;
    let post = record.slack_post.as_ref()?;
    let e = slack.update_message(post, &slack_decided(record, decided)).await.err()?;
    tracing::warn!(approval_id = record.id, error = %e, "the request's Slack message does not show the decision");
    Some(format!("the request's Slack message could not be updated: {e}"))
}
