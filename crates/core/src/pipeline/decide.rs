//! approval-callback's step (and `greenlight approve|reject`): a verified decision from an
//! admitted approver, counted once (a conditional write); when it decides, the waiting
//! execution resumes with SendTaskSuccess.

use crate::approval::{ApprovalRecord, Decided, DecidedVia, Decision, Refused, decision_time};
use crate::approvers::{Identity, direct_match, slack_groups};
use crate::error::Error;
use crate::ports::{Approvals, Settle, SlackDirectory, TaskTokens};

/// Ports approval-callback uses to decide.
#[derive(Debug)]
pub struct DecidePorts<'a, A, K, D> {
    pub approvals: &'a A,
    pub tokens: &'a K,
    /// Read only when a listed Slack user group could admit the person who clicked.
    pub directory: &'a D,
}

/// What applying a decision came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Recorded, and the execution resumed.
    Done(ApprovalRecord, Decided),
    /// Counted; more distinct approvals are needed before anything moves.
    Counted { record: ApprovalRecord, approval: Decided, count: usize },
    /// This approver's approval was already counted: nothing changed.
    AlreadyCounted(ApprovalRecord, Decided),
    /// Not from an admitted approver: kept beside the approval, nothing else changed.
    Refused(ApprovalRecord, Refused),
    /// Someone decided first: what they decided.
    AlreadyDecided(ApprovalRecord, Decided),
    /// Past its expiry: nothing changed.
    Expired(ApprovalRecord),
    /// No such approval.
    Unknown,
}

/// Who decides, through which channel, and what they said.
#[derive(Debug, Clone)]
pub struct Decider<'a> {
    /// How the person is shown (`@alice`, an address, an ARN).
    pub by: &'a str,
    pub channel: DecidedVia,
    pub comment: Option<&'a str>,
    /// Who the channel proves the person is.
    pub identity: Identity,
}

impl<'a> Decider<'a> {
    pub fn new(by: &'a str, channel: DecidedVia, identity: Identity) -> Self {
        Self { by, channel, comment: None, identity }
    }
}

/// Conditional writes lost to a concurrent decision before giving up (each re-reads).
const ATTEMPTS: usize = 5;

/// Applies a decision (already verified: signature, link, caller) to approval `id`: refused
/// unless the decider is admitted, counted once per approver, decided when one rejects or
/// enough distinct approvers approved. A second decision, a late one, or one for an unknown id
/// changes nothing and says why.
pub async fn decide<A, K, D>(
    id: &str,
    decision: Decision,
    decider: Decider<'_>,
    now: i64,
    ports: DecidePorts<'_, A, K, D>,
) -> Result<Applied, Error>
where
    A: Approvals,
    K: TaskTokens,
    D: SlackDirectory,
{
    for _ in 0..ATTEMPTS {
        let Some(record) = ports.approvals.approval(id).await? else { return Ok(Applied::Unknown) };
        if let Some(d) = &record.decided {
            return Ok(Applied::AlreadyDecided(record.clone(), d.clone()));
        }
        if now > record.expires_at {
            return Ok(Applied::Expired(record));
        }
        let key = match admit(&record, &decider.identity, ports.directory).await {
            Ok(key) => key,
            Err(reason) => {
                let refused = keep_refusal(ports.approvals, id, &decider, reason, now).await?;
                return Ok(Applied::Refused(record, refused));
            }
        };
        let this = Decided {
            approved: decision == Decision::Approve,
            by: decider.by.into(),
            at: decision_time(now),
            channel: decider.channel,
            comment: decider.comment.map(str::to_string),
            approver: key.clone(),
        };
        let counted = record.approvals.len();
        if decision == Decision::Approve
            && let Some(earlier) = record.approvals.iter().find(|a| key.is_some() && a.approver == key)
        {
            return Ok(Applied::AlreadyCounted(record.clone(), earlier.clone()));
        }
        let required = usize::try_from(record.required_approvals.max(1)).unwrap_or(1);
        let (approval, decided) = match decision {
            Decision::Reject => (None, Some(this.clone())),
            Decision::Approve if counted + 1 < required => (Some(&this), None),
            Decision::Approve => {
                let names: Vec<&str> = record.approvals.iter().map(|a| a.by.as_str()).chain([decider.by]).collect();
                (Some(&this), Some(Decided { by: names.join(", "), ..this.clone() }))
            }
        };
        let change = Settle { counted, approval, decided: decided.as_ref() };
        if !ports.approvals.settle(id, change, now).await? {
            // Someone else was faster, or it expired in between: read it again.
            continue;
        }
        let Some(decided) = decided else {
            return Ok(Applied::Counted { record, approval: this, count: counted + 1 });
        };
        let output = serde_json::to_value(&decided).unwrap_or_default();
        ports.tokens.succeed(&record.task_token, &output).await?;
        return Ok(Applied::Done(record, decided));
    }
    Err(Error::Aws {
        operation: "dynamodb:UpdateItem",
        retryable: true,
        source: format!("approval {id} kept changing under {ATTEMPTS} attempts to record this decision").into(),
    })
}

/// Keeps a refusal beside approval `id` (who, as whom, when, through which channel, why): a
/// decision, or a roll back, from someone the approval does not admit.
pub async fn keep_refusal<A: Approvals>(
    approvals: &A,
    id: &str,
    decider: &Decider<'_>,
    reason: String,
    now: i64,
) -> Result<Refused, Error> {
    let refused = Refused {
        by: decider.by.into(),
        identity: decider.identity.key(),
        at: decision_time(now),
        channel: decider.channel,
        reason,
    };
    tracing::warn!(approval = id, by = decider.by, reason = refused.reason, "refused");
    approvals.refuse(id, &refused).await?;
    Ok(refused)
}

/// The identity's key when it may decide this approval (or roll back what it let through);
/// why not otherwise.
pub async fn admit<D: SlackDirectory>(
    record: &ApprovalRecord,
    identity: &Identity,
    directory: &D,
) -> Result<Option<String>, String> {
    let key = identity.key();
    if record.approvers.is_empty() {
        if key.is_none() && record.required_approvals > 1 {
            return Err(format!(
                "a link of the shared topic names no person, and {} distinct approvals are required; decide in Slack or with `greenlight approve`",
                record.required_approvals
            ));
        }
        return Ok(key);
    }
    if direct_match(&record.approvers, identity).is_some() {
        return Ok(key);
    }
    if let Identity::Slack { user_id } = identity {
        for group in slack_groups(&record.approvers) {
            match directory.group_members(group).await {
                Ok(members) if members.iter().any(|m| m == user_id) => return Ok(key),
                Ok(_) => {}
                // Fail closed: a group that cannot be read admits nobody.
                Err(e) => tracing::warn!(group, error = %e, "a listed Slack user group could not be read"),
            }
        }
    }
    Err(match identity {
        Identity::Anyone => {
            "this approval names its approvers, and a link of the shared topic names no person".to_string()
        }
        _ => format!("{} is not among the approvers of {}", describe(identity), record.service),
    })
}

fn describe(identity: &Identity) -> String {
    match identity {
        Identity::Slack { user_id } => format!("Slack user {user_id}"),
        Identity::Email(address) => address.clone(),
        Identity::Principal(arn) => arn.clone(),
        Identity::Anyone => "the link".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approvers::Approver;
    use crate::fakes::{FakeApprovals, FakeSlackDirectory, FakeTaskTokens};

    fn record(approvers: &[&str], required: u32) -> ApprovalRecord {
        ApprovalRecord {
            expires_at: 1000,
            approvers: approvers.iter().map(|a| Approver::parse(a).expect("approver")).collect(),
            required_approvals: required,
            ..crate::fakes::pending_approval("a1")
        }
    }

    struct World {
        approvals: FakeApprovals,
        tokens: FakeTaskTokens,
        directory: FakeSlackDirectory,
    }

    impl World {
        fn new(r: ApprovalRecord) -> Self {
            let approvals = FakeApprovals::default();
            approvals.records.lock().expect("lock").push(r);
            let directory =
                FakeSlackDirectory { groups: [("S0GROUP01".to_string(), vec!["U0MEMBER1".to_string()])].into() };
            Self { approvals, tokens: FakeTaskTokens::default(), directory }
        }

        async fn click(&self, user: &str, decision: Decision) -> Applied {
            let by = format!("@{user}");
            let decider = Decider::new(&by, DecidedVia::Slack, Identity::Slack { user_id: user.into() });
            let ports = DecidePorts { approvals: &self.approvals, tokens: &self.tokens, directory: &self.directory };
            decide("a1", decision, decider, 500, ports).await.expect("decide")
        }

        fn resumed(&self) -> usize {
            self.tokens.succeeded.lock().expect("lock").len()
        }

        fn stored(&self) -> ApprovalRecord {
            self.approvals.records.lock().expect("lock")[0].clone()
        }
    }

    #[tokio::test]
    async fn only_listed_approvers_decide_and_refusals_are_kept() {
        let w = World::new(record(&["U0ALICE01", "S0GROUP01"], 1));
        let refused = w.click("U0MALLORY", Decision::Approve).await;
        assert!(
            matches!(refused, Applied::Refused(_, ref r) if r.reason.contains("not among the approvers")),
            "{refused:?}"
        );
        assert_eq!(w.resumed(), 0);
        assert_eq!(w.stored().refusals.len(), 1, "the refusal is recorded");
        assert_eq!(w.stored().refusals[0].identity.as_deref(), Some("slack:U0MALLORY"));
        // A member of a listed group is admitted.
        assert!(matches!(w.click("U0MEMBER1", Decision::Approve).await, Applied::Done(_, _)));
        assert_eq!(w.resumed(), 1);
    }

    #[tokio::test]
    async fn two_required_means_two_distinct_approvers() {
        let w = World::new(record(&["U0ALICE01", "U0BOB0001"], 2));
        let first = w.click("U0ALICE01", Decision::Approve).await;
        assert!(matches!(first, Applied::Counted { count: 1, .. }), "{first:?}");
        assert_eq!(w.resumed(), 0, "one approval is not enough");
        assert!(matches!(w.click("U0ALICE01", Decision::Approve).await, Applied::AlreadyCounted(_, _)));
        assert_eq!(w.stored().approvals.len(), 1, "the same approver counts once");
        let done = w.click("U0BOB0001", Decision::Approve).await;
        let Applied::Done(_, decided) = done else { panic!("{done:?}") };
        assert!(decided.approved);
        assert_eq!(decided.by, "@U0ALICE01, @U0BOB0001");
        assert_eq!(w.resumed(), 1);
        assert_eq!(w.stored().approvals.len(), 2);
    }

    #[tokio::test]
    async fn one_rejection_decides() {
        let w = World::new(record(&["U0ALICE01", "U0BOB0001"], 2));
        w.click("U0ALICE01", Decision::Approve).await;
        let Applied::Done(_, decided) = w.click("U0BOB0001", Decision::Reject).await else { panic!("not decided") };
        assert!(!decided.approved);
        assert_eq!(w.tokens.succeeded.lock().expect("lock")[0].1["approved"], false);
    }

    #[tokio::test]
    async fn without_a_list_anyone_decides_but_a_shared_link_is_not_a_distinct_approver() {
        let w = World::new(record(&[], 1));
        assert!(matches!(w.click("U0ANYONE1", Decision::Approve).await, Applied::Done(_, _)));
        let w = World::new(record(&[], 2));
        let ports = DecidePorts { approvals: &w.approvals, tokens: &w.tokens, directory: &w.directory };
        let link = Decider::new("signed link", DecidedVia::Link, Identity::Anyone);
        let applied = decide("a1", Decision::Approve, link, 500, ports).await.expect("decide");
        assert!(matches!(applied, Applied::Refused(_, _)), "{applied:?}");
    }

    #[tokio::test]
    async fn a_group_that_cannot_be_read_admits_nobody() {
        let w = World::new(record(&["S0UNKNOWN"], 1));
        assert!(matches!(w.click("U0MEMBER1", Decision::Approve).await, Applied::Refused(_, _)));
        assert_eq!(w.resumed(), 0);
    }
}
