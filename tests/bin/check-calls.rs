//! `check-calls <dir>`: the AWS calls the emulation recorded for each function (one
//! `<caller>\t<service>:<Operation>` line per new pair, in files under `<dir>`) against the
//! function's declared `aws-calls` (`[package.metadata.greenlight]`, read by
//! `greenlight_tests::pipeline::declared`, the reader the Terraform test uses too). Exits 1 on
//! a call a function made that its list lacks, or a function that made none.

// A checker's job is to print what it found.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use greenlight_tests::pipeline::{FUNCTIONS, declared, function_name};

fn main() {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: check-calls <directory of recorded calls>");
        std::process::exit(2);
    };
    let mut seen = BTreeMap::<String, BTreeSet<String>>::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) => {
            eprintln!("no calls were recorded in {}: {e}", dir.display());
            std::process::exit(1);
        }
    };
    for path in entries.filter_map(Result::ok).map(|e| e.path()) {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for (caller, action) in text.lines().filter_map(|l| l.split_once('\t')) {
            seen.entry(caller.to_string()).or_default().insert(action.to_string());
        }
    }
    let mut problems = Vec::new();
    for function in FUNCTIONS {
        let (calls, _) = declared(function);
        let made = seen.get(&function_name(function)).cloned().unwrap_or_default();
        if made.is_empty() {
            problems.push(format!("{function}: no AWS call recorded; did the end-to-end tests run?"));
        }
        for action in made.difference(&calls) {
            problems.push(format!(
                "{function} called {action}, which functions/{function}/Cargo.toml does not list: add it to aws-calls, and to the function's policy in infra/modules/greenlight/main.tf"
            ));
        }
        println!("    {function:<20} {} of {} listed calls seen", made.intersection(&calls).count(), calls.len());
    }
    if !problems.is_empty() {
        eprintln!("AWS calls:\n  {}", problems.join("\n  "));
        std::process::exit(1);
    }
}
