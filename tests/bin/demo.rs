//! `cargo xtask demo`: greenlight's pipeline on the local AWS emulation. Blue serves v1; a push
//! of v2 deploys it; a push of v3, whose green answers HTTP 500, fails its smoke check on the
//! test listener and rolls back while production keeps serving v2. Exits 0 when both end as
//! they should, and leaves nothing running.

// A demo's job is to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use greenlight_core::ports::{ExecutionStart, Validations};
use greenlight_tests::emulator::{Options, Port};
use greenlight_tests::pipeline::{FUNCTIONS, Hook, Pipeline, Setup};
use serde_json::json;

struct Run {
    tag: &'static str,
    status: String,
    cause: Option<String>,
    seconds: f64,
    production: Vec<String>,
}

fn tag_of(digests: &BTreeMap<String, String>, digest: Option<String>) -> String {
    match digest {
        None => "err".into(),
        Some(d) => digests.get(&d).cloned().unwrap_or_else(|| d.chars().take(19).collect()),
    }
}

async fn push(p: &Pipeline, tag: &'static str, digests: &BTreeMap<String, String>) -> Run {
    println!("\n── push web:{tag} {}", "─".repeat(60));
    let outcome = p.push(tag).await;
    let Some(ExecutionStart::Started { execution_arn }) = outcome.executions.first().map(|e| e.start.clone()) else {
        println!("  on-image-push started nothing: {outcome:?}");
        return Run { tag, status: "NOT STARTED".into(), cause: None, seconds: 0.0, production: Vec::new() };
    };
    println!("  on-image-push  started execution {}", execution_arn.rsplit(':').next().unwrap_or_default());
    let started = Instant::now();
    let mut seen = 0;
    let mut production = Vec::new();
    let before = p.deployments().await.len();
    let mut events: BTreeMap<String, String> = BTreeMap::new();
    let end = loop {
        let (states, prod, test, lifecycle) =
            tokio::join!(p.states(&execution_arn), p.serving(Port::Production), p.serving(Port::Test), p.lifecycle());
        let (prod, test) = (tag_of(digests, prod), tag_of(digests, test));
        production.push(prod.clone());
        let at = started.elapsed().as_secs_f64();
        for state in states.iter().skip(seen) {
            println!("  [{at:>5.1} s] state machine  {state:<22} production: {prod:<3} test listener: {test}");
        }
        seen = states.len();
        if p.deployments().await.len() > before
            && let Some((id, lifecycle)) = lifecycle
        {
            for (event, status) in lifecycle {
                if status != "Pending" && events.get(&event) != Some(&status) {
                    println!(
                        "  [{at:>5.1} s] CodeDeploy     {event:<22} {status:<11} production: {prod:<3} test listener: {test}  ({id})"
                    );
                    events.insert(event, status);
                }
            }
        }
        if let Some(end) = p.ended(&execution_arn).await {
            break end;
        }
        if started.elapsed() > Duration::from_secs(180) {
            println!("  the execution is still running after 180 s; giving up");
            return Run { tag, status: "TIMED OUT".into(), cause: None, seconds: 180.0, production };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    for state in p.states(&execution_arn).await.iter().skip(seen) {
        println!("  [{seconds:>5.1} s] state machine  {state}");
    }
    let prod = tag_of(digests, p.serving(Port::Production).await);
    match &end.error {
        None => println!("  outcome        {} in {seconds:.1} s; production serves {prod}", end.status),
        Some(error) => println!(
            "  outcome        {} in {seconds:.1} s ({error}): {}\n                 production serves {prod}",
            end.status,
            end.cause.as_deref().unwrap_or("")
        ),
    }
    Run { tag, status: end.status, cause: end.cause, seconds, production }
}

/// The deployment that deployed `tag` (from its description).
async fn v_deployment(p: &Pipeline, tag: &str) -> Option<String> {
    let cd = aws_sdk_codedeploy::Client::new(&p.config);
    for id in p.deployments().await {
        let info = cd.get_deployment().deployment_id(&id).send().await.ok()?.deployment_info?;
        if info.description().is_some_and(|d| d.contains(&format!(" {tag} "))) {
            return Some(id);
        }
    }
    None
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    println!("greenlight demo: the deploy pipeline on the local AWS emulation (no AWS account, no internet)\n");
    let started = Instant::now();
    // Waits a little longer than the tests' so each step can be watched.
    let options = Options { time_scale: 0.05, ..Options::default() };
    let hook = Hook::Validate {
        checks: json!([
            {"name": "health", "path": "/health", "expect": {"status": "200", "max_latency_ms": 1000}},
            {"name": "version", "path": "/version", "consecutive_successes": 3, "interval_ms": 200,
             "expect": {"json": [{"pointer": "/digest", "equals": "${image_digest}"}]}}
        ]),
        deadline_seconds: 30,
        fault_injection: None,
    };
    let p = Pipeline::start(Setup { hook, options, ..Setup::default() }).await;
    let digests: BTreeMap<String, String> =
        ["v1", "v2", "v3"].iter().map(|t| (p.digest(t), (*t).to_string())).collect();
    println!(
        "emulation up in {:.1} s: moto + CodeDeploy blue/green lifecycle + load balancer",
        started.elapsed().as_secs_f64()
    );
    println!("service web: blue serves v1 ({})", p.digest("v1"));
    println!("functions running as processes behind the Lambda Runtime API: {}", FUNCTIONS.join(", "));
    println!(
        "validation hook (validate): GET /health answers 200 within 1 s; /version reports green's digest 3 times in a row"
    );

    let v2 = push(&p, "v2", &digests).await;
    p.emulator.set_behaviour(&p.digest("v3"), json!({"mode": "error"})).await;
    println!("\n(v3 is broken: its containers answer HTTP 500)");
    let v3 = push(&p, "v3", &digests).await;

    let ledger = greenlight_aws::DynamoLedger::new(aws_sdk_dynamodb::Client::new(&p.config), "greenlight-ledger");
    for tag in ["v2", "v3"] {
        if let Some(id) = v_deployment(&p, tag).await {
            for record in ledger.validations(&id).await.unwrap_or_default() {
                println!("\nvalidation report of {tag} ({id}), from the ledger:\n{}", indent(&record.report.summary()));
            }
        }
    }
    let notes = p.emulator.notifications().await;
    println!("\nnotifications on the SNS topic:");
    for n in &notes {
        println!("  {}", n["subject"].as_str().unwrap_or_default());
    }

    let v2_ok = v2.status == "SUCCEEDED" && v2.production.last().map(String::as_str) == Some("v2");
    let v3_ok = v3.status == "FAILED" && !v3.production.is_empty() && v3.production.iter().all(|t| t == "v2");
    println!("\nsummary");
    println!(
        "  {}: {} in {:.1} s, production {} -> {}",
        v2.tag,
        v2.status,
        v2.seconds,
        v2.production.first().map(String::as_str).unwrap_or("-"),
        v2.production.last().map(String::as_str).unwrap_or("-")
    );
    let mut served: Vec<&str> = v3.production.iter().map(String::as_str).collect();
    served.dedup();
    println!(
        "  {}: {} in {:.1} s, production served {} across {} samples",
        v3.tag,
        v3.status,
        v3.seconds,
        served.join(" then "),
        v3.production.len()
    );
    if let Some(cause) = &v3.cause {
        println!("  why v3 rolled back: {cause}");
    }
    drop(p);
    println!("  everything the demo started is stopped");
    if v2_ok && v3_ok {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!(
            "the demo did not end as expected (v2 deployed: {v2_ok}, v3 rolled back with v2 in production: {v3_ok})"
        );
        std::process::ExitCode::from(1)
    }
}
