//! on-image-push: an ECR push event becomes one deploy execution per service of the manifest
//! that takes it. The execution name derives from service + digest, so a duplicated event
//! starts nothing new. A push that matches no service is logged and ignored, not an error.
//! Each accepted push is recorded in the ledger with ECR's push time, as its services' newest
//! push unless a newer one is recorded ("latest digest wins").

use std::time::Duration;

use greenlight_aws::{DynamoLedger, EcrImages, SfnExecutions, SnsNotifier, SsmManifest};
use greenlight_core::pipeline::{PushOutcome, PushPorts, on_push};
use greenlight_core::ports::{ExecutionStart, Executions, History, Images, Locks, ManifestSource, Notifier, Pauses};
use greenlight_runtime::{FunctionError, env, env_number};
use serde_json::Value;

#[derive(Debug)]
pub struct Handler<M, E, I, L, N> {
    pub manifests: M,
    pub executions: E,
    pub images: I,
    pub ledger: L,
    pub notifier: N,
    pub wait_seconds: u32,
}

impl Handler<SsmManifest, SfnExecutions, EcrImages, DynamoLedger, SnsNotifier> {
    /// `GREENLIGHT_MANIFEST_PARAMETER`, `GREENLIGHT_STATE_MACHINE_ARN`,
    /// `GREENLIGHT_LEDGER_TABLE`, `GREENLIGHT_TOPIC_ARN`, and optionally
    /// `GREENLIGHT_WAIT_SECONDS` (default 15) and `GREENLIGHT_MANIFEST_TTL_SECONDS` (default 60).
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, FunctionError> {
        let ttl = Duration::from_secs(env_number("GREENLIGHT_MANIFEST_TTL_SECONDS", 60)?);
        Ok(Self {
            manifests: SsmManifest::new(aws_sdk_ssm::Client::new(config), env("GREENLIGHT_MANIFEST_PARAMETER")?, ttl),
            executions: SfnExecutions::new(aws_sdk_sfn::Client::new(config), env("GREENLIGHT_STATE_MACHINE_ARN")?),
            images: EcrImages::new(aws_sdk_ecr::Client::new(config)),
            ledger: DynamoLedger::new(aws_sdk_dynamodb::Client::new(config), env("GREENLIGHT_LEDGER_TABLE")?),
            notifier: SnsNotifier::new(aws_sdk_sns::Client::new(config), env("GREENLIGHT_TOPIC_ARN")?),
            wait_seconds: u32::try_from(env_number("GREENLIGHT_WAIT_SECONDS", 15)?).unwrap_or(15),
        })
    }
}

impl<M: ManifestSource, E: Executions, I: Images, L: Locks + History + Pauses, N: Notifier> Handler<M, E, I, L, N> {
    pub async fn handle(&self, event: Value) -> Result<PushOutcome, FunctionError> {
        let ports = PushPorts {
            manifests: &self.manifests,
            executions: &self.executions,
            images: &self.images,
            ledger: &self.ledger,
            notifier: &self.notifier,
        };
        let outcome = on_push(&event, ports, self.wait_seconds).await?;
        if let Some(reason) = &outcome.ignored {
            tracing::info!(reason, "push ignored");
        }
        for s in &outcome.skipped {
            tracing::info!(service = s.service, reason = s.reason, "service not deployed by this push");
        }
        for e in &outcome.executions {
            match &e.start {
                ExecutionStart::Started { execution_arn } => {
                    tracing::info!(service = e.service, execution_id = execution_arn, "deploy started");
                }
                ExecutionStart::AlreadyExists { name } => {
                    tracing::info!(service = e.service, execution = name, "duplicate push: execution already exists");
                }
            }
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight_core::fakes::{FakeExecutions, FakeImages, FakeLedger, FakeManifest, FakeNotifier};
    use greenlight_core::manifest::Manifest;

    fn handler() -> Handler<FakeManifest, FakeExecutions, FakeImages, FakeLedger, FakeNotifier> {
        let manifest = Manifest::parse(include_str!("../../../crates/core/tests/fixtures/manifest-api-server.json"))
            .expect("manifest");
        Handler {
            manifests: FakeManifest(manifest),
            executions: FakeExecutions::default(),
            images: FakeImages::default(),
            ledger: FakeLedger::default(),
            notifier: FakeNotifier::default(),
            wait_seconds: 1,
        }
    }

    fn event(tag: &str) -> Value {
        let mut e: Value =
            serde_json::from_str(include_str!("../../../crates/core/tests/fixtures/aws/ecr-image-push-event.json"))
                .expect("fixture");
        e["detail"]["repository-name"] = "api-server".into();
        e["detail"]["image-tag"] = tag.into();
        e
    }

    #[tokio::test]
    async fn one_execution_per_target_and_duplicates_start_nothing() {
        let h = handler();
        let first = h.handle(event("v1.42.0")).await.expect("ok");
        assert_eq!(first.executions.len(), 2);
        assert!(first.executions.iter().all(|e| matches!(e.start, ExecutionStart::Started { .. })));
        assert!(first.executions[0].name.starts_with("api-server-7f5b2640fe6fb4f46592-"), "{:?}", first.executions[0]);
        let again = h.handle(event("v1.42.0")).await.expect("ok");
        assert!(again.executions.iter().all(|e| matches!(e.start, ExecutionStart::AlreadyExists { .. })));
        assert_eq!(h.executions.started.lock().expect("lock").len(), 2);
        let input: Value = serde_json::from_str(&h.executions.started.lock().expect("lock")[0].1).expect("input");
        assert_eq!(input["wait_seconds"], 1);
        assert_eq!(input["push"]["tag"], "v1.42.0");
    }

    /// A manifest source whose parameter holds no valid manifest.
    #[derive(Debug)]
    struct Unreadable;

    impl ManifestSource for Unreadable {
        async fn manifest(&self) -> Result<Manifest, greenlight_core::Error> {
            Err(greenlight_core::Error::InvalidManifest(Vec::new()))
        }
    }

    #[tokio::test]
    async fn an_unreadable_manifest_fails_the_push_and_is_announced() {
        let h = handler();
        let h = Handler {
            manifests: Unreadable,
            executions: h.executions,
            images: h.images,
            ledger: h.ledger,
            notifier: h.notifier,
            wait_seconds: h.wait_seconds,
        };
        let err = h.handle(event("v1.42.0")).await.expect_err("no manifest, no deploy");
        assert_eq!(err.0.error_type(), "InvalidManifest");
        let sent = h.notifier.sent.lock().expect("lock").clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, "greenlight: the deploy manifest cannot be read; api-server:v1.42.0 is not deployed");
        assert!(sent[0].1.contains("greenlight manifest check"), "{}", sent[0].1);
        assert!(h.executions.started.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn a_paused_service_records_the_push_and_deploys_nothing() {
        use greenlight_core::ports::Pauses;
        let h = handler();
        let pause = greenlight_core::pause::Pause {
            by: "arn:aws:sts::123456789012:assumed-role/oncall/ana".into(),
            reason: "incident 42".into(),
            at: "2026-12-01T10:00:00+00:00".into(),
        };
        assert_eq!(h.ledger.pause("api-server", &pause).await.expect("pause"), None);
        let out = h.handle(event("v1.42.0")).await.expect("ok");
        assert_eq!(out.held.len(), 1, "{out:?}");
        assert!(out.held[0].reason.contains("paused by arn:aws:sts::123456789012:assumed-role/oncall/ana"), "{out:?}");
        assert_eq!(out.executions.len(), 1, "the other target service is not paused");
        assert_eq!(h.ledger.newest_push("api-server").await.expect("read").map(|n| n.tag).as_deref(), Some("v1.42.0"));
        let history = h.ledger.history.lock().expect("lock").clone();
        let held = history
            .iter()
            .find(|(s, _, u)| s == "api-server" && u.state == greenlight_core::history::TimelineState::Held);
        assert!(
            held.is_some_and(|(_, _, u)| u.outcome == Some(greenlight_core::history::Outcome::Held)),
            "{history:?}"
        );
        let sent = h.notifier.sent.lock().expect("lock").clone();
        assert_eq!(sent[0].0, "greenlight: api-server is paused; v1.42.0 is held");
        assert!(sent[0].1.contains("incident 42"), "{}", sent[0].1);
    }

    #[tokio::test]
    async fn no_match_is_not_an_error() {
        let h = handler();
        let out = h.handle(event("main-123")).await.expect("ok");
        assert!(out.executions.is_empty());
        assert_eq!(out.skipped.len(), 3);
        let mut e = event("v1");
        e["detail"]["result"] = "FAILURE".into();
        assert!(h.handle(e).await.expect("ok").ignored.is_some());
    }
}
