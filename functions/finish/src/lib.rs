//! finish: ContinueDeployment once green is Ready, or the success notification once the
//! deployment Succeeded.

use greenlight_aws::{CodeDeployDeployments, DynamoLedger, NotifyAdapters, SecretsManagerSecrets, SnsNotifier};
use greenlight_core::pipeline::{FinishInput, FinishOutput, NotifyPorts, finish};
use greenlight_core::ports::{Approvals, Deployments, History, Locks, Notifier, SlackApi, Validations};
use greenlight_http::SlackWebApi;
use greenlight_runtime::{FunctionError, env, lease, lease_seconds, parse_input};
use serde_json::Value;

#[derive(Debug)]
pub struct Handler<D, N, L, W> {
    pub deployments: D,
    pub notifier: N,
    pub ledger: L,
    /// Slack's Web API: the success is said in the approval's thread, with a "Roll back" button.
    pub slack: W,
    pub lease_seconds: i64,
}

impl Handler<CodeDeployDeployments, SnsNotifier, DynamoLedger, SlackWebApi<SecretsManagerSecrets>> {
    /// `GREENLIGHT_TOPIC_ARN`: the notification topic; `GREENLIGHT_LEDGER_TABLE`: where the
    /// validation reports and the approval are; `GREENLIGHT_SLACK_BOT_TOKEN_SECRET` (and
    /// `GREENLIGHT_SLACK_API_URL`): the bot token that replies in the approval's thread (read
    /// only when its request was posted with it).
    pub fn from_env(config: &aws_config::SdkConfig, http: reqwest::Client) -> Result<Self, FunctionError> {
        let NotifyAdapters { deployments, notifier, ledger } =
            NotifyAdapters::new(config, env("GREENLIGHT_TOPIC_ARN")?, env("GREENLIGHT_LEDGER_TABLE")?);
        let slack =
            SlackWebApi::from_env(SecretsManagerSecrets::new(aws_sdk_secretsmanager::Client::new(config)), http);
        Ok(Self { deployments, notifier, ledger, slack, lease_seconds: lease_seconds()? })
    }
}

impl<D: Deployments, N: Notifier, L: Validations + Locks + History + Approvals, W: SlackApi> Handler<D, N, L, W> {
    pub async fn handle(&self, payload: Value) -> Result<FinishOutput, FunctionError> {
        greenlight_runtime::fault_point("finish")?;
        let input: FinishInput = parse_input(payload)?;
        let ports = NotifyPorts { deployments: &self.deployments, notifier: &self.notifier, ledger: &self.ledger };
        let out = finish(&input, ports, &self.slack, lease(self.lease_seconds)).await?;
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
    use greenlight_core::fakes::{FakeDeployments, FakeLedger, FakeNotifier, FakeSlackApi};
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
            slack: FakeSlackApi::default(),
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
