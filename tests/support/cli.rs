//! The `greenlight` binary run as an operator runs it against an emulation: their own
//! credentials, `AWS_ENDPOINT_URL` pointing at it, none of greenlight's names from the
//! environment (every default name matches the pipeline's), `GREENLIGHT_WAIT_SECONDS` as the
//! pipeline's functions have it.

use std::process::Output;

use serde_json::Value;

use crate::pipeline::{Pipeline, binary};

/// `greenlight ARGS` against the pipeline's emulation.
pub fn greenlight(p: &Pipeline, args: &[&str]) -> Output {
    greenlight_at(&p.emulator.endpoint, args)
}

pub fn greenlight_at(endpoint: &str, args: &[&str]) -> Output {
    operator(endpoint, args).output().expect("run greenlight")
}

/// `greenlight ARGS` as an operator runs it against `endpoint`: their own credentials, none of
/// greenlight's names from the environment.
pub fn operator(endpoint: &str, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(binary("greenlight"));
    command
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "operator")
        .env("AWS_SECRET_ACCESS_KEY", "emulated")
        .env("AWS_REGION", "us-east-1")
        .env_remove("GREENLIGHT_NAME")
        .env_remove("GREENLIGHT_LEDGER_TABLE")
        .env_remove("GREENLIGHT_MANIFEST_PARAMETER")
        .env_remove("GREENLIGHT_STATE_MACHINE_ARN")
        .env_remove("GREENLIGHT_TOPIC_ARN")
        .env("GREENLIGHT_WAIT_SECONDS", "1");
    command
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs and parses JSON output; the command must succeed.
pub fn json(p: &Pipeline, args: &[&str]) -> Value {
    let o = greenlight(p, args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", stdout(&o)))
}

pub fn started(outcome: &greenlight_core::pipeline::PushOutcome) -> String {
    match &outcome.executions[0].start {
        greenlight_core::ports::ExecutionStart::Started { execution_arn } => execution_arn.clone(),
        other => panic!("{other:?}"),
    }
}
