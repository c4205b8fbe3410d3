//! "Latest digest wins" over in-memory ports: the order of pushes, the lock's rules under
//! `supersede` and `queue`, the lease, and what each step does once the lock is lost.

use greenlight_core::Error;
use greenlight_core::approval::ApprovalRecord;
use greenlight_core::event::Push;
use greenlight_core::fakes::{
    FakeDeployments, FakeLedger, FakeManifest, FakeNotifier, FakeSlackApi, FakeTaskDefinitions, FakeTaskTokens,
    FakeTraffic,
};
use greenlight_core::history::{Outcome, TimelineState, rfc3339};
use greenlight_core::lock::{LockHolder, NewestPush, order_key};
use greenlight_core::manifest::Manifest;
use greenlight_core::pipeline::{
    Lease, NotifyPorts, PreparePorts, RollbackRequest, StartPorts, StepInput, execution_name, prepare, rollback,
    start_deployment,
};
use greenlight_core::ports::{DeploymentGroupSettings, DeploymentStatus, Locks};
use greenlight_core::taskdef::TaskDefinition;
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000;

struct World {
    manifests: FakeManifest,
    task_definitions: FakeTaskDefinitions,
    deployments: FakeDeployments,
    ledger: FakeLedger,
    tokens: FakeTaskTokens,
}

fn world(policy: &str) -> World {
    let mut manifest: Value =
        serde_json::from_str(include_str!("fixtures/manifest-api-server.json")).expect("manifest fixture");
    manifest["services"][0]["approval"] = json!({"required": false});
    manifest["services"][0]["concurrency"] = json!({"policy": policy, "queue_timeout_seconds": 600});
    let live: Value =
        serde_json::from_str(include_str!("fixtures/aws/describe-task-definition.json")).expect("td fixture");
    World {
        manifests: FakeManifest(Manifest::parse(&manifest.to_string()).expect("manifest")),
        task_definitions: FakeTaskDefinitions {
            live: TaskDefinition::from_json(live).expect("td"),
            registered_since: 0,
            registered: Default::default(),
        },
        deployments: FakeDeployments {
            settings: Some(DeploymentGroupSettings {
                action_on_ready_timeout: Some("CONTINUE_DEPLOYMENT".into()),
                ready_wait_minutes: Some(0),
                ecs_cluster: Some("production".into()),
                ecs_service: Some("api-server".into()),
            }),
            ..Default::default()
        },
        ledger: FakeLedger::default(),
        tokens: FakeTaskTokens::default(),
    }
}

fn push(tag: &str, digest: &str, pushed_at: i64) -> Push {
    Push {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        repository: "api-server".into(),
        digest: digest.into(),
        tag: tag.into(),
        event_id: None,
        event_time: None,
        pushed_at: chrono::DateTime::from_timestamp_millis(pushed_at),
        ..Push::default()
    }
}

fn step(p: &Push) -> StepInput {
    StepInput {
        service: "api-server".into(),
        push: p.clone(),
        prepared: None,
        deployment: None,
        execution_id: None,
        started_at: Some(rfc3339(NOW - 5)),
    }
}

fn holder(p: &Push, lease_until: i64) -> LockHolder {
    LockHolder {
        execution: execution_name("api-server", p),
        request: p.event_id.clone(),
        order: order_key(p),
        tag: p.tag.clone(),
        digest: p.digest.clone(),
        lease_until,
        deployment_id: Some("d-OLD".into()),
        approval_id: None,
        shifting: false,
    }
}

async fn run_prepare(w: &World, p: &Push, now: i64) -> Result<greenlight_core::pipeline::Prepared, Error> {
    let ports = PreparePorts {
        manifests: &w.manifests,
        task_definitions: &w.task_definitions,
        deployments: &w.deployments,
        ledger: &w.ledger,
        approvals: &w.ledger,
        tokens: &w.tokens,
    };
    prepare(&step(p), ports, Lease { now, seconds: 60 }).await
}

fn error_type(r: Result<impl std::fmt::Debug, Error>) -> String {
    r.expect_err("an error").error_type().to_string()
}

#[tokio::test]
async fn an_older_push_than_the_newest_is_superseded_and_registers_nothing() {
    let w = world("supersede");
    let (old, new) = (push("v1", "sha256:aaaa", 1_000), push("v2", "sha256:bbbb", 2_000));
    for p in [&new, &old] {
        w.ledger
            .record_push(
                "api-server",
                &NewestPush { order: order_key(p), tag: p.tag.clone(), digest: p.digest.clone() },
            )
            .await
            .expect("record");
    }
    let err = run_prepare(&w, &old, NOW).await.expect_err("superseded");
    assert_eq!(err.error_type(), "Superseded");
    assert!(err.to_string().contains("v2 (sha256:bbbb) was pushed later"), "{err}");
    assert!(w.task_definitions.registered.lock().expect("lock").is_empty());
    assert!(w.ledger.locks.lock().expect("lock").is_empty(), "no lock taken");
    // The newest deploys.
    let prepared = run_prepare(&w, &new, NOW).await.expect("prepared");
    assert_eq!(prepared.revision, Some(42));
    assert_eq!(w.ledger.locks.lock().expect("lock")["api-server"].tag, "v2");
}

#[tokio::test]
async fn supersede_takes_the_lock_from_an_older_push_stops_its_deployment_and_cancels_its_approval() {
    let w = world("supersede");
    let (old, new) = (push("v1", "sha256:aaaa", 1_000), push("v2", "sha256:bbbb", 2_000));
    let mut previous = holder(&old, NOW + 600);
    previous.approval_id = Some("ap-1".into());
    w.ledger.locks.lock().expect("lock").insert("api-server".into(), previous);
    w.ledger.approvals.records.lock().expect("lock").push(ApprovalRecord {
        task_token: "TOKEN-OLD".into(),
        service: "api-server".into(),
        tag: "v1".into(),
        digest: old.digest.clone(),
        deployment_id: "d-OLD".into(),
        expires_at: NOW + 600,
        ..greenlight_core::fakes::pending_approval("ap-1")
    });
    run_prepare(&w, &new, NOW).await.expect("prepared");
    assert_eq!(*w.deployments.stopped.lock().expect("lock"), ["d-OLD"]);
    let failed = w.tokens.failed.lock().expect("lock").clone();
    assert_eq!((failed[0].0.as_str(), failed[0].1.as_str()), ("TOKEN-OLD", "Superseded"));
    let decided = w.ledger.approvals.records.lock().expect("lock")[0].decided.clone().expect("decided");
    assert!(!decided.approved && decided.by.contains("superseded by v2"), "{decided:?}");
    let history = w.ledger.history.lock().expect("lock").clone();
    assert!(
        history.iter().any(|(_, _, u)| u.detail.as_deref().is_some_and(|d| d.contains("took the lock over from v1")))
    );
}

#[tokio::test]
async fn a_deployment_whose_traffic_moves_is_never_stopped_the_newer_push_waits() {
    let w = world("supersede");
    let (old, new) = (push("v1", "sha256:aaaa", 1_000), push("v2", "sha256:bbbb", 2_000));
    let mut previous = holder(&old, NOW + 600);
    previous.shifting = true;
    w.ledger.locks.lock().expect("lock").insert("api-server".into(), previous);
    let err = run_prepare(&w, &new, NOW).await.expect_err("queued");
    assert_eq!(err.error_type(), "Queued");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("production traffic is already moving"), "{err}");
    assert!(w.deployments.stopped.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn an_expired_lease_whose_traffic_moves_is_taken_only_once_its_deployment_ended() {
    let w = world("supersede");
    let (old, new) = (push("v1", "sha256:aaaa", 1_000), push("v2", "sha256:bbbb", 2_000));
    let mut previous = holder(&old, NOW - 1);
    previous.shifting = true;
    w.ledger.locks.lock().expect("lock").insert("api-server".into(), previous);
    // Its execution stopped renewing (crashed, or its lease ran out) while CodeDeploy moves
    // production traffic: the newer push waits, and nothing is stopped.
    let err = run_prepare(&w, &new, NOW).await.expect_err("queued");
    assert_eq!(err.error_type(), "Queued");
    assert!(err.to_string().contains("production traffic is already moving"), "{err}");
    assert!(w.deployments.stopped.lock().expect("lock").is_empty());
    assert_eq!(w.ledger.locks.lock().expect("lock")["api-server"].tag, "v1");
    // Once CodeDeploy is done with it, the lock is taken, still without stopping anything.
    let w = World { deployments: FakeDeployments { status: Some(DeploymentStatus::Succeeded), ..w.deployments }, ..w };
    let prepared = run_prepare(&w, &new, NOW + 1).await.expect("prepared after the deployment ended");
    assert_eq!(prepared.revision, Some(42));
    assert!(w.deployments.stopped.lock().expect("lock").is_empty());
    assert_eq!(w.ledger.locks.lock().expect("lock")["api-server"].tag, "v2");
    // v1's execution will never record how it ended: the push that took over does, on v1's
    // own record (the same order key), from what its deployment came to.
    let history = w.ledger.history.lock().expect("lock").clone();
    let (_, order, update) = history.iter().find(|(_, _, u)| u.outcome.is_some()).expect("v1's end recorded");
    assert_eq!(order, &order_key(&old));
    assert_eq!(update.outcome, Some(greenlight_core::history::Outcome::Deployed));
    let reason = update.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("its execution stopped while production traffic moved")
            && reason.contains("succeeded")
            && reason.contains("v2"),
        "{reason}"
    );
}

#[tokio::test]
async fn queue_waits_for_the_holder_until_its_lease_ends_or_the_queue_times_out() {
    let w = world("queue");
    let (old, new) = (push("v1", "sha256:aaaa", 1_000), push("v2", "sha256:bbbb", 2_000));
    w.ledger.locks.lock().expect("lock").insert("api-server".into(), holder(&old, NOW + 1_000));
    assert_eq!(error_type(run_prepare(&w, &new, NOW).await), "Queued");
    // Ten minutes after the execution started, the wait ends.
    let err = run_prepare(&w, &new, NOW + 600).await.expect_err("timed out");
    assert_eq!(err.error_type(), "QueueTimedOut");
    assert!(err.to_string().contains("queue_timeout_seconds (600 s)"), "{err}");
    // A crashed holder: its lease ends, the lock is taken and its orphaned deployment stopped.
    let prepared = run_prepare(&w, &new, NOW + 1_001).await.expect("prepared after the lease");
    assert_eq!(prepared.revision, Some(42));
    assert_eq!(*w.deployments.stopped.lock().expect("lock"), ["d-OLD"]);
}

#[tokio::test]
async fn a_step_that_lost_the_lock_is_superseded_and_deploys_nothing() {
    let w = world("supersede");
    let (mine, newer) = (push("v1", "sha256:aaaa", 1_000), push("v2", "sha256:bbbb", 2_000));
    w.ledger.locks.lock().expect("lock").insert("api-server".into(), holder(&newer, NOW + 600));
    let mut input = step(&mine);
    input.prepared = Some(
        serde_json::from_value(json!({
            "already_live": false, "reason": null, "previous_task_definition_arn": null,
            "task_definition_arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/api:42", "revision": 42,
            "container_port": 3000, "approval": {"required": false, "timeout_seconds": 3600, "on_timeout": "rollback"}
        }))
        .expect("prepared"),
    );
    let ports = StartPorts { manifests: &w.manifests, deployments: &w.deployments, ledger: &w.ledger };
    let err = start_deployment(&input, ports, Some("validate"), Lease { now: NOW, seconds: 60 })
        .await
        .expect_err("superseded");
    assert_eq!(err.error_type(), "Superseded");
    assert!(err.to_string().contains("v2 (sha256:bbbb) now holds the service's lock"), "{err}");
    assert!(w.deployments.created.lock().expect("lock").is_empty(), "no deployment created");
}

#[tokio::test]
async fn rollback_releases_the_lock_records_why_and_announces_only_what_was_deployed() {
    let w = world("supersede");
    let p = push("v1", "sha256:aaaa", 1_000);
    w.ledger.locks.lock().expect("lock").insert("api-server".into(), holder(&p, NOW + 600));
    let notifier = FakeNotifier::default();
    let request = |error: &str, deployment: bool| -> RollbackRequest {
        let mut state = json!({"service": "api-server", "push": p, "error": {"Error": error, "Cause": "why"}});
        if deployment {
            state["deployment"] = json!({"deployment_id": "d-1", "appspec_sha256": "00"});
        }
        serde_json::from_value(json!({"state": state})).expect("request")
    };
    let ports = || NotifyPorts { deployments: &w.deployments, notifier: &notifier, ledger: &w.ledger };
    let out = rollback(&request("Superseded", false), ports(), &FakeSlackApi::default(), &FakeTraffic::default())
        .await
        .expect("rolled back");
    assert_eq!(out.error, "Superseded");
    assert!(notifier.sent.lock().expect("lock").is_empty(), "a push superseded before it deployed is not announced");
    assert!(w.ledger.locks.lock().expect("lock").is_empty(), "lock released");
    rollback(&request("ValidationFailed", true), ports(), &FakeSlackApi::default(), &FakeTraffic::default())
        .await
        .expect("rolled back");
    assert_eq!(notifier.sent.lock().expect("lock")[0].0, "greenlight: api-server v1 rolled back");
    let records = greenlight_core::ports::History::deployments(&w.ledger, "api-server", 10).await.expect("history");
    assert_eq!(records[0].outcome, Some(Outcome::RolledBack));
    assert_eq!(records[0].reason.as_deref(), Some("why"));
    let states: Vec<TimelineState> = records[0].timeline.iter().map(|e| e.state).collect();
    assert_eq!(states, [TimelineState::Superseded, TimelineState::RolledBack]);
}

#[tokio::test]
async fn rollback_stops_a_deployment_that_was_created_but_never_recorded() {
    // start-deployment created d-LOST, then could neither record it nor stop it: rollback gets
    // no deployment id, finds it in the group by the description start-deployment gave it, and
    // leaves a deployment someone else started alone.
    let w = world("supersede");
    let p = push("v1", "sha256:aaaa", 1_000);
    let description = format!("greenlight: api-server v1 ({})", p.digest);
    *w.deployments.active.lock().expect("lock") =
        vec![("d-LOST".into(), description), ("d-CONSOLE".into(), "a hotfix from the console".into())];
    let notifier = FakeNotifier::default();
    let state = json!({
        "service": "api-server", "push": p, "error": {"Error": "AwsTransient", "Cause": "the ledger did not answer"},
        "prepared": {
            "already_live": false, "reason": null, "previous_task_definition_arn": null,
            "task_definition_arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/api:42", "revision": 42,
            "container_port": 3000, "approval": {"required": false, "timeout_seconds": 3600, "on_timeout": "rollback"},
            "codedeploy": {"application": "api-server", "deployment_group": "api-server-production"}
        }
    });
    let request: RollbackRequest = serde_json::from_value(json!({"state": state})).expect("request");
    let ports = NotifyPorts { deployments: &w.deployments, notifier: &notifier, ledger: &w.ledger };
    let out = rollback(&request, ports, &FakeSlackApi::default(), &FakeTraffic::default()).await.expect("rolled back");
    assert!(out.stopped_deployment);
    assert_eq!(*w.deployments.stopped.lock().expect("lock"), ["d-LOST"]);
    let sent = notifier.sent.lock().expect("lock").clone();
    assert!(sent[0].1.contains("d-LOST (created but not recorded; stopped and rolled back)"), "{sent:?}");
}

#[test]
fn execution_start_times_read_in_either_iso_form() {
    use greenlight_core::pipeline::epoch_seconds;
    assert_eq!(epoch_seconds("2026-11-26T10:00:00.123Z"), Some(1_795_687_200));
    assert_eq!(epoch_seconds("2026-11-26 10:00:00.123456+00:00"), Some(1_795_687_200));
    assert_eq!(epoch_seconds("yesterday"), None);
}

#[tokio::test]
async fn a_late_repeat_of_an_acquire_leaves_the_deployment_and_approval_recorded_since() {
    use greenlight_core::lock::{Acquire, Renew};
    use greenlight_core::ports::Locks;
    let w = world("supersede");
    let p = push("v2", "sha256:bb", NOW - 30);
    let claim = LockHolder { deployment_id: None, ..holder(&p, NOW + 900) };
    let me = claim.execution.clone();
    assert!(matches!(w.ledger.acquire("api-server", &claim, NOW, true).await, Ok(Acquire::Acquired { .. })));
    // A repeat before the deployment exists (a retried prepare) takes it again.
    assert!(matches!(w.ledger.acquire("api-server", &claim, NOW, true).await, Ok(Acquire::Acquired { .. })));
    let renew = Renew { deployment_id: Some("d-2"), approval_id: Some("a-2"), ..Renew::default() };
    w.ledger.renew("api-server", &me, NOW + 900, &renew).await.expect("renewed");
    // The first attempt, timed out on the client, lands late: it changes nothing.
    let late = w.ledger.acquire("api-server", &claim, NOW, true).await.expect("answered");
    assert!(matches!(&late, Acquire::Held(h) if h.execution == me), "{late:?}");
    let kept = w.ledger.holder("api-server").await.expect("read").expect("held");
    assert_eq!((kept.deployment_id.as_deref(), kept.approval_id.as_deref()), (Some("d-2"), Some("a-2")));
}
