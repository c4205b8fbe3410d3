//! The approval an execution asked (named by the lock it holds), and replies in that
//! approval's Slack thread when it was posted with the bot token (`approval.slack_channel`).

use serde_json::Value;

use crate::approval::ApprovalRecord;
use crate::error::Error;
use crate::event::Push;
use crate::ports::{Approvals, Locks, SlackApi};

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

/// Posts `payload` in the approval's thread, when its request went out with the bot token.
/// Slack failing is said in the note it returns, never fatal: the deployment's outcome stands.
pub(crate) async fn reply_in_thread<W: SlackApi>(
    slack: &W,
    record: &ApprovalRecord,
    payload: &Value,
) -> Option<String> {
    let post = record.slack_post.as_ref()?;
    match slack.post_message(&post.channel, payload, Some(&post.ts)).await {
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(approval_id = record.id, error = %e, "the outcome was not posted in the approval's thread");
            Some(format!("the outcome was not posted in the approval's Slack thread: {e}"))
        }
    }
}
