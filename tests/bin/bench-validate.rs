//! `cargo xtask bench validate`: the validation verdict time for 20 concurrent checks against
//! a local server, next to the sum of their latencies (what running them one by one costs).

// A benchmark's job is to print.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use greenlight_core::checks::{MAX_CONCURRENT_CHECKS, Vars, run};
use greenlight_core::manifest::Check;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const CHECKS: u64 = 20;
const RUNS: usize = 7;

/// Answers `/delay/<ms>` after that many milliseconds, keeping connections alive.
async fn server() -> String {
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let base = server().await;
    // Latencies from 50 to 240 ms.
    let checks: Vec<Check> = (0..CHECKS)
        .map(|i| {
            serde_json::from_value(serde_json::json!({"name": format!("check-{i}"), "path": format!("/delay/{}", 50 + i * 10), "timeout_ms": 5000}))
                .expect("check")
        })
        .collect();
    let probe = Arc::new(validate::HttpProbe::new(false));
    let (mut verdicts, mut sums) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let started = Instant::now();
        let report = run(probe.clone(), &base, &checks, &Vars::default(), Duration::from_secs(60)).await;
        verdicts.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(report.passed, "{report:?}");
        sums.push(report.checks.iter().flat_map(|c| &c.attempts).map(|a| a.latency_ms as f64).sum());
    }
    let (verdict, sum) = (median(verdicts), median(sums));
    println!(
        "validation verdict, {CHECKS} checks of 50-240 ms, at most {MAX_CONCURRENT_CHECKS} at a time, median of {RUNS} runs"
    );
    println!("{:<36} {:>10}", "measure", "ms");
    println!("{:<36} {:>10.0}", "verdict time", verdict);
    println!("{:<36} {:>10.0}", "sum of check latencies", sum);
    println!("{:<36} {:>9.1}x", "speed-up over one by one", sum / verdict);
}
