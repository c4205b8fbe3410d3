//! The reliability proof's scenarios (`cargo xtask reliability`): a deploy driven end to end on
//! the emulation while the emulation fails AWS calls, and the invariants checked after it.
//!
//! A scenario is a [`Base`] (what happens: an approved deploy, a failed validation, a rejection,
//! a push superseded by a newer one) plus fault rules. Whatever the faults, when it is over:
//! every execution ended; no CodeDeploy deployment is left active; the service's lock is
//! released or bound by its lease; each push has a ledger outcome (with a reason when it did not
//! deploy); someone was told (a notification, or the notifier's own failure counted as a
//! function error); production answered with one digest at every sample and never went back to
//! an older one; no function panicked. A fault that fails once must change nothing: the deploy
//! ends as it does without faults.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use greenlight_core::history::{DeploymentRecord, Outcome};
use greenlight_core::pipeline::PushOutcome;
use greenlight_core::ports::ExecutionStart;
use serde_json::Value;

use crate::approve::{button, click, email_link, follow, now, slack_requests};
use crate::emulator::Options;
use crate::faults::{Kind, Report, Rule};
use crate::modes::Mode;
use crate::pipeline::{Hook, Pipeline, SLACK_CHANNEL, SLACK_SIGNING_SECRET, Setup, function_name};

/// How long one scenario may take before its executions count as left hanging.
const LIMIT: Duration = Duration::from_secs(420);
/// The manifest's shortest approval timeout: a decision that never arrives costs this much.
const APPROVAL_TIMEOUT: u32 = 60;
/// The state machine's Retry waits, scaled: the same attempts in a twentieth of the time.
const RETRY_TIME_SCALE: f64 = 0.05;
const LEASE_SECONDS: i64 = 900;

/// What a scenario does, before any fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Base {
    /// v2 pushed, approved in Slack, live.
    Approved,
    /// v2 pushed; its green answers HTTP 500, validation fails, CodeDeploy rolls back.
    ValidationFails,
    /// v2 pushed, rejected in Slack: the deployment is stopped and rolled back.
    Rejected,
    /// v2 pushed and waiting for approval; v3 pushed: v2 is superseded, v3 approved and live.
    Superseded,
    /// v2 pushed; while one of its steps (the function named) is held up (its first two AWS
    /// calls answer late, past the SDK's timeout), v3 is pushed and takes the lock: v2's step
    /// finds the lock lost. v3 is approved and live.
    Overtaken(&'static str),
    /// v1, which production runs already, pushed again: nothing is registered or deployed.
    AlreadyLive,
    /// v2 approved; once its production traffic moves, its execution is stopped by hand
    /// (StopExecution) while its deployment keeps blue for a while; v3 pushed waits until v2's
    /// lease ran out and its deployment ended, then takes the lock and goes live.
    Abandoned,
    /// v2 pushed, its approval posted to a Slack channel with the bot token; while it waits,
    /// its deployment is stopped in the CodeDeploy console: the approval is cancelled, its
    /// message edited to say so, v2 rolled back.
    StoppedWhileWaiting,
    /// v2 approved in Slack (its request posted with the bot token, and emailed to the listed
    /// address through SES) and live; v3 pushed and
    /// waiting for its approval (`concurrency: queue`); the "Roll back" button of v2's success
    /// message clicked and confirmed: v3's deployment is stopped, v1 is deployed again.
    RolledBackInSlack,
}

impl Base {
    pub const ALL: [Base; 13] = [
        Base::Approved,
        Base::ValidationFails,
        Base::Rejected,
        Base::Superseded,
        Base::AlreadyLive,
        Base::Overtaken("start-deployment"),
        Base::Overtaken("deployment-status"),
        Base::Overtaken("validate"),
        Base::Overtaken("request-approval"),
        Base::Overtaken("finish"),
        Base::Abandoned,
        Base::StoppedWhileWaiting,
        Base::RolledBackInSlack,
    ];

    pub fn name(self) -> String {
        match self {
            Base::Approved => "approved".into(),
            Base::ValidationFails => "validation fails".into(),
            Base::Rejected => "rejected".into(),
            Base::Superseded => "superseded".into(),
            Base::AlreadyLive => "already live".into(),
            Base::Abandoned => "abandoned while traffic moves".into(),
            Base::StoppedWhileWaiting => "stopped in CodeDeploy while its approval waits".into(),
            Base::RolledBackInSlack => "rolled back from Slack".into(),
            Base::Overtaken(step) => format!("overtaken in {step}"),
        }
    }

    /// The push whose execution the base stops by hand: no step of it runs again, so it
    /// announces nothing, and its ledger outcome is written by the push that takes its lock
    /// over (prepare, once its deployment ended), if one does.
    pub fn stopped_by_hand(self, tag: &str) -> bool {
        self == Base::Abandoned && tag == "v2"
    }

    fn approval(self) -> bool {
        !matches!(self, Base::ValidationFails)
    }

    fn pushes(self) -> &'static [&'static str] {
        match self {
            Base::Superseded | Base::Overtaken(_) | Base::Abandoned | Base::RolledBackInSlack => &["v2", "v3"],
            Base::AlreadyLive => &["v1"],
            _ => &["v2"],
        }
    }

    /// Rules the base itself needs (not counted as the scenario's fault).
    pub fn rules(self) -> Vec<Rule> {
        match self {
            Base::Overtaken(step) => {
                let mut late = Rule::once(&function_name(step), "*", Kind::Delay);
                late.times = Some(2);
                vec![late]
            }
            _ => Vec::new(),
        }
    }
}

/// One run: a base and the faults the emulation injects meanwhile.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub base: Base,
    /// Rules that bring the run to the faulted call (not counted as the scenario's fault).
    pub triggers: Vec<Rule>,
    /// The fault under test; `None` for a calibration run.
    pub fault: Option<Rule>,
    /// The fault keeps failing: a clean failure path is expected, not the base's outcome.
    pub persistent: bool,
    /// One of AWS's own failure modes, on top of the base.
    pub mode: Option<Mode>,
}

/// How a push ended: its execution's status and its ledger outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEnd {
    pub tag: String,
    pub status: String,
    pub outcome: Option<Outcome>,
}

/// What one run showed.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub name: String,
    pub ends: Vec<PushEnd>,
    /// Faults injected by the rule under test.
    pub injected: u64,
    /// Faults injected in all (triggers too).
    pub injected_total: u64,
    pub violations: Vec<String>,
    pub lock_leaks: u32,
    /// The lock was still held at the end, to be freed by its lease.
    pub lock_left_to_lease: bool,
    pub older_after_newer: u32,
    pub panics: u32,
    pub samples: usize,
    pub calls: Report,
    pub seconds: f64,
}

impl Run {
    pub fn outcomes(&self) -> Vec<(String, Option<Outcome>)> {
        self.ends.iter().map(|e| (e.tag.clone(), e.outcome)).collect()
    }
}

/// The options of every scenario's emulation.
pub fn options() -> Options {
    Options { retry_time_scale: RETRY_TIME_SCALE, ..Options::default() }
}

/// An abandoned execution's lease, and how long its deployment keeps blue after traffic moved
/// (emulated minutes: 40 × 60 s × the emulation's 0.01 is 24 s).
const ABANDONED_LEASE_SECONDS: u32 = 10;
const ABANDONED_TERMINATION_WAIT_MINUTES: u32 = 40;

fn setup(scenario: &Scenario) -> Setup {
    let base = scenario.base;
    let mut setup = Setup {
        options: options(),
        hook: Hook::version_check(),
        approval_timeout: base.approval().then_some(APPROVAL_TIMEOUT),
        ..Setup::default()
    };
    if matches!(base, Base::StoppedWhileWaiting | Base::RolledBackInSlack) {
        setup.approval_rules = serde_json::json!({"slack_channel": SLACK_CHANNEL});
    }
    if base == Base::RolledBackInSlack {
        // Named approvers, asked in Slack and each by email (SES) too.
        setup.approval_rules = serde_json::json!({
            "slack_channel": SLACK_CHANNEL,
            "channels": ["slack", "sns", "email"],
            "approvers": [crate::approve::slack_user_id("alice"), "alice@example.com"]
        });
        // Under `queue` the rollback waits for the lock, so v3's deployment is stopped by the
        // rollback itself (as `greenlight rollback` stops a deploy in flight), never by a
        // takeover: v3 always ends rolled back, not superseded.
        setup.concurrency = "queue";
    }
    if base == Base::Abandoned {
        setup.lease_seconds = ABANDONED_LEASE_SECONDS;
        setup.termination_wait_minutes = ABANDONED_TERMINATION_WAIT_MINUTES;
    }
    if let Some(mode) = scenario.mode {
        mode.adjust(&mut setup);
    }
    setup
}

/// Runs a scenario on a fresh emulation; `expected`, for a fault that fails once, is how the
/// same base ended without it.
pub async fn run(scenario: &Scenario, expected: Option<&[(String, Option<Outcome>)]>) -> Run {
    let started = Instant::now();
    let p = Pipeline::start(setup(scenario)).await;
    if scenario.base == Base::ValidationFails {
        p.emulator.set_behaviour(&p.digest("v2"), serde_json::json!({"mode": "error"})).await;
    }
    let mut rules = scenario.base.rules();
    rules.extend(scenario.triggers.clone());
    rules.extend(scenario.fault.clone());
    if !rules.is_empty() {
        p.emulator.add_faults(&rules).await;
    }
    let prepared = match scenario.mode {
        Some(mode) => mode.prepare(&p).await,
        None => Default::default(),
    };
    let sampler = Sampler::start(p.emulator.production_url.clone());
    let expect_rollback = !(scenario.persistent && scenario.fault.is_some());
    let (executions, mut violations) = drive(&p, scenario.base, scenario.mode, expect_rollback).await;
    let samples = sampler.stop().await;
    let mut run = Run { name: scenario.name.clone(), violations: Vec::new(), ..Run::default() };
    let (history, notes) = (p.history("web").await, p.emulator.notifications().await);
    if let Some(mode) = scenario.mode {
        violations.extend(mode.check(&p, &prepared, &history, &notes).await);
    }
    if scenario.base == Base::StoppedWhileWaiting && scenario.fault.is_none() {
        violations.extend(slack_message_cancelled(&p).await);
    }
    // Every active deployment ends (a stop takes CodeDeploy a moment to roll back).
    violations.extend(settle(&p).await);
    let report = p.emulator.fault_report().await;
    run.injected_total = report.injected.len() as u64;
    run.injected = match &scenario.fault {
        Some(f) => report
            .injected
            .iter()
            .filter(|i| f.matches(i["caller"].as_str().unwrap_or_default(), i["action"].as_str().unwrap_or_default()))
            .count() as u64,
        None => 0,
    };
    for (tag, arn) in &executions {
        let status = match arn {
            Some(arn) => match p.ended(arn).await {
                Some(end) => end.status,
                None => {
                    violations.push(format!("{tag}: execution still RUNNING after {} s", LIMIT.as_secs()));
                    "RUNNING".into()
                }
            },
            None => "NOT STARTED".into(),
        };
        let record = history.iter().find(|r| &r.tag == tag);
        run.ends.push(PushEnd { tag: (*tag).into(), status, outcome: record.as_ref().and_then(|r| r.outcome) });
        // When the ledger write itself keeps failing, the team must hear that it was not recorded.
        let unrecorded_told = scenario.persistent
            && scenario.fault.as_ref().is_some_and(|f| f.action.starts_with("dynamodb:"))
            && notes.iter().any(|n| {
                n["subject"].as_str().is_some_and(|s| s.starts_with(&format!("greenlight: web {tag} ")))
                    && n["message"].as_str().is_some_and(|m| m.contains("the ledger did not record the outcome"))
            });
        let never_taken_over = scenario.base.stopped_by_hand(tag)
            && !history.iter().any(|r| {
                r.timeline.iter().any(|t| {
                    t.detail.as_deref().is_some_and(|d| d.starts_with(&format!("took the lock over from {tag} ")))
                })
            });
        if arn.is_some() && !unrecorded_told && !never_taken_over {
            match record {
                None => violations.push(format!("{tag}: no ledger record")),
                Some(r) if r.outcome.is_none() => violations.push(format!("{tag}: the ledger has no outcome")),
                Some(r) if r.outcome != Some(Outcome::Deployed) && r.reason.as_deref().is_none_or(str::is_empty) => {
                    violations.push(format!("{tag}: the ledger's outcome {:?} has no reason", r.outcome))
                }
                Some(_) => {}
            }
        }
    }
    violations.extend(told(&p, scenario, &executions, &history, &notes).await);
    match lock_end(&p, "web").await {
        LockEnd::Released => {}
        LockEnd::LeftToLease => run.lock_left_to_lease = true,
        LockEnd::Leaked(holder) => {
            run.lock_leaks += 1;
            violations.push(format!("the lock is held by {holder} beyond its lease"));
        }
    }
    let order: BTreeMap<String, usize> =
        crate::pipeline::TAGS.iter().enumerate().map(|(i, t)| (p.digest(t), i)).collect();
    let mut newest = 0;
    let mut unanswered = Vec::new();
    // A rollback goes back to an older digest on purpose.
    let back_on_purpose = scenario.base == Base::RolledBackInSlack;
    for sample in &samples {
        match sample.as_ref().map(|d| order.get(d)) {
            Ok(Some(&i)) if i < newest && !back_on_purpose => run.older_after_newer += 1,
            Ok(Some(&i)) => newest = i,
            Ok(None) => unanswered.push(format!("an unknown digest {sample:?}")),
            Err(e) => unanswered.push(e.clone()),
        }
    }
    if let Some(first) = unanswered.first() {
        violations.push(format!(
            "production did not serve a seeded digest at {} of {} samples (first: {first})",
            unanswered.len(),
            samples.len()
        ));
    }
    if back_on_purpose && expect_rollback && samples.last().and_then(|s| s.as_ref().ok()) != Some(&p.digest("v1")) {
        violations.push(format!("rolled back from Slack, production ended on {:?}, not v1", samples.last()));
    }
    if run.older_after_newer > 0 {
        violations.push(format!("production went back to an older digest {} times", run.older_after_newer));
    }
    run.samples = samples.len();
    run.panics = panics(&p);
    if let (Some(expected), false) = (expected, scenario.persistent)
        && run.outcomes() != expected
    {
        violations.push(format!("ended {:?} where the run without the fault ended {expected:?}", run.outcomes()));
    }
    if scenario.fault.is_some() && run.injected == 0 {
        violations.push("the faulted call was never made".into());
    }
    violations.dedup();
    run.violations = violations;
    run.calls = report;
    run.seconds = started.elapsed().as_secs_f64();
    run
}

/// The approval's Slack message (posted with the bot token) edited to say it was cancelled.
async fn slack_message_cancelled(p: &Pipeline) -> Option<String> {
    let messages = p.slack_messages().await;
    let Some(posted) = messages.iter().find(|m| m["hook"] == "chat.postMessage") else {
        return Some("the approval was never posted to its Slack channel".into());
    };
    let edited = posted["updates"].as_array().is_some_and(|u| u.iter().any(|m| m.to_string().contains("*cancelled*")));
    (!edited).then(|| "the cancelled approval's Slack message was not edited".into())
}

/// Lambda retries an asynchronous invocation that failed twice (three attempts in all), as it
/// does for the EventBridge rule's; the push's outcome, or the last error.
pub async fn deliver(p: &Pipeline, event: &Value) -> Result<PushOutcome, String> {
    let mut last = String::new();
    for _ in 0..3 {
        match p.try_deliver(event).await {
            Ok(outcome) => return Ok(outcome),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The execution a delivered push started. An attempt that started it and then failed to answer
/// (its Invoke timed out and was retried) leaves the retry an AlreadyExists naming the same one.
pub fn started(p: &Pipeline, outcome: &PushOutcome) -> Option<String> {
    outcome.executions.first().map(|e| match &e.start {
        ExecutionStart::Started { execution_arn } => execution_arn.clone(),
        ExecutionStart::AlreadyExists { name } => p.execution_arn(name),
    })
}

/// Pushes and answers the approvals the base calls for; the executions by tag.
async fn drive(
    p: &Pipeline,
    base: Base,
    mode: Option<Mode>,
    expect_rollback: bool,
) -> (Vec<(&'static str, Option<String>)>, Vec<String>) {
    let mut executions = Vec::new();
    let mut violations = Vec::new();
    let decision = if base == Base::Rejected { "reject" } else { "approve" };
    let by_link = mode.is_some_and(Mode::answers_by_link);
    let request_of = |tag: &'static str| move || approval_request(p, tag, by_link);
    for (i, tag) in base.pushes().iter().enumerate() {
        let event = p.push_event(tag);
        let arn = match deliver(p, &event).await {
            Ok(outcome) => match started(p, &outcome) {
                Some(arn) => Some(arn),
                None => {
                    violations.push(format!("{tag}: on-image-push started nothing: {:?}", outcome.executions));
                    None
                }
            },
            // Nothing started: the event went to the dead-letter queue after Lambda's retries.
            Err(_) => None,
        };
        if let Some(mode) = mode {
            violations.extend(mode.deliver_again(p, &event, arn.as_deref(), "while it runs").await);
        }
        executions.push((*tag, arn.clone()));
        let last = i + 1 == base.pushes().len();
        if let (Base::Overtaken(step), false) = (base, last) {
            // finish only runs once v2 is approved.
            if step == "finish"
                && let Some(request) = wait_for(p, arn.as_deref(), request_of(tag)).await
            {
                answer(p, &request, decision).await;
            }
            // v3 is pushed once v2's step is held up.
            let caller = function_name(step);
            let held = wait_for(p, arn.as_deref(), || {
                let caller = caller.clone();
                async move {
                    let report = p.emulator.fault_report().await;
                    report.injected.iter().any(|i| i["caller"] == caller.as_str()).then_some(Value::Null)
                }
            })
            .await;
            if held.is_none() {
                violations.push(format!("{tag}: {step} was never held up"));
            }
            continue;
        }
        if let (Base::Abandoned, false) = (base, last) {
            // v2 approved; once its traffic moves, its execution is stopped by hand.
            if let Some(request) = wait_for(p, arn.as_deref(), request_of(tag)).await {
                answer(p, &request, decision).await;
            }
            let shifting = wait_for(p, arn.as_deref(), || async move {
                p.lock_holder("web").await.filter(|h| h["tag"] == "v2" && h["shifting"] == true)
            })
            .await;
            match (shifting, &arn) {
                (Some(_), Some(arn)) => p.stop_execution(arn).await,
                _ => violations.push(format!("{tag}: its production traffic never moved")),
            }
            continue;
        }
        if base == Base::RolledBackInSlack {
            if !last {
                // v2 approved and live before v3 is pushed.
                if let Some(request) = wait_for(p, arn.as_deref(), request_of(tag)).await {
                    answer(p, &request, decision).await;
                }
                if let Some(arn) = &arn {
                    p.finish_within(arn, LIMIT).await;
                }
                continue;
            }
            // v3 waits for its approval; v2's success message rolls back.
            if wait_for(p, arn.as_deref(), request_of(tag)).await.is_some() {
                match crate::slack_rollback::roll_back_v2(p, LIMIT).await {
                    Ok(rollback) => executions.push(("v1", Some(rollback))),
                    Err(e) => {
                        // Unless the button's call keeps failing (then its click says so and
                        // nothing rolls back; v3's approval is never answered), it rolls back.
                        executions.push(("v1", None));
                        if expect_rollback {
                            violations.push(e);
                        }
                    }
                }
            }
            continue;
        }
        if base == Base::StoppedWhileWaiting {
            // Once its approval waits, its deployment is stopped in the console.
            if wait_for(p, arn.as_deref(), request_of(tag)).await.is_some() {
                let holder = p.lock_holder("web").await;
                match holder.as_ref().and_then(|h| h["deployment_id"].as_str()) {
                    Some(id) => p.stop_deployment(id).await,
                    None => violations.push(format!("{tag}: no deployment under the lock while its approval waits")),
                }
            }
            continue;
        }
        if let Base::Overtaken(_) = base {
            // ... and waited for until it holds the lock.
            let _ = wait_for(p, arn.as_deref(), || async move {
                p.lock_holder("web").await.filter(|h| h["tag"] == "v3").map(|_| Value::Null)
            })
            .await;
        }
        if base.approval() && (last || !matches!(base, Base::Overtaken(_))) {
            // The approval request of this push, or its execution's end.
            let request = wait_for(p, arn.as_deref(), request_of(tag)).await;
            if let (Some(request), true) = (request, last) {
                answer(p, &request, decision).await;
            }
        }
    }
    for (tag, arn) in &executions {
        if let Some(arn) = arn {
            p.finish_within(arn, LIMIT).await;
            if let Some(mode) = mode {
                let late = mode.deliver_again(p, &p.push_event(tag), Some(arn), "after the deploy ended").await;
                violations.extend(late);
            }
        }
    }
    (executions, violations)
}

/// The approval request of `web:<tag>`, once it is there: in Slack, or (`by_link`) the email's
/// two links.
async fn approval_request(p: &Pipeline, tag: &str, by_link: bool) -> Option<Value> {
    if by_link {
        let (approve, reject) = (email_link(p, tag, "approve").await?, email_link(p, tag, "reject").await?);
        return Some(serde_json::json!({"links": {"approve": approve, "reject": reject}}));
    }
    slack_requests(p).await.into_iter().find(|r| r.to_string().contains(&format!("web {tag}")))
}

/// Clicks the button, or follows the link; a person whose click failed tries once more.
async fn answer(p: &Pipeline, request: &Value, decision: &str) {
    if let Some(link) = request["links"][decision].as_str() {
        for _ in 0..2 {
            if follow(link).await == 200 {
                return;
            }
        }
        return;
    }
    let Some(value) = button(request, decision) else { return };
    for _ in 0..2 {
        if click(p, &value, "alice", SLACK_SIGNING_SECRET, now()).await.0 == 200 {
            return;
        }
    }
}

/// Polls `found` until it finds something or the execution ends.
async fn wait_for<F, Fut>(p: &Pipeline, arn: Option<&str>, mut found: F) -> Option<Value>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<Value>>,
{
    let arn = arn?;
    let deadline = Instant::now() + LIMIT;
    while Instant::now() < deadline {
        if let Some(v) = found().await {
            return Some(v);
        }
        if p.ended(arn).await.is_some() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// How a service's lock was left once its executions ended.
#[derive(Debug)]
pub enum LockEnd {
    Released,
    /// Still held, to be freed by its lease.
    LeftToLease,
    /// Held with a lease longer than any step sets.
    Leaked(Value),
}

pub async fn lock_end(p: &Pipeline, service: &str) -> LockEnd {
    match p.lock_holder(service).await {
        None => LockEnd::Released,
        Some(holder) if holder["lease_until"].as_i64().is_some_and(|until| until <= now() + LEASE_SECONDS) => {
            LockEnd::LeftToLease
        }
        Some(holder) => LockEnd::Leaked(holder),
    }
}

/// Deployments still active once every execution ended, after CodeDeploy's own rollback time.
pub async fn settle(p: &Pipeline) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let state = p.emulator.control_get("state").await;
        let active: Vec<String> = state["deployments"]
            .as_object()
            .map(|d| {
                d.iter()
                    .filter(|(_, v)| !matches!(v["status"].as_str(), Some("Succeeded" | "Failed" | "Stopped")))
                    .map(|(id, v)| format!("{id} is {}", v["status"]))
                    .collect()
            })
            .unwrap_or_default();
        if active.is_empty() {
            return Vec::new();
        }
        if Instant::now() > deadline {
            return active.into_iter().map(|a| format!("CodeDeploy deployment left active: {a}")).collect();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Each started push's end was announced on the topic, or the notifier's failure was counted.
/// A push superseded before it deployed anything is only recorded: the newer push's own
/// announcement follows. So is a push of what production already runs.
async fn told(
    p: &Pipeline,
    scenario: &Scenario,
    executions: &[(&str, Option<String>)],
    history: &[DeploymentRecord],
    notes: &[Value],
) -> Vec<String> {
    let state = p.emulator.control_get("state").await;
    let mut out = Vec::new();
    for (tag, arn) in executions {
        let quietly_superseded = history.iter().any(|r| {
            &r.tag == tag
                && (r.outcome == Some(Outcome::AlreadyLive)
                    || (r.outcome == Some(Outcome::Superseded) && r.deployment_id.is_none()))
        });
        if arn.is_none() || quietly_superseded || scenario.base.stopped_by_hand(tag) {
            continue;
        }
        let announced = notes.iter().any(|n| {
            let subject = n["subject"].as_str().unwrap_or_default();
            subject.starts_with(&format!("greenlight: web {tag} ")) && !subject.contains("approve")
        });
        if announced {
            continue;
        }
        // The notifier itself is what failed: the function error is logged and counted.
        let notifier_failed = scenario.persistent
            && scenario.fault.as_ref().is_some_and(|f| {
                let callers = state["functions"].as_object().into_iter().flatten();
                let errors: u64 = callers
                    .filter(|(name, _)| f.caller_matches(name))
                    .map(|(_, s)| s["errors"].as_u64().unwrap_or(0))
                    .sum();
                f.action == "sns:Publish" && errors > 0
            });
        if !notifier_failed {
            out.push(format!("{tag}: nobody was told how it ended"));
        }
    }
    out
}

/// `panicked at` lines in the function processes' logs.
pub fn panics(p: &Pipeline) -> u32 {
    let Ok(entries) = std::fs::read_dir(&p.emulator.dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("greenlight-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default().matches("panicked at").count() as u32)
        .sum()
}

/// Samples what production serves every 50 ms until stopped.
struct Sampler {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<Result<String, String>>>,
}

impl Sampler {
    fn start(production_url: String) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let http = greenlight_http::client().expect("an HTTP client");
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            loop {
                tokio::select! {
                    _ = stopped.changed() => return samples,
                    _ = tick.tick() => {
                        // A probe that fails on its own side (its request timed out on a loaded
                        // machine) is asked again once, as a health checker would; what production
                        // answers (a status, a digest) counts as it is.
                        let digest = match probe(&http, &production_url).await {
                            Err(Probe::Transport(first)) => match probe(&http, &production_url).await {
                                Err(Probe::Transport(again)) => Err(format!("{first}; asked again: {again}")),
                                other => other.map_err(Probe::into_message),
                            },
                            other => other.map_err(Probe::into_message),
                        };
                        samples.push(digest);
                    }
                }
            }
        });
        Self { stop, task }
    }

    async fn stop(self) -> Vec<Result<String, String>> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// Why a probe of production got no digest.
enum Probe {
    /// The request or its body failed (with the error's causes).
    Transport(String),
    /// Production answered, with something other than a digest.
    Answer(String),
}

impl Probe {
    fn into_message(self) -> String {
        match self {
            Self::Transport(m) | Self::Answer(m) => m,
        }
    }
}

/// The digest production's `/version` names now.
async fn probe(http: &reqwest::Client, production_url: &str) -> Result<String, Probe> {
    let transport = |e: reqwest::Error| Probe::Transport(causes(&e));
    let r = http
        .get(format!("{production_url}/version"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(transport)?;
    let status = r.status();
    let body = r.bytes().await.map_err(transport)?;
    if !status.is_success() {
        return Err(Probe::Answer(format!("HTTP {status}: {}", String::from_utf8_lossy(&body))));
    }
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| Probe::Answer(format!("{e} in {:?}", String::from_utf8_lossy(&body))))?;
    v["digest"].as_str().map(str::to_string).ok_or_else(|| Probe::Answer(format!("no digest in {v}")))
}

/// An error and its causes, outermost first.
fn causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The function a rule's caller names, by crate.
pub fn caller(krate: &str) -> String {
    function_name(krate)
}
