//! The "Roll back" button of a success message and its confirmation: the approval's approver
//! rules decide who may (a refusal is kept beside the approval, and only the person who clicked
//! is told); a first click only asks to confirm; the confirmation rolls back as
//! `greenlight rollback` does and says so in the approval's thread.

use greenlight_core::Error;
use greenlight_core::approval::{DecidedVia, slack_ephemeral};
use greenlight_core::approvers::Identity;
use greenlight_core::pipeline::{Decider, admit, keep_refusal};
use greenlight_core::ports::{Approvals, Chat, ExecutionStart, Secrets, SlackApi, SlackDirectory, TaskTokens};
use greenlight_core::request::Requested;
use greenlight_core::slack_outcomes::{SlackAction, slack_rollback_confirmation};
use serde_json::{Value, json};

use crate::Handler;
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
        let Some(record) = self.approvals.approval(id).await? else {
            return Ok(("unknown approval; nothing changed".into(), None));
        };
        if !record.decided.as_ref().is_some_and(|d| d.approved) {
            return Ok((
                format!("refused: {} {} was never approved; nothing to roll back", record.service, record.tag),
                None,
            ));
        }
        let decider = Decider::new(by, DecidedVia::Slack, Identity::Slack { user_id: user_id.to_string() });
        if let Err(reason) = admit(&record, &decider.identity, &self.directory).await {
            keep_refusal(&self.approvals, id, &decider, format!("roll back: {reason}"), now).await?;
            return Ok((format!("refused: {reason}; nothing changed"), None));
        }
        let outcome = match action {
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
                    (said, None)
                })
            }
            _ => self.rollbacks.target(&record).await.map(|target| {
                let confirmation = slack_rollback_confirmation(&record, &target);
                (format!("confirm to roll {} back to {target}", record.service), Some(confirmation))
            }),
        };
        let (reply, confirmation) = match outcome {
            Ok(done) => done,
            Err(e @ Error::RollbackRefused { .. }) => return Ok((format!("refused: {e}"), None)),
            Err(e) => {
                tracing::error!(approval = id, error = %e, "roll back failed");
                let reply =
                    format!("failed: {e}. Click again, or run `greenlight rollback {} --reason …`", record.service);
                return Ok((reply, None));
            }
        };
        if confirmation.is_none()
            && let Some(post) = &record.slack_post
            && let Err(e) = self.slack.post_message(&post.channel, &json!({"text": reply}), Some(&post.ts)).await
        {
            // The rollback runs; only the thread does not say who started it.
            tracing::warn!(approval = id, error = %e, "the rollback was not said in the approval's thread");
        }
        Ok((reply.clone(), Some(confirmation.unwrap_or_else(|| slack_ephemeral(&reply)))))
    }
}
