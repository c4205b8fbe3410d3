//! The check engine of the validation hook: the service's HTTP checks against the test
//! listener, run concurrently (bounded) over one [`Probe`], with a verdict as soon as it is
//! known.
//!
//! A check passes after `consecutive_successes` attempts, `interval_ms` apart, all passing; its
//! first failing attempt fails it, and the first failing check ends the run (the other checks
//! are cancelled). Every attempt has the check's `timeout_ms`; the whole run has a deadline,
//! and a check still running then fails with that reason. A panic inside a check is caught and
//! fails that check.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::task::JoinSet;

use crate::manifest::{Check, parse_status_range};

/// At most this many checks run at once.
pub const MAX_CONCURRENT_CHECKS: usize = 8;

/// Values the expectations may refer to as `${name}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vars {
    pub image_tag: String,
    pub image_digest: String,
    pub task_definition_revision: String,
}

impl Vars {
    pub fn render(&self, template: &str) -> String {
        template
            .replace("${image_tag}", &self.image_tag)
            .replace("${image_digest}", &self.image_digest)
            .replace("${task_definition_revision}", &self.task_definition_revision)
    }

    fn render_value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.render(s)),
            other => other.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResponse {
    pub status: u16,
    pub body: String,
}

/// One HTTP exchange. Implementations reuse connections across calls.
pub trait Probe: Send + Sync + 'static {
    /// `Err` says why no response came (timeout, connection refused, DNS…).
    fn send(&self, request: ProbeRequest) -> impl Future<Output = Result<ProbeResponse, String>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub passed: bool,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    pub name: String,
    pub url: String,
    pub passed: bool,
    pub attempts: Vec<Attempt>,
    pub reason: Option<String>,
}

/// The verdict and the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub passed: bool,
    /// For a failure: which check and why, in one sentence.
    pub reason: Option<String>,
    pub checks: Vec<CheckReport>,
    pub elapsed_ms: u64,
}

/// One run of the validation hook: what it checked, against which image, and the verdict. The
/// hook stores it in the ledger (by deployment id) and returns it; notifications read it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationRecord {
    pub deployment_id: String,
    pub hook_execution_id: String,
    /// The manifest's service, once the deployment was matched to one.
    pub service: Option<String>,
    /// `image_tag`, `image_digest`, `task_definition_revision`: what the checks' templates saw.
    #[serde(flatten)]
    pub vars: Vars,
    pub report: Report,
}

impl Report {
    /// A failed report with no checks run (e.g. the deployment could not be read).
    pub fn failed(reason: impl Into<String>, elapsed: Duration) -> Self {
        Self { passed: false, reason: Some(reason.into()), checks: Vec::new(), elapsed_ms: ms(elapsed) }
    }

    /// One line per check, for notifications and approval messages.
    pub fn summary(&self) -> String {
        let mut lines = vec![match &self.reason {
            None => format!("validation passed in {} ms", self.elapsed_ms),
            Some(r) => format!("validation failed after {} ms: {r}", self.elapsed_ms),
        }];
        for c in &self.checks {
            let latencies: Vec<String> = c.attempts.iter().map(|a| format!("{} ms", a.latency_ms)).collect();
            let line = match (c.passed, c.attempts.is_empty()) {
                (true, _) => format!("  ok   {} ({})", c.name, latencies.join(", ")),
                (false, true) => format!("  --   {}: {}", c.name, c.reason.as_deref().unwrap_or("not run")),
                (false, false) => {
                    format!("  FAIL {} ({}): {}", c.name, latencies.join(", "), c.reason.as_deref().unwrap_or("failed"))
                }
            };
            lines.push(line);
        }
        lines.join("\n")
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Whether one response meets the check's expectations; `Err` says how it does not.
pub fn evaluate(check: &Check, vars: &Vars, response: &ProbeResponse, latency: Duration) -> Result<(), String> {
    let (lo, hi) = parse_status_range(&check.expect.status).unwrap_or((200, 299));
    if !(lo..=hi).contains(&response.status) {
        return Err(format!("HTTP {} (expected {})", response.status, check.expect.status));
    }
    if let Some(max) = check.expect.max_latency_ms
        && ms(latency) > max
    {
        return Err(format!("answered in {} ms, slower than the {max} ms allowed", ms(latency)));
    }
    if let Some(needle) = &check.expect.body_contains {
        let needle = vars.render(needle);
        if !response.body.contains(&needle) {
            return Err(format!("body does not contain `{needle}`"));
        }
    }
    if let Some(pattern) = &check.expect.body_regex {
        let pattern = vars.render(pattern);
        let re = regex::Regex::new(&pattern).map_err(|e| format!("body_regex does not compile: {e}"))?;
        if !re.is_match(&response.body) {
            return Err(format!("body does not match /{pattern}/"));
        }
    }
    if !check.expect.json.is_empty() {
        let doc: Value = serde_json::from_str(&response.body).map_err(|e| format!("body is not JSON ({e})"))?;
        for j in &check.expect.json {
            let expected = vars.render_value(&j.equals);
            match doc.pointer(&j.pointer) {
                Some(actual) if *actual == expected => {}
                Some(actual) => {
                    return Err(format!("{} is {actual}, expected {expected}", display_pointer(&j.pointer)));
                }
                None => return Err(format!("{} is missing, expected {expected}", display_pointer(&j.pointer))),
            }
        }
    }
    Ok(())
}

fn display_pointer(p: &str) -> String {
    if p.is_empty() { "the body".into() } else { format!("JSON {p}") }
}

/// Runs one check to its verdict (or until the caller drops it).
pub async fn run_check<P: Probe>(probe: &P, base_url: &str, check: &Check, vars: &Vars) -> CheckReport {
    let url = format!("{}{}", base_url.trim_end_matches('/'), vars.render(&check.path));
    let headers: Vec<(String, String)> = check.headers.iter().map(|(k, v)| (k.clone(), vars.render(v))).collect();
    let mut report =
        CheckReport { name: check.name.clone(), url: url.clone(), passed: false, attempts: Vec::new(), reason: None };
    for n in 0..check.consecutive_successes.max(1) {
        if n > 0 {
            tokio::time::sleep(Duration::from_millis(check.interval_ms)).await;
        }
        let started = Instant::now();
        let request = ProbeRequest {
            method: check.method.clone(),
            url: url.clone(),
            headers: headers.clone(),
            timeout: Duration::from_millis(check.timeout_ms),
        };
        let outcome = probe.send(request).await;
        let latency = started.elapsed();
        let (status, verdict) = match outcome {
            Ok(response) => (Some(response.status), evaluate(check, vars, &response, latency)),
            Err(e) => (None, Err(e)),
        };
        let passed = verdict.is_ok();
        report.attempts.push(Attempt {
            status,
            latency_ms: ms(latency),
            passed,
            reason: verdict.as_ref().err().cloned(),
        });
        if let Err(reason) = verdict {
            report.reason = Some(if check.consecutive_successes > 1 {
                format!("attempt {} of {} consecutive: {reason}", n + 1, check.consecutive_successes)
            } else {
                reason
            });
            return report;
        }
    }
    report.passed = true;
    report
}

/// Runs every check, at most [`MAX_CONCURRENT_CHECKS`] at a time, until all pass, one fails,
/// or `deadline` passes.
pub async fn run<P: Probe>(probe: Arc<P>, base_url: &str, checks: &[Check], vars: &Vars, deadline: Duration) -> Report {
    let started = Instant::now();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_CHECKS));
    let mut tasks = JoinSet::new();
    for (i, check) in checks.iter().enumerate() {
        let (probe, semaphore, check, vars, base) =
            (probe.clone(), semaphore.clone(), check.clone(), vars.clone(), base_url.to_string());
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            (i, run_check(probe.as_ref(), &base, &check, &vars).await)
        });
    }
    let mut done: Vec<Option<CheckReport>> = vec![None; checks.len()];
    let mut failure: Option<String> = None;
    let limit = tokio::time::sleep(deadline);
    tokio::pin!(limit);
    while !tasks.is_empty() && failure.is_none() {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                Some(Ok((i, report))) => {
                    if !report.passed {
                        failure = Some(format!("check `{}` failed: {}", report.name, report.reason.clone().unwrap_or_default()));
                    }
                    done[i] = Some(report);
                }
                Some(Err(e)) => {
                    let what = if e.is_panic() { panic_message(e.into_panic()) } else { "it was cancelled".into() };
                    failure = Some(format!("a check crashed: {what}"));
                }
                None => break,
            },
            () = &mut limit => {
                failure = Some(format!("the checks did not finish within the {} ms deadline", ms(deadline)));
            }
        }
    }
    tasks.abort_all();
    let unfinished = if failure.as_deref().is_some_and(|f| f.contains("deadline")) {
        "did not finish before the deadline"
    } else {
        "stopped: the verdict was already reached"
    };
    let checks = checks
        .iter()
        .zip(done)
        .map(|(c, r)| {
            r.unwrap_or_else(|| CheckReport {
                name: c.name.clone(),
                url: format!("{}{}", base_url.trim_end_matches('/'), vars.render(&c.path)),
                passed: false,
                attempts: Vec::new(),
                reason: Some(unfinished.into()),
            })
        })
        .collect();
    Report { passed: failure.is_none(), reason: failure, checks, elapsed_ms: ms(started.elapsed()) }
}

/// The text of a caught panic.
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => format!("panic: {s}"),
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(s) => format!("panic: {s}"),
            Err(_) => "panic".into(),
        },
    }
}
