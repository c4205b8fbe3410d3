//! The "Roll back" button of a success message and its confirmation: the approval's approver
//! rules decide who may (a refusal is kept beside the approval, and only the person who clicked
//! is told); a first click only asks to confirm; the confirmation rolls back as
//! `greenlight rollback` does and says so in the approval's thread.

use greenlight_core::Error;
use greenlight_core::approval::{ApprovalRecord, DecidedVia, slack_ephemeral};
use greenlight_core::approvers::Identity;
use greenlight_core::pipeline::{Decider, admit, keep_refusal, tell_slack};
use greenlight_core::ports::{Approvals, Chat, ExecutionStart, Secrets, SlackApi, SlackDirectory, TaskTokens};
use greenlight_core::request::Requested;
use greenlight_core::slack_outcomes::{SlackAction, SlackRoute, slack_rollback_confirmation};
use serde_json::{Value, json};

use crate::Handler;

/// What a click led to: a confirmation to ask (of rolling back to this target), or a rollback
/// started (what to say, and where the service's deploys are told).
enum Said {
    Confirm(String),
    Started(String, SlackRoute),
}
use crate::rollbacks::RollBacks;

impl<A, T, C, S, D, W, R> Handler<A, T, C, S, D, W, R>
where
    A: Approvals,
    T: TaskTokens,
    C: Chat,
    S: Secrets,
    D: SlackDirectory,
    W: SlackApi,
    R: RollBacks,
{
    /// "Roll back" (asks to confirm) or "Yes, roll back" (rolls back): the reply for the person
    /// who clicked, and the ephemeral message to answer on the interaction's `response_url`.
    pub(crate) async fn slack_roll_back(
        &self,
        action: &SlackAction,
        by: &str,
        user_id: &str,
        now: i64,
    ) -> Result<(String, Option<Value>), Error> {
        let id = action.approval_id();
        let record = match self
            .approved_and_admitted(id, by, user_id, now, ("roll back", "was never approved; nothing to roll back"))
            .await?
        {
            Ok(record) => record,
            Err(refused) => return Ok((refused, None)),
        };
        let said = match action {
            SlackAction::ConfirmRollBack(_) => {
                let requested = Requested {
                    by: format!("{by} (Slack user {user_id})"),
                    reason: Some(format!(
                        "Roll back clicked in Slack on {} {}'s success message",
                        record.service, record.tag
                    )),
                };
                self.rollbacks.roll_back(&record, requested).await.map(|reverted| {
                    let arn = match &reverted.started.start {
                        ExecutionStart::Started { execution_arn } => execution_arn.clone(),
                        ExecutionStart::AlreadyExists { name } => name.clone(),
                    };
                    let notes = reverted.notes.iter().map(|n| format!("\n• {n}")).collect::<String>();
                    let said = format!(
                        "{by} rolls {} back from {} to {}: execution {arn}{notes}",
                        record.service, record.tag, reverted.push.tag
                    );
                    Said::Started(said, reverted.slack)
                })
            }
            _ => self.rollbacks.target(&record).await.map(Said::Confirm),
        };
        match said {
            Ok(Said::Confirm(target)) => {
                let confirmation = slack_rollback_confirmation(&record, &target);
                Ok((format!("confirm to roll {} back to {target}", record.service), Some(confirmation)))
            }
            Ok(Said::Started(reply, route)) => {
                // The rollback runs; a failure here only leaves the channel without who started it.
                let _ = tell_slack(&self.slack, &route, record.slack_post.as_ref(), &json!({"text": reply})).await;
                Ok((reply.clone(), Some(slack_ephemeral(&reply))))
            }
            Err(e @ Error::RollbackRefused { .. }) => Ok((format!("refused: {e}"), None)),
            Err(e) => {
                tracing::error!(approval = id, error = %e, "roll back failed");
                let reply =
                    format!("failed: {e}. Click again, or run `greenlight rollback {} --reason …`", record.service);
                Ok((reply, None))
            }
        }
    }

    /// The approval of a "Roll back" or "Stop" click (`what` it asks for, and what to say when
    /// it was not approved), when it was approved and admits who clicked; otherwise the reply
    /// (a refusal is kept beside the approval).
    pub(crate) async fn approved_and_admitted(
        &self,
        id: &str,
        by: &str,
        user_id: &str,
        now: i64,
        (what, not_approved): (&str, &str),
    ) -> Result<Result<ApprovalRecord, String>, Error> {
        let Some(record) = self.approvals.approval(id).await? else {
            return Ok(Err("unknown approval; nothing changed".into()));
        };
        if !record.decided.as_ref().is_some_and(|d| d.approved) {
            return Ok(Err(format!("refused: {} {} {not_approved}", record.service, record.tag)));
        }
        let decider = Decider::new(by, DecidedVia::Slack, Identity::Slack { user_id: user_id.to_string() });
        if let Err(reason) = admit(&record, &decider.identity, &self.directory).await {
            keep_refusal(&self.approvals, id, &decider, format!("{what}: {reason}"), now).await?;
            return Ok(Err(format!("refused: {reason}; nothing changed")));
        }
        Ok(Ok(record))
    }
}
