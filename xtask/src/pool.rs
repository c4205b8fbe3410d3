//! The test run's suites side by side: every test binary cargo built, and the reliability table's
//! short form, run a few at a time.
//!
//! The end-to-end suites spend most of their time waiting on the emulation's clocks (a deploy's
//! lifecycle, an approval's minute-long timeout), so one at a time leaves the machine's cores
//! idle. `cargo test` runs its binaries one after another and holds the build directory's lock
//! while they run, so the pool runs the executables that `cargo test --no-run` reports itself, as
//! cargo would (from the package's directory), each with its output in a log file printed whole
//! when it ends. Longest first: the reliability table, then the end-to-end suites, then the rest.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::cmd::{cargo, root, target_dir};

/// Suites run at once unless `GREENLIGHT_TEST_JOBS` says otherwise.
/// Two: the reliability table beside one other suite at a time. With three, the concurrency
/// suite's killed-execution test once saw its push end on its own (FAILED) before the test could
/// stop it, on a loaded 2-core machine.
const DEFAULT_JOBS: usize = 2;

/// One suite: what the log calls it and the command that runs it.
#[derive(Debug)]
pub(crate) struct Suite {
    pub(crate) name: String,
    pub(crate) command: Command,
}

/// How one suite ended.
#[derive(Debug)]
struct Ended {
    name: String,
    log: PathBuf,
    passed: bool,
    seconds: f64,
}

/// The test executables `cargo test --workspace --features <features>` would run, built (it
/// builds nothing new after `build_binaries`), end-to-end suites (the `greenlight-tests`
/// package's integration tests) first.
pub(crate) fn test_binaries(features: &str) -> Result<Vec<Suite>> {
    let mut list = cargo();
    list.args(["test", "--workspace", "--features", features, "--no-run", "--quiet", "--message-format=json"]);
    list.stderr(Stdio::inherit());
    let out = list.output().context("listing the test binaries (cargo test --no-run)")?;
    if !out.status.success() {
        bail!("cargo test --no-run failed ({})", out.status);
    }
    let mut suites = Vec::new();
    for line in out.stdout.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let message: serde_json::Value = serde_json::from_slice(line).context("reading cargo's JSON message")?;
        let (Some(exe), Some(src), Some(manifest)) =
            (message["executable"].as_str(), message["target"]["src_path"].as_str(), message["manifest_path"].as_str())
        else {
            continue;
        };
        if message["reason"] != "compiler-artifact" || message["profile"]["test"] != true {
            continue;
        }
        let mut command = Command::new(exe);
        command.current_dir(Path::new(manifest).parent().unwrap_or(&root()));
        let name = Path::new(src).strip_prefix(root()).unwrap_or(Path::new(src)).display().to_string();
        suites.push(Suite { name, command });
    }
    suites.sort_by_key(|s| (!s.name.starts_with("tests/"), s.name.clone()));
    Ok(suites)
}

/// Runs every suite, `GREENLIGHT_TEST_JOBS` (default 2) at a time, in the order given; prints each
/// one's log when it ends and fails naming every suite that failed.
pub(crate) fn run(step: &str, suites: Vec<Suite>) -> Result<()> {
    let jobs = match std::env::var("GREENLIGHT_TEST_JOBS") {
        Ok(v) => v.parse::<usize>().ok().filter(|n| *n > 0).with_context(|| {
            format!("GREENLIGHT_TEST_JOBS is {v:?}: set it to how many suites may run at once (1 or more)")
        })?,
        Err(_) => DEFAULT_JOBS,
    };
    let total = suites.len();
    eprintln!("==> {step}: {total} suites, {jobs} at a time");
    let logs = target_dir().join("test-logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let start = Instant::now();
    let queue = Arc::new(Mutex::new(suites.into_iter().enumerate().collect::<VecDeque<_>>()));
    let (tx, rx) = mpsc::channel();
    let workers: Vec<_> = (0..jobs.min(total.max(1)))
        .map(|_| {
            let queue = Arc::clone(&queue);
            let tx = tx.clone();
            let logs = logs.clone();
            std::thread::spawn(move || {
                while let Some((i, suite)) = queue.lock().ok().and_then(|mut q| q.pop_front()) {
                    if tx.send(run_one(i, suite, &logs)).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let mut failed = Vec::new();
    for (done, ended) in rx.iter().enumerate() {
        let ended = match ended {
            Ok(ended) => ended,
            Err(e) => {
                eprintln!("--- [{:>2}/{total}] FAILED: {e:#}", done + 1);
                failed.push(format!("{e}"));
                continue;
            }
        };
        let verdict = if ended.passed { "ok" } else { "FAILED" };
        eprintln!("--- [{:>2}/{total}] {verdict} in {:.1} s: {}", done + 1, ended.seconds, ended.name);
        let text = std::fs::read_to_string(&ended.log).unwrap_or_default();
        eprint!("{text}");
        if !ended.passed {
            failed.push(ended.name);
        }
    }
    for w in workers {
        let _ = w.join();
    }
    if !failed.is_empty() {
        bail!("{step} failed: {}", failed.join(", "));
    }
    eprintln!("    {step}: ok in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

fn run_one(i: usize, mut suite: Suite, logs: &Path) -> Result<Ended> {
    let file = suite.name.replace(['/', ' '], "_");
    let log = logs.join(format!("{i:02}-{file}.log"));
    let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone().with_context(|| format!("opening {}", log.display()))?;
    suite.command.stdout(out).stderr(err).stdin(Stdio::null());
    let start = Instant::now();
    let status =
        suite.command.status().with_context(|| format!("{}: could not start {:?}", suite.name, suite.command))?;
    Ok(Ended { name: suite.name, log, passed: status.success(), seconds: start.elapsed().as_secs_f64() })
}
