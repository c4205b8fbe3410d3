//! `cargo xtask package`: release zips of every function, and the check that none of them
//! carries a test hook.

use anyhow::{Context, Result, bail};

use crate::cmd::{cargo, functions, root, run as step};
use crate::venv;

/// What only a build with the `fault-injection` feature contains (test hooks must not ship).
const TEST_HOOK_MARKERS: &[&str] = &["GREENLIGHT_FAULT_INJECTION", "panic_in_checks"];

pub(crate) fn run() -> Result<()> {
    let bin = venv::cargo_lambda()?;
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let names = functions()?;
    // The zips Lambda takes, then the same binaries beside them (`bootstrap`, for the benchmark;
    // the second build only copies what the first one built).
    for format in ["zip", "binary"] {
        let mut build = cargo();
        build.env("PATH", &path).args([
            "lambda",
            "build",
            "--release",
            "--output-format",
            format,
            "--lambda-dir",
            "target/lambda",
        ]);
        for n in &names {
            build.args(["--package", n]);
        }
        step(&format!("cargo lambda build --release --output-format {format}"), build)?;
    }
    println!("\n{:<24} {:>12}", "function", "bootstrap.zip");
    for n in &names {
        let zip = root().join("target/lambda").join(n).join("bootstrap.zip");
        let size = std::fs::metadata(&zip).with_context(|| format!("{} was not built", zip.display()))?.len();
        println!("{n:<24} {:>9.2} MB", size as f64 / 1_000_000.0);
    }
    no_test_hooks(&names)
}

/// Fails when a packaged `bootstrap` contains a test hook's marker: the release build must not
/// have enabled the `fault-injection` feature.
fn no_test_hooks(names: &[String]) -> Result<()> {
    for n in names {
        let path = root().join("target/lambda").join(n).join("bootstrap");
        let binary = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        for marker in TEST_HOOK_MARKERS {
            if binary.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                bail!(
                    "{} contains `{marker}`: a test hook is in a packaged binary; build it without the `fault-injection` feature",
                    path.display()
                );
            }
        }
    }
    println!("no packaged binary contains a test hook ({})", TEST_HOOK_MARKERS.join(", "));
    Ok(())
}
