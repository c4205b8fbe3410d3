//! "Latest digest wins" end to end: bursts of pushes under `supersede` and `queue`, a late
//! event of an older image, a crashed execution whose lease runs out, two services at once,
//! and every failing state's way out (rollback, lock released, ledger, notification).

use std::future::Future;
use std::time::Duration;

use greenlight_core::history::Outcome;
use greenlight_core::pipeline::PushOutcome;
use greenlight_core::ports::ExecutionStart;
use greenlight_tests::emulator::Port;
use greenlight_tests::pipeline::{Execution, ExtraService, Hook, Pipeline, Setup};
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(180);
const BURST: [&str; 5] = ["v2", "v3", "v4", "v5", "v6"];

/// Checks that take about three seconds: production traffic cannot move before then (the
/// emulation runs CodeDeploy's own waits a hundred times faster), so a burst of pushes, or a
/// failing state, always meets a deployment that has not shifted traffic yet.
fn slow_checks() -> Hook {
    Hook::Validate {
        checks: json!([{"name": "version", "path": "/version", "consecutive_successes": 6, "interval_ms": 500}]),
        deadline_seconds: 30,
        fault_injection: None,
    }
}

fn started(outcome: &PushOutcome) -> String {
    assert_eq!(outcome.executions.len(), 1, "{outcome:?}");
    match &outcome.executions[0].start {
        ExecutionStart::Started { execution_arn } => execution_arn.clone(),
        other => panic!("expected a new execution, got {other:?}"),
    }
}

/// Runs `work` while sampling what production serves about every 20 ms.
async fn sampling<T>(p: &Pipeline, work: impl Future<Output = T>) -> (T, Vec<String>) {
    let mut samples = Vec::new();
    let mut work = std::pin::pin!(work);
    loop {
        let sample = async {
            let d = p.serving(Port::Production).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            d
        };
        tokio::select! {
            out = &mut work => return (out, samples),
            d = sample => samples.extend(d),
        }
    }
}

/// Production never serves an older tag after a newer one, and serves only `allowed`.
fn assert_never_backwards(p: &Pipeline, samples: &[String], allowed: &[&str]) {
    let tag_of = |d: &String| {
        ["v1", "v2", "v3", "v4", "v5", "v6", "v7"].iter().position(|t| p.digest(t) == *d).expect("a seeded digest")
    };
    let order: Vec<usize> = samples.iter().map(tag_of).collect();
    assert!(!order.is_empty(), "production was sampled");
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "production went back to an older digest: {order:?}");
    for i in &order {
        let tag = format!("v{}", i + 1);
        assert!(allowed.contains(&tag.as_str()), "{tag} served production; only {allowed:?} may: {order:?}");
    }
}

/// Delivers the burst 250 ms apart (all within about a second), then waits for every execution.
/// With `first_holds`, the rest of the burst is delivered once the first push holds the lock, so
/// which push takes it first does not depend on which process the scheduler runs first.
async fn burst(p: &Pipeline, first_holds: bool) -> Vec<Execution> {
    let mut executions = Vec::new();
    for (i, tag) in BURST.iter().enumerate() {
        executions.push(started(&p.push(tag).await));
        if i == 0 && first_holds {
            let deadline = std::time::Instant::now() + LIMIT;
            while p.lock_holder("web").await.is_none_or(|h| h["tag"] != *tag) {
                assert!(std::time::Instant::now() < deadline, "{tag} never took the lock");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut ends = Vec::new();
    for e in &executions {
        ends.push(p.finish(e, LIMIT, || async {}).await);
    }
    ends
}

fn outcome_of(records: &[greenlight_core::history::DeploymentRecord], tag: &str) -> Option<Outcome> {
    records.iter().find(|r| r.tag == tag).and_then(|r| r.outcome)
}

#[tokio::test]
async fn burst_under_supersede_deploys_only_the_newest() {
    let p = Pipeline::start(Setup { hook: slow_checks(), ..Setup::default() }).await;
    let (ends, samples) = sampling(&p, burst(&p, false)).await;
    assert_eq!(ends[4].status, "SUCCEEDED", "{:?}", ends[4]);
    for (tag, end) in BURST.iter().zip(&ends).take(4) {
        assert_eq!(end.error.as_deref(), Some("Superseded"), "{tag}: {end:?}");
    }
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v6")));
    assert_never_backwards(&p, &samples, &["v1", "v6"]);

    let records = p.history("web").await;
    assert_eq!(records[0].tag, "v6", "newest first: {records:?}");
    assert_eq!(records[0].outcome, Some(Outcome::Deployed));
    let states: Vec<&str> = records[0].timeline.iter().map(|e| e.state.as_str()).collect();
    for state in ["accepted", "locked", "registered", "deployment_created", "succeeded"] {
        assert!(states.contains(&state), "{state} missing from {states:?}");
    }
    for tag in &BURST[..4] {
        assert_eq!(outcome_of(&records, tag), Some(Outcome::Superseded), "{tag}: {records:?}");
    }
    assert!(p.lock_holder("web").await.is_none(), "the lock is released");
    let notes = p.emulator.notifications().await;
    assert!(notes.iter().any(|n| n["subject"] == "greenlight: web v6 is live"), "{notes:?}");
    assert!(!notes.iter().any(|n| n["subject"].as_str().is_some_and(|s| s.contains("rolled back"))), "{notes:?}");
}

#[tokio::test]
async fn burst_under_queue_collapses_to_the_newest() {
    let p = Pipeline::start(Setup { concurrency: "queue", hook: slow_checks(), ..Setup::default() }).await;
    let (ends, samples) = sampling(&p, burst(&p, true)).await;
    assert_eq!(ends[4].status, "SUCCEEDED", "{:?}", ends[4]);
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v6")));
    // v2 took the lock before the rest was pushed and deploys (it holds it for the checks'
    // three seconds, longer than the burst); of the ones that waited for it only the newest does.
    let deployed: Vec<&str> =
        BURST.iter().zip(&ends).filter(|(_, e)| e.status == "SUCCEEDED").map(|(t, _)| *t).collect();
    assert_eq!(deployed, ["v2", "v6"]);
    for (tag, end) in BURST.iter().zip(&ends) {
        if !deployed.contains(tag) {
            assert_eq!(end.error.as_deref(), Some("Superseded"), "{tag}: {end:?}");
        }
    }
    let mut allowed = vec!["v1"];
    allowed.extend(&deployed);
    assert_never_backwards(&p, &samples, &allowed);
    assert!(p.lock_holder("web").await.is_none(), "the lock is released");
}

#[tokio::test]
async fn an_older_image_after_a_newer_one_is_superseded_and_deploys_nothing() {
    let p = Pipeline::start(Setup::default()).await;
    let now = chrono::Utc::now();
    let newer = started(&p.deliver(&p.push_event_of("web", "v3", now)).await);
    assert_eq!(p.finish(&newer, LIMIT, || async {}).await.status, "SUCCEEDED");
    let deployments = p.deployments().await.len();

    // v2's event arrives late: it was pushed before v3.
    let older = started(&p.deliver(&p.push_event_of("web", "v2", now - chrono::Duration::seconds(5))).await);
    let end = p.finish(&older, LIMIT, || async {}).await;
    assert_eq!((end.status.as_str(), end.error.as_deref()), ("FAILED", Some("Superseded")), "{end:?}");
    assert!(end.cause.as_deref().unwrap_or_default().contains("v3"), "{end:?}");
    assert_eq!(p.deployments().await.len(), deployments, "no deployment for the older image");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v3")));
    let records = p.history("web").await;
    assert_eq!(outcome_of(&records, "v2"), Some(Outcome::Superseded), "{records:?}");
    assert_eq!(outcome_of(&records, "v3"), Some(Outcome::Deployed), "{records:?}");
    assert!(p.lock_holder("web").await.is_none());
}

#[tokio::test]
async fn a_killed_execution_holds_the_lock_only_until_its_lease_ends() {
    let p = Pipeline::start(Setup { concurrency: "queue", lease_seconds: 10, ..Setup::default() }).await;
    let killed = started(&p.push("v2").await);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while p.deployments().await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "v2 never created its deployment");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sfn = aws_sdk_sfn::Client::new(&p.config);
    sfn.stop_execution().execution_arn(&killed).cause("killed by the test").send().await.expect("StopExecution");
    assert_eq!(p.ended(&killed).await.map(|e| e.status).as_deref(), Some("ABORTED"));
    assert_eq!(p.lock_holder("web").await.map(|h| h["tag"].clone()), Some("v2".into()), "nobody released it");

    let next = started(&p.push("v3").await);
    let end = p.finish(&next, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v3")));
    let records = p.history("web").await;
    let v3 = records.iter().find(|r| r.tag == "v3").expect("v3 in the ledger");
    let locked =
        v3.timeline.iter().find(|e| e.state == greenlight_core::history::TimelineState::Locked).expect("locked");
    assert!(
        locked.detail.as_deref().is_some_and(|d| d.contains("from v2") && d.contains("lease had expired")),
        "{locked:?}"
    );
    assert!(p.lock_holder("web").await.is_none());
}

#[tokio::test]
async fn two_services_pushed_at_once_deploy_independently() {
    let p = Pipeline::start(Setup { extra_services: vec![ExtraService::new("api")], ..Setup::default() }).await;
    let now = chrono::Utc::now();
    let (web_event, api_event) = (p.push_event_of("web", "v2", now), p.push_event_of("api", "v2", now));
    let (web, api) = tokio::join!(p.deliver(&web_event), p.deliver(&api_event));
    let (web, api) = (started(&web), started(&api));
    let (web, api) = tokio::join!(p.finish(&web, LIMIT, || async {}), p.finish(&api, LIMIT, || async {}));
    assert_eq!((web.status.as_str(), api.status.as_str()), ("SUCCEEDED", "SUCCEEDED"), "{web:?} {api:?}");
    assert!(p.running_image("web").await.ends_with(&p.digest("v2")));
    assert!(p.running_image("api").await.ends_with(&p.digest_of("api", "v2")));
    for service in ["web", "api"] {
        assert!(p.lock_holder(service).await.is_none(), "{service}'s lock is released");
        assert_eq!(outcome_of(&p.history(service).await, "v2"), Some(Outcome::Deployed), "{service}");
    }
}

/// A state fails: the execution rolls back, releases the lock, says why in the ledger and in
/// a notification, and production stays on (or returns to) v1.
async fn failure_path(fail: &'static str, approval_timeout: Option<u32>) {
    let p =
        Pipeline::start(Setup { fail: Some(fail), approval_timeout, hook: slow_checks(), ..Setup::default() }).await;
    let execution = started(&p.push("v2").await);
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "FAILED", "{fail}: {end:?}");
    assert!(p.states(&execution).await.contains(&"Rollback".to_string()), "{fail}");
    p.assert_ledger("web", "v2", Outcome::RolledBack, &format!("fail:{fail}")).await;
    let notes = p.emulator.notifications().await;
    let note = notes.iter().find(|n| n["subject"] == "greenlight: web v2 rolled back").expect("a rollback notice");
    assert!(note["message"].as_str().unwrap_or_default().contains(&format!("fail:{fail}")), "{note}");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while p.serving(Port::Production).await != Some(p.digest("v1")) {
        assert!(std::time::Instant::now() < deadline, "{fail}: production did not return to v1");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn failure_in_prepare_rolls_back_and_says_why() {
    failure_path("prepare", None).await;
}

#[tokio::test]
async fn failure_in_start_deployment_rolls_back_and_says_why() {
    failure_path("start-deployment", None).await;
}

#[tokio::test]
async fn failure_in_deployment_status_rolls_back_and_says_why() {
    failure_path("deployment-status", None).await;
}

#[tokio::test]
async fn failure_in_request_approval_rolls_back_and_says_why() {
    failure_path("request-approval", Some(60)).await;
}
