//! start-deployment: CreateDeployment with the AppSpec of the prepared revision, naming the
//! validate function as the AfterAllowTestTraffic hook (the checks, and the lock's last word
//! before production traffic moves), while this execution holds the service's lock. "Another
//! deployment is active" is `DeploymentInProgress`, which the state machine retries with backoff.

use std::time::Duration;

use greenlight_aws::{CodeDeployDeployments, DynamoLedger, SsmManifest};
use greenlight_core::pipeline::{StartPorts, Started, StepInput, start_deployment};
use greenlight_core::ports::{Deployments, History, Locks, ManifestSource};
use greenlight_runtime::{FunctionError, env, env_number, lease, lease_seconds, parse_input};
use serde_json::Value;

#[derive(Debug)]
pub struct Handler<M, D, L> {
    pub manifests: M,
    pub deployments: D,
    /// The ledger: the lock and the deployment history.
    pub ledger: L,
    /// The validate function's name (`GREENLIGHT_VALIDATE_FUNCTION`).
    pub validate_function: Option<String>,
    pub lease_seconds: i64,
}

impl Handler<SsmManifest, CodeDeployDeployments, DynamoLedger> {
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, FunctionError> {
        let ttl = Duration::from_secs(env_number("GREENLIGHT_MANIFEST_TTL_SECONDS", 60)?);
        Ok(Self {
            manifests: SsmManifest::new(aws_sdk_ssm::Client::new(config), env("GREENLIGHT_MANIFEST_PARAMETER")?, ttl),
            deployments: CodeDeployDeployments::new(aws_sdk_codedeploy::Client::new(config)),
            ledger: DynamoLedger::new(aws_sdk_dynamodb::Client::new(config), env("GREENLIGHT_LEDGER_TABLE")?),
            validate_function: env("GREENLIGHT_VALIDATE_FUNCTION").ok(),
            lease_seconds: lease_seconds()?,
        })
    }
}

impl<M: ManifestSource, D: Deployments, L: Locks + History> Handler<M, D, L> {
    pub async fn handle(&self, payload: Value) -> Result<Started, FunctionError> {
        greenlight_runtime::fault_point("start-deployment")?;
        let input: StepInput = parse_input(payload)?;
        let ports = StartPorts { manifests: &self.manifests, deployments: &self.deployments, ledger: &self.ledger };
        let started =
            start_deployment(&input, ports, self.validate_function.as_deref(), lease(self.lease_seconds)).await;
        match &started {
            Ok(s) => tracing::info!(
                service = input.service,
                image_digest = input.push.digest,
                execution_id = input.execution_id,
                deployment_id = s.deployment_id,
                "deployment created"
            ),
            Err(e) => {
                tracing::warn!(service = input.service, error_type = e.error_type(), error = %e, "CreateDeployment failed")
            }
        }
        Ok(started?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight_core::fakes::{FakeDeployments, FakeLedger, FakeManifest};
    use greenlight_core::manifest::Manifest;
    use serde_json::json;

    fn handler(validate: Option<&str>) -> Handler<FakeManifest, FakeDeployments, FakeLedger> {
        let manifest = Manifest::parse(include_str!("../../../crates/core/tests/fixtures/manifest-api-server.json"))
            .expect("manifest");
        Handler {
            manifests: FakeManifest(manifest),
            deployments: FakeDeployments::default(),
            ledger: FakeLedger::held_by_digest("api-server", "sha256:abc123"),
            validate_function: validate.map(Into::into),
            lease_seconds: 60,
        }
    }

    fn input() -> Value {
        json!({
            "service": "api-server",
            "push": {"account": "123456789012", "region": "us-east-1", "repository": "api-server",
                     "digest": "sha256:abc123", "tag": "v1.42.0"},
            "prepared": {"already_live": false, "reason": null, "previous_task_definition_arn": null,
                         "task_definition_arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/api:42",
                         "revision": 42, "container_port": 3000,
                         "approval": {"required": false, "timeout_seconds": 3600, "on_timeout": "rollback"}}
        })
    }

    #[tokio::test]
    async fn appspec_names_the_revision_and_the_validate_hook() {
        let h = handler(Some("greenlight-validate"));
        let started = h.handle(input()).await.expect("started");
        assert_eq!(started.deployment_id, "d-FAKE00001");
        let spec = h.deployments.created.lock().expect("lock")[0].value();
        assert_eq!(
            spec["Resources"][0]["TargetService"]["Properties"]["TaskDefinition"],
            "arn:aws:ecs:us-east-1:123456789012:task-definition/api:42"
        );
        assert_eq!(spec["Hooks"], json!([{"AfterAllowTestTraffic": "greenlight-validate"}]));
    }

    #[tokio::test]
    async fn validation_without_a_validate_function_is_a_configuration_error() {
        let h = handler(None);
        let d: lambda_runtime::Diagnostic = h.handle(input()).await.expect_err("config").into();
        assert_eq!(d.error_type, "InvalidConfiguration");
        assert!(d.error_message.contains("GREENLIGHT_VALIDATE_FUNCTION"));
        assert!(h.deployments.created.lock().expect("lock").is_empty());
    }
}
