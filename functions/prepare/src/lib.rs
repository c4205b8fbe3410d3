//! prepare: checks the service's deployment group against the manifest, then registers the
//! next revision of the live task definition, in which only the target containers' image
//! changes (to the pushed digest). "Already live" ends the execution as skipped.
//! First it takes the service's lock: `Superseded` when a newer push exists, `Queued` (the
//! state machine retries) while an execution that must not be stopped holds it.

use std::time::Duration;

use greenlight_aws::{CodeDeployDeployments, DynamoLedger, EcsTaskDefinitions, SfnExecutions, SsmManifest};
use greenlight_core::pipeline::{PreparePorts, Prepared, StepInput, prepare};
use greenlight_core::ports::{Approvals, Deployments, History, Locks, ManifestSource, TaskDefinitions, TaskTokens};
use greenlight_runtime::{FunctionError, env, env_number, lease, lease_seconds, parse_input};
use serde_json::Value;

#[derive(Debug)]
pub struct Handler<M, T, D, L, K> {
    pub manifests: M,
    pub task_definitions: T,
    pub deployments: D,
    /// The ledger: the lock, the deployment history, approvals to cancel.
    pub ledger: L,
    /// Ends a superseded execution's wait for approval.
    pub tokens: K,
    pub lease_seconds: i64,
}

impl Handler<SsmManifest, EcsTaskDefinitions, CodeDeployDeployments, DynamoLedger, SfnExecutions> {
    /// `GREENLIGHT_MANIFEST_PARAMETER`, `GREENLIGHT_LEDGER_TABLE`, optionally
    /// `GREENLIGHT_MANIFEST_TTL_SECONDS` (default 60) and `GREENLIGHT_LEASE_SECONDS` (default 900).
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, FunctionError> {
        let ttl = Duration::from_secs(env_number("GREENLIGHT_MANIFEST_TTL_SECONDS", 60)?);
        Ok(Self {
            manifests: SsmManifest::new(aws_sdk_ssm::Client::new(config), env("GREENLIGHT_MANIFEST_PARAMETER")?, ttl),
            task_definitions: EcsTaskDefinitions::new(aws_sdk_ecs::Client::new(config)),
            deployments: CodeDeployDeployments::new(aws_sdk_codedeploy::Client::new(config)),
            ledger: DynamoLedger::new(aws_sdk_dynamodb::Client::new(config), env("GREENLIGHT_LEDGER_TABLE")?),
            tokens: SfnExecutions::new(aws_sdk_sfn::Client::new(config), String::new()),
            lease_seconds: lease_seconds()?,
        })
    }
}

impl<M, T, D, L, K> Handler<M, T, D, L, K>
where
    M: ManifestSource,
    T: TaskDefinitions,
    D: Deployments,
    L: Locks + History + Approvals,
    K: TaskTokens,
{
    pub async fn handle(&self, payload: Value) -> Result<Prepared, FunctionError> {
        greenlight_runtime::fault_point("prepare")?;
        let input: StepInput = parse_input(payload)?;
        let ports = PreparePorts {
            manifests: &self.manifests,
            task_definitions: &self.task_definitions,
            deployments: &self.deployments,
            ledger: &self.ledger,
            approvals: &self.ledger,
            tokens: &self.tokens,
        };
        let prepared = match prepare(&input, ports, lease(self.lease_seconds)).await {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(service = input.service, image_digest = input.push.digest, error_type = e.error_type(), error = %e, "not prepared");
                return Err(e.into());
            }
        };
        tracing::info!(
            service = input.service,
            image_digest = input.push.digest,
            execution_id = input.execution_id,
            already_live = prepared.already_live,
            task_definition = prepared.task_definition_arn,
            "prepared"
        );
        Ok(prepared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight_core::fakes::{FakeDeployments, FakeLedger, FakeManifest, FakeTaskDefinitions, FakeTaskTokens};
    use greenlight_core::manifest::Manifest;
    use greenlight_core::ports::DeploymentGroupSettings;
    use greenlight_core::taskdef::TaskDefinition;
    use serde_json::json;

    type TestHandler = Handler<FakeManifest, FakeTaskDefinitions, FakeDeployments, FakeLedger, FakeTaskTokens>;

    fn handler(ready_action: &str) -> TestHandler {
        let mut manifest: Value =
            serde_json::from_str(include_str!("../../../crates/core/tests/fixtures/manifest-api-server.json"))
                .expect("json");
        manifest["services"][0]["approval"] = json!({"required": false});
        let live: Value =
            serde_json::from_str(include_str!("../../../crates/core/tests/fixtures/aws/describe-task-definition.json"))
                .expect("json");
        Handler {
            manifests: FakeManifest(Manifest::parse(&manifest.to_string()).expect("manifest")),
            task_definitions: FakeTaskDefinitions {
                live: TaskDefinition::from_json(live).expect("td"),
                registered_since: 0,
                registered: Default::default(),
            },
            deployments: FakeDeployments {
                settings: Some(DeploymentGroupSettings {
                    action_on_ready_timeout: Some(ready_action.into()),
                    ready_wait_minutes: Some(0),
                    ecs_cluster: Some("production".into()),
                    ecs_service: Some("api-server".into()),
                }),
                ..Default::default()
            },
            ledger: FakeLedger::default(),
            tokens: FakeTaskTokens::default(),
            lease_seconds: 60,
        }
    }

    fn input(service: &str) -> Value {
        json!({
            "service": service,
            "push": {"account": "123456789012", "region": "us-east-1", "repository": "api-server",
                     "digest": "sha256:abc123", "tag": "v1.42.0", "event_id": null, "event_time": null},
            "execution_id": "arn:aws:states:us-east-1:123456789012:execution:deploy:x"
        })
    }

    #[tokio::test]
    async fn registers_the_next_revision() {
        let h = handler("CONTINUE_DEPLOYMENT");
        let p = h.handle(input("api-server")).await.expect("prepared");
        assert!(!p.already_live);
        assert_eq!(p.revision, Some(42));
        assert_eq!(p.container_port, Some(3000));
        let registered = h.task_definitions.registered.lock().expect("lock");
        assert_eq!(
            registered[0].0["containerDefinitions"][0]["image"],
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/api-server@sha256:abc123"
        );
    }

    #[tokio::test]
    async fn group_that_waits_for_a_decision_nobody_sends_is_refused() {
        let err = handler("STOP_DEPLOYMENT").handle(input("api-server")).await.expect_err("mismatch");
        let d: lambda_runtime::Diagnostic = err.into();
        assert_eq!(d.error_type, "DeploymentGroupMismatch");
        assert!(
            d.error_message.contains("Set its deployment_ready_option to CONTINUE_DEPLOYMENT"),
            "{}",
            d.error_message
        );
    }

    #[tokio::test]
    async fn unknown_service_and_bad_input_name_the_problem() {
        let h = handler("CONTINUE_DEPLOYMENT");
        let d: lambda_runtime::Diagnostic = h.handle(input("web")).await.expect_err("unknown").into();
        assert_eq!(d.error_type, "UnknownService");
        let d: lambda_runtime::Diagnostic = h.handle(json!({"service": 1})).await.expect_err("shape").into();
        assert_eq!(d.error_type, "InvalidInput");
        assert!(h.task_definitions.registered.lock().expect("lock").is_empty(), "nothing registered on bad input");
    }
}
