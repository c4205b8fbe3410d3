//! The engine and the handler against a local HTTP server.

use std::sync::atomic::{AtomicUsize, Ordering};

use greenlight_core::checks::{Vars, run};
use greenlight_core::fakes::{FakeDeployments, FakeImages, FakeLedger, FakeManifest, FakeTaskDefinitions};
use greenlight_core::manifest::{Check, Manifest};
use greenlight_core::taskdef::TaskDefinition;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::*;

/// A keep-alive HTTP/1.1 server on 127.0.0.1 whose paths behave: `/ok`, `/500`, `/slow`
/// (300 ms), `/hang`, `/flap` (200, 500, 200…), `/json`. Counts connections and requests.
struct Server {
    base: String,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

async fn server() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let flap = Arc::new(AtomicUsize::new(0));
    let (c, r) = (connections.clone(), requests.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            let (r, flap) = (r.clone(), flap.clone());
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let mut length = 0;
                    loop {
                        let mut header = String::new();
                        if stream.read_line(&mut header).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if header == "\r\n" {
                            break;
                        }
                        if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    let _ = stream.read_exact(&mut body).await;
                    r.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = match path.as_str() {
                        "/ok" => (200, r#"{"status":"ok","digest":"sha256:abc"}"#.to_string()),
                        "/500" => (500, r#"{"status":"error"}"#.to_string()),
                        "/slow" => {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                            (200, "slow but fine".to_string())
                        }
                        "/hang" => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            (200, String::new())
                        }
                        "/flap" => {
                            let n = flap.fetch_add(1, Ordering::SeqCst);
                            (if n % 2 == 0 { 200 } else { 500 }, "flap".to_string())
                        }
                        "/json" => (200, r#"{"build":{"digest":"sha256:abc","revision":"42"}}"#.to_string()),
                        _ => (404, "not found".to_string()),
                    };
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.get_mut().write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Server { base, connections, requests }
}

fn check(name: &str, path: &str, extra: Value) -> Check {
    let mut v = json!({"name": name, "path": path, "timeout_ms": 1000});
    for (k, val) in extra.as_object().cloned().unwrap_or_default() {
        v[k] = val;
    }
    serde_json::from_value(v).expect("check")
}

fn vars() -> Vars {
    Vars { image_tag: "v2".into(), image_digest: "sha256:abc".into(), task_definition_revision: "42".into() }
}

fn probe() -> Arc<HttpProbe> {
    Arc::new(HttpProbe::new(greenlight_http::client().expect("an HTTP client")))
}

#[tokio::test]
async fn healthy_checks_pass_over_reused_connections() {
    let s = server().await;
    let checks = vec![
        check(
            "health",
            "/ok",
            json!({"consecutive_successes": 5, "interval_ms": 10, "expect": {"status": "200", "max_latency_ms": 900}}),
        ),
        check(
            "json",
            "/json",
            json!({"expect": {"json": [{"pointer": "/build/digest", "equals": "${image_digest}"}, {"pointer": "/build/revision", "equals": "${task_definition_revision}"}]}}),
        ),
        check(
            "body",
            "/ok",
            json!({"expect": {"body_contains": "${image_digest}", "body_regex": "^\\{\"status\":\"ok\""}}),
        ),
    ];
    let report = run(probe(), &s.base, &checks, &vars(), Duration::from_secs(10)).await;
    assert!(report.passed, "{report:#?}");
    assert_eq!(report.checks[0].attempts.len(), 5);
    assert!(report.checks.iter().all(|c| c.passed && c.reason.is_none()));
    let (requests, connections) = (s.requests.load(Ordering::SeqCst), s.connections.load(Ordering::SeqCst));
    assert_eq!(requests, 7);
    assert!(connections < requests, "{connections} connections for {requests} requests: no reuse");
}

#[tokio::test]
async fn a_failing_check_ends_the_run_early() {
    let s = server().await;
    let checks = vec![
        check("broken", "/500", json!({})),
        check("patient", "/ok", json!({"consecutive_successes": 50, "interval_ms": 100})),
    ];
    let report = run(probe(), &s.base, &checks, &vars(), Duration::from_secs(30)).await;
    assert!(!report.passed);
    assert_eq!(report.reason.as_deref(), Some("check `broken` failed: HTTP 500 (expected 200-299)"));
    assert_eq!(report.checks[1].reason.as_deref(), Some("stopped: the verdict was already reached"));
    assert!(report.checks[1].attempts.is_empty(), "the report of an unfinished check holds no attempts");
}

#[tokio::test]
async fn each_kind_of_failure_says_what_happened() {
    let s = server().await;
    let cases = [
        (check("latency", "/slow", json!({"expect": {"max_latency_ms": 100}})), "slower than the 100 ms allowed"),
        (check("hang", "/hang", json!({"timeout_ms": 200})), "no answer within 200 ms"),
        (
            check(
                "version",
                "/json",
                json!({"expect": {"json": [{"pointer": "/build/digest", "equals": "sha256:new"}]}}),
            ),
            "JSON /build/digest is \"sha256:abc\", expected \"sha256:new\"",
        ),
        (
            check("missing", "/json", json!({"expect": {"json": [{"pointer": "/version", "equals": "v2"}]}})),
            "JSON /version is missing",
        ),
        (
            check("flapping", "/flap", json!({"consecutive_successes": 3, "interval_ms": 10})),
            "attempt 2 of 3 consecutive: HTTP 500",
        ),
        (check("text", "/ok", json!({"expect": {"body_contains": "v3"}})), "body does not contain `v3`"),
        (check("status", "/ok", json!({"expect": {"status": "201"}})), "HTTP 200 (expected 201)"),
    ];
    for (c, expected) in cases {
        let report = run(probe(), &s.base, std::slice::from_ref(&c), &vars(), Duration::from_secs(10)).await;
        assert!(!report.passed, "{}: {report:#?}", c.name);
        let reason = report.reason.unwrap_or_default();
        assert!(reason.contains(expected), "{}: {reason:?} lacks {expected:?}", c.name);
    }
}

#[tokio::test]
async fn refused_connections_and_the_deadline() {
    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let report = run(probe(), &base, &[check("refused", "/ok", json!({}))], &vars(), Duration::from_secs(5)).await;
    assert!(report.reason.as_deref().is_some_and(|r| r.contains("cannot connect")), "{report:#?}");

    let s = server().await;
    let slow = check("hang", "/hang", json!({"timeout_ms": 60000}));
    let report = run(probe(), &s.base, &[slow], &vars(), Duration::from_millis(300)).await;
    assert_eq!(report.reason.as_deref(), Some("the checks did not finish within the 300 ms deadline"));
    assert_eq!(report.checks[0].reason.as_deref(), Some("did not finish before the deadline"));
}

#[tokio::test]
async fn a_panic_in_check_code_fails_the_check() {
    let s = server().await;
    let report = run(
        Arc::new(HttpProbe::new(greenlight_http::client().expect("an HTTP client")).panicking(true)),
        &s.base,
        &[check("any", "/ok", json!({}))],
        &vars(),
        Duration::from_secs(5),
    )
    .await;
    assert!(!report.passed);
    assert!(
        report.reason.as_deref().is_some_and(|r| r.contains("a check crashed: panic: fault injection")),
        "{report:#?}"
    );
}

type TestHandler = Handler<FakeManifest, FakeDeployments, FakeTaskDefinitions, FakeImages, FakeLedger, HttpProbe>;

fn handler(base: &str, application: &str, panic_in_checks: bool) -> TestHandler {
    let mut manifest: Value =
        serde_json::from_str(include_str!("../../../crates/core/tests/fixtures/manifest-api-server.json"))
            .expect("json");
    manifest["services"][0]["codedeploy"]["application"] = application.into();
    manifest["services"][0]["validation"] = json!({
        "test_listener_url": base,
        "checks": [{"name": "health", "path": "/ok", "expect": {"body_contains": "${image_digest}"}}]
    });
    let mut td: Value =
        serde_json::from_str(include_str!("../../../crates/core/tests/fixtures/aws/describe-task-definition.json"))
            .expect("json");
    td["taskDefinition"]["containerDefinitions"][0]["image"] =
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/api-server@sha256:abc".into();
    Handler {
        manifests: FakeManifest(Manifest::parse(&manifest.to_string()).expect("manifest")),
        deployments: FakeDeployments::default(),
        task_definitions: FakeTaskDefinitions {
            live: TaskDefinition::from_json(td).expect("td"),
            registered_since: 0,
            registered: Default::default(),
        },
        images: FakeImages { tags: vec!["latest".into(), "v1.42.0".into(), "v1.42".into()] },
        ledger: FakeLedger::held_by_digest("api-server", "sha256:abc"),
        probe: Arc::new(HttpProbe::new(greenlight_http::client().expect("an HTTP client")).panicking(panic_in_checks)),
        lease_seconds: 60,
    }
}

fn event() -> Value {
    serde_json::from_str(include_str!("../../../crates/core/tests/fixtures/aws/codedeploy-lifecycle-hook-event.json"))
        .expect("fixture")
}

fn deadline() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

#[tokio::test]
async fn handler_reports_succeeded_and_stores_the_report() {
    let s = server().await;
    let h = handler(&s.base, "api-server", false);
    h.ledger.locks.lock().expect("lock").get_mut("api-server").expect("held").tag = "v1.42".into();
    let record = h.handle(event(), deadline()).await.expect("reported");
    assert!(record.report.passed, "{record:?}");
    assert_eq!(record.vars.image_tag, "v1.42", "the pushed tag (the lock's holder), not another tag of the image");
    assert_eq!(record.vars.image_digest, "sha256:abc");
    assert_eq!(record.vars.task_definition_revision, "41");
    let reported = h.deployments.reported.lock().expect("lock").clone();
    assert_eq!(
        reported,
        [("d-A1B2C3D4E".to_string(), event()["LifecycleEventHookExecutionId"].as_str().expect("id").to_string(), true)]
    );
    let stored = h.ledger.validations.lock().expect("lock").clone();
    assert_eq!(stored, std::slice::from_ref(&record), "the ledger holds what the hook returned");
    assert_eq!(stored[0].deployment_id, "d-A1B2C3D4E");
    assert_eq!(stored[0].report.checks[0].name, "health");
}

#[tokio::test]
async fn a_deployment_whose_lock_was_lost_checks_with_a_tag_the_rules_accept_and_fails_at_the_gate() {
    let s = server().await;
    let h = handler(&s.base, "api-server", false);
    h.ledger.locks.lock().expect("lock").clear();
    let record = h.handle(event(), deadline()).await.expect("reported");
    assert_eq!(record.vars.image_tag, "v1.42.0", "ECR's first tag the service's rules accept");
    assert!(!record.report.passed, "the gate refuses a deployment whose execution lost the lock");
    assert!(!h.deployments.reported.lock().expect("lock")[0].2);
}

#[tokio::test]
async fn unknown_deployment_group_and_panics_still_report_failed() {
    let s = server().await;
    let h = handler(&s.base, "another-application", false);
    let record = h.handle(event(), deadline()).await.expect("reported");
    assert!(!record.report.passed);
    let reason = record.report.reason.clone().unwrap_or_default();
    assert!(reason.contains("for deployment group api-server/api-server-production"), "{reason}");
    assert!(!h.deployments.reported.lock().expect("lock")[0].2);

    let h = handler(&s.base, "api-server", true);
    let record = h.handle(event(), deadline()).await.expect("reported");
    assert!(record.report.reason.clone().unwrap_or_default().contains("a check crashed"), "{record:?}");
    assert!(!h.deployments.reported.lock().expect("lock")[0].2);
}

#[tokio::test]
async fn the_lambda_deadline_bounds_the_verdict() {
    let s = server().await;
    let mut h = handler(&s.base, "api-server", false);
    let mut manifest = h.manifests.0.clone();
    manifest.services[0].validation.checks[0].path = "/hang".into();
    manifest.services[0].validation.checks[0].timeout_ms = 60_000;
    manifest.services[0].validation.deadline_seconds = 840;
    h.manifests = FakeManifest(manifest);
    // Six seconds left: the safety margin leaves one for the checks.
    let record = h.handle(event(), SystemTime::now() + Duration::from_secs(6)).await.expect("reported");
    let reason = record.report.reason.clone().unwrap_or_default();
    assert!(reason.contains("deadline"), "{reason}");
    assert!(!h.deployments.reported.lock().expect("lock")[0].2);
}

#[tokio::test]
async fn the_report_is_retried_when_throttled() {
    let s = server().await;
    let h = handler(&s.base, "api-server", false);
    *h.deployments.throttle_reports.lock().expect("lock") = 2;
    h.handle(event(), deadline()).await.expect("reported after two throttled attempts");
    let reported = h.deployments.reported.lock().expect("lock").clone();
    assert_eq!(reported.len(), 1);
    assert!(reported[0].2, "Succeeded");
}
