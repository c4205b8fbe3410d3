//! A person answering an approval request: the request greenlight posted to the fake Slack and
//! a button click signed as Slack signs it, or the signed link of the approval email.

use std::time::{SystemTime, UNIX_EPOCH};

use greenlight_core::approval::sign_slack;
use serde_json::{Value, json};

use crate::pipeline::Pipeline;

/// Seconds since the epoch, as Slack stamps its requests.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

/// The approval requests posted to Slack so far (the messages with an Approve button), oldest
/// first.
pub async fn slack_requests(p: &Pipeline) -> Vec<Value> {
    slack_posts(p).await.into_iter().filter(|m| button(m, "approve").is_some()).collect()
}

/// Every message greenlight posted to Slack so far (the incoming webhook and `chat.postMessage`),
/// oldest first.
pub async fn slack_posts(p: &Pipeline) -> Vec<Value> {
    p.slack_messages()
        .await
        .into_iter()
        .filter(|m| m["hook"] == "incoming-webhook" || m["hook"] == "chat.postMessage")
        .map(|m| m["payload"].clone())
        .collect()
}

/// The `approve:` or `reject:` button value of an approval request.
pub fn button(request: &Value, decision: &str) -> Option<String> {
    let actions = request["blocks"].as_array()?.iter().find(|b| b["type"] == "actions")?;
    actions["elements"]
        .as_array()?
        .iter()
        .filter_map(|e| e["value"].as_str())
        .find(|v| v.starts_with(&format!("{decision}:")))
        .map(str::to_string)
}

/// The Slack user id of a person the tests name (`alice` → `UALICE000`).
pub fn slack_user_id(name: &str) -> String {
    format!("U{:0<8}", name.to_ascii_uppercase())
}

/// POSTs a Slack interaction (a button click) by `user` (id [`slack_user_id`]), signed with
/// `secret`; `(status, body)`, status 0 when nothing answered.
pub async fn click(p: &Pipeline, value: &str, user: &str, secret: &str, timestamp: i64) -> (u16, String) {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": slack_user_id(user), "username": user},
        "actions": [{"action_id": "greenlight", "value": value}],
        "response_url": format!("{}/greenlight-emulator/slack/response", p.emulator.endpoint)
    });
    let body = format!("payload={}", url_encode(&payload.to_string()));
    let signature = sign_slack(secret.as_bytes(), timestamp, body.as_bytes());
    let sent = greenlight_http::client()
        .expect("an HTTP client")
        .post(format!("{}/slack", p.callback_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header("x-slack-signature", signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(resp) => (resp.status().as_u16(), resp.text().await.unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

/// `application/x-www-form-urlencoded` of one value, byte by byte (the body is signed as sent).
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The approve or reject link of `web <tag>`'s approval email, once it was sent.
pub async fn email_link(p: &Pipeline, tag: &str, decision: &str) -> Option<String> {
    let subject = format!("greenlight: approve web {tag} for production?");
    let notes = p.emulator.notifications().await;
    let message = notes.iter().find(|n| n["subject"] == subject.as_str())?["message"].as_str()?.to_string();
    message
        .split_whitespace()
        .find(|w| w.contains("/links/") && w.contains(&format!("/{decision}?")))
        .map(str::to_string)
}

/// Follows a decision link as the page's button does (POST); the status, 0 when nothing answered.
pub async fn follow(link: &str) -> u16 {
    match greenlight_http::client().expect("an HTTP client").post(link).send().await {
        Ok(resp) => resp.status().as_u16(),
        Err(_) => 0,
    }
}
