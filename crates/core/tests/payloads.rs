//! Every payload between the state machine and the functions has a JSON fixture, and the type
//! reads and writes exactly that JSON.

use greenlight_core::checks::ValidationRecord;
use greenlight_core::pipeline::{
    ApprovalRequest, ApprovalRequested, ApprovalWatch, ExecutionInput, FinishInput, FinishOutput, HookEvent, Prepared,
    PushOutcome, RollbackRequest, RolledBack, Started, StatusInput, StepInput,
};
use greenlight_core::ports::DeploymentState;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn check<T: Serialize + DeserializeOwned>(name: &str) {
    let path = format!("{}/tests/fixtures/payloads/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let fixture: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let typed: T = serde_json::from_value(fixture.clone()).unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
    let again = serde_json::to_value(&typed).expect("serializes");
    assert_eq!(again, fixture, "{name} does not round-trip");
}

#[test]
fn payloads_round_trip() {
    check::<ExecutionInput>("execution-input.json");
    check::<StepInput>("prepare-input.json");
    check::<Prepared>("prepared.json");
    check::<Prepared>("prepared-already-live.json");
    check::<Started>("started.json");
    check::<FinishInput>("finish-input.json");
    check::<DeploymentState>("deployment-state.json");
    check::<RollbackRequest>("rollback-request.json");
    check::<RolledBack>("rolled-back.json");
    check::<PushOutcome>("push-outcome.json");
    check::<StatusInput>("status-input.json");
    check::<StatusInput>("approval-watch-input.json");
    check::<ApprovalWatch>("approval-watch.json");
    check::<ApprovalRequest>("approval-request.json");
    check::<ApprovalRequested>("approval-requested.json");
    check::<FinishOutput>("finish-continued.json");
    check::<FinishOutput>("finish-notified.json");
    check::<ValidationRecord>("validation-record.json");
}

#[test]
fn finish_outputs_keep_their_kind() {
    let read = |name: &str| -> FinishOutput {
        let path = format!("{}/tests/fixtures/payloads/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("parses")
    };
    assert!(matches!(read("finish-continued.json"), FinishOutput::Continued(_)));
    assert!(matches!(read("finish-notified.json"), FinishOutput::Notified(_)));
}

#[test]
fn codedeploys_hook_event_is_validates_input() {
    // The shared fixture is CodeDeploy's own payload, not one of ours.
    let path = format!("{}/tests/fixtures/aws/codedeploy-lifecycle-hook-event.json", env!("CARGO_MANIFEST_DIR"));
    let event: HookEvent = serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("parses");
    assert_eq!(event.deployment_id, "d-A1B2C3D4E");
}
