//! approval-callback's step: a verified decision applied once (a conditional write), then the
//! waiting execution resumed with SendTaskSuccess.

use crate::approval::{ApprovalRecord, Decided, DecidedVia, Decision, decision_time};
use crate::error::Error;
use crate::ports::{Approvals, TaskTokens};

/// Ports approval-callback uses to decide.
#[derive(Debug)]
pub struct DecidePorts<'a, A, K> {
    pub approvals: &'a A,
    pub tokens: &'a K,
}

/// What applying a decision came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Recorded, and the execution resumed.
    Done(ApprovalRecord, Decided),
    /// Someone decided first: what they decided.
    AlreadyDecided(ApprovalRecord, Decided),
    /// Past its expiry: nothing changed.
    Expired(ApprovalRecord),
    /// No such approval.
    Unknown,
}

/// Who decides, through which channel, and what they said.
#[derive(Debug, Clone, Copy)]
pub struct Decider<'a> {
    pub by: &'a str,
    pub channel: DecidedVia,
    pub comment: Option<&'a str>,
}

impl<'a> Decider<'a> {
    pub fn new(by: &'a str, channel: DecidedVia) -> Self {
        Self { by, channel, comment: None }
    }
}

/// Applies a decision (already verified: signature, link, user) to approval `id`, once: a
/// second decision, a late one, or one for an unknown id changes nothing and says why.
pub async fn decide<A, K>(
    id: &str,
    decision: Decision,
    decider: Decider<'_>,
    now: i64,
    ports: DecidePorts<'_, A, K>,
) -> Result<Applied, Error>
where
    A: Approvals,
    K: TaskTokens,
{
    let Some(record) = ports.approvals.approval(id).await? else { return Ok(Applied::Unknown) };
    if let Some(d) = &record.decided {
        return Ok(Applied::AlreadyDecided(record.clone(), d.clone()));
    }
    if now > record.expires_at {
        return Ok(Applied::Expired(record));
    }
    let decided = Decided {
        approved: decision == Decision::Approve,
        by: decider.by.into(),
        at: decision_time(now),
        channel: decider.channel,
        comment: decider.comment.map(str::to_string),
    };
    if !ports.approvals.decide(id, &decided, now).await? {
        // Someone else was faster, or it expired in between: say what the ledger says.
        return Ok(match ports.approvals.approval(id).await? {
            Some(r) => match r.decided.clone() {
                Some(d) => Applied::AlreadyDecided(r, d),
                None => Applied::Expired(r),
            },
            None => Applied::Unknown,
        });
    }
    let output = serde_json::to_value(&decided).unwrap_or_default();
    ports.tokens.succeed(&record.task_token, &output).await?;
    Ok(Applied::Done(record, decided))
}
