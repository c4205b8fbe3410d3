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
        assert!(h.slack.webhooks.lock().expect("lock").is_empty(), "told nowhere in Slack: no route");
    }

    fn prepared(slack: Value) -> Value {
        json!({
            "already_live": false, "reason": null, "previous_task_definition_arn": "arn:td/web:1",
            "task_definition_arn": "arn:td/web:2", "revision": 2, "container_port": 8080,
            "approval": {"required": false, "timeout_seconds": 3600, "on_timeout": "rollback"},
            "slack": slack
        })
    }

    #[tokio::test]
    async fn a_release_without_an_approval_is_told_where_the_service_is_told_in_slack() {
        let h = Handler {
            deployments: FakeDeployments::default(),
            notifier: FakeNotifier::default(),
            ledger: FakeLedger::held_by_digest("web", "sha256:ab"),
            slack: FakeSlackApi::default(),
            lease_seconds: 60,
        };
        let mut through_webhook = input("succeeded");
        through_webhook["prepared"] = prepared(json!("webhook"));
        h.handle(through_webhook).await.expect("notify");
        let webhooks = h.slack.webhooks.lock().expect("lock").clone();
        assert_eq!(webhooks.len(), 1, "{webhooks:?}");
        let said = webhooks[0].to_string();
        assert!(said.contains("web v2 is live") && said.contains("greenlight rollback web"), "{said}");
        assert!(!said.contains("greenlight_rollback"), "no button without an approval's approvers: {said}");

        let mut to_channel = input("succeeded");
        to_channel["prepared"] = prepared(json!({"channel": "C0DEPLOYS1"}));
        h.handle(to_channel).await.expect("notify");
        let posted = h.slack.posted.lock().expect("lock").clone();
        assert_eq!((posted[0].0.as_str(), posted[0].2.as_deref()), ("C0DEPLOYS1", None), "{posted:?}");

        // Slack down: the release stands, told on the topic.
        let down = Handler { slack: FakeSlackApi { down: Some("HTTP 503".into()), ..FakeSlackApi::default() }, ..h };
        let mut again = input("succeeded");
        again["prepared"] = prepared(json!("webhook"));
        down.handle(again).await.expect("the success stands");
        assert_eq!(down.notifier.sent.lock().expect("lock").len(), 3);
    }

    #[tokio::test]
    async fn a_cli_approval_is_shown_on_the_request_s_slack_message_with_stop() {
        use greenlight_core::approval::{ApprovalRecord, Decided, DecidedVia, SlackPost};
        let ledger = FakeLedger::held_by_digest("web", "sha256:ab");
        ledger.locks.lock().expect("lock").get_mut("web").expect("held").approval_id = Some("ap-1".into());
        let decided = Decided {
            approved: true,
            by: "arn:aws:iam::123456789012:user/alice".into(),
            at: "2026-12-02T00:00:00Z".into(),
            channel: DecidedVia::Cli,
            comment: Some("dashboards are green".into()),
            approver: None,
        };
        ledger.approvals.records.lock().expect("lock").push(ApprovalRecord {
            tag: "v2".into(),
            decided: Some(decided),
            slack_post: Some(SlackPost { channel: "C0DEPLOYS1".into(), ts: "1700000000.000001".into() }),
            ..greenlight_core::fakes::pending_approval("ap-1")
        });
        let h = Handler {
            deployments: FakeDeployments::default(),
            notifier: FakeNotifier::default(),
            ledger,
            slack: FakeSlackApi::default(),
            lease_seconds: 60,
        };
        let mut cli = input("continue");
        cli["approval"] =
            serde_json::to_value(h.ledger.approvals.records.lock().expect("lock")[0].decided.clone()).expect("json");
        h.handle(cli.clone()).await.expect("continue");
        let updated = h.slack.updated.lock().expect("lock").clone();
        assert_eq!(updated.len(), 1, "{updated:?}");
        let text = updated[0].2.to_string();
        assert!(
            text.contains("*approved* by arn:aws:iam::123456789012:user/alice") && text.contains("via cli"),
            "{text}"
        );
        assert!(text.contains("\"stop:ap-1\""), "with Stop: {text}");

        // A Slack click edits the message itself: finish leaves it alone.
        cli["approval"]["channel"] = json!("slack");
        h.ledger.approvals.records.lock().expect("lock")[0].decided.as_mut().expect("decided").channel =
            DecidedVia::Slack;
        h.handle(cli).await.expect("continue");
        assert_eq!(h.slack.updated.lock().expect("lock").len(), 1, "not edited again");
    }
}
