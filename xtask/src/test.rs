//! `cargo xtask test`: everything CI runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::cmd::{cargo, fault_injection_features, root, run as step, target_dir};
use crate::{pool, venv};

/// Checks the state machine definition against the Amazon States Language.
const ASL_VALIDATOR: &str = "asl-validator@4.0.0";
/// Drives Debian's Chromium for the browser tests (`tests/browser/`).
const PLAYWRIGHT: &str = "playwright-core@1.64.1";
/// The browser the tests drive, from Debian's `chromium` package.
const CHROMIUM: &str = "/usr/bin/chromium";

pub(crate) fn run() -> Result<()> {
    // What the checks install (Python venvs, Node packages, Chromium) comes over the network
    // while cargo compiles.
    let installs = std::thread::spawn(install_tools);
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    step("rustfmt", fmt)?;
    terraform_fmt()?;
    let features = fault_injection_features()?;
    let mut clippy = cargo();
    clippy.args(["clippy", "--workspace", "--all-targets", "--features", &features, "--", "-D", "warnings"]);
    step("clippy", clippy)?;
    build_binaries()?;
    let tools = installs.join().map_err(|_| anyhow::anyhow!("installing the checks' tools panicked"))??;
    asl_validate()?;
    checkov(&tools.checkov)?;
    python_checks(&tools.python_checks)?;
    emulator_checks()?;
    let calls = root().join("target/aws-calls");
    if calls.exists() {
        std::fs::remove_dir_all(&calls).with_context(|| format!("clearing {}", calls.display()))?;
    }
    // The reliability table's short form (its calls under faults are checked too) and every test
    // binary, a few at a time.
    let mut suites = vec![pool::Suite {
        name: "reliability (short form)".into(),
        command: crate::reliability::command(true, &[], Some(&calls)),
    }];
    suites.extend(pool::test_binaries(&features)?);
    for s in &mut suites {
        s.command.env("GREENLIGHT_AWS_CALLS_DIR", &calls);
    }
    pool::run("tests", suites)?;
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

/// The Node.js packages the checks use, under `.venv/node`: asl-validator and playwright-core.
fn node_tools() -> Result<()> {
    let prefix = root().join(".venv/node");
    let modules = prefix.join("node_modules");
    if modules.join(".bin/asl-validator").is_file() && modules.join("playwright-core/package.json").is_file() {
        return Ok(());
    }
    let mut npm = Command::new("npm");
    npm.args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
        .arg(&prefix)
        .args([ASL_VALIDATOR, PLAYWRIGHT]);
    step(&format!("install {ASL_VALIDATOR} and {PLAYWRIGHT}"), npm)
}

fn asl_validate() -> Result<()> {
    let mut check = Command::new(root().join(".venv/node/node_modules/.bin/asl-validator"));
    check.arg("--json-path").arg(root().join("state-machine/deploy.asl.json"));
    step("asl-validator state-machine/deploy.asl.json", check)
}

/// Debian's Chromium for the browser tests, installed with apt-get when it is missing (CI's
/// machines run as root; elsewhere install the `chromium` package, or point
/// `GREENLIGHT_CHROMIUM` at a Chromium binary).
fn chromium() -> Result<()> {
    if let Some(path) = std::env::var_os("GREENLIGHT_CHROMIUM") {
        return if Path::new(&path).is_file() {
            Ok(())
        } else {
            anyhow::bail!("GREENLIGHT_CHROMIUM is {path:?}, which is not a file: point it at a Chromium binary")
        };
    }
    if Path::new(CHROMIUM).is_file() {
        return Ok(());
    }
    let hint = "the browser test needs Debian's chromium package: `apt-get install chromium` as root, or set GREENLIGHT_CHROMIUM to a Chromium binary";
    let mut update = Command::new("apt-get");
    update.args(["update", "-qq"]);
    step("apt-get update", update).context(hint)?;
    let mut install = Command::new("apt-get");
    install.env("DEBIAN_FRONTEND", "noninteractive").args([
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        "chromium",
    ]);
    step("install Debian's chromium", install).context(hint)
}

fn terraform_fmt() -> Result<()> {
    let mut fmt = Command::new("terraform");
    // No CLI configuration exists here or is needed for fmt; this keeps terraform from warning.
    fmt.env("TF_CLI_CONFIG_FILE", "/dev/null").args(["fmt", "-check", "-recursive", "-diff"]).arg(root().join("infra"));
    step("terraform fmt -check infra/", fmt).context(
        "terraform fmt: run `terraform fmt -recursive infra` to fix the layout (if terraform is missing, install Terraform ≥ 1.11)",
    )
}

/// The venvs of the Python checks, once installed.
struct Tools {
    checkov: PathBuf,
    python_checks: PathBuf,
}

/// Everything the checks and tests install: Node packages, Chromium, the Python venvs.
fn install_tools() -> Result<Tools> {
    node_tools()?;
    chromium()?;
    venv::emulator()?;
    Ok(Tools { checkov: venv::checkov()?, python_checks: venv::python_checks()? })
}

fn checkov(venv: &Path) -> Result<()> {
    let mut check = Command::new(venv.join("bin/checkov"));
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
fn python_checks(venv: &Path) -> Result<()> {
    let bin = venv.join("bin");
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
