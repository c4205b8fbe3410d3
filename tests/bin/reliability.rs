//! `cargo xtask reliability`: the fault matrix on the local AWS emulation, and one table.
//!
//! For every (function, AWS call) pair in the functions' declared `aws-calls`, two runs: the call
//! fails once (the kinds take turns: throttle, server error, delay past the SDK's timeout, reset
//! connection), and the deploy must end exactly as it does without the fault; the call keeps
//! failing, and the deploy must take a clean failure path. Each run starts from a base scenario
//! that makes the call (found by running every base once without faults and reading the
//! emulation's call counts), and the invariants of `greenlight_tests::reliability` are checked
//! after it. Then the bad-input corpus (`tests/corpus/`) at every entry point, and a soak: many
//! pushes over many services under random faults with approvals answered at random.
//! `--short` (what `cargo xtask test` runs) takes one pair per function and a short soak;
//! `--only TEXT` runs only the matrix rows and failure modes whose name contains TEXT.
//!
//! Exits 1 when any column that must be 0 is not.

// A report's job is to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::sync::Arc;

use clap::Parser;
use greenlight_core::history::Outcome;
use greenlight_tests::corpus::{self, CorpusReport};
use greenlight_tests::faults::{Kind, Rule};
use greenlight_tests::modes::Mode;
use greenlight_tests::pipeline::{FUNCTIONS, declared, function_name};
use greenlight_tests::pipeline::{Pipeline, Setup};
use greenlight_tests::reliability::{Base, Run, Scenario, run};
use greenlight_tests::soak::{self, Size, SoakReport};

#[derive(Parser)]
#[command(about = "the fault matrix on the local AWS emulation")]
struct Args {
    /// One (function, call) pair per function instead of every pair.
    #[arg(long)]
    short: bool,
    /// Only the pairs whose `<function> <service:Operation>`, and the failure modes whose name,
    /// contains this.
    #[arg(long)]
    only: Option<String>,
    /// Only the corpus and the soak (no calibration, no matrix).
    #[arg(long)]
    skip_matrix: bool,
    /// Scenarios run at once, each on its own emulation.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
}

/// Calls no base makes on its own, and the rules that bring a run to them.
fn trigger(krate: &str, action: &str) -> Option<(Base, Vec<Rule>)> {
    match (krate, action) {
        // start-deployment stops the deployment it created when it cannot record it under its lock.
        ("start-deployment", "codedeploy:StopDeployment") => Some((
            Base::Approved,
            vec![Rule::always(&function_name(krate), "dynamodb:UpdateItem", Kind::ServerError).from_nth(2)],
        )),
        // on-image-push announces a manifest it cannot read: SSM answering ParameterNotFound
        // (the parameter deleted) brings it there.
        ("on-image-push", "sns:Publish") => Some((
            Base::Approved,
            vec![Rule::error(&function_name(krate), "ssm:GetParameter", 400, "ParameterNotFound", "").times(None)],
        )),
        // validate asks ECR for the digest's tags only when the lock does not name the push (a
        // newer push took it, which the overtaken base reaches only by timing): its read of the
        // lock failing for good brings it there every time.
        ("validate", "ecr:DescribeImages") => {
            Some((Base::Approved, vec![Rule::always(&function_name(krate), "dynamodb:GetItem", Kind::ServerError)]))
        }
        _ => None,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let args = Args::parse();
    let started = std::time::Instant::now();
    println!(
        "greenlight reliability: every declared AWS call failing once and failing for good, on the local AWS emulation"
    );
    // Calibration: each base without faults, the calls it makes, how it ends.
    let bases: Vec<Scenario> = Base::ALL
        .iter()
        .map(|b| Scenario {
            name: format!("calibration: {}", b.name()),
            base: *b,
            triggers: vec![],
            fault: None,
            persistent: false,
            mode: None,
        })
        .collect();
    let calibration = if args.skip_matrix { Vec::new() } else { run_all(bases, args.jobs, None).await };
    let mut runs: Vec<Run> = calibration.clone();
    let by_base: BTreeMap<Base, Run> = Base::ALL.iter().copied().zip(calibration.iter().cloned()).collect();

    let mut pairs = Vec::new();
    for krate in FUNCTIONS {
        let (calls, _) = declared(krate);
        let mut chosen: Vec<String> = calls.into_iter().collect();
        if args.short {
            // One per function, a different position for each so that the short run covers
            // several services' calls.
            let i = FUNCTIONS.iter().position(|f| f == krate).unwrap_or(0) % chosen.len().max(1);
            chosen = chosen.into_iter().skip(i).take(1).collect();
        }
        pairs.extend(chosen.into_iter().map(|a| ((*krate).to_string(), a)));
    }
    if let Some(only) = &args.only {
        pairs.retain(|(k, a)| format!("{k} {a}").contains(only.as_str()));
    }
    if args.skip_matrix {
        pairs.clear();
    }

    let mut scenarios = Vec::new();
    let mut unreached = Vec::new();
    for (i, (krate, action)) in pairs.iter().enumerate() {
        let caller = function_name(krate);
        let found = trigger(krate, action).or_else(|| {
            Base::ALL.iter().find(|b| by_base[b].calls.calls_of(&caller, action) > 0).map(|b| (*b, Vec::new()))
        });
        let Some((base, triggers)) = found else {
            unreached.push(format!("{krate} {action}"));
            continue;
        };
        let once = Kind::ALL[i % Kind::ALL.len()];
        let always = if i % 2 == 0 { Kind::ServerError } else { Kind::Throttle };
        for (persistent, kind) in [(false, once), (true, always)] {
            let rule = if persistent { Rule::always(&caller, action, kind) } else { Rule::once(&caller, action, kind) };
            scenarios.push(Scenario {
                name: format!(
                    "{krate} {action} {} {} ({})",
                    if persistent { "keeps failing" } else { "fails once" },
                    kind.name(),
                    base.name()
                ),
                base,
                triggers: triggers.clone(),
                fault: Some(rule),
                persistent,
                mode: None,
            });
        }
    }
    let mut modes = if args.skip_matrix { Vec::new() } else { failure_modes() };
    if let Some(only) = &args.only {
        modes.retain(|m| m.name.contains(only.as_str()));
    }
    // A fault that fails once must end as the same base ends without it (with its triggers, as
    // the run with the fault under test in passing).
    let mut expected = Expected::new();
    for s in scenarios.iter().chain(&modes) {
        let key = key(s);
        if expected.contains_key(&key) {
            continue;
        }
        let outcomes = if s.triggers.is_empty() {
            by_base[&s.base].outcomes()
        } else {
            let calibrated = run_all(
                vec![Scenario {
                    name: format!("calibration: {} with the triggers of {}", s.base.name(), s.name),
                    fault: None,
                    persistent: false,
                    ..s.clone()
                }],
                1,
                None,
            )
            .await;
            runs.extend(calibrated.iter().cloned());
            calibrated[0].outcomes()
        };
        expected.insert(key, outcomes);
    }
    let expected = Arc::new(expected);
    runs.extend(run_all(scenarios, args.jobs, Some(expected.clone())).await);
    if !modes.is_empty() {
        println!("AWS's own failure modes, and the team's tools down");
        runs.extend(run_all(modes, args.jobs, Some(expected)).await);
    }
    let (corpus, soak) = if args.only.is_some() {
        (CorpusReport::default(), SoakReport::default())
    } else {
        println!("bad-input corpus (tests/corpus/) at every entry point");
        let p = Pipeline::start(Setup { approval_timeout: Some(3600), ..Setup::default() }).await;
        let corpus = corpus::run(&p).await;
        drop(p);
        for c in corpus.failures() {
            println!(
                "  FAILED {} / {}: expected {}, got {}: {}",
                c.entry,
                c.name,
                c.expected,
                c.got,
                c.detail.chars().take(200).collect::<String>()
            );
        }
        println!("  {} cases, {} refused as they should be", corpus.cases.len(), corpus.refused());
        let size = if args.short { Size::SHORT } else { Size::FULL };
        println!(
            "soak: {} pushes over {} services, one every {:.1} s, {:.0}% of the functions' AWS calls failing",
            size.pushes,
            size.services,
            size.interval.as_secs_f64(),
            size.fault_share * 100.0
        );
        let soak = soak::run(size).await;
        for v in &soak.violations {
            println!("  - {v}");
        }
        println!("  done in {:.0} s: {:?}", soak.seconds, soak.outcomes);
        (corpus, soak)
    };
    let failed = print_table(&runs, &unreached, &corpus, &soak, started.elapsed().as_secs_f64());
    std::process::exit(i32::from(failed));
}

/// The failure modes AWS documents (and Slack, SNS or the manifest failing), each on an
/// approved deploy: a fault rule where the emulation's fault injection reproduces it, a
/// [`Mode`] where the run itself changes.
fn failure_modes() -> Vec<Scenario> {
    let prepare = function_name("prepare");
    // ECS's answer to a revision registered while others of its family are being registered.
    let concurrent = |times| {
        let message = "Too many concurrent attempts to create a new revision of the specified family.";
        Rule::error(&prepare, "ecs:RegisterTaskDefinition", 400, "ClientException", message).times(times)
    };
    let faulted = |name: &str, fault: Rule, persistent| Scenario {
        name: format!("{name} (approved)"),
        base: Base::Approved,
        triggers: vec![],
        fault: Some(fault),
        persistent,
        mode: None,
    };
    let mut all = vec![
        faulted(
            "RegisterTaskDefinition: ClientException, too many concurrent revisions, once",
            concurrent(Some(1)),
            false,
        ),
        faulted(
            "RegisterTaskDefinition: ClientException, too many concurrent revisions, for good",
            concurrent(None),
            true,
        ),
        faulted(
            "DynamoDB throughput exceeded on a tenth of every function's calls",
            Rule::share("greenlight-*", "dynamodb:*", Kind::Throttle, 0.1, 15),
            false,
        ),
        faulted(
            "SNS down: every function's Publish fails",
            Rule::always("greenlight-*", "sns:Publish", Kind::ServerError),
            true,
        ),
    ];
    all.extend(Mode::ALL.iter().map(|m| Scenario {
        name: format!("{} (approved)", m.name()),
        base: Base::Approved,
        triggers: vec![],
        fault: m.fault(),
        persistent: true,
        mode: Some(*m),
    }));
    all
}

/// How each base (with its triggers) ends without the fault under test, by [`key`].
type Expected = BTreeMap<String, Vec<(String, Option<Outcome>)>>;

fn key(s: &Scenario) -> String {
    format!("{:?} {:?}", s.base, s.triggers)
}

/// Runs the scenarios `jobs` at a time, started in their order; prints each as it ends. The
/// runs come back in the scenarios' order.
/// Runs the scenarios `jobs` at a time and returns their runs in the order given. The ones that
/// wait out a clock start first, so that a phase does not end on one of them running alone.
async fn run_all(scenarios: Vec<Scenario>, jobs: usize, expected: Option<Arc<Expected>>) -> Vec<Run> {
    let total = scenarios.len();
    let mut scenarios: Vec<(usize, Scenario)> = scenarios.into_iter().enumerate().collect();
    scenarios.sort_by_key(|(i, s)| (!waits_out_a_clock(s), *i));
    let limit = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let (done, mut ended) = tokio::sync::mpsc::unbounded_channel();
    let starter = tokio::spawn(async move {
        for (i, s) in scenarios {
            let permit = limit.clone().acquire_owned().await.expect("the semaphore is never closed");
            let (done, expected) = (done.clone(), expected.clone());
            tokio::spawn(async move {
                let want = expected.as_ref().and_then(|e| e.get(&key(&s)).cloned());
                let r = run(&s, want.as_deref()).await;
                drop(permit);
                let _ = done.send((i, r));
            });
        }
    });
    let mut runs = Vec::new();
    while runs.len() < total {
        let Some((i, r)) = ended.recv().await else { panic!("a scenario panicked before it ended") };
        let verdict = if r.violations.is_empty() && r.panics == 0 { "ok" } else { "VIOLATED" };
        println!("  [{:>3}/{total}] {verdict:<8} {:>5.1} s  {}  -> {}", runs.len() + 1, r.seconds, r.name, ends(&r));
        for v in &r.violations {
            println!("             - {v}");
        }
        runs.push((i, r));
    }
    starter.await.unwrap_or_else(|e| panic!("the scenario starter failed: {e}"));
    runs.sort_by_key(|(i, _)| *i);
    runs.into_iter().map(|(_, r)| r).collect()
}

/// A scenario that lasts a minute or more: a push abandoned while traffic moves (the next one
/// waits for its lease), or approval-callback failing for good (nobody can decide, so the
/// approval times out).
fn waits_out_a_clock(s: &Scenario) -> bool {
    s.base == Base::Abandoned
        || (s.persistent && s.fault.as_ref().is_some_and(|f| f.caller == function_name("approval-callback")))
}

fn ends(r: &Run) -> String {
    r.ends
        .iter()
        .map(|e| format!("{} {} ({})", e.tag, e.status, e.outcome.map(Outcome::as_str).unwrap_or("no outcome")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints the table; whether any column that must be 0 is not.
fn print_table(runs: &[Run], unreached: &[String], corpus: &CorpusReport, soak: &SoakReport, seconds: f64) -> bool {
    let count = |o: Outcome, soak_name: &str| {
        runs.iter().flat_map(|r| &r.ends).filter(|e| e.outcome == Some(o)).count()
            + soak.outcomes.get(soak_name).copied().unwrap_or(0)
    };
    let refusals = corpus.cases.iter().filter(|c| c.refusal).count();
    let rows: Vec<(&str, String, String)> = vec![
        ("scenarios run", (runs.len() + usize::from(soak.pushes > 0)).to_string(), String::new()),
        (
            "faults injected",
            (runs.iter().map(|r| r.injected_total).sum::<u64>() + soak.faults_injected as u64).to_string(),
            String::new(),
        ),
        ("pushes in the soak", soak.pushes.to_string(), String::new()),
        ("approvals answered in the soak", soak.approvals_answered.to_string(), String::new()),
        ("deploys completed", count(Outcome::Deployed, "deployed").to_string(), String::new()),
        ("deploys rolled back", count(Outcome::RolledBack, "rolled back").to_string(), String::new()),
        ("deploys superseded", count(Outcome::Superseded, "superseded").to_string(), String::new()),
        (
            "production samples",
            (runs.iter().map(|r| r.samples).sum::<usize>() + soak.samples).to_string(),
            String::new(),
        ),
        ("locks left to their lease", runs.iter().filter(|r| r.lock_left_to_lease).count().to_string(), String::new()),
        ("bad inputs refused", corpus.refused().to_string(), refusals.to_string()),
        ("declared calls no scenario reaches", unreached.len().to_string(), "0".into()),
        (
            "invariant violations",
            (runs.iter().map(|r| r.violations.len()).sum::<usize>()
                + soak.violations.len()
                + corpus.failures().len()
                + corpus.side_effects.len())
            .to_string(),
            "0".into(),
        ),
        ("lock leaks", (runs.iter().map(|r| r.lock_leaks).sum::<u32>() + soak.lock_leaks).to_string(), "0".into()),
        (
            "older-after-newer events",
            (runs.iter().map(|r| r.older_after_newer).sum::<u32>() + soak.older_after_newer).to_string(),
            "0".into(),
        ),
        ("panics", (runs.iter().map(|r| r.panics).sum::<u32>() + soak.panics + corpus.panics).to_string(), "0".into()),
    ];
    println!();
    println!("{:<36}  {:>8}  {:>7}  verdict", "figure", "value", "must be");
    println!("{}  {}  {}  -------", "-".repeat(36), "-".repeat(8), "-".repeat(7));
    let mut failed = false;
    for (name, value, must) in rows {
        let verdict = match must.as_str() {
            "" => "",
            m if m == value => "ok",
            _ => {
                failed = true;
                "FAILED"
            }
        };
        println!("{name:<36}  {value:>8}  {must:>7}  {verdict}");
    }
    for u in unreached {
        println!("not reached: {u}");
    }
    println!("\nin {seconds:.0} s");
    failed
}
