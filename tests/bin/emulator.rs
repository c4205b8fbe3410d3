//! The local sandbox: `emulator up [--approval]` starts the local AWS emulation in the
//! background with greenlight installed into it as the orchestrator module installs it (the
//! functions with the module's environment, the state machine, the manifest, the ECR push rule
//! with the module's event pattern) beside a seeded service `web`, and prints the environment
//! the `greenlight` CLI needs; `emulator push REPOSITORY:TAG [--behaviour MODE]` puts a new
//! image into its ECR as a push does, whose event reaches on-image-push through that rule;
//! `emulator behave REPOSITORY:TAG MODE` changes how an image's containers behave; `emulator
//! down` stops it and everything it started. `cargo xtask emulator …` runs this.
//! `GREENLIGHT_SANDBOX_STATE` names the state file (default `target/emulator/up.json`).

// A command-line tool's job is to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use greenlight_tests::emulator::{Emulator, Options, root};
use greenlight_tests::pipeline::{PUSH_RULE, Pipeline, Setup, push_image};
use serde_json::{Value, json};

/// How a pushed image's containers may behave (the emulation's load balancer apps).
const BEHAVIOURS: &[&str] = &["healthy", "error", "slow", "hang", "wrong_version", "flapping"];

fn state_file() -> PathBuf {
    std::env::var_os("GREENLIGHT_SANDBOX_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/emulator/up.json"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start: {e}")),
    };
    match args.as_slice() {
        ["up"] => runtime.block_on(up(false)),
        ["up", "--approval"] => runtime.block_on(up(true)),
        ["push", image] => runtime.block_on(push(image, "healthy")),
        ["push", image, "--behaviour", mode] => runtime.block_on(push(image, mode)),
        ["behave", image, mode] => runtime.block_on(behave(image, mode)),
        ["down"] => down(),
        _ => {
            eprintln!(
                "usage: emulator up [--approval] | push REPOSITORY:TAG [--behaviour {modes}] | behave REPOSITORY:TAG {modes} | down",
                modes = BEHAVIOURS.join("|")
            );
            ExitCode::from(2)
        }
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("emulator: {message}");
    ExitCode::from(1)
}

async fn up(approval: bool) -> ExitCode {
    if let Ok(text) = std::fs::read_to_string(state_file()) {
        return fail(&format!("a sandbox is already up ({}); `cargo xtask emulator down` stops it", text.trim()));
    }
    let emulator = match Emulator::start_with(Options { detached: true, ..Options::default() }) {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    let setup = Setup {
        approval_timeout: approval.then_some(3600),
        tags: ["v1", "v2", "v3"].iter().map(|t| (*t).to_string()).collect(),
        ..Setup::default()
    };
    let pipeline = Pipeline::install(emulator, setup).await;
    pipeline.install_push_rule(|_| {}).await;
    let Pipeline { emulator, seeded, .. } = pipeline;
    let state = json!({
        "endpoint": emulator.endpoint, "production_url": emulator.production_url, "test_url": emulator.test_url,
        "dir": emulator.dir, "approval": approval,
    });
    let dir = emulator.dir.clone();
    let pid = emulator.detach();
    let mut state = state;
    state["pid"] = pid.into();
    if let Err(e) = std::fs::write(state_file(), state.to_string()) {
        return fail(&format!("{}: {e}", state_file().display()));
    }
    let endpoint = state["endpoint"].as_str().unwrap_or_default();
    println!("export AWS_ENDPOINT_URL={endpoint}");
    println!("export AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox AWS_REGION=us-east-1");
    println!("export GREENLIGHT_WAIT_SECONDS=1");
    println!("# greenlight is installed: functions, state machine greenlight-deploy, manifest /greenlight/manifest,");
    println!("# ledger greenlight-ledger, topic greenlight-notifications, ECR push rule {PUSH_RULE} -> on-image-push");
    let approval_note = if approval { "asks for approval" } else { "deploys without approval" };
    println!("# service `web` (ECS cluster and service web, CodeDeploy web/web) {approval_note}; blue serves v1");
    for tag in ["v1", "v2", "v3"] {
        println!("#   web:{tag}  {}", seeded["digests"][tag].as_str().unwrap_or_default());
    }
    println!(
        "# production {}  test listener {}",
        state["production_url"].as_str().unwrap_or_default(),
        state["test_url"].as_str().unwrap_or_default()
    );
    println!("# push an image: cargo xtask emulator push web:v4 [--behaviour {}]", BEHAVIOURS.join("|"));
    println!("# logs in {}; stop everything with `cargo xtask emulator down`", dir.display());
    ExitCode::SUCCESS
}

/// The running sandbox, and `REPOSITORY:TAG` split, with the behaviour checked.
fn attach<'a>(image: &'a str, behaviour: &str) -> Result<(Emulator, &'a str, &'a str), String> {
    let Ok(text) = std::fs::read_to_string(state_file()) else {
        return Err("no sandbox is up: `cargo xtask emulator up` starts one".into());
    };
    let Some((repository, tag)) = image.split_once(':').filter(|(r, t)| !r.is_empty() && !t.is_empty()) else {
        return Err(format!("`{image}` is not REPOSITORY:TAG (for example web:v4)"));
    };
    if !BEHAVIOURS.contains(&behaviour) {
        return Err(format!("--behaviour `{behaviour}` is none of {}", BEHAVIOURS.join(", ")));
    }
    let state: Value = serde_json::from_str(&text).unwrap_or_default();
    let field = |k: &str| state[k].as_str().unwrap_or_default().to_string();
    let emulator =
        Emulator::attach(&field("endpoint"), &field("production_url"), &field("test_url"), field("dir").into());
    Ok((emulator, repository, tag))
}

async fn push(image: &str, behaviour: &str) -> ExitCode {
    let (emulator, repository, tag) = match attach(image, behaviour) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let config = emulator.sdk_config().await;
    match push_image(&emulator, &config, repository, tag, json!({"mode": behaviour})).await {
        Ok(digest) => {
            println!("pushed {repository}:{tag} ({digest}), its containers {behaviour}");
            println!(
                "ECR's push event goes through {PUSH_RULE} to on-image-push: `greenlight watch {repository}` follows the deploy"
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// Changes how an image already in ECR behaves (a dependency that came back, a bug that shows).
async fn behave(image: &str, behaviour: &str) -> ExitCode {
    let (emulator, repository, tag) = match attach(image, behaviour) {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let config = emulator.sdk_config().await;
    let id = aws_sdk_ecr::types::ImageIdentifier::builder().image_tag(tag).build();
    let found =
        aws_sdk_ecr::Client::new(&config).describe_images().repository_name(repository).image_ids(id).send().await;
    let digest = found.ok().and_then(|f| f.image_details().first().and_then(|d| d.image_digest().map(str::to_string)));
    let Some(digest) = digest else { return fail(&format!("ECR has no image {repository}:{tag}")) };
    emulator.set_behaviour(&digest, json!({"mode": behaviour})).await;
    println!("{repository}:{tag} ({digest}) now {behaviour}");
    ExitCode::SUCCESS
}

fn down() -> ExitCode {
    let Ok(text) = std::fs::read_to_string(state_file()) else {
        println!("no sandbox is up");
        return ExitCode::SUCCESS;
    };
    let pid = serde_json::from_str::<Value>(&text).ok().and_then(|v| v["pid"].as_u64()).unwrap_or(0);
    if pid > 0 {
        let group = format!("-{pid}");
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        for _ in 0..100 {
            let alive = Command::new("kill").args(["-0", "--", &group]).stderr(std::process::Stdio::null()).status();
            if !alive.is_ok_and(|s| s.success()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(std::process::Stdio::null()).status();
    }
    let _ = std::fs::remove_file(state_file());
    println!("sandbox {pid} stopped");
    ExitCode::SUCCESS
}
