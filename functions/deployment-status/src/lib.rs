//! deployment-status: where a CodeDeploy deployment stands, for the state machine's wait loop.
//! Each read also renews the service lock's lease; a lock taken over by a newer push ends the
//! loop as `Superseded` (the rollback stops this deployment).

use greenlight_aws::{CodeDeployDeployments, DynamoLedger};
use greenlight_core::pipeline::{StatusInput, deployment_status};
use greenlight_core::ports::{DeploymentState, Deployments, Locks};
use greenlight_runtime::{FunctionError, env, lease, lease_seconds, parse_input};
use serde_json::Value;

#[derive(Debug)]
pub struct Handler<D, L> {
    pub deployments: D,
    pub ledger: L,
    pub lease_seconds: i64,
}

impl Handler<CodeDeployDeployments, DynamoLedger> {
    /// `GREENLIGHT_LEDGER_TABLE`, optionally `GREENLIGHT_LEASE_SECONDS` (default 900).
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, FunctionError> {
        Ok(Self {
            deployments: CodeDeployDeployments::new(aws_sdk_codedeploy::Client::new(config)),
            ledger: DynamoLedger::new(aws_sdk_dynamodb::Client::new(config), env("GREENLIGHT_LEDGER_TABLE")?),
            lease_seconds: lease_seconds()?,
        })
    }
}

impl<D: Deployments, L: Locks> Handler<D, L> {
    pub async fn handle(&self, payload: Value) -> Result<DeploymentState, FunctionError> {
        greenlight_runtime::fault_point("deployment-status")?;
        let input: StatusInput = parse_input(payload)?;
        let state = deployment_status(&input, &self.deployments, &self.ledger, lease(self.lease_seconds)).await?;
        tracing::info!(deployment_id = state.id, status = state.status, "deployment status");
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight_core::fakes::{FakeDeployments, FakeLedger};

    #[tokio::test]
    async fn reads_the_state_and_rejects_a_missing_id() {
        let h = Handler { deployments: FakeDeployments::default(), ledger: FakeLedger::default(), lease_seconds: 60 };
        let s = h.handle(serde_json::json!({"deployment_id": "d-1"})).await.expect("state");
        assert_eq!(s.status, "InProgress");
        let d: lambda_runtime::Diagnostic = h.handle(serde_json::json!({})).await.expect_err("missing").into();
        assert_eq!(d.error_type, "InvalidInput");
        assert!(d.error_message.contains("deployment_id"), "{}", d.error_message);
    }
}
