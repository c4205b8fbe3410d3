//! `cargo xtask bench`: what greenlight's functions cost on a deploy's critical path, measured
//! side by side in one run and printed as one table (medians and ratios: these machines are
//! noisy, so no figure here is an assertion).
//!
//! - cold start of every packaged `bootstrap`: process start → its first request to the Lambda
//!   Runtime API (a runtime-API host here records it), and the first event's handling time;
//!   beside it the Python peer (`tests/bench/peer.py`: boto3 creating the same clients), run
//!   alternately with ours;
//! - peak RSS through init and the first event (`VmHWM`), and each `bootstrap.zip`'s size;
//! - push → CreateDeployment on the local emulation;
//! - state transitions, invocations and dollars of a 1-minute and a 15-minute deploy, read from
//!   the execution history and the emulation's invocation records;
//! - the validation verdict of 20 concurrent checks against the sum of their latencies.
//!
//! `cargo xtask bench` packages the functions first; `cargo xtask bench validate` runs only the
//! last one.

// A benchmark's job is to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use greenlight_core::checks::{MAX_CONCURRENT_CHECKS, Vars, run};
use greenlight_core::manifest::Check;
use greenlight_tests::bench::{
    DeployCost, Invocations, Table, billed_ms, boto3_clients, deploy_cost, median, ms, peak_rss_kib, verdict,
};
use greenlight_tests::emulator::{Options, python, root};
use greenlight_tests::pipeline::{FUNCTIONS, Hook, Pipeline, Setup, declared, function_name};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Cold starts per function (ours and the peer's, alternately).
const RUNS: usize = 10;
/// Pushes timed from on-image-push to CreateDeployment.
const PUSHES: usize = 5;
/// Memory each function gets in infra/modules/greenlight (MB): what Lambda bills.
const MEMORY_MB: &[(&str, u32)] = &[("validate", 256)];
const DEFAULT_MEMORY_MB: u32 = 128;

/// The targets: a cold start within 8 ms and at most 1/30 of the Python peer's, a zip of at most
/// 3.8 MB.
const COLD_START_MS: f64 = 8.0;
const COLD_START_RATIO: f64 = 30.0;
const ZIP_MB: f64 = 3.8;
fn memory_mb(function: &str) -> u32 {
    MEMORY_MB.iter().find(|(f, _)| *f == function).map_or(DEFAULT_MEMORY_MB, |(_, m)| *m)
}

#[tokio::main]
async fn main() {
    let only_validate = std::env::args().nth(1).as_deref() == Some("validate");
    let mut table = Table::new(&["figure", "greenlight", "Python peer", "ratio", "target", "verdict"]);
    if !only_validate {
        // `cargo xtask bench` points this at target/lambda after packaging: the pipelines below
        // run the packaged functions too.
        let packaged = std::env::var_os("GREENLIGHT_PACKAGED_FUNCTIONS")
            .map(std::path::PathBuf::from)
            .expect("GREENLIGHT_PACKAGED_FUNCTIONS: run the benchmark with `cargo xtask bench`");
        eprintln!("cold starts: {RUNS} runs per function, ours and the Python peer alternately …");
        cold_starts(&packaged, &mut table).await;
        eprintln!("push → CreateDeployment: {PUSHES} pushes …");
        push_latency(&mut table).await;
        eprintln!("cost per deploy: a 1-minute and a 15-minute deployment (emulated at 1/30 speed) …");
        for (label, termination_wait_minutes) in [("1-minute", 0), ("15-minute", 14)] {
            let cost = deploy(termination_wait_minutes).await;
            cost_rows(&mut table, label, &cost);
        }
    }
    eprintln!("validation verdict …");
    validation_verdict(&mut table).await;
    println!("{}", table.render());
}

// ---------------------------------------------------------------------------------------------
// Cold start, first event, peak RSS, package size
// ---------------------------------------------------------------------------------------------

/// What the runtime-API host saw, with when.
#[derive(Debug)]
enum Seen {
    /// The n-th `GET /invocation/next` (0: the first).
    Next(u32, Instant),
    Answered(Instant),
    InitError(String),
}

/// A Lambda Runtime API for one process: hands out `event` once, records every request.
async fn runtime_host(event: Bytes, tx: mpsc::UnboundedSender<Seen>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("address");
    let nexts = Arc::new(AtomicU32::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (tx, event, nexts) = (tx.clone(), event.clone(), nexts.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (tx, event, nexts) = (tx.clone(), event.clone(), nexts.clone());
                    async move { Ok::<_, Infallible>(runtime_api(req, &tx, event, &nexts).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn runtime_api(
    req: Request<hyper::body::Incoming>,
    tx: &mpsc::UnboundedSender<Seen>,
    event: Bytes,
    nexts: &AtomicU32,
) -> Response<Full<Bytes>> {
    let now = Instant::now();
    let path = req.uri().path().to_string();
    let reply = |status: u16, body: Bytes| Response::builder().status(status).body(Full::new(body)).expect("response");
    if path == "/2018-06-01/runtime/invocation/next" {
        let n = nexts.fetch_add(1, Ordering::SeqCst);
        let _ = tx.send(Seen::Next(n, now));
        if n > 0 {
            // One event per process: the second request waits until the process is killed.
            std::future::pending::<()>().await;
        }
        let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + Duration::from_secs(60);
        return Response::builder()
            .status(200)
            .header("Lambda-Runtime-Aws-Request-Id", "bench-1")
            .header("Lambda-Runtime-Deadline-Ms", deadline.as_millis().to_string())
            .header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
            .header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
            .body(Full::new(event))
            .expect("event");
    }
    if path.ends_with("/response") || path.ends_with("/error") {
        let _ = tx.send(Seen::Answered(now));
        return reply(202, Bytes::from_static(b"{\"status\":\"OK\"}"));
    }
    if path.ends_with("/init/error") {
        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let _ = tx.send(Seen::InitError(String::from_utf8_lossy(&body).into_owned()));
        return reply(202, Bytes::from_static(b"{\"status\":\"OK\"}"));
    }
    reply(404, Bytes::new())
}

/// One process from start to its first request (and, for ours, through its first event).
#[derive(Debug, Default)]
struct ColdStart {
    start_ms: f64,
    first_event_ms: Option<f64>,
    peak_rss_kib: Option<u64>,
}

async fn one_cold_start(command: &[String], env: &[(String, String)], event: &Value, handle_event: bool) -> ColdStart {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let addr = runtime_host(Bytes::from(event.to_string()), tx).await;
    let started = Instant::now();
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", command[0]));
    let pid = child.id();
    let mut result = ColdStart::default();
    let mut delivered = None;
    let limit = tokio::time::sleep(Duration::from_secs(60));
    tokio::pin!(limit);
    loop {
        tokio::select! {
            seen = rx.recv() => match seen {
                Some(Seen::Next(0, at)) => {
                    result.start_ms = ms(at - started);
                    delivered = Some(at);
                    if !handle_event {
                        break;
                    }
                }
                Some(Seen::Answered(at)) => result.first_event_ms = delivered.map(|d| ms(at - d)),
                Some(Seen::Next(_, _)) => break,
                Some(Seen::InitError(e)) => panic!("{} failed to start: {e}", command[0]),
                None => break,
            },
            () = &mut limit => panic!("{} did not reach the runtime API within 60 s", command[0]),
        }
    }
    result.peak_rss_kib = std::fs::read_to_string(format!("/proc/{pid}/status")).ok().as_deref().and_then(peak_rss_kib);
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// The first event each function gets: a representative request against the seeded emulation.
fn first_event(function: &str, p: &Pipeline) -> Value {
    let live = p.push_event("v1");
    let push = json!({
        "account": "123456789012", "region": "us-east-1", "repository": "web",
        "digest": p.digest("v1"), "tag": "v1", "pushed_at": 1_700_000_000_000_i64
    });
    let step = json!({"service": "web", "push": push, "execution_id": "bench", "started_at": "2026-01-01T00:00:00Z"});
    let prepared = json!({
        "already_live": false, "reason": null, "previous_task_definition_arn": null, "revision": 2,
        "task_definition_arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2", "container_port": 8080,
        "approval": {"required": true, "timeout_seconds": 600, "on_timeout": "rollback"}
    });
    let deployment = json!({"deployment_id": "d-BENCH", "appspec_sha256": "0"});
    match function {
        // A tag the manifest does not deploy: reads the manifest, starts nothing.
        "on-image-push" => {
            let mut e = live;
            e["detail"]["image-tag"] = json!("nightly");
            e
        }
        // The live digest: lock taken and released, "already live".
        "prepare" => step,
        // A step of an execution that does not hold the lock: Superseded after the ledger says so.
        "start-deployment" => {
            let mut s = step;
            s["prepared"] = prepared;
            s
        }
        "deployment-status" => {
            json!({"deployment": {"deployment_id": "d-BENCH"}, "service": "web", "push": push, "poll_seconds": 1})
        }
        "finish" => {
            let mut s = step;
            s["action"] = json!("continue");
            s["prepared"] = prepared;
            s["deployment"] = deployment;
            s
        }
        // A failed validation with no deployment: ledger, lock, notification.
        "rollback" => {
            json!({"state": {"service": "web", "push": push, "error": {"Error": "ValidationFailed", "Cause": "bench"}}})
        }
        // CodeDeploy's hook event for a deployment it does not know: reported Failed.
        "validate" => json!({"DeploymentId": "d-BENCH", "LifecycleEventHookExecutionId": "bench"}),
        "request-approval" => {
            let mut s = step;
            s["task_token"] = json!("bench-token");
            s["prepared"] = prepared;
            s["deployment"] = deployment;
            s
        }
        // A signed link's GET with a bad token: answered without AWS.
        "approval-callback" => json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/approve", "rawQueryString": "token=bench",
            "headers": {}, "queryStringParameters": {"token": "bench"},
            "requestContext": {"http": {"method": "GET", "path": "/approve", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
                               "accountId": "anonymous", "apiId": "bench", "domainName": "bench", "domainPrefix": "bench",
                               "requestId": "bench", "routeKey": "$default", "stage": "$default", "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0},
            "isBase64Encoded": false
        }),
        other => panic!("no first event for {other}"),
    }
}

/// The environment Lambda and Terraform give the function, pointed at the emulation: what the
/// pipeline gives its function processes, and what Lambda sets.
fn function_env(function: &str, p: &Pipeline) -> Vec<(String, String)> {
    let lambda = [
        ("AWS_LAMBDA_FUNCTION_NAME", function_name(function)),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb(function).to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", function_name(function))),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", function_name(function)),
        ("AWS_SECRET_ACCESS_KEY", "emulated".into()),
        ("AWS_ENDPOINT_URL", p.emulator.endpoint.clone()),
    ];
    let own = p.function_env.get(function).cloned().unwrap_or_default();
    lambda.into_iter().map(|(k, v)| (k.to_string(), v)).chain(own).collect()
}

async fn cold_starts(packaged: &Path, table: &mut Table) {
    let p = Pipeline::start(Setup { hook: Hook::Off, ..Default::default() }).await;
    let peer_script = root().join("tests/bench/peer.py");
    for function in FUNCTIONS {
        let bootstrap = packaged.join(function).join("bootstrap");
        assert!(bootstrap.is_file(), "{} is missing: run `cargo xtask package`", bootstrap.display());
        let env = function_env(function, &p);
        let event = first_event(function, &p);
        let ours_command = vec![bootstrap.to_string_lossy().into_owned()];
        let mut peer_command =
            vec![python().to_string_lossy().into_owned(), peer_script.to_string_lossy().into_owned()];
        let (aws_calls, _) = declared(function);
        peer_command.extend(boto3_clients(&aws_calls.into_iter().collect::<Vec<_>>()));
        let (mut ours, mut peer) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            ours.push(one_cold_start(&ours_command, &env, &event, true).await);
            peer.push(one_cold_start(&peer_command, &env, &event, false).await);
        }
        let start = median(&ours.iter().map(|c| c.start_ms).collect::<Vec<_>>()).unwrap_or(f64::NAN);
        let peer_start = median(&peer.iter().map(|c| c.start_ms).collect::<Vec<_>>()).unwrap_or(f64::NAN);
        let first = median(&ours.iter().filter_map(|c| c.first_event_ms).collect::<Vec<_>>()).unwrap_or(f64::NAN);
        let rss = |runs: &[ColdStart]| {
            median(&runs.iter().filter_map(|c| c.peak_rss_kib).map(|k| k as f64 / 1024.0).collect::<Vec<_>>())
                .unwrap_or(f64::NAN)
        };
        let (rss_ours, rss_peer) = (rss(&ours), rss(&peer));
        let ratio = peer_start / start;
        let start_ok = start <= COLD_START_MS && ratio >= COLD_START_RATIO;
        table.row(vec![
            format!("{function}: cold start, ms"),
            format!("{start:.1}"),
            format!("{peer_start:.1}"),
            format!("1/{ratio:.0}"),
            format!("≤ {COLD_START_MS} ms and ≤ 1/{COLD_START_RATIO} of the peer"),
            if start_ok { "ok".into() } else { "missed".into() },
        ]);
        table.row(vec![
            format!("{function}: first event, ms"),
            format!("{first:.1}"),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
        table.row(vec![
            format!("{function}: peak RSS, MB"),
            format!("{rss_ours:.1}"),
            format!("{rss_peer:.1}"),
            format!("1/{:.1}", rss_peer / rss_ours),
            "≤ 16 MB".into(),
            verdict(rss_ours, 16.0, "MB"),
        ]);
        let zip =
            std::fs::metadata(packaged.join(function).join("bootstrap.zip")).map(|m| m.len() as f64 / 1_000_000.0);
        let zip = zip.unwrap_or(f64::NAN);
        table.row(vec![
            format!("{function}: bootstrap.zip, MB"),
            format!("{zip:.2}"),
            String::new(),
            String::new(),
            format!("≤ {ZIP_MB} MB"),
            verdict(zip, ZIP_MB, "MB"),
        ]);
    }
}

// ---------------------------------------------------------------------------------------------
// Push → CreateDeployment, and the cost of a deploy
// ---------------------------------------------------------------------------------------------

fn execution_arn(p: &Pipeline, name: &str) -> String {
    format!("{}:{name}", p.state_machine_arn.replace(":stateMachine:", ":execution:"))
}

/// When CodeDeploy received each deployment's CreateDeployment (seconds since the epoch).
async fn deployments_created(p: &Pipeline) -> BTreeMap<String, f64> {
    let state = p.emulator.control_get("state").await;
    state["deployments"]
        .as_object()
        .map(|d| d.iter().filter_map(|(id, v)| v["created_at"].as_f64().map(|t| (id.clone(), t))).collect())
        .unwrap_or_default()
}

async fn push_latency(table: &mut Table) {
    let p = Pipeline::start(Setup { hook: Hook::Off, ..Default::default() }).await;
    let mut latencies = Vec::new();
    for tag in ["v2", "v3", "v4", "v5", "v6"].iter().take(PUSHES) {
        let before = deployments_created(&p).await;
        let sent = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        let outcome = p.push(tag).await;
        let name = &outcome.executions.first().expect("one execution").name;
        let arn = execution_arn(&p, name);
        let end = p.finish(&arn, Duration::from_secs(120), || async {}).await;
        assert_eq!(end.status, "SUCCEEDED", "{tag}: {end:?}");
        let created = deployments_created(&p).await;
        let new = created.iter().find(|(id, _)| !before.contains_key(*id)).map(|(_, t)| *t).expect("a new deployment");
        latencies.push((new - sent) * 1000.0);
    }
    let latency = median(&latencies).unwrap_or(f64::NAN);
    table.row(vec![
        format!("push → CreateDeployment, ms (median of {PUSHES})"),
        format!("{latency:.0}"),
        String::new(),
        String::new(),
        "≤ 1000 ms".into(),
        verdict(latency, 1000.0, "ms"),
    ]);
}

/// Emulated time runs this many times faster than real time in the cost runs: CodeDeploy's
/// waits, and greenlight's lease and watch, are all scaled by it.
const COST_SPEED: f64 = 30.0;

async fn deploy(termination_wait_minutes: u32) -> DeployCost {
    let p = Pipeline::start(Setup {
        options: Options { time_scale: 1.0 / COST_SPEED, ..Default::default() },
        hook: Hook::Off,
        termination_wait_minutes,
        // 900 s of lease and 15 s between looks, at 1/30.
        lease_seconds: 30,
        wait_seconds: 1,
        ..Default::default()
    })
    .await;
    let outcome = p.push("v2").await;
    let arn = execution_arn(&p, &outcome.executions.first().expect("one execution").name);
    let end = p.finish(&arn, Duration::from_secs(180), || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    let transitions = p.states(&arn).await.len() as u64;
    let state = p.emulator.control_get("state").await;
    let functions: Vec<Invocations> = FUNCTIONS
        .iter()
        .map(|f| {
            let durations: Vec<f64> = state["functions"][function_name(f)]["durations_ms"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            // deployment-status spends the deployment's (emulated) time watching it: scale it
            // back; the other steps' durations are real time.
            let scale = if *f == "deployment-status" { COST_SPEED } else { 1.0 };
            Invocations {
                function: (*f).to_string(),
                memory_mb: memory_mb(f),
                billed_ms: durations.iter().map(|d| billed_ms(d * scale)).collect(),
            }
        })
        .collect();
    deploy_cost(transitions, &functions)
}

fn cost_rows(table: &mut Table, label: &str, cost: &DeployCost) {
    let target = if label.starts_with("15") { "≤ 30" } else { "" };
    table.row(vec![
        format!("{label} deploy: state transitions"),
        cost.transitions.to_string(),
        String::new(),
        String::new(),
        target.into(),
        if target.is_empty() { String::new() } else { verdict(cost.transitions as f64, 30.0, "transitions") },
    ]);
    table.row(vec![
        format!("{label} deploy: Lambda invocations, GB-s"),
        format!("{} / {:.2}", cost.invocations, cost.gb_seconds),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]);
    table.row(vec![
        format!("{label} deploy: list price, $"),
        format!("{:.5}", cost.dollars),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Validation verdict
// ---------------------------------------------------------------------------------------------

const CHECKS: u64 = 20;
const VERDICT_RUNS: usize = 7;

/// Answers `/delay/<ms>` after that many milliseconds, keeping connections alive.
async fn delay_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let delay: u64 = line
                        .split_whitespace()
                        .nth(1)
                        .and_then(|p| p.strip_prefix("/delay/"))
                        .and_then(|d| d.parse().ok())
                        .unwrap_or(0);
                    loop {
                        let mut header = String::new();
                        if stream.read_line(&mut header).await.unwrap_or(0) == 0 || header == "\r\n" {
                            break;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    let reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok";
                    if stream.get_mut().write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    base
}

async fn validation_verdict(table: &mut Table) {
    let base = delay_server().await;
    // Latencies from 50 to 240 ms.
    let checks: Vec<Check> = (0..CHECKS)
        .map(|i| {
            serde_json::from_value(
                json!({"name": format!("check-{i}"), "path": format!("/delay/{}", 50 + i * 10), "timeout_ms": 5000}),
            )
            .expect("check")
        })
        .collect();
    let probe = Arc::new(greenlight_http::HttpProbe::new(greenlight_http::client().expect("an HTTP client")));
    let (mut verdicts, mut sums) = (Vec::new(), Vec::new());
    for _ in 0..VERDICT_RUNS {
        let started = Instant::now();
        let report = run(probe.clone(), &base, &checks, &Vars::default(), Duration::from_secs(60)).await;
        verdicts.push(ms(started.elapsed()));
        assert!(report.passed, "{report:?}");
        sums.push(report.checks.iter().flat_map(|c| &c.attempts).map(|a| a.latency_ms as f64).sum());
    }
    let (verdict_ms, sum) = (median(&verdicts).unwrap_or(f64::NAN), median(&sums).unwrap_or(f64::NAN));
    table.row(vec![
        format!("validation verdict, {CHECKS} checks of 50–240 ms (≤ {MAX_CONCURRENT_CHECKS} at once), ms"),
        format!("{verdict_ms:.0}"),
        format!("{sum:.0} (one by one)"),
        format!("1/{:.1}", sum / verdict_ms),
        String::new(),
        String::new(),
    ]);
}
