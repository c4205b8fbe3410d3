//! The soak: many pushes over many services on one emulation, random faults on a share of every
//! function's AWS calls, approvals answered (approve or reject) at random, and production sampled
//! throughout. Afterwards, the invariants of every scenario hold for every push: each execution
//! ended, no deployment is active, no lock is leaked, every push has a ledger outcome, no
//! service's production went back to an older digest, nothing panicked.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use greenlight_core::history::Outcome;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

use crate::approve::{button, click, now, slack_requests};
use crate::faults::{Kind, Rule};
use crate::pipeline::{ExtraService, Hook, Pipeline, SLACK_SIGNING_SECRET, Setup};
use crate::reliability::{LockEnd, deliver, lock_end, options, panics, settle, started};

/// How big a soak is.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub pushes: usize,
    pub services: usize,
    /// Between two pushes.
    pub interval: Duration,
    /// The share of every function's AWS calls that fail.
    pub fault_share: f64,
    pub seed: u64,
}

impl Size {
    /// 200 pushes over 10 services in about ten minutes, 2% of calls failing.
    pub const FULL: Size =
        Size { pushes: 200, services: 10, interval: Duration::from_secs(3), fault_share: 0.02, seed: 20261201 };
    /// What `cargo xtask test` runs: 24 pushes over 3 services in about a minute.
    pub const SHORT: Size =
        Size { pushes: 24, services: 3, interval: Duration::from_millis(2500), fault_share: 0.02, seed: 20261201 };
}

/// What the soak showed.
#[derive(Debug, Clone, Default)]
pub struct SoakReport {
    pub pushes: usize,
    pub outcomes: BTreeMap<&'static str, usize>,
    pub faults_injected: usize,
    pub approvals_answered: usize,
    pub samples: usize,
    pub violations: Vec<String>,
    pub lock_leaks: u32,
    pub older_after_newer: u32,
    pub panics: u32,
    pub seconds: f64,
}

fn service_names(n: usize) -> Vec<String> {
    std::iter::once("web".to_string()).chain((1..n).map(|i| format!("svc{i}"))).collect()
}

pub async fn run(size: Size) -> SoakReport {
    let started = Instant::now();
    let names = service_names(size.services);
    let per_service = size.pushes.div_ceil(size.services) + 1;
    let tags: Vec<String> = (1..=per_service).map(|i| format!("v{i}")).collect();
    let p = Pipeline::start(Setup {
        options: options(),
        hook: Hook::version_check(),
        approval_timeout: Some(60),
        extra_services: names[1..]
            .iter()
            .enumerate()
            .map(|(i, n)| ExtraService { name: n.clone(), approval: i % 2 == 0 })
            .collect(),
        tags: tags.clone(),
        ..Setup::default()
    })
    .await;
    // The share, split over the kinds; only greenlight's functions' calls fail.
    let kinds = [Kind::Throttle, Kind::ServerError, Kind::Reset, Kind::Delay];
    let share = size.fault_share / kinds.len() as f64;
    let rules: Vec<Rule> = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| Rule::share("greenlight-*", "*", *k, share, size.seed + i as u64))
        .collect();
    p.emulator.add_faults(&rules).await;

    let mut rng = StdRng::seed_from_u64(size.seed);
    let mut next_tag: BTreeMap<String, usize> = names.iter().map(|n| (n.clone(), 1)).collect();
    let mut pushed: Vec<(String, String, Option<String>)> = Vec::new();
    let mut answered = BTreeSet::new();
    let mut samples: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut report = SoakReport::default();
    let mut last_push = Instant::now() - size.interval;
    let mut looks = 0u64;
    while pushed.len() < size.pushes || !all_ended(&p, &pushed).await {
        assert!(started.elapsed() < Duration::from_secs(3600), "the soak ran over an hour");
        if pushed.len() < size.pushes && last_push.elapsed() >= size.interval {
            last_push = Instant::now();
            // A random service among those with tags left to push.
            let open: Vec<&String> = names.iter().filter(|n| next_tag[*n] < tags.len()).collect();
            let service = open[rng.random_range(0..open.len())].clone();
            let i = next_tag[&service];
            next_tag.insert(service.clone(), i + 1);
            let tag = tags[i].clone();
            let event = p.push_event_of(&service, &tag, chrono::Utc::now());
            let arn = start(&p, &event).await;
            pushed.push((service, tag, arn));
        }
        answer_some(&p, &mut rng, &mut answered).await;
        looks += 1;
        // Production is sampled about once a second (each look asks ECS for every service).
        if looks.is_multiple_of(5) {
            sample(&p, &names, &tags, &mut samples).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    report.faults_injected = p.emulator.fault_report().await.injected.len();
    p.emulator.clear_faults().await;
    report.approvals_answered = answered.len();
    report.pushes = pushed.len();
    check_end(&p, &names, &pushed, &mut report).await;
    for (service, seen) in &samples {
        report.samples += seen.len();
        let mut newest = 0;
        for &i in seen {
            if i < newest {
                report.older_after_newer += 1;
                report.violations.push(format!("{service}: production went from v{} back to v{}", newest + 1, i + 1));
            }
            newest = newest.max(i);
        }
    }
    report.panics = panics(&p);
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// Delivers a push as Lambda does an asynchronous event (three attempts); its execution.
async fn start(p: &Pipeline, event: &Value) -> Option<String> {
    started(p, &deliver(p, event).await.ok()?)
}

async fn all_ended(p: &Pipeline, pushed: &[(String, String, Option<String>)]) -> bool {
    for (_, _, arn) in pushed {
        if let Some(arn) = arn
            && p.ended(arn).await.is_none()
        {
            return false;
        }
    }
    true
}

/// Answers approval requests not answered yet: four in five approved, the rest rejected; some
/// are left for a later look (a person is not instant).
async fn answer_some(p: &Pipeline, rng: &mut StdRng, answered: &mut BTreeSet<String>) {
    for request in slack_requests(p).await {
        let Some(approve) = button(&request, "approve") else { continue };
        if answered.contains(&approve) || rng.random_bool(0.5) {
            continue;
        }
        let decision = if rng.random_bool(0.8) { "approve" } else { "reject" };
        let value = button(&request, decision).unwrap_or_default();
        let (status, _) = click(p, &value, "soak", SLACK_SIGNING_SECRET, now()).await;
        // A click the callback failed to take is tried again on a later look.
        if status == 200 {
            answered.insert(approve);
        }
    }
}

/// What each service's production runs now, as a position in its tags.
async fn sample(p: &Pipeline, names: &[String], tags: &[String], samples: &mut BTreeMap<String, Vec<usize>>) {
    for service in names {
        let running = p.running_image(service).await;
        if let Some(i) = tags.iter().position(|t| {
            let d = p.digest_of(service, t);
            !d.is_empty() && running.ends_with(&d)
        }) {
            samples.entry(service.clone()).or_default().push(i);
        }
    }
}

async fn check_end(
    p: &Pipeline,
    names: &[String],
    pushed: &[(String, String, Option<String>)],
    report: &mut SoakReport,
) {
    report.violations.extend(settle(p).await);
    for service in names {
        if let LockEnd::Leaked(holder) = lock_end(p, service).await {
            report.lock_leaks += 1;
            report.violations.push(format!("{service}: lock held beyond its lease: {holder}"));
        }
        let history = p.history(service).await;
        for (s, tag, arn) in pushed.iter().filter(|(s, _, _)| s == service) {
            if arn.is_none() {
                *report.outcomes.entry("not started (dead-letter queue)").or_default() += 1;
                continue;
            }
            match history.iter().find(|r| &r.tag == tag).and_then(|r| r.outcome) {
                Some(o) => *report.outcomes.entry(outcome_name(o)).or_default() += 1,
                None => report.violations.push(format!("{s} {tag}: no ledger outcome")),
            }
        }
    }
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Deployed => "deployed",
        Outcome::AlreadyLive => "already live",
        Outcome::RolledBack => "rolled back",
        Outcome::Superseded => "superseded",
        Outcome::Held => "held (paused)",
    }
}
