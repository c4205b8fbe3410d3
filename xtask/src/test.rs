//! `cargo xtask test`: everything CI runs.

use std::process::Command;

use anyhow::{Context, Result};

use crate::cmd::{cargo, fault_injection_features, root, run as step, target_dir};
use crate::venv;

/// Checks the state machine definition against the Amazon States Language.
const ASL_VALIDATOR: &str = "asl-validator@4.0.0";

pub(crate) fn run() -> Result<()> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    step("rustfmt", fmt)?;
    let features = fault_injection_features()?;
    let mut clippy = cargo();
    clippy.args(["clippy", "--workspace", "--all-targets", "--features", &features, "--", "-D", "warnings"]);
    step("clippy", clippy)?;
    asl_validate()?;
    terraform_fmt()?;
    checkov()?;
    python_checks()?;
    venv::emulator()?;
    emulator_checks()?;
    build_binaries()?;
    let calls = root().join("target/aws-calls");
    if calls.exists() {
        std::fs::remove_dir_all(&calls).with_context(|| format!("clearing {}", calls.display()))?;
    }
    let mut tests = cargo();
    tests.env("GREENLIGHT_AWS_CALLS_DIR", &calls).args(["test", "--workspace", "--features", &features]);
    step("tests", tests)?;
    // The reliability table's short form; the calls it makes under faults are checked too.
    crate::reliability::report(true, &[], Some(&calls))?;
    // Each function's recorded AWS calls against its declared list (the tests' own reader).
    let mut check = Command::new(target_dir().join("debug/check-calls"));
    check.arg(&calls);
    step("AWS calls made by each function vs functions/<name>/Cargo.toml", check)?;
    println!("all checks passed");
    Ok(())
}

/// The function binaries (and the tests' helpers) the end-to-end tests run as processes, built
/// with every other target of the workspace. One build for all: `cargo test` unifies the
/// dev-dependencies' features into every crate, so binaries built alone would be a second copy
/// of the whole SDK in `target/`, compiled again by the test run.
pub(crate) fn build_binaries() -> Result<()> {
    let mut build = cargo();
    build.args(["build", "--quiet", "--workspace", "--all-targets"]);
    // The same features as the test run, so the two builds share their artifacts.
    build.args(["--features", &fault_injection_features()?]);
    step("build the function binaries and the tests", build)
}

fn asl_validate() -> Result<()> {
    let prefix = root().join(".venv/node");
    let bin = prefix.join("node_modules/.bin/asl-validator");
    if !bin.is_file() {
        let mut npm = Command::new("npm");
        npm.args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"]).arg(&prefix).arg(ASL_VALIDATOR);
        step(&format!("install {ASL_VALIDATOR}"), npm)?;
    }
    let mut check = Command::new(bin);
    check.arg("--json-path").arg(root().join("state-machine/deploy.asl.json"));
    step("asl-validator state-machine/deploy.asl.json", check)
}

fn terraform_fmt() -> Result<()> {
    let mut fmt = Command::new("terraform");
    // No CLI configuration exists here or is needed for fmt; this keeps terraform from warning.
    fmt.env("TF_CLI_CONFIG_FILE", "/dev/null").args(["fmt", "-check", "-recursive", "-diff"]).arg(root().join("infra"));
    step("terraform fmt -check infra/", fmt).context(
        "terraform fmt: run `terraform fmt -recursive infra` to fix the layout (if terraform is missing, install Terraform ≥ 1.11)",
    )
}

fn checkov() -> Result<()> {
    let mut check = Command::new(venv::checkov()?.join("bin/checkov"));
    // Every finding is fixed or skipped inline with its reason (`#checkov:skip=<id>:<why>`).
    check.args(["--framework", "terraform", "--skip-download", "--compact", "--quiet", "-d"]).arg(root().join("infra"));
    step("checkov infra/", check)
}

/// The emulation's own tests, through boto3: its extensions answer as AWS documents.
fn emulator_checks() -> Result<()> {
    let emulator = root().join("tests/emulator");
    let mut check = Command::new(root().join(".venv/emulator/bin/python"));
    check.current_dir(&emulator).args([
        "-W",
        "ignore::ResourceWarning",
        "-m",
        "unittest",
        "discover",
        "--quiet",
        "-s",
        "checks",
        "-t",
        ".",
    ]);
    step("the emulation's boto3 checks (tests/emulator/checks)", check)
}

/// ruff and mypy (strict) over greenlight's Python under tests/ (the emulation, the benchmark's
/// peer, the Terraform schema extractor), with the settings of tests/pyproject.toml.
fn python_checks() -> Result<()> {
    let bin = venv::python_checks()?.join("bin");
    let tests = root().join("tests");
    let mut ruff = Command::new(bin.join("ruff"));
    ruff.current_dir(&tests).args(["check", "--quiet", "."]);
    step("ruff check tests/", ruff)?;
    let mut mypy = Command::new(bin.join("mypy"));
    mypy.current_dir(&tests).args([
        "--no-error-summary",
        "emulator/greenlight_emulator",
        "emulator/checks",
        "terraform/extract_schema.py",
        "bench/peer.py",
    ]);
    step("mypy --strict (tests/pyproject.toml)", mypy)
}
