//! Human approval end to end: request-approval posts to a fake Slack and to the SNS topic,
//! approval-callback (a function URL) takes the decision, and the state machine continues or
//! rolls back.

use std::time::{Duration, Instant};

use greenlight_core::history::Outcome;
use greenlight_core::ports::ExecutionStart;
use greenlight_tests::approve::{click, now};
use greenlight_tests::emulator::Port;
use greenlight_tests::pipeline::{Hook, Pipeline, SLACK_SIGNING_SECRET, Setup};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(150);

async fn start(timeout: u32) -> (Pipeline, String) {
    let p = Pipeline::start(Setup { hook: Hook::version_check(), approval_timeout: Some(timeout), ..Setup::default() })
        .await;
    let outcome = p.push("v2").await;
    let ExecutionStart::Started { execution_arn } = outcome.executions[0].start.clone() else { panic!("{outcome:?}") };
    (p, execution_arn)
}

/// Waits for the approval request in Slack; returns its payload.
async fn slack_request(p: &Pipeline) -> Value {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(m) = p.slack_messages().await.into_iter().find(|m| m["hook"] == "incoming-webhook") {
            return m["payload"].clone();
        }
        assert!(Instant::now() < deadline, "no approval request reached Slack");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The approve or reject link of v2's approval email.
async fn email_link(p: &Pipeline, decision: &str) -> String {
    greenlight_tests::approve::email_link(p, "v2", decision)
        .await
        .unwrap_or_else(|| panic!("no {decision} link in the approval email"))
}

async fn running(p: &Pipeline, execution: &str) -> bool {
    p.ended(execution).await.is_none()
}

#[tokio::test]
async fn approve_in_slack_moves_production_once() {
    let (p, execution) = start(600).await;
    let message = slack_request(&p).await;
    let text = message.to_string();
    // The evidence: tag, digest, the task definition diff, the validation report, two buttons.
    assert!(text.contains("Deploy web v2 to production?"), "{text}");
    assert!(text.contains(&p.digest("v2")), "digest missing: {text}");
    assert!(text.contains("containerDefinitions[web].image"), "diff missing: {text}");
    assert!(text.contains("validation passed"), "validation report missing: {text}");
    let buttons =
        message["blocks"].as_array().and_then(|b| b.iter().find(|b| b["type"] == "actions")).expect("actions");
    let value = buttons["elements"][0]["value"].as_str().expect("approve").to_string();
    assert!(value.starts_with("approve:"));
    assert!(buttons["elements"][1]["value"].as_str().is_some_and(|v| v.starts_with("reject:")));
    // Green waits on the test listener; production has not moved.
    assert_eq!(p.serving(Port::Test).await, Some(p.digest("v2")));
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v1")));

    // A forged signature and a replayed (stale) request change nothing.
    assert_eq!(click(&p, &value, "mallory", "not-the-secret", now()).await.0, 401);
    let (status, body) = click(&p, &value, "mallory", SLACK_SIGNING_SECRET, now() - 600).await;
    assert_eq!(status, 401, "{body}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(running(&p, &execution).await, "still waiting for a decision");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v1")));

    let (status, body) = click(&p, &value, "alice", SLACK_SIGNING_SECRET, now()).await;
    assert_eq!((status, body.as_str()), (200, "approved by @alice"));
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v2")));
    let updated = p.slack_messages().await.into_iter().find(|m| m["hook"] == "response").expect("message updated");
    assert!(updated["payload"].to_string().contains("approved* by @alice"), "{updated}");

    // A second click, by link this time, says who already decided.
    let link = email_link(&p, "approve").await;
    let resp = greenlight_http::client().expect("an HTTP client").post(&link).send().await.expect("POST link");
    assert_eq!(resp.status().as_u16(), 409);
    let page = resp.text().await.unwrap_or_default();
    assert!(page.contains("already approved by @alice"), "{page}");
    let record = p.assert_ledger("web", "v2", Outcome::Deployed, "").await;
    assert!(record.approver.as_deref().is_some_and(|a| a.starts_with("@alice via slack at ")), "{record:?}");
}

#[tokio::test]
async fn reject_by_signed_link_rolls_back() {
    let (p, execution) = start(600).await;
    slack_request(&p).await;
    let link = email_link(&p, "reject").await;
    let client = greenlight_http::client().expect("an HTTP client");
    // A GET (a link scanner, an unfurler) only shows the confirmation page.
    let page = client.get(&link).send().await.expect("GET link");
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap_or_default().contains("<form method=\"post\">"));
    // A tampered link is refused.
    let tampered = link.replace("sig=", "sig=00");
    assert_eq!(client.post(&tampered).send().await.expect("POST").status().as_u16(), 403);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(running(&p, &execution).await, "nothing decided yet");

    let decided = client.post(&link).send().await.expect("POST link");
    assert_eq!(decided.status().as_u16(), 200);
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "FAILED", "{end:?}");
    assert_eq!(end.error.as_deref(), Some("Rejected"));
    assert!(end.cause.as_deref().unwrap_or_default().starts_with("rejected by signed link via link at "), "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v1")));
    assert_eq!(p.serving(Port::Test).await, Some(p.digest("v1")), "green removed");
    let record = p.assert_ledger("web", "v2", Outcome::RolledBack, "rejected by signed link").await;
    assert!(record.approver.as_deref().is_some_and(|a| a.starts_with("signed link via link at ")), "{record:?}");
    let notes = p.emulator.notifications().await;
    assert!(notes.iter().any(|n| n["subject"] == "greenlight: web v2 rolled back"), "{notes:?}");
}

#[tokio::test]
async fn no_decision_in_time_rolls_back() {
    // The manifest's shortest approval timeout is a minute.
    let (p, execution) = start(60).await;
    slack_request(&p).await;
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "FAILED", "{end:?}");
    assert_eq!(end.error.as_deref(), Some("ApprovalTimedOut"));
    assert!(end.cause.as_deref().unwrap_or_default().contains("Nobody decided before the approval timeout"), "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v1")));
    let notes = p.emulator.notifications().await;
    assert!(notes.iter().any(|n| n["subject"] == "greenlight: web v2 rolled back"), "{notes:?}");
    p.assert_ledger("web", "v2", Outcome::RolledBack, "Nobody decided before the approval timeout").await;
}
