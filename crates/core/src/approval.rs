//! Human approval: the single-use approval record, signed links for email, Slack's request
//! signatures, and the Block Kit message with the evidence.
//!
//! Signatures are HMAC-SHA256 and always compared in constant time. A signed link (`links`)
//! carries `id`, `decision`, `expires` and the address it was sent to; Slack signs `v0:<timestamp>:<body>` and requests older than
//! five minutes are refused (Slack's rule against replays).

use hmac::{Hmac, KeyInit, Mac};

use crate::approvers::Approver;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Slack's replay window.
pub const SLACK_MAX_AGE_SECONDS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "approve" => Some(Self::Approve),
            "reject" => Some(Self::Reject),
            _ => None,
        }
    }
}

/// Who decided, how and when: what the state machine receives (`SendTaskSuccess`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decided {
    pub approved: bool,
    pub by: String,
    /// RFC 3339.
    pub at: String,
    pub channel: DecidedVia,
    /// What the person said with it (`greenlight approve --comment`, the link page's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The identity that counted (`slack:<user id>`, `email:<address>`, `aws:<principal>`);
    /// none for a link of the shared topic, which names no person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
}

/// Where a decision came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedVia {
    /// Slack's Approve / Reject buttons.
    Slack,
    /// A signed link of the email, confirmed on its page.
    Link,
    /// greenlight itself: a newer push superseded the deployment.
    Superseded,
    /// greenlight itself: the deployment ended, or its execution failed, while the approval
    /// waited.
    Cancelled,
    /// `greenlight approve` / `reject`, by the caller's AWS identity.
    Cli,
}

impl DecidedVia {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Link => "link",
            Self::Superseded => "superseded",
            Self::Cancelled => "cancelled",
            Self::Cli => "cli",
        }
    }
}

impl std::fmt::Display for DecidedVia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Decided {
    /// `<by> via <channel> at <time>`, for reasons and the ledger.
    pub fn summary(&self) -> String {
        let comment = self.comment.as_deref().map(|c| format!(": \"{c}\"")).unwrap_or_default();
        format!("{} via {} at {}{comment}", self.by, self.channel, self.at)
    }
}

/// One pending approval, stored in the ledger before anyone is asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// 128 random bits, hex.
    pub id: String,
    pub task_token: String,
    pub service: String,
    pub tag: String,
    pub digest: String,
    pub deployment_id: String,
    pub execution_id: Option<String>,
    /// Seconds since the epoch after which no decision is taken.
    pub expires_at: i64,
    pub decided: Option<Decided>,
    /// Who may decide, as the manifest listed them when the approval was asked (empty: anyone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<Approver>,
    /// How many distinct approvals move production traffic (one rejection decides).
    #[serde(default = "one")]
    pub required_approvals: u32,
    /// The approvals counted so far, each a distinct approver.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<Decided>,
    /// Decisions refused: from someone not listed, or not distinct.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<Refused>,
    /// What the approvers were shown (the link's page shows it again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// The request's Slack message when it was posted with the bot token (`approval.slack_channel`):
    /// greenlight edits it when the approval ends without a click.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_post: Option<SlackPost>,
}

/// A Slack message posted with `chat.postMessage`: its channel id and timestamp, which
/// `chat.update` and thread replies name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackPost {
    pub channel: String,
    pub ts: String,
}

fn one() -> u32 {
    1
}

/// A decision that did not count, and why (kept beside the approval).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// RFC 3339.
    pub at: String,
    pub channel: DecidedVia,
    pub reason: String,
}

/// A new random approval id.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    // The OS random source does not fail on the platforms Lambda runs.
    let _ = getrandom::getrandom(&mut bytes);
    hex::encode(bytes)
}

pub(crate) fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length.
    HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

/// Why a signed link or a Slack request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The signature does not match (tampered, forged, wrong key).
    BadSignature,
    /// Outside its time window (an expired link, a replayed Slack request).
    Expired,
    /// A required part is missing or malformed.
    Malformed(&'static str),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadSignature => write!(f, "the signature does not match"),
            Self::Expired => write!(f, "the request is too old"),
            Self::Malformed(what) => write!(f, "{what} is missing or malformed"),
        }
    }
}

/// Signs a request as Slack does (`v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<body>`).
pub fn sign_slack(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(format!("v0:{timestamp}:").as_bytes());
    m.update(body);
    format!("v0={}", hex::encode(m.finalize().into_bytes()))
}

/// Slack's request signature (v0): `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<body>` with
/// the signing secret, over the raw body; requests older than five minutes are refused.
pub fn verify_slack(secret: &[u8], timestamp: &str, body: &[u8], signature: &str, now: i64) -> Result<(), Refusal> {
    let ts: i64 = timestamp.trim().parse().map_err(|_| Refusal::Malformed("X-Slack-Request-Timestamp"))?;
    let hex_sig = signature.strip_prefix("v0=").ok_or(Refusal::Malformed("X-Slack-Signature"))?;
    let given = hex::decode(hex_sig).map_err(|_| Refusal::Malformed("X-Slack-Signature"))?;
    let mut m = mac(secret);
    m.update(format!("v0:{ts}:").as_bytes());
    m.update(body);
    m.verify_slice(&given).map_err(|_| Refusal::BadSignature)?;
    if (now - ts).abs() > SLACK_MAX_AGE_SECONDS {
        return Err(Refusal::Expired);
    }
    Ok(())
}

/// The evidence shown with an approval request (and kept in its record for the link's page).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub image_uri: String,
    pub diff: Vec<String>,
    pub validation: String,
    pub links: Vec<(String, String)>,
    /// Who asked for the deploy when a person did (`deploy requested by arn:…: reason`); none
    /// for an image pushed to ECR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

/// The Block Kit message: what is asked, the evidence, and the two buttons.
pub fn slack_message(record: &ApprovalRecord, evidence: &Evidence, timeout_seconds: u32) -> Value {
    let diff =
        if evidence.diff.is_empty() { "(no change besides the image)".to_string() } else { evidence.diff.join("\n") };
    let links: Vec<String> = evidence.links.iter().map(|(label, url)| format!("<{url}|{label}>")).collect();
    json!({
        "text": format!("greenlight: approve {} {} for production?", record.service, record.tag),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": format!("Deploy {} {} to production?", record.service, record.tag)}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": format!("*Service*\n{}", record.service)},
                {"type": "mrkdwn", "text": format!("*Tag*\n{}", record.tag)},
                {"type": "mrkdwn", "text": format!("*Digest*\n`{}`", record.digest)},
                {"type": "mrkdwn", "text": format!("*Deployment*\n{}", record.deployment_id)}
            ]},
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("*Task definition changes*\n```{diff}```")}},
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("*Validation on the test listener*\n```{}```", if evidence.validation.is_empty() { "no report" } else { evidence.validation.trim() })}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": format!("Image `{}` · decide within {} min, or it rolls back{}", evidence.image_uri, timeout_seconds / 60, if links.is_empty() { String::new() } else { format!(" · {}", links.join(" · ")) })}
            ]},
            {"type": "actions", "block_id": format!("greenlight-{}", record.id), "elements": [
                {"type": "button", "action_id": "greenlight_approve", "style": "primary", "text": {"type": "plain_text", "text": "Approve"}, "value": format!("approve:{}", record.id)},
                {"type": "button", "action_id": "greenlight_reject", "style": "danger", "text": {"type": "plain_text", "text": "Reject"}, "value": format!("reject:{}", record.id)}
            ]}
        ]
    })
}

/// The message as it reads once decided (replaces the original in Slack).
pub fn slack_decided_message(record: &ApprovalRecord, decided: &Decided) -> Value {
    let verb = if decided.approved { "approved" } else { "rejected" };
    let said = decided.comment.as_deref().map(|c| format!("\n> {c}")).unwrap_or_default();
    json!({
        "replace_original": true,
        "text": format!("{} {} {verb} by {} at {}", record.service, record.tag, decided.by, decided.at),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("*{} {}* was *{verb}* by {} at {} (via {}).{said}", record.service, record.tag, decided.by, decided.at, decided.channel)}}
        ]
    })
}

/// The request's message once the approval ended without a decision (the deployment stopped,
/// rolled back or timed out in CodeDeploy while it waited): what happened, no buttons.
pub fn slack_cancelled_message(record: &ApprovalRecord, reason: &str) -> Value {
    json!({
        "text": format!("{} {}: the approval is cancelled: {reason}", record.service, record.tag),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("*{} {}*: the approval is *cancelled*, nothing is left to decide.\n{reason}", record.service, record.tag)}}
        ]
    })
}

/// A reply only the person who clicked sees (posted to the interaction's `response_url`,
/// leaving the message as it is).
pub fn slack_ephemeral(text: &str) -> Value {
    json!({"response_type": "ephemeral", "replace_original": false, "text": text})
}

/// The plain-text message for email subscribers, with the two signed links.
pub fn email_message(record: &ApprovalRecord, evidence: &Evidence, approve: &str, reject: &str) -> String {
    format!(
        "{service} {tag} is ready on the test listener and waits for a decision before production traffic moves.\n\nImage: {image}\nDeployment: {deployment}\n\nTask definition changes:\n{diff}\n\nValidation:\n{validation}\n\nApprove: {approve}\nReject:  {reject}\n\nEach link opens a confirmation page; nothing is decided until you confirm there.\n",
        service = record.service,
        tag = record.tag,
        image = evidence.image_uri,
        deployment = record.deployment_id,
        diff = if evidence.diff.is_empty() {
            "  (no change besides the image)".into()
        } else {
            evidence.diff.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
        },
        validation = if evidence.validation.is_empty() { "  no report".into() } else { evidence.validation.clone() },
    )
}

/// The request on the shared topic once the approval lists its approvers: the evidence and
/// where to decide, no link (a link there would name no person, and is refused).
pub fn notice_message(record: &ApprovalRecord, evidence: &Evidence) -> String {
    let body = email_message(record, evidence, "", "");
    let evidence = body.split("\n\nApprove: ").next().unwrap_or_default();
    format!(
        "{evidence}\n\nDecide in Slack, with `greenlight approve {service}`, or with the link emailed to you if you are among its approvers: {approvers}.\n",
        service = record.service,
        approvers = record.approvers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )
}

/// A decision's time: RFC 3339 to the second, in UTC (`2026-12-01T09:30:00Z`).
pub fn decision_time(now: i64) -> String {
    chrono::DateTime::from_timestamp(now, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's documented example (Verifying requests from Slack), with its clock.
    fn slack_example() -> Value {
        serde_json::from_str(include_str!("../tests/fixtures/aws/slack-request-signing-example.json")).expect("fixture")
    }

    fn check_slack(edit: impl FnOnce(&mut Value), now_offset: i64) -> Result<(), Refusal> {
        let mut e = slack_example();
        edit(&mut e);
        let ts = e["headers"]["X-Slack-Request-Timestamp"].as_str().unwrap_or_default().to_string();
        let now = ts.parse::<i64>().unwrap_or(0) + now_offset;
        verify_slack(
            e["signing_secret"].as_str().unwrap_or_default().as_bytes(),
            &ts,
            e["body"].as_str().unwrap_or_default().as_bytes(),
            e["headers"]["X-Slack-Signature"].as_str().unwrap_or_default(),
            now,
        )
    }

    #[test]
    fn slack_documented_example_verifies() {
        assert_eq!(check_slack(|_| {}, 0), Ok(()));
        assert_eq!(check_slack(|_| {}, 299), Ok(()));
    }

    #[test]
    fn slack_tampering_and_replays_are_refused() {
        assert_eq!(
            check_slack(
                |e| e["body"] = e["body"].as_str().unwrap_or_default().replace("roadrunner", "coyote").into(),
                0
            ),
            Err(Refusal::BadSignature)
        );
        assert_eq!(check_slack(|e| e["signing_secret"] = "not-the-secret".into(), 0), Err(Refusal::BadSignature));
        assert_eq!(
            check_slack(|e| e["headers"]["X-Slack-Request-Timestamp"] = "1531420619".into(), 1),
            Err(Refusal::BadSignature)
        );
        assert_eq!(check_slack(|_| {}, 301), Err(Refusal::Expired), "older than five minutes");
        assert_eq!(
            check_slack(|e| e["headers"]["X-Slack-Signature"] = "a2114d57".into(), 0),
            Err(Refusal::Malformed("X-Slack-Signature"))
        );
        assert_eq!(
            check_slack(|e| e["headers"]["X-Slack-Signature"] = "v0=zz".into(), 0),
            Err(Refusal::Malformed("X-Slack-Signature"))
        );
        assert_eq!(
            check_slack(|e| e["headers"]["X-Slack-Request-Timestamp"] = "yesterday".into(), 0),
            Err(Refusal::Malformed("X-Slack-Request-Timestamp"))
        );
    }

    #[test]
    fn ids_are_random_128_bits() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn the_message_carries_the_evidence_and_both_buttons() {
        let record = ApprovalRecord {
            task_token: "token".into(),
            digest: "sha256:abc".into(),
            expires_at: 0,
            ..crate::fakes::pending_approval("0123")
        };
        let evidence = Evidence {
            image_uri: "1.dkr.ecr.r.amazonaws.com/web@sha256:abc".into(),
            diff: vec!["~ containerDefinitions[web].image: \"a\" -> \"b\"".into()],
            validation: "validation passed in 10 ms".into(),
            links: vec![("deployment".into(), "https://console/d-1".into())],
            requested_by: None,
        };
        let m = slack_message(&record, &evidence, 3600);
        let text = m.to_string();
        for needle in
            ["web", "v2", "sha256:abc", "containerDefinitions[web].image", "validation passed", "decide within 60 min"]
        {
            assert!(text.contains(needle), "{needle} missing");
        }
        let actions = &m["blocks"][5]["elements"];
        assert_eq!(actions[0]["value"], "approve:0123");
        assert_eq!(actions[1]["value"], "reject:0123");
        assert!(!text.contains("token"), "the task token never appears in a message");
    }
}
