//! finish: ContinueDeployment once green is Ready, or the success notification once the
//! deployment Succeeded.

use greenlight_aws::{CodeDeployDeployments, DynamoLedger, NotifyAdapters, SnsNotifier};
use greenlight_core::pipeline::{FinishInput, FinishOutput, NotifyPorts, finish};
use greenlight_core::ports::{Deployments, History, Locks, Notifier, Validations};
use greenlight_runtime::{FunctionError, env, lease, lease_seconds, parse_input};
use serde_json::Value;

#[derive(Debug)]
pub struct Handler<D, N, L> {
    pub deployments: D,
    pub notifier: N,
    pub ledger: L,
    pub lease_seconds: i64,
}

impl Handler<CodeDeployDeployments, SnsNotifier, DynamoLedger> {
    /// `GREENLIGHT_TOPIC_ARN`: the notification topic; `GREENLIGHT_LEDGER_TABLE`: where the
    /// validation reports are.
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, FunctionError> {
        let NotifyAdapters { deployments, notifier, ledger } =
            NotifyAdapters::new(config, env("GREENLIGHT_TOPIC_ARN")?, env("GREENLIGHT_LEDGER_TABLE")?);
        Ok(Self { deployments, notifier, ledger, lease_seconds: lease_seconds()? })
    }
}

impl<D: Deployments, N: Notifier, L: Validations + Locks + History> Handler<D, N, L> {
    pub async fn handle(&self, payload: Value) -> Result<FinishOutput, FunctionError> {
        greenlight_runtime::fault_point("finish")?;
        let input: FinishInput = parse_input(payload)?;
        let ports = NotifyPorts { deployments: &self.deployments, notifier: &self.notifier, ledger: &self.ledger };
        let out = finish(&input, ports, lease(self.lease_seconds)).await?;
        tracing::info!(
            service = input.step.service,
            image_digest = input.step.push.digest,
            execution_id = input.step.execution_id,
            deployment_id = input.step.deployment.as_ref().map(|d| d.deployment_id.as_str()),
            action = ?input.action,
            "finish"
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight_core::fakes::{FakeDeployments, FakeLedger, FakeNotifier};
    use serde_json::json;

    fn input(action: &str) -> Value {
        json!({
            "action": action,
            "service": "web",
            "push": {"account": "123456789012", "region": "us-east-1", "repository": "web", "digest": "sha256:ab", "tag": "v2"},
            "deployment": {"deployment_id": "d-1", "appspec_sha256": "00"}
        })
    }

    #[tokio::test]
    async fn continue_then_notify() {
        let h = Handler {
            deployments: FakeDeployments::default(),
            notifier: FakeNotifier::default(),
            ledger: FakeLedger::held_by_digest("web", "sha256:ab"),
            lease_seconds: 60,
        };
        h.handle(input("continue")).await.expect("continue");
        assert!(h.ledger.locks.lock().expect("lock")["web"].shifting, "the lock says traffic moves");
        assert_eq!(*h.deployments.continued.lock().expect("lock"), ["d-1"]);
        h.handle(input("succeeded")).await.expect("notify");
        let sent = h.notifier.sent.lock().expect("lock").clone();
        assert_eq!(sent[0].0, "greenlight: web v2 is live");
        assert!(sent[0].1.contains("Deployment: d-1"));
        assert!(h.ledger.locks.lock().expect("lock").is_empty(), "the lock is released");
        assert!(h.handle(input("celebrate")).await.is_err());
    }
}
