//! The local sandbox end to end: an image put into the emulation's ECR reaches on-image-push
//! through an EventBridge rule with the event pattern the orchestrator module writes (so a wrong
//! pattern in the module fails here), and `cargo xtask emulator up|push|down` (the `emulator`
//! binary) gives a new user a running greenlight the real `greenlight` CLI works against.

use std::process::Command;
use std::time::{Duration, Instant};

use greenlight_core::history::Outcome;
use greenlight_tests::cli::{operator, stderr, stdout};
use greenlight_tests::emulator::Port;
use greenlight_tests::pipeline::{PUSH_RULE, Pipeline, Setup, binary};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(300);

/// The executions of the pipeline's state machine, once there are `count` of them.
async fn executions(p: &Pipeline, count: usize) -> Vec<String> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let found = p.executions().await;
        if found.len() >= count {
            return found;
        }
        assert!(Instant::now() < deadline, "{count} execution(s) expected, {} started", found.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_image_pushed_to_ecr_deploys_through_the_modules_event_rule() {
    let p = Pipeline::start(Setup::default()).await;
    p.install_push_rule(|_| {}).await;
    let digest = p.push_image("v8", json!({"mode": "healthy"})).await;
    let execution = executions(&p, 1).await.remove(0);
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(digest.clone()));

    let events = &p.emulator.control_get("state").await["events"];
    assert_eq!(events["matched"][PUSH_RULE], 1, "{events:#}");
    let delivered = &events["delivered"][0]["event"];
    assert_eq!(delivered["detail"]["image-digest"], digest.as_str());
    let record = p.history("web").await.into_iter().next().expect("the push's record");
    assert_eq!(record.outcome, Some(Outcome::Deployed));
    let request = record.request.expect("the request");
    assert_eq!(request.event_id.as_deref(), delivered["id"].as_str(), "the execution is the event's");
    assert_eq!(request.tag, "v8");
}

#[tokio::test]
async fn a_rule_whose_pattern_does_not_match_ecr_s_event_deploys_nothing() {
    let p = Pipeline::start(Setup::default()).await;
    // A mistake in the module's pattern: ECR spells the action PUSH.
    p.install_push_rule(|pattern| pattern["detail"]["action-type"] = json!(["Push"])).await;
    p.push_image("v8", json!({"mode": "healthy"})).await;
    // The rule is matched within PutImage: by now the emulation counted what it matched.
    let events = &p.emulator.control_get("state").await["events"];
    assert_eq!(events["matched"].get(PUSH_RULE), None, "{events:#}");
    assert!(p.executions().await.is_empty());
}

/// The sandbox's `emulator` tool, with its state file in this test's own place.
fn sandbox(state: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(binary("emulator"))
        .args(args)
        .env("GREENLIGHT_SANDBOX_STATE", state)
        .output()
        .expect("run the emulator tool")
}

/// Stops the sandbox however the test ends.
struct Down(std::path::PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = sandbox(&self.0, &["down"]);
    }
}

#[test]
fn the_sandbox_runs_greenlight_for_the_cli_and_deploys_what_is_pushed() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbox");
    std::fs::create_dir_all(&dir).expect("a directory");
    let state = dir.join(format!("up-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&state);
    let up = sandbox(&state, &["up"]);
    let _down = Down(state.clone());
    assert_eq!(up.status.code(), Some(0), "{}", stderr(&up));
    let printed = stdout(&up);
    let endpoint = printed
        .lines()
        .find_map(|l| l.strip_prefix("export AWS_ENDPOINT_URL="))
        .unwrap_or_else(|| panic!("no AWS_ENDPOINT_URL in {printed}"))
        .to_string();
    assert!(printed.contains("export GREENLIGHT_WAIT_SECONDS=1"), "{printed}");
    let again = sandbox(&state, &["up"]);
    assert_eq!(again.status.code(), Some(1), "a second sandbox is refused");

    let bad = sandbox(&state, &["push", "web:v4", "--behaviour", "melting"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("--behaviour `melting` is none of healthy, error"), "{}", stderr(&bad));
    let pushed = sandbox(&state, &["push", "web:v4", "--behaviour", "healthy"]);
    assert_eq!(pushed.status.code(), Some(0), "{}", stderr(&pushed));
    assert!(stdout(&pushed).starts_with("pushed web:v4 (sha256:"), "{}", stdout(&pushed));

    // The push's event starts the deploy by itself; `greenlight watch` follows the newest one.
    let deadline = Instant::now() + LIMIT;
    let history = loop {
        let o = operator(&endpoint, &["history", "web", "--output", "json"]).output().expect("greenlight history");
        let history: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        if history.as_array().is_some_and(|h| !h.is_empty()) {
            break history;
        }
        assert!(Instant::now() < deadline, "the push never reached on-image-push: {}", stderr(&o));
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(history[0]["tag"], "v4");
    let watch = operator(&endpoint, &["watch", "web", "--every", "1"]).output().expect("greenlight watch");
    assert_eq!(watch.status.code(), Some(0), "{}{}", stdout(&watch), stderr(&watch));
    assert!(stdout(&watch).contains("SUCCEEDED: web v4 (deployed)"), "{}", stdout(&watch));
    let status = operator(&endpoint, &["status", "web", "--output", "json"]).output().expect("greenlight status");
    let status: Value = serde_json::from_slice(&status.stdout).expect("JSON");
    assert_eq!(status["production"][0]["tag"], "v4", "{status:#}");

    let down = sandbox(&state, &["down"]);
    assert_eq!(down.status.code(), Some(0));
    assert!(!state.exists(), "down removes the state file");
}
