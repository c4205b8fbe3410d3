//! `cargo xtask`: greenlight's one entry point for checks, packaging and generated files. One
//! module per task; `cmd` holds what they share (the workspace, cargo, running a step).

// A task runner's job is to print progress.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod cmd;
mod demo;
mod emulator;
mod package;
mod pool;
mod reliability;
mod schema;
mod terraform_schema;
mod test;
mod venv;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  test       everything CI runs: rustfmt check, clippy -D warnings, asl-validator, terraform fmt,
             checkov, ruff, mypy, the emulation's boto3 checks, all tests, the reliability table's
             short form, and the AWS calls each function made against its declared list
  demo       the pipeline on the local emulation: v2 deploys, v3 fails and rolls back
  bench      package, then one table: cold start and peak RSS of every function beside a Python
             boto3 peer, zip sizes, push → CreateDeployment, cost per deploy, validation verdict
  bench validate   only the validation verdict (20 concurrent checks vs the sum of their latencies)
  reliability   every declared AWS call failing once and for good, the bad-input corpus and a
             soak under random faults, on the local emulation: one table, 0 where it must be 0
             (`--short`: what `test` runs; `--only TEXT`: the matrix rows whose name contains it)
  package    release build of every function: target/lambda/<name>/bootstrap.zip, sizes printed
  schema     regenerate schema/manifest.schema.json from the manifest types
  terraform-schema   regenerate tests/terraform/aws-provider-schema.json (the AWS provider's
             schema of the types infra/ uses) from the provider's prebuilt CDK for Terraform bindings
  emulator setup   create .venv/emulator with the pinned moto (test runs it first)
  emulator up [--approval]   the local sandbox: the emulation in the background with greenlight
             installed (functions, state machine, manifest, the ECR push rule) beside a service
             `web`; prints the environment the greenlight CLI needs (eval it)
  emulator push REPOSITORY:TAG [--behaviour healthy|error|slow|hang|wrong_version|flapping]
             put a new image into the sandbox's ECR; its push event deploys it
  emulator behave REPOSITORY:TAG MODE   change how an image's containers behave
  emulator down    stop the sandbox and everything it started
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::run(),
        Some("demo") => demo::run(),
        Some("bench") => match args.get(1).map(String::as_str) {
            None => bench::run(false),
            Some("validate") => bench::run(true),
            Some(other) => Err(anyhow::anyhow!("unknown benchmark `{other}`; there is `validate`")),
        },
        Some("reliability") => {
            let short = args.iter().any(|a| a == "--short");
            let rest: Vec<String> = args.iter().skip(1).filter(|a| *a != "--short").cloned().collect();
            reliability::run(short, &rest)
        }
        Some("package") => package::run(),
        Some("schema") => schema::run(),
        Some("terraform-schema") => terraform_schema::run(),
        Some("emulator") => match args.get(1).map(String::as_str) {
            Some("setup") => venv::emulator(),
            Some("up" | "push" | "behave" | "down") => emulator::run(&args[1..]),
            _ => Err(anyhow::anyhow!("usage: cargo xtask emulator setup|up|push|behave|down")),
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
