//! deployment-status: watches a CodeDeploy deployment for the state machine, looking every
//! `poll_seconds` inside one invocation until the deployment needs the next step (Ready for
//! approval, Succeeded, Failed, Stopped) or the invocation's budget runs out, so a deploy costs
//! about the same number of state transitions however long it takes. Each invocation renews the
//! service lock's lease; a lock taken over by a newer push ends the watch as `Superseded` (the
//! rollback stops this deployment).

use greenlight_aws::{CodeDeployDeployments, DynamoLedger};
use std::time::{Duration, SystemTime};

use greenlight_core::pipeline::{AwaitPorts, StatusInput, StatusPorts, Watch, deployment_status, watch_approval};
use greenlight_core::ports::{Approvals, Deployments, Locks};
use greenlight_runtime::{FunctionError, env, env_number, lease, lease_seconds, parse_input};
use serde_json::Value;

#[derive(Debug)]
pub struct Handler<D, L> {
    pub deployments: D,
    pub ledger: L,
    pub lease_seconds: i64,
    /// The longest one invocation watches (`GREENLIGHT_WATCH_SECONDS`, default 840: the function's
    /// 900 s timeout less a margin).
    pub watch_limit: Duration,
}

impl Handler<CodeDeployDeployments, DynamoLedger> {
    /// `GREENLIGHT_LEDGER_TABLE`, optionally `GREENLIGHT_LEASE_SECONDS` (default 900) and
    /// `GREENLIGHT_WATCH_SECONDS` (default 840).
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, FunctionError> {
        Ok(Self {
            deployments: CodeDeployDeployments::new(aws_sdk_codedeploy::Client::new(config)),
            ledger: DynamoLedger::new(aws_sdk_dynamodb::Client::new(config), env("GREENLIGHT_LEDGER_TABLE")?),
            lease_seconds: lease_seconds()?,
            watch_limit: Duration::from_secs(env_number("GREENLIGHT_WATCH_SECONDS", 840)?),
        })
    }
}

impl<D: Deployments, L: Locks + Approvals> Handler<D, L> {
    /// `deadline`: when Lambda ends this invocation (the runtime's `Lambda-Runtime-Deadline-Ms`).
    /// The answer is the deployment's state, or, beside a pending approval
    /// (`awaiting_approval`), whether the approval is decided.
    pub async fn handle(&self, payload: Value, deadline: SystemTime) -> Result<Value, FunctionError> {
        greenlight_runtime::fault_point("deployment-status")?;
        let input: StatusInput = parse_input(payload)?;
        let remaining = deadline.duration_since(SystemTime::now()).unwrap_or_default();
        let poll = Duration::from_secs(u64::from(input.poll_seconds.unwrap_or(15).max(1)));
        let watch = Watch::new(poll, self.watch_limit, remaining, self.lease_seconds);
        if input.awaiting_approval {
            let ports = AwaitPorts { deployments: &self.deployments, ledger: &self.ledger };
            let seen = watch_approval(&input, ports, watch).await?;
            tracing::info!(deployment_id = input.deployment.deployment_id, decided = seen.decided, "approval watch");
            return Ok(serde_json::to_value(seen).unwrap_or_default());
        }
        let ports = StatusPorts { deployments: &self.deployments, ledger: &self.ledger };
        let state = deployment_status(&input, ports, lease(self.lease_seconds), watch).await?;
        tracing::info!(deployment_id = state.id, status = state.status.as_str(), "deployment status");
        Ok(serde_json::to_value(state).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight_core::fakes::{FakeDeployments, FakeLedger};

    #[tokio::test]
    async fn reads_the_state_and_rejects_a_missing_id() {
        let h = Handler {
            deployments: FakeDeployments {
                status: Some(greenlight_core::ports::DeploymentStatus::Succeeded),
                ..Default::default()
            },
            ledger: FakeLedger::default(),
            lease_seconds: 60,
            watch_limit: Duration::from_secs(840),
        };
        let deadline = SystemTime::now() + Duration::from_secs(30);
        let s = h.handle(serde_json::json!({"deployment": {"deployment_id": "d-1"}}), deadline).await.expect("state");
        assert_eq!(s["status"], "Succeeded");
        let d: lambda_runtime::Diagnostic =
            h.handle(serde_json::json!({}), deadline).await.expect_err("missing").into();
        assert_eq!(d.error_type, "InvalidInput");
        assert!(d.error_message.contains("deployment"), "{}", d.error_message);
    }
}
