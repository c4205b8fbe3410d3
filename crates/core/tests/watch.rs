//! deployment-status watches a deployment inside one invocation: it hands back to the state
//! machine only when the next step is due or its budget runs out (tokio's clock is paused, so
//! the minutes below take no time).

use std::time::Duration;

use greenlight_core::Error;
use greenlight_core::event::Push;
use greenlight_core::fakes::{FakeDeployments, FakeLedger};
use greenlight_core::lock::LockHolder;
use greenlight_core::pipeline::{
    Continued, Lease, StatusInput, StatusPorts, Watch, WatchedDeployment, deployment_status, execution_name,
};
use greenlight_core::ports::DeploymentStatus;

const NOW: i64 = 1_800_000_000;
const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn push() -> Push {
    Push {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        repository: "api-server".into(),
        digest: DIGEST.into(),
        tag: "v2".into(),
        event_id: None,
        event_time: None,
        pushed_at: chrono::DateTime::from_timestamp(NOW - 10, 0),
        ..Push::default()
    }
}

fn input(continued: bool) -> StatusInput {
    StatusInput {
        deployment: WatchedDeployment {
            deployment_id: "d-1".into(),
            appspec_sha256: None,
            continued: continued.then(|| Continued { continued: "d-1".into() }),
        },
        service: Some("api-server".into()),
        push: Some(push()),
        poll_seconds: Some(15),
        awaiting_approval: false,
    }
}

fn deployments(script: &[&str], then: &str) -> FakeDeployments {
    FakeDeployments {
        status: DeploymentStatus::parse(then),
        script: std::sync::Mutex::new(script.iter().filter_map(|s| DeploymentStatus::parse(s)).collect()),
        ..Default::default()
    }
}

fn watch(budget_s: u64) -> Watch {
    Watch { poll: Duration::from_secs(15), budget: Duration::from_secs(budget_s) }
}

fn looks(d: &FakeDeployments) -> u32 {
    *d.looks.lock().expect("looks")
}

#[tokio::test(start_paused = true)]
async fn a_long_deployment_is_watched_in_one_invocation_until_it_succeeds() {
    // Ten minutes in progress, then Succeeded: one invocation, a look every 15 s.
    let script = vec!["InProgress"; 40];
    let d = deployments(&script, "Succeeded");
    let ledger = FakeLedger::held_by("api-server", &push());
    let started = tokio::time::Instant::now();
    let state = deployment_status(
        &input(false),
        StatusPorts { deployments: &d, ledger: &ledger },
        Lease { now: NOW, seconds: 900 },
        watch(810),
    )
    .await
    .expect("state");
    assert_eq!(state.status, DeploymentStatus::Succeeded);
    assert_eq!(looks(&d), 41);
    assert_eq!(started.elapsed(), Duration::from_secs(600));
}

#[tokio::test(start_paused = true)]
async fn the_budget_hands_back_to_the_state_machine_before_it_runs_out() {
    let d = deployments(&[], "InProgress");
    let ledger = FakeLedger::held_by("api-server", &push());
    let started = tokio::time::Instant::now();
    let state = deployment_status(
        &input(false),
        StatusPorts { deployments: &d, ledger: &ledger },
        Lease { now: NOW, seconds: 900 },
        watch(100),
    )
    .await
    .expect("state");
    assert_eq!(state.status, DeploymentStatus::InProgress);
    // Looks at 0, 15, …, 90 s; one more would end after 100 s.
    assert_eq!(looks(&d), 7);
    assert_eq!(started.elapsed(), Duration::from_secs(90));
}

#[tokio::test(start_paused = true)]
async fn ready_ends_the_watch_for_approval_but_not_once_continued() {
    let d = deployments(&["InProgress"], "Ready");
    let ledger = FakeLedger::held_by("api-server", &push());
    let state = deployment_status(
        &input(false),
        StatusPorts { deployments: &d, ledger: &ledger },
        Lease { now: NOW, seconds: 900 },
        watch(810),
    )
    .await
    .expect("state");
    assert_eq!(state.status, DeploymentStatus::Ready);
    assert_eq!(looks(&d), 2);

    // After ContinueDeployment, a Ready that has not moved on yet is not news.
    let d = deployments(&["Ready", "Ready", "InProgress"], "Succeeded");
    let state = deployment_status(
        &input(true),
        StatusPorts { deployments: &d, ledger: &ledger },
        Lease { now: NOW, seconds: 900 },
        watch(810),
    )
    .await
    .expect("state");
    assert_eq!(state.status, DeploymentStatus::Succeeded);
    assert_eq!(looks(&d), 4);
}

#[tokio::test(start_paused = true)]
async fn a_deployment_stopped_by_a_takeover_reads_as_superseded() {
    let d = deployments(&["InProgress", "InProgress"], "Stopped");
    let ledger = FakeLedger::held_by("api-server", &push());
    let taken = newer_holder();
    let input = input(false);
    let watching = deployment_status(
        &input,
        StatusPorts { deployments: &d, ledger: &ledger },
        Lease { now: NOW, seconds: 900 },
        watch(810),
    );
    // A newer push takes the lock over while the watch runs, then stops the deployment.
    let takeover = async {
        tokio::time::sleep(Duration::from_secs(20)).await;
        ledger.locks.lock().expect("locks").insert("api-server".into(), taken);
    };
    let (result, ()) = tokio::join!(watching, takeover);
    match result {
        Err(Error::Superseded { by, .. }) => assert!(by.contains("v9"), "{by}"),
        other => panic!("expected Superseded, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_deployment_that_failed_on_its_own_is_reported_as_failed() {
    let d = deployments(&["InProgress"], "Failed");
    let ledger = FakeLedger::held_by("api-server", &push());
    let state = deployment_status(
        &input(false),
        StatusPorts { deployments: &d, ledger: &ledger },
        Lease { now: NOW, seconds: 900 },
        watch(810),
    )
    .await
    .expect("state");
    assert_eq!(state.status, DeploymentStatus::Failed);
}

#[test]
fn the_budget_stays_within_the_deadline_and_the_lease() {
    let s = Duration::from_secs;
    assert_eq!(Watch::new(s(15), s(840), s(900), 900).budget, s(810), "a tenth of the lease is kept");
    assert_eq!(Watch::new(s(15), s(840), s(60), 900).budget, s(55), "5 s before the invocation's deadline");
    assert_eq!(Watch::new(s(15), s(300), s(900), 900).budget, s(300), "the configured limit");
    assert_eq!(Watch::new(s(1), s(840), s(60), 20).budget, s(18));
}

/// The holder after a newer push (v9) took the lock over.
fn newer_holder() -> LockHolder {
    LockHolder {
        execution: execution_name("api-server", &Push { digest: "sha256:9999".into(), ..Push::default() }),
        request: None,
        order: "9".into(),
        tag: "v9".into(),
        digest: "sha256:9999".into(),
        lease_until: NOW + 900,
        deployment_id: None,
        approval_id: None,
        shifting: false,
    }
}
