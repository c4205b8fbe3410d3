//! The reliability base that rolls back from Slack: v2 approved and live; v3 pushed and waiting
//! for its approval; then the "Roll back" button of v2's success message, clicked and confirmed
//! by an approver: v3's deployment is stopped (its production traffic never moved), v1 deploys.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::approve::{button, click, now};
use crate::pipeline::{Pipeline, SLACK_SIGNING_SECRET};

/// Polls `found` until it finds something or `limit` passes.
async fn poll<F, Fut>(limit: Duration, mut found: F) -> Option<Value>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<Value>>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(v) = found().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// The "Roll back" button of `web <tag>`'s success message in its approval's thread.
pub async fn roll_back_button(p: &Pipeline, tag: &str) -> Option<String> {
    let messages = p.slack_messages().await;
    messages
        .iter()
        .filter(|m| m["thread_ts"].is_string())
        .map(|m| &m["payload"])
        .find(|m| m.to_string().contains(&format!("web {tag} is live")))
        .and_then(|m| button(m, "rollback"))
}

/// Clicks "Roll back" on v2's success message and confirms it, as `alice`; the rollback's
/// execution ARN, or why there is none.
pub async fn roll_back_v2(p: &Pipeline, limit: Duration) -> Result<String, String> {
    let Some(value) = poll(limit, || async { roll_back_button(p, "v2").await.map(Value::String) }).await else {
        return Err("v2's success message has no Roll back button in its approval's thread".into());
    };
    let value = value.as_str().unwrap_or_default().to_string();
    let mut said = Vec::new();
    // A click Slack got no answer to is clicked again, as a person would.
    for _ in 0..2 {
        let (_, asked) = click(p, &value, "alice", SLACK_SIGNING_SECRET, now()).await;
        if !asked.starts_with("confirm to roll web back") {
            said.push(asked);
            continue;
        }
        let mut responses = p.slack_messages().await.into_iter().filter(|m| m["hook"] == "response");
        let Some(confirm) = responses.next_back().and_then(|m| button(&m["payload"], "rollback-confirmed")) else {
            said.push(format!("{asked}, and no confirmation to click"));
            continue;
        };
        let (_, done) = click(p, &confirm, "alice", SLACK_SIGNING_SECRET, now()).await;
        if let Some(arn) = done.split("execution ").nth(1).and_then(|s| s.split_whitespace().next()) {
            return Ok(arn.to_string());
        }
        said.push(done);
    }
    Err(format!("the rollback did not start: {said:?}"))
}
