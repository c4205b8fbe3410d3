//! The "Stop" button of an approved request's message: the approval's approver rules decide who
//! may (a refusal is kept beside the approval, and only the person who clicked is told); a first
//! click only asks to confirm; the confirmation stops the deployment while it is still in flight
//! (CodeDeploy rolls it back) and says who did where the request was asked.

use greenlight_core::Error;
use greenlight_core::approval::slack_ephemeral;
use greenlight_core::pipeline::tell_slack;
use greenlight_core::ports::{Approvals, Chat, Secrets, SlackApi, SlackDirectory, TaskTokens};
use greenlight_core::request::Requested;
use greenlight_core::slack_outcomes::{SlackAction, slack_stop_confirmation};
use serde_json::{Value, json};

use crate::Handler;
use crate::rollbacks::{RollBacks, Stop};

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
    /// "Stop" (asks to confirm) or "Yes, stop" (stops): the reply for the person who clicked,
    /// and the ephemeral message to answer on the interaction's `response_url`.
    pub(crate) async fn slack_stop(
        &self,
        action: &SlackAction,
        by: &str,
        user_id: &str,
        now: i64,
    ) -> Result<(String, Option<Value>), Error> {
        let id = action.approval_id();
        let not_approved = "is not approved; a deploy waiting for its decision stops with Reject";
        let record = match self.approved_and_admitted(id, by, user_id, now, ("stop", not_approved)).await? {
            Ok(record) => record,
            Err(refused) => return Ok((refused, None)),
        };
        if !matches!(action, SlackAction::ConfirmStop(_)) {
            let reply =
                format!("confirm to stop {} {}'s deployment {}", record.service, record.tag, record.deployment_id);
            return Ok((reply, Some(slack_stop_confirmation(&record))));
        }
        let requested = Requested {
            by: format!("{by} (Slack user {user_id})"),
            reason: Some(format!("Stop clicked in Slack on {} {}'s approved request", record.service, record.tag)),
        };
        let reply = match self.rollbacks.stop(&record, &requested).await {
            Ok(Stop::Stopped(route)) => {
                let reply = format!(
                    "{by} stopped {} {}'s deployment {}: CodeDeploy rolls it back",
                    record.service, record.tag, record.deployment_id
                );
                // Stopped all the same; a failure here only leaves the channel without who did it.
                let _ = tell_slack(&self.slack, &route, record.slack_post.as_ref(), &json!({"text": reply})).await;
                reply
            }
            Ok(Stop::NotInFlight(why)) => format!("refused: {why}"),
            Err(e @ Error::RollbackRefused { .. }) => format!("refused: {e}"),
            Err(e) => {
                tracing::error!(approval = id, error = %e, "stop failed");
                format!("failed: {e}. Click again, or stop deployment {} in CodeDeploy", record.deployment_id)
            }
        };
        Ok((reply.clone(), Some(slack_ephemeral(&reply))))
    }
}
