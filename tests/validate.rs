//! The validation hook end to end: greenlight's validate function, invoked by the emulated
//! CodeDeploy for AfterAllowTestTraffic, checks green through the test listener; its verdict
//! decides whether production traffic moves, and its report lands in the ledger.

use std::time::Duration;

use greenlight_core::ports::{ExecutionStart, Validations};
use greenlight_tests::emulator::Port;
use greenlight_tests::pipeline::{Hook, Pipeline, Setup};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(120);

/// Health (fast, 200) and version (green's digest, 3 times in a row).
fn checks() -> Value {
    json!([
        {"name": "health", "path": "/health", "timeout_ms": 2000, "expect": {"status": "200", "max_latency_ms": 1000}},
        {"name": "version", "path": "/version", "consecutive_successes": 3, "interval_ms": 100,
         "expect": {"json": [{"pointer": "/digest", "equals": "${image_digest}"}]}}
    ])
}

struct Outcome {
    status: String,
    cause: String,
    report: Value,
    production: Vec<Option<String>>,
    p: Pipeline,
}

/// Pushes v2 with green behaving as `behaviour`; returns how it ended and the stored report.
async fn deploy_v2(behaviour: Value, checks: Value, fault_injection: Option<&'static str>) -> Outcome {
    let hook = Hook::Validate { checks, deadline_seconds: 20, fault_injection };
    let p = Pipeline::start(Setup { hook, ..Setup::default() }).await;
    p.emulator.set_behaviour(&p.digest("v2"), behaviour).await;
    let outcome = p.push("v2").await;
    let ExecutionStart::Started { execution_arn } = outcome.executions[0].start.clone() else { panic!("{outcome:?}") };
    let mut production = Vec::new();
    let end = loop {
        production.push(p.serving(Port::Production).await);
        if let Some(end) = p.ended(&execution_arn).await {
            break end;
        }
        assert!(production.len() < (LIMIT.as_millis() / 50) as usize, "execution still running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let deployment = p.deployments().await.pop().expect("a deployment");
    let ledger = greenlight_aws::DynamoLedger::new(aws_sdk_dynamodb::Client::new(&p.config), "greenlight-ledger");
    let records = ledger.validations(&deployment).await.expect("ledger");
    assert_eq!(records.len(), 1, "one report per hook run: {records:?}");
    let report = serde_json::to_value(&records[0]).expect("a record is JSON");
    Outcome { status: end.status, cause: end.cause.unwrap_or_default(), report, production, p }
}

fn assert_rolled_back(o: &Outcome, reason: &str) {
    assert_eq!(o.status, "FAILED", "{}", o.cause);
    assert_eq!(o.report["report"]["passed"], false, "{}", o.report);
    let stored = o.report["report"]["reason"].as_str().unwrap_or_default();
    assert!(stored.contains(reason), "stored reason {stored:?} lacks {reason:?}");
    assert!(o.cause.contains(reason), "the execution's cause {:?} lacks {reason:?}", o.cause);
    let v1 = o.p.digest("v1");
    assert!(
        o.production.iter().all(|d| d.as_deref() == Some(v1.as_str())),
        "production served green: {:?}",
        o.production
    );
}

#[tokio::test]
async fn healthy_green_passes() {
    let o = deploy_v2(json!({"mode": "healthy"}), checks(), None).await;
    assert_eq!(o.status, "SUCCEEDED", "{}", o.cause);
    assert_eq!(o.report["report"]["passed"], true, "{}", o.report);
    assert_eq!(o.report["image_digest"], o.p.digest("v2"));
    assert_eq!(o.report["image_tag"], "v2");
    assert_eq!(o.report["report"]["checks"][1]["attempts"].as_array().map(Vec::len), Some(3));
    assert_eq!(o.p.serving(Port::Production).await, Some(o.p.digest("v2")));
    let notes = o.p.emulator.notifications().await;
    let live = notes.iter().find(|n| n["subject"] == "greenlight: web v2 is live").expect("notified");
    assert!(live["message"].as_str().unwrap_or_default().contains("validation passed"), "{live}");
}

#[tokio::test]
async fn http_500_fails() {
    let o = deploy_v2(json!({"mode": "error"}), checks(), None).await;
    // Both checks see the 500; whichever fails first gives the verdict.
    assert_rolled_back(&o, "HTTP 500 (expected 200");
}

#[tokio::test]
async fn slower_than_the_maximum_latency_fails() {
    let o = deploy_v2(json!({"mode": "slow", "delay_ms": 1500}), checks(), None).await;
    assert_rolled_back(&o, "slower than the 1000 ms allowed");
}

#[tokio::test]
async fn hanging_green_fails_within_the_deadline() {
    let o = deploy_v2(json!({"mode": "hang", "hang_s": 600}), checks(), None).await;
    assert_rolled_back(&o, "no answer within 2000 ms");
    // Reported by the hook, not by CodeDeploy's hook timeout.
    assert!(!o.cause.contains("timed out while waiting"), "{}", o.cause);
}

#[tokio::test]
async fn green_serving_the_old_version_fails_the_version_check() {
    let o = deploy_v2(
        json!({"mode": "wrong_version", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:0ld"}),
        checks(),
        None,
    )
    .await;
    assert_rolled_back(&o, "JSON /digest is \"sha256:0ld\"");
}

#[tokio::test]
async fn flapping_green_fails_the_consecutive_successes_rule() {
    let version_only = json!([{"name": "version", "path": "/version", "consecutive_successes": 3, "interval_ms": 100,
        "expect": {"json": [{"pointer": "/digest", "equals": "${image_digest}"}]}}]);
    let o = deploy_v2(json!({"mode": "flapping"}), version_only, None).await;
    assert_rolled_back(&o, "attempt 2 of 3 consecutive: HTTP 500");
}

#[tokio::test]
async fn a_panic_in_check_code_still_reports_failed() {
    let o = deploy_v2(json!({"mode": "healthy"}), checks(), Some("panic_in_checks")).await;
    assert_rolled_back(&o, "a check crashed: panic: fault injection");
}
