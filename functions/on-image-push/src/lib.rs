//! on-image-push: receives the EventBridge "ECR Image Action" event and decides whether it is
//! a deployable push.
//!
//! Status: classification only. Reading the manifest from SSM and starting one state machine
//! execution per target service arrive with the pipeline (see README's status table).

use greenlight_core::event::PushEvent;
use greenlight_runtime::FunctionError;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Deployable { image_uri: String, repository: String, tag: String, digest: String },
    Ignored { reason: String },
}

/// Classifies one event; a malformed event is an `InvalidEvent` error.
pub fn handle(event: &Value) -> Result<Outcome, FunctionError> {
    let outcome = match PushEvent::parse(&event.to_string())? {
        PushEvent::Deployable(p) => {
            Outcome::Deployable { image_uri: p.image_uri(), repository: p.repository, tag: p.tag, digest: p.digest }
        }
        PushEvent::Ignored { reason } => Outcome::Ignored { reason },
    };
    match &outcome {
        Outcome::Deployable { image_uri, tag, digest, .. } => {
            tracing::info!(image_uri, tag, image_digest = digest, "deployable push");
        }
        Outcome::Ignored { reason } => tracing::info!(reason, "push ignored"),
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        serde_json::from_str(include_str!("../../../crates/core/tests/fixtures/aws/ecr-image-push-event.json"))
            .expect("fixture")
    }

    #[test]
    fn sample_push_is_deployable() {
        let Outcome::Deployable { image_uri, tag, .. } = handle(&sample()).expect("ok") else { panic!("deployable") };
        assert_eq!(tag, "latest");
        assert!(
            image_uri
                .ends_with("/my-repository-name@sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234")
        );
    }

    #[test]
    fn failed_push_is_ignored_and_bad_event_has_a_stable_error_type() {
        let mut e = sample();
        e["detail"]["result"] = "FAILURE".into();
        assert!(matches!(handle(&e), Ok(Outcome::Ignored { .. })));
        e["detail"]["result"] = "SUCCESS".into();
        e["detail"]["image-digest"] = "nope".into();
        let err = handle(&e).expect_err("invalid");
        let d: lambda_runtime::Diagnostic = err.into();
        assert_eq!(d.error_type, "InvalidEvent");
    }
}
