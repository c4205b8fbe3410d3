//! deployment-status: where a CodeDeploy deployment stands, for the state machine's wait loop.

use greenlight_aws::CodeDeployDeployments;
use greenlight_core::ports::{DeploymentState, Deployments};
use greenlight_runtime::{FunctionError, parse_input};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
pub struct Input {
    pub deployment_id: String,
}

#[derive(Debug)]
pub struct Handler<D> {
    pub deployments: D,
}

impl Handler<CodeDeployDeployments> {
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, FunctionError> {
        Ok(Self { deployments: CodeDeployDeployments::new(aws_sdk_codedeploy::Client::new(config)) })
    }
}

impl<D: Deployments> Handler<D> {
    pub async fn handle(&self, payload: Value) -> Result<DeploymentState, FunctionError> {
        let input: Input = parse_input(payload)?;
        let state = self.deployments.state(&input.deployment_id).await?;
        tracing::info!(deployment_id = state.id, status = state.status, "deployment status");
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight_core::fakes::FakeDeployments;

    #[tokio::test]
    async fn reads_the_state_and_rejects_a_missing_id() {
        let h = Handler { deployments: FakeDeployments::default() };
        let s = h.handle(serde_json::json!({"deployment_id": "d-1"})).await.expect("state");
        assert_eq!(s.status, "InProgress");
        let d: lambda_runtime::Diagnostic = h.handle(serde_json::json!({})).await.expect_err("missing").into();
        assert_eq!(d.error_type, "InvalidInput");
        assert!(d.error_message.contains("deployment_id"), "{}", d.error_message);
    }
}
