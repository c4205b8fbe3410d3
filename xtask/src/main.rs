//! `cargo xtask`: greenlight's one entry point for checks, packaging and generated files.

// A task runner's job is to print progress.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// cargo-lambda (with zig) builds Lambda zips for Amazon Linux's glibc from any Linux host.
const CARGO_LAMBDA: &str = "cargo-lambda==1.9.2";
/// Checks the state machine definition against the Amazon States Language.
const ASL_VALIDATOR: &str = "asl-validator@4.0.0";
/// Static analysis of the Terraform modules; in its own venv (it pins its own boto3).
const CHECKOV: &str = "checkov==3.3.30";

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  test       everything CI runs: rustfmt check, clippy -D warnings, asl-validator, terraform fmt,
             checkov, all tests, and the AWS calls each function made against its declared list
  demo       the pipeline on the local emulation: v2 deploys, v3 fails and rolls back
  bench      package, then one table: cold start and peak RSS of every function beside a Python
             boto3 peer, zip sizes, push → CreateDeployment, cost per deploy, validation verdict
  bench validate   only the validation verdict (20 concurrent checks vs the sum of their latencies)
  package    release build of every function: target/lambda/<name>/bootstrap.zip, sizes printed
  schema     regenerate schema/manifest.schema.json from the manifest types
  emulator setup   create .venv/emulator with the pinned moto (test runs it first)
  emulator up      start the local AWS emulation in the background, print its endpoints
  emulator down    stop it and everything it started
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("demo") => demo(),
        Some("bench") => match args.get(1).map(String::as_str) {
            None => bench(false),
            Some("validate") => bench(true),
            Some(other) => Err(anyhow::anyhow!("unknown benchmark `{other}`; there is `validate`")),
        },
        Some("package") => package(),
        Some("schema") => schema(),
        Some("emulator") => match args.get(1).map(String::as_str) {
            Some("setup") => emulator_setup(),
            Some(action @ ("up" | "down")) => emulator(action),
            _ => Err(anyhow::anyhow!("usage: cargo xtask emulator setup|up|down")),
        },
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown task `{other}`\n\n{USAGE}")),
        None => Err(anyhow::anyhow!("no task given\n\n{USAGE}")),
    };
    if let Err(e) = result {
        eprintln!("xtask: {e:#}");
        std::process::exit(1);
    }
}

fn root() -> PathBuf {
    // xtask/ sits in the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(step: &str, mut cmd: Command) -> Result<()> {
    println!("==> {step}");
    let start = Instant::now();
    let status = cmd.status().with_context(|| format!("{step}: could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{step} failed ({status})");
    }
    println!("    {step}: ok in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

fn test() -> Result<()> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run("rustfmt", fmt)?;
    let mut clippy = cargo();
    clippy.args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]);
    run("clippy", clippy)?;
    asl_validate()?;
    terraform_fmt()?;
    checkov()?;
    emulator_setup()?;
    build_binaries()?;
    let calls = root().join("target/aws-calls");
    if calls.exists() {
        std::fs::remove_dir_all(&calls).with_context(|| format!("clearing {}", calls.display()))?;
    }
    let mut tests = cargo();
    tests.env("GREENLIGHT_AWS_CALLS_DIR", &calls).args(["test", "--workspace"]);
    run("tests", tests)?;
    check_recorded_calls(&calls)?;
    println!("all checks passed");
    Ok(())
}

/// The function crates: every directory under functions/ with a Cargo.toml.
fn functions() -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root().join("functions")).context("reading functions/")? {
        let path = entry?.path();
        if path.join("Cargo.toml").is_file()
            && let Some(name) = path.file_name().and_then(|n| n.to_str())
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// A project-local venv holding cargo-lambda and zig, created on first use.
fn cargo_lambda_venv() -> Result<PathBuf> {
    Ok(python_venv("tools", &[CARGO_LAMBDA], CARGO_LAMBDA, &format!("install {CARGO_LAMBDA}"))?.join("bin"))
}

fn package() -> Result<()> {
    let bin = cargo_lambda_venv()?;
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
        run(&format!("cargo lambda build --release --output-format {format}"), build)?;
    }
    println!("\n{:<24} {:>12}", "function", "bootstrap.zip");
    for n in &names {
        let zip = root().join("target/lambda").join(n).join("bootstrap.zip");
        let size = std::fs::metadata(&zip).with_context(|| format!("{} was not built", zip.display()))?.len();
        println!("{n:<24} {:>9.2} MB", size as f64 / 1_000_000.0);
    }
    Ok(())
}

fn schema() -> Result<()> {
    let mut t = cargo();
    t.env("UPDATE_SCHEMA", "1").args([
        "test",
        "--package",
        "greenlight-core",
        "--test",
        "manifest",
        "committed_schema",
    ]);
    run("regenerate schema/manifest.schema.json", t)
}

/// The emulation's venv: moto pinned by tests/emulator/requirements.txt, reinstalled when that
/// file changes.
fn emulator_setup() -> Result<()> {
    let requirements = root().join("tests/emulator/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).context("reading tests/emulator/requirements.txt")?;
    let path = requirements.to_string_lossy();
    python_venv("emulator", &["-r", &path], &wanted, "install the emulation's Python packages")?;
    Ok(())
}

/// `.venv/<name>` with `pip install <packages>`, installed again when `wanted` (what the
/// packages are pinned to) differs from what was installed last; its path.
fn python_venv(name: &str, packages: &[&str], wanted: &str, step: &str) -> Result<PathBuf> {
    let venv = root().join(".venv").join(name);
    let stamp = venv.join(".installed-requirements");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted) {
        return Ok(venv);
    }
    if !venv.join("bin/python").is_file() {
        let mut mk = Command::new("python3");
        mk.args(["-m", "venv"]).arg(&venv);
        run(&format!("create .venv/{name}"), mk)?;
    }
    let mut pip = Command::new(venv.join("bin/pip"));
    pip.args(["install", "--quiet", "--disable-pip-version-check"]).args(packages);
    run(step, pip)?;
    std::fs::write(&stamp, wanted)?;
    Ok(venv)
}

fn emulator(action: &str) -> Result<()> {
    if action == "up" {
        emulator_setup()?;
    }
    let mut c = cargo();
    c.args(["run", "--quiet", "--package", "greenlight-tests", "--bin", "emulator", "--", action]);
    let status = c.status().context("running the emulator tool")?;
    if !status.success() {
        bail!("emulator {action} failed ({status})");
    }
    Ok(())
}

/// The function binaries (and the tests' helpers) the end-to-end tests run as processes.
fn build_binaries() -> Result<()> {
    let mut build = cargo();
    build.args(["build", "--quiet", "--bins", "--package", "greenlight-tests"]);
    for f in functions()? {
        build.args(["--package", &f]);
    }
    run("build the function binaries", build)
}

fn asl_validate() -> Result<()> {
    let prefix = root().join(".venv/node");
    let bin = prefix.join("node_modules/.bin/asl-validator");
    if !bin.is_file() {
        let mut npm = Command::new("npm");
        npm.args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"]).arg(&prefix).arg(ASL_VALIDATOR);
        run(&format!("install {ASL_VALIDATOR}"), npm)?;
    }
    let mut check = Command::new(bin);
    check.arg("--json-path").arg(root().join("state-machine/deploy.asl.json"));
    run("asl-validator state-machine/deploy.asl.json", check)
}

fn terraform_fmt() -> Result<()> {
    let mut fmt = Command::new("terraform");
    // No CLI configuration exists here or is needed for fmt; this keeps terraform from warning.
    fmt.env("TF_CLI_CONFIG_FILE", "/dev/null").args(["fmt", "-check", "-recursive", "-diff"]).arg(root().join("infra"));
    run("terraform fmt -check infra/", fmt).context(
        "terraform fmt: run `terraform fmt -recursive infra` to fix the layout (if terraform is missing, install Terraform ≥ 1.11)",
    )
}

fn checkov() -> Result<()> {
    let venv = python_venv("checkov", &[CHECKOV], CHECKOV, &format!("install {CHECKOV}"))?;
    let mut check = Command::new(venv.join("bin/checkov"));
    // Every finding is fixed or skipped inline with its reason (`#checkov:skip=<id>:<why>`).
    check.args(["--framework", "terraform", "--skip-download", "--compact", "--quiet", "-d"]).arg(root().join("infra"));
    run("checkov infra/", check)
}

/// The emulation records each function's AWS calls (one `<function>\t<service>:<Operation>`
/// line per new pair); every one must be in the function's `aws-calls`, the list Terraform's
/// policy is tested against.
fn check_recorded_calls(dir: &Path) -> Result<()> {
    println!("==> AWS calls made by each function vs functions/<name>/Cargo.toml");
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("no calls were recorded in {}", dir.display()))? {
        let text = std::fs::read_to_string(entry?.path())?;
        for line in text.lines() {
            if let Some((caller, action)) = line.split_once('\t') {
                seen.entry(caller.to_string()).or_default().insert(action.to_string());
            }
        }
    }
    for function in functions()? {
        let declared = declared_calls(&function)?;
        let made = seen.get(&format!("greenlight-{function}")).cloned().unwrap_or_default();
        if made.is_empty() {
            problems.push(format!("{function}: no AWS call recorded; did the end-to-end tests run?"));
        }
        for action in made.difference(&declared) {
            problems.push(format!(
                "{function} called {action}, which functions/{function}/Cargo.toml does not list: add it to aws-calls, and to the function's policy in infra/modules/greenlight/main.tf"
            ));
        }
        println!("    {function:<20} {} of {} listed calls seen", made.intersection(&declared).count(), declared.len());
    }
    if !problems.is_empty() {
        bail!("AWS calls:\n  {}", problems.join("\n  "));
    }
    Ok(())
}

fn declared_calls(function: &str) -> Result<std::collections::BTreeSet<String>> {
    let path = root().join("functions").join(function).join("Cargo.toml");
    let manifest: toml::Table =
        std::fs::read_to_string(&path)?.parse().with_context(|| format!("{}", path.display()))?;
    let calls = manifest
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("greenlight"))
        .and_then(|g| g.get("aws-calls"))
        .and_then(|c| c.as_array())
        .with_context(|| format!("{}: [package.metadata.greenlight] aws-calls is missing", path.display()))?;
    Ok(calls.iter().filter_map(|c| c.as_str().map(str::to_string)).collect())
}

fn demo() -> Result<()> {
    emulator_setup()?;
    build_binaries()?;
    let mut c = cargo();
    c.args(["run", "--quiet", "--package", "greenlight-tests", "--bin", "demo"]);
    let status = c.status().context("running the demo")?;
    if !status.success() {
        bail!("the demo failed ({status})");
    }
    Ok(())
}

fn bench(only_validate: bool) -> Result<()> {
    if !only_validate {
        package()?;
        emulator_setup()?;
    }
    let mut c = cargo();
    c.env("GREENLIGHT_PACKAGED_FUNCTIONS", root().join("target/lambda")).args([
        "run",
        "--quiet",
        "--release",
        "--package",
        "greenlight-tests",
        "--bin",
        "bench",
    ]);
    if only_validate {
        c.args(["--", "validate"]);
    }
    let status = c.status().context("running the benchmark")?;
    if !status.success() {
        bail!("the benchmark failed ({status})");
    }
    Ok(())
}
