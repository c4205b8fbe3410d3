//! `greenlight`, the operator CLI.
//!
//! Exit codes: 0 success; 1 the input was read but is not acceptable (manifest problems, a
//! plan that cannot be made, a service the manifest does not have, AWS refusing or failing a
//! call); 2 the input could not be read (missing file, not JSON, wrong shape, bad usage).

// A CLI's job is to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod offline;
mod online;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use greenlight_core::approval::Decision;

/// Blue/green deploys to Amazon ECS on Fargate, from an ECR push to production.
#[derive(Debug, Parser)]
#[command(name = "greenlight", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write, check and describe deploy manifests.
    #[command(subcommand)]
    Manifest(offline::ManifestCommand),
    /// Show what a push would do, offline: targets, new task definition, AppSpec, diff.
    Plan(offline::PlanArgs),
    /// What each service runs now: production and the test listener, the active deployment,
    /// the lock, the newest push, a pending approval, a pause, configuration drift.
    Status(online::StatusArgs),
    /// A service's deploys from the ledger, newest first.
    History(online::HistoryArgs),
    /// Follow a deploy (a service's newest, or an execution) to its end; exits 0 only if it
    /// succeeded.
    Watch(online::WatchArgs),
    /// Approve the service's pending deploy, as your AWS identity.
    Approve(online::DecideArgs),
    /// Reject the service's pending deploy (it is rolled back), as your AWS identity.
    Reject(online::DecideArgs),
    /// Deploy an image already in ECR (by tag or digest), or the live image on the newest
    /// configuration, through the same state machine as a push.
    Deploy(online::DeployArgs),
    /// Run the service's newest failed or superseded request again.
    Retry(online::RetryArgs),
    /// Go back to the last known-good revision (or --to one), blue/green with validation.
    Rollback(online::RollbackArgs),
    /// Freeze the service's deploys: pushes are recorded, not deployed.
    Pause(online::PauseArgs),
    /// Lift the freeze and deploy the newest held push.
    Resume(online::PauseArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

/// Why the command failed, and so its exit code.
#[derive(Debug)]
enum Failure {
    /// Input read but not acceptable (exit 1); the message may span lines.
    Rejected(String),
    /// Input unreadable (exit 2): one line naming the file.
    Unreadable(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(Failure::Rejected(msg)) => {
            eprintln!("{msg}");
            ExitCode::from(1)
        }
        Err(Failure::Unreadable(msg)) => {
            eprintln!("greenlight: {msg}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> Result<String, Failure> {
    match command {
        Command::Manifest(command) => offline::manifest(command),
        Command::Plan(args) => offline::plan(&args),
        Command::Status(args) => online::block_on(online::status(args)),
        Command::History(args) => online::block_on(online::history(args)),
        Command::Watch(args) => online::block_on(online::watch(args)),
        Command::Approve(args) => online::block_on(online::decide_pending(args, Decision::Approve)),
        Command::Reject(args) => online::block_on(online::decide_pending(args, Decision::Reject)),
        Command::Deploy(args) => online::block_on(online::deploy(args)),
        Command::Retry(args) => online::block_on(online::retry(args)),
        Command::Rollback(args) => online::block_on(online::rollback(args)),
        Command::Pause(args) => online::block_on(online::pause(args)),
        Command::Resume(args) => online::block_on(online::resume(args)),
    }
}
