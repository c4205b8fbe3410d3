//! What greenlight says in an approval's Slack thread once the deployment ends (live, or rolled
//! back), the "Roll back" button of the live message and its confirmation, and the button values
//! approval-callback reads back.

use serde_json::{Value, json};

use crate::approval::{ApprovalRecord, Decision};

/// What a greenlight button in Slack asks for (its `value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackAction {
    /// Approve or Reject of the approval request (`approve:<id>`, `reject:<id>`).
    Decide(Decision, String),
    /// "Roll back" of the live message (`rollback:<approval id>`): asks to confirm, changes nothing.
    RollBack(String),
    /// "Yes, roll back" of the confirmation (`rollback-confirmed:<approval id>`): rolls back.
    ConfirmRollBack(String),
}

const ROLL_BACK: &str = "rollback";
const CONFIRM_ROLL_BACK: &str = "rollback-confirmed";

impl SlackAction {
    pub fn parse(value: &str) -> Option<Self> {
        let (kind, id) = value.split_once(':')?;
        // Approval ids are hex; anything but letters, digits and dashes is not one of ours.
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return None;
        }
        let id = id.to_string();
        match kind {
            ROLL_BACK => Some(Self::RollBack(id)),
            CONFIRM_ROLL_BACK => Some(Self::ConfirmRollBack(id)),
            _ => Decision::parse(kind).map(|d| Self::Decide(d, id)),
        }
    }

    /// The approval the button belongs to.
    pub fn approval_id(&self) -> &str {
        match self {
            Self::Decide(_, id) | Self::RollBack(id) | Self::ConfirmRollBack(id) => id,
        }
    }
}

/// The thread reply once the deployment is live: what runs now, and a "Roll back" button for
/// the approval's approvers.
pub fn slack_live_message(record: &ApprovalRecord, revision: &str) -> Value {
    json!({
        "text": format!("{} {} is live", record.service, record.tag),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("*{} {}* is *live* in production.\nTask definition `{revision}` · deployment {}", record.service, record.tag, record.deployment_id)}},
            {"type": "actions", "block_id": format!("greenlight-live-{}", record.id), "elements": [
                {"type": "button", "action_id": "greenlight_rollback", "style": "danger", "text": {"type": "plain_text", "text": "Roll back"}, "value": format!("{ROLL_BACK}:{}", record.id)}
            ]}
        ]
    })
}

/// The thread reply once the deployment was rolled back (or stopped) instead.
pub fn slack_rolled_back_message(record: &ApprovalRecord, outcome: &str, reason: &str) -> Value {
    json!({
        "text": format!("{} {} {outcome}: {reason}", record.service, record.tag),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("*{} {}* {outcome}.\n{reason}", record.service, record.tag)}}
        ]
    })
}

/// The confirmation only the person who clicked "Roll back" sees: what would happen, and the
/// button that does it.
pub fn slack_rollback_confirmation(record: &ApprovalRecord, target: &str) -> Value {
    let question = format!(
        "Roll {} back from {} to {target}? This deploys {target} blue/green, validated, as `greenlight rollback {}` does.",
        record.service, record.tag, record.service
    );
    json!({
        "response_type": "ephemeral",
        "replace_original": false,
        "text": question,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": question}},
            {"type": "actions", "block_id": format!("greenlight-confirm-{}", record.id), "elements": [
                {"type": "button", "action_id": "greenlight_rollback_confirmed", "style": "danger", "text": {"type": "plain_text", "text": "Yes, roll back"}, "value": format!("{CONFIRM_ROLL_BACK}:{}", record.id)}
            ]}
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn button_values_read_back_as_what_they_ask() {
        let record = crate::fakes::pending_approval("ab12");
        let live = slack_live_message(&record, "web:3");
        let value = live.pointer("/blocks/1/elements/0/value").and_then(Value::as_str).expect("a button");
        assert_eq!(SlackAction::parse(value), Some(SlackAction::RollBack("ab12".into())));
        let confirm = slack_rollback_confirmation(&record, "v1 (web:1)");
        let value = confirm.pointer("/blocks/1/elements/0/value").and_then(Value::as_str).expect("a button");
        assert_eq!(SlackAction::parse(value), Some(SlackAction::ConfirmRollBack("ab12".into())));
        assert_eq!(SlackAction::parse("approve:ab12"), Some(SlackAction::Decide(Decision::Approve, "ab12".into())));
        for bad in ["rollback:", "rollback:../x", "celebrate:ab12", "ab12"] {
            assert_eq!(SlackAction::parse(bad), None, "{bad}");
        }
    }
}
