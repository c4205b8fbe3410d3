//! What greenlight says in Slack once a deployment ends (live, or rolled back) and where (the
//! approval's thread, the service's channel, the incoming webhook), the "Roll back" button of
//! the live message and its confirmation, and the button values approval-callback reads back.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::approval::{ApprovalRecord, Decided, Decision, slack_decided_message};
use crate::manifest::{Approval, Channel};

/// Where a service's deploys are told in Slack, as its manifest says (`slack` among
/// `approval.channels`, and `approval.slack_channel`). A request posted with the bot token is
/// answered in its own thread instead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlackRoute {
    /// `slack` is not among the service's channels.
    #[default]
    Nowhere,
    /// The channel the incoming webhook was made for.
    Webhook,
    /// This channel id, with the bot token.
    Channel(String),
}

impl SlackRoute {
    pub fn of(approval: &Approval) -> Self {
        match (&approval.slack_channel, approval.channels.contains(&Channel::Slack)) {
            (_, false) => Self::Nowhere,
            (Some(channel), true) => Self::Channel(channel.clone()),
            (None, true) => Self::Webhook,
        }
    }

    pub fn is_nowhere(&self) -> bool {
        *self == Self::Nowhere
    }
}

/// The deployment an outcome message is about, and the approval whose approvers may roll it
/// back from Slack (none: the message offers `greenlight rollback` instead of a button).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Told<'a> {
    pub service: &'a str,
    pub tag: &'a str,
    pub deployment_id: &'a str,
    pub approval_id: Option<&'a str>,
}

impl<'a> Told<'a> {
    pub fn of(record: &'a ApprovalRecord) -> Self {
        Self {
            service: &record.service,
            tag: &record.tag,
            deployment_id: &record.deployment_id,
            approval_id: Some(&record.id),
        }
    }
}

/// What a greenlight button in Slack asks for (its `value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackAction {
    /// Approve or Reject of the approval request (`approve:<id>`, `reject:<id>`).
    Decide(Decision, String),
    /// "Roll back" of the live message (`rollback:<approval id>`): asks to confirm, changes nothing.
    RollBack(String),
    /// "Yes, roll back" of the confirmation (`rollback-confirmed:<approval id>`): rolls back.
    ConfirmRollBack(String),
    /// "Stop" of an approved deploy still in flight (`stop:<approval id>`): asks to confirm.
    Stop(String),
    /// "Yes, stop" of the confirmation (`stop-confirmed:<approval id>`): stops the deployment,
    /// which CodeDeploy rolls back.
    ConfirmStop(String),
}

const ROLL_BACK: &str = "rollback";
const CONFIRM_ROLL_BACK: &str = "rollback-confirmed";
const STOP: &str = "stop";
const CONFIRM_STOP: &str = "stop-confirmed";

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
            STOP => Some(Self::Stop(id)),
            CONFIRM_STOP => Some(Self::ConfirmStop(id)),
            _ => Decision::parse(kind).map(|d| Self::Decide(d, id)),
        }
    }

    /// The approval the button belongs to.
    pub fn approval_id(&self) -> &str {
        match self {
            Self::Decide(_, id)
            | Self::RollBack(id)
            | Self::ConfirmRollBack(id)
            | Self::Stop(id)
            | Self::ConfirmStop(id) => id,
        }
    }
}

/// The message once the deployment is live: what runs now, and a "Roll back" button for the
/// approval's approvers.
pub fn slack_live_message(told: &Told<'_>, revision: &str) -> Value {
    let said = format!(
        "*{} {}* is *live* in production.\nTask definition `{revision}` · deployment {}",
        told.service, told.tag, told.deployment_id
    );
    let Some(id) = told.approval_id else {
        let said = format!("{said}\nTo go back: `greenlight rollback {}`", told.service);
        return json!({
            "text": format!("{} {} is live", told.service, told.tag),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": said}}]
        });
    };
    json!({
        "text": format!("{} {} is live", told.service, told.tag),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": said}},
            {"type": "actions", "block_id": format!("greenlight-live-{id}"), "elements": [
                {"type": "button", "action_id": "greenlight_rollback", "style": "danger", "text": {"type": "plain_text", "text": "Roll back"}, "value": format!("{ROLL_BACK}:{id}")}
            ]}
        ]
    })
}

/// The message once the deployment was rolled back (or stopped) instead.
pub fn slack_rolled_back_message(told: &Told<'_>, outcome: &str, reason: &str) -> Value {
    json!({
        "text": format!("{} {} {outcome}: {reason}", told.service, told.tag),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("*{} {}* {outcome}.\n{reason}", told.service, told.tag)}}
        ]
    })
}

/// The request's message once decided: approved, it carries a "Stop" button (until CodeDeploy
/// ends the deployment, the approval's approvers may stop it).
pub fn slack_decided(record: &ApprovalRecord, decided: &Decided) -> Value {
    let message = slack_decided_message(record, decided);
    if decided.approved { with_stop_button(message, record) } else { message }
}

fn with_stop_button(mut decided: Value, record: &ApprovalRecord) -> Value {
    let stop = json!({"type": "actions", "block_id": format!("greenlight-stop-{}", record.id), "elements": [
        {"type": "button", "action_id": "greenlight_stop", "style": "danger", "text": {"type": "plain_text", "text": "Stop"}, "value": format!("{STOP}:{}", record.id)}
    ]});
    if let Some(blocks) = decided.get_mut("blocks").and_then(Value::as_array_mut) {
        blocks.push(stop);
    }
    decided
}

/// The confirmation only the person who clicked "Stop" sees.
pub fn slack_stop_confirmation(record: &ApprovalRecord) -> Value {
    let question = format!(
        "Stop {} {}'s deployment {}? CodeDeploy rolls it back: production goes back to the task set it ran before, and {} is not deployed.",
        record.service, record.tag, record.deployment_id, record.tag
    );
    json!({
        "response_type": "ephemeral",
        "replace_original": false,
        "text": question,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": question}},
            {"type": "actions", "block_id": format!("greenlight-confirm-stop-{}", record.id), "elements": [
                {"type": "button", "action_id": "greenlight_stop_confirmed", "style": "danger", "text": {"type": "plain_text", "text": "Yes, stop"}, "value": format!("{CONFIRM_STOP}:{}", record.id)}
            ]}
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
    fn deploys_are_told_where_the_manifest_asks_in_slack() {
        let mut approval = Approval::default();
        assert_eq!(SlackRoute::of(&approval), SlackRoute::Webhook);
        approval.slack_channel = Some("C0DEPLOYS1".into());
        assert_eq!(SlackRoute::of(&approval), SlackRoute::Channel("C0DEPLOYS1".into()));
        approval.channels = vec![Channel::Sns];
        assert_eq!(SlackRoute::of(&approval), SlackRoute::Nowhere);
        // Older payloads carry no route: they are told nowhere, as before.
        assert_eq!(serde_json::from_value::<SlackRoute>(json!("webhook")).ok(), Some(SlackRoute::Webhook));
        assert_eq!(
            serde_json::from_value::<SlackRoute>(json!({"channel": "C0DEPLOYS1"})).ok(),
            Some(SlackRoute::Channel("C0DEPLOYS1".into()))
        );
    }

    #[test]
    fn a_live_message_without_an_approval_names_the_cli_instead_of_a_button() {
        let told = Told { service: "web", tag: "v2", deployment_id: "d-1", approval_id: None };
        let live = slack_live_message(&told, "web:2");
        assert!(live.pointer("/blocks/1").is_none(), "no button: {live}");
        let said = live.pointer("/blocks/0/text/text").and_then(Value::as_str).unwrap_or_default();
        assert!(said.contains("greenlight rollback web"), "{said}");
    }

    #[test]
    fn button_values_read_back_as_what_they_ask() {
        let record = crate::fakes::pending_approval("ab12");
        let live = slack_live_message(&Told::of(&record), "web:3");
        let value = live.pointer("/blocks/1/elements/0/value").and_then(Value::as_str).expect("a button");
        assert_eq!(SlackAction::parse(value), Some(SlackAction::RollBack("ab12".into())));
        let confirm = slack_rollback_confirmation(&record, "v1 (web:1)");
        let value = confirm.pointer("/blocks/1/elements/0/value").and_then(Value::as_str).expect("a button");
        assert_eq!(SlackAction::parse(value), Some(SlackAction::ConfirmRollBack("ab12".into())));
        assert_eq!(SlackAction::parse("approve:ab12"), Some(SlackAction::Decide(Decision::Approve, "ab12".into())));
        let decided = json!({"text": "web v2 approved", "blocks": [{"type": "section"}]});
        let stop = with_stop_button(decided, &record);
        let value = stop.pointer("/blocks/1/elements/0/value").and_then(Value::as_str).expect("a button");
        assert_eq!(SlackAction::parse(value), Some(SlackAction::Stop("ab12".into())));
        let confirm = slack_stop_confirmation(&record);
        let value = confirm.pointer("/blocks/1/elements/0/value").and_then(Value::as_str).expect("a button");
        assert_eq!(SlackAction::parse(value), Some(SlackAction::ConfirmStop("ab12".into())));
        for bad in ["rollback:", "rollback:../x", "celebrate:ab12", "ab12"] {
            assert_eq!(SlackAction::parse(bad), None, "{bad}");
        }
    }
}
