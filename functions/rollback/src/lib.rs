//! rollback: on any failure, StopDeployment with auto-rollback (traffic back to blue) when the
//! deployment is still active, and a notification saying why. Its result is what the state
//! machine's Fail state reports.

use greenlight_aws::{
    CodeDeployDeployments, DynamoLedger, Inspector, NotifyAdapters, SecretsManagerSecrets, SnsNotifier,
};
use greenlight_core::pipeline::{NotifyPorts, RollbackRequest, RolledBack, rollback};
use greenlight_core::ports::{Approvals, Deployments, History, Locks, Notifier, SlackApi, Traffic, Validations};
use greenlight_http::SlackWebApi;
use greenlight_runtime::{FunctionError, env, parse_input};
use serde_json::Value;

#[derive(Debug)]
pub struct Handler<D, N, L, W, T> {
    pub deployments: D,
    pub notifier: N,
    pub ledger: L,
    /// Slack's Web API: a cancelled approval's message is edited to say why.
    pub slack: W,
    /// What production serves once the deployment ended (the listener, the task sets).
    pub traffic: T,
}

impl Handler<CodeDeployDeployments, SnsNotifier, DynamoLedger, SlackWebApi<SecretsManagerSecrets>, Inspector> {
    /// `GREENLIGHT_TOPIC_ARN`: where the failure is told; `GREENLIGHT_LEDGER_TABLE`: the outcome
    /// to record, the lock to release and the validation reports to quote;
    /// `GREENLIGHT_SLACK_BOT_TOKEN_SECRET` (and `GREENLIGHT_SLACK_API_URL`): the bot token that
    /// edits the Slack message of an approval the rollback cancels and replies in its thread (read
    /// only then).
    pub fn from_env(config: &aws_config::SdkConfig, http: reqwest::Client) -> Result<Self, FunctionError> {
        let NotifyAdapters { deployments, notifier, ledger } =
            NotifyAdapters::new(config, env("GREENLIGHT_TOPIC_ARN")?, env("GREENLIGHT_LEDGER_TABLE")?);
        let slack =
            SlackWebApi::from_env(SecretsManagerSecrets::new(aws_sdk_secretsmanager::Client::new(config)), http);
        Ok(Self { deployments, notifier, ledger, slack, traffic: Inspector::new(config) })
    }
}

impl<D, N, L, W, T> Handler<D, N, L, W, T>
where
    D: Deployments,
    N: Notifier,
    L: Validations + Locks + History + Approvals,
    W: SlackApi,
    T: Traffic,
{
    pub async fn handle(&self, payload: Value) -> Result<RolledBack, FunctionError> {
        let request: RollbackRequest = parse_input(payload)?;
        let ports = NotifyPorts { deployments: &self.deployments, notifier: &self.notifier, ledger: &self.ledger };
        let out = rollback(&request, ports, &self.slack, &self.traffic).await?;
        tracing::warn!(
            service = request.state.service,
            image_digest = request.state.push.digest,
            execution_id = request.execution_id,
            deployment_id = request.state.deployment.as_ref().map(|d| d.deployment_id.as_str()),
            error = out.error,
            reason = out.reason,
            notes = ?out.notes,
            "rolled back"
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight_core::checks::{Report, ValidationRecord, Vars};
    use greenlight_core::fakes::{FakeDeployments, FakeLedger, FakeNotifier, FakeSlackApi, FakeTraffic};
    use greenlight_core::ports::DeploymentStatus;
    use serde_json::json;

    fn state(extra: Value) -> Value {
        let mut s = json!({
            "service": "web",
            "push": {"account": "123456789012", "region": "us-east-1", "repository": "web", "digest": "sha256:ab", "tag": "v3"},
            "wait_seconds": 1
        });
        for (k, v) in extra.as_object().expect("object") {
            s[k] = v.clone();
        }
        json!({"state": s, "execution_id": "arn:aws:states:us-east-1:123456789012:execution:deploy:web-ab"})
    }

    #[tokio::test]
    async fn failure_in_prepare_notifies_the_lambda_error_message() {
        let h = Handler {
            deployments: FakeDeployments::default(),
            notifier: FakeNotifier::default(),
            ledger: FakeLedger::default(),
            slack: FakeSlackApi::default(),
            traffic: FakeTraffic::default(),
        };
        let cause = json!({"errorType": "ContainerNotFound", "errorMessage": "container `app` is not in task definition `web`"});
        let out = h
            .handle(state(json!({"error": {"Error": "ContainerNotFound", "Cause": cause.to_string()}})))
            .await
            .expect("ok");
        assert_eq!(out.error, "ContainerNotFound");
        assert_eq!(out.reason, "container `app` is not in task definition `web`");
        assert!(!out.stopped_deployment);
        assert!(h.deployments.stopped.lock().expect("lock").is_empty(), "no deployment to stop");
        let sent = h.notifier.sent.lock().expect("lock");
        assert_eq!(sent[0].0, "greenlight: web v3 rolled back");
        assert!(sent[0].1.contains("Reason: container `app` is not in task definition `web`"), "{}", sent[0].1);
    }

    #[tokio::test]
    async fn a_rollback_without_an_approval_is_told_through_the_services_webhook() {
        let h = Handler {
            deployments: FakeDeployments::default(),
            notifier: FakeNotifier::default(),
            ledger: FakeLedger::default(),
            slack: FakeSlackApi::default(),
            traffic: FakeTraffic::default(),
        };
        let prepared = json!({
            "already_live": false, "reason": null, "previous_task_definition_arn": "arn:td/web:1",
            "task_definition_arn": "arn:td/web:3", "revision": 3, "container_port": 8080,
            "approval": {"required": false, "timeout_seconds": 3600, "on_timeout": "rollback"},
            "slack": "webhook"
        });
        h.handle(state(json!({
            "prepared": prepared,
            "deployment": {"deployment_id": "d-9", "appspec_sha256": "00"},
            "error": {"Error": "States.Timeout", "Cause": "the task timed out"}
        })))
        .await
        .expect("ok");
        let webhooks = h.slack.webhooks.lock().expect("lock").clone();
        assert_eq!(webhooks.len(), 1, "{webhooks:?}");
        let said = webhooks[0]["text"].as_str().unwrap_or_default();
        assert!(said.starts_with("web v3 did not go live: the task timed out"), "{said}");
        assert!(h.slack.posted.lock().expect("lock").is_empty(), "no thread, no channel");
    }

    #[tokio::test]
    async fn active_deployment_is_stopped_with_rollback() {
        let h = Handler {
            deployments: FakeDeployments::default(),
            notifier: FakeNotifier::default(),
            ledger: FakeLedger::default(),
            slack: FakeSlackApi::default(),
            traffic: FakeTraffic::default(),
        };
        let out = h
            .handle(state(json!({
                "deployment": {"deployment_id": "d-9", "appspec_sha256": "00"},
                "error": {"Error": "States.Timeout", "Cause": "the task timed out"}
            })))
            .await
            .expect("ok");
        assert!(out.stopped_deployment);
        assert_eq!(*h.deployments.stopped.lock().expect("lock"), ["d-9"]);
        assert_eq!(out.reason, "the task timed out");
    }

    #[tokio::test]
    async fn deployment_that_failed_on_its_own_is_explained() {
        let h = Handler {
            deployments: FakeDeployments { completed: true, ..Default::default() },
            notifier: FakeNotifier::default(),
            ledger: FakeLedger::default(),
            slack: FakeSlackApi::default(),
            traffic: FakeTraffic::default(),
        };
        let out = h
            .handle(state(json!({
                "deployment": {"deployment_id": "d-9", "appspec_sha256": "00"},
                "status": {"id": "d-9", "status": "Failed", "error_message": "AfterAllowTestTraffic hook reported Failed"},
                "error": {"Error": "DeploymentFailed", "Cause": "AfterAllowTestTraffic hook reported Failed"}
            })))
            .await
            .expect("ok");
        assert!(!out.stopped_deployment);
        let sent = h.notifier.sent.lock().expect("lock")[0].1.clone();
        assert!(sent.contains("d-9 (had already ended)") && !sent.contains("CodeDeploy rolled it back"), "{sent}");
    }

    #[tokio::test]
    async fn a_deployment_that_succeeded_before_the_stop_is_not_called_rolled_back() {
        let h = Handler {
            deployments: FakeDeployments {
                completed: true,
                status: Some(DeploymentStatus::Succeeded),
                ..Default::default()
            },
            notifier: FakeNotifier::default(),
            ledger: FakeLedger::default(),
            slack: FakeSlackApi::default(),
            traffic: FakeTraffic::default(),
        };
        h.handle(state(json!({
            "deployment": {"deployment_id": "d-9", "appspec_sha256": "00"},
            "error": {"Error": "AwsError", "Cause": "GetDeployment failed"}
        })))
        .await
        .expect("ok");
        let message = h.notifier.sent.lock().expect("lock")[0].1.clone();
        assert!(message.contains("it is in production"), "{message}");
        assert!(message.contains("d-9 (had already succeeded before it could be stopped)"), "{message}");
        assert!(!message.contains("production stays on the previous version"), "{message}");
    }

    #[tokio::test]
    async fn a_failed_validation_is_the_reason() {
        let ledger = FakeLedger::default();
        ledger.validations.lock().expect("lock").push(ValidationRecord {
            deployment_id: "d-9".into(),
            hook_execution_id: "h-1".into(),
            service: Some("web".into()),
            vars: Vars::default(),
            report: Report {
                passed: false,
                reason: Some("check `health` failed: HTTP 500 (expected 200)".into()),
                checks: Vec::new(),
                elapsed_ms: 3,
            },
        });
        let h = Handler {
            deployments: FakeDeployments { completed: true, ..Default::default() },
            notifier: FakeNotifier::default(),
            ledger,
            slack: FakeSlackApi::default(),
            traffic: FakeTraffic::default(),
        };
        let out = h
            .handle(state(json!({
                "deployment": {"deployment_id": "d-9", "appspec_sha256": "00"},
                "error": {"Error": "DeploymentFailed", "Cause": "The AfterAllowTestTraffic hook reported Failed."}
            })))
            .await
            .expect("ok");
        assert_eq!(
            out.reason,
            "The AfterAllowTestTraffic hook reported Failed. Validation: check `health` failed: HTTP 500 (expected 200)."
        );
        let sent = h.notifier.sent.lock().expect("lock").clone();
        assert!(sent[0].1.contains("validation failed after 3 ms"), "{}", sent[0].1);
    }

    /// The ledger of a push whose execution holds the lock while its approval (posted to a
    /// Slack channel with the bot token) waits.
    fn waiting_in_slack() -> FakeLedger {
        use greenlight_core::approval::{ApprovalRecord, SlackPost};
        let push: greenlight_core::event::Push =
            serde_json::from_value(state(json!({}))["state"]["push"].clone()).expect("push");
        let ledger = FakeLedger::held_by("web", &push);
        ledger.locks.lock().expect("lock").get_mut("web").expect("held").approval_id = Some("ap-1".into());
        ledger.approvals.records.lock().expect("lock").push(ApprovalRecord {
            tag: "v3".into(),
            deployment_id: "d-9".into(),
            slack_post: Some(SlackPost { channel: "C0DEPLOYS1".into(), ts: "1700000000.000001".into() }),
            ..greenlight_core::fakes::pending_approval("ap-1")
        });
        ledger
    }

    fn ended_during_approval() -> Value {
        state(json!({
            "deployment": {"deployment_id": "d-9", "appspec_sha256": "00"},
            "error": {"Error": "DeploymentEndedDuringApproval", "Cause": "deployment d-9 ended Stopped while its approval waited: stopped in the console"}
        }))
    }

    #[tokio::test]
    async fn a_cancelled_approval_s_slack_message_says_why_without_buttons() {
        let h = Handler {
            deployments: FakeDeployments { completed: true, ..Default::default() },
            notifier: FakeNotifier::default(),
            ledger: waiting_in_slack(),
            slack: FakeSlackApi::default(),
            traffic: FakeTraffic::default(),
        };
        let out = h.handle(ended_during_approval()).await.expect("rolled back");
        assert!(out.notes.iter().any(|n| n == "its pending approval is cancelled"), "{out:?}");
        let updated = h.slack.updated.lock().expect("lock").clone();
        assert_eq!(updated.len(), 1, "{updated:?}");
        let (channel, ts, message) = &updated[0];
        assert_eq!((channel.as_str(), ts.as_str()), ("C0DEPLOYS1", "1700000000.000001"));
        let text = message.to_string();
        assert!(text.contains("*cancelled*") && text.contains("stopped in the console"), "{text}");
        assert!(!text.contains("\"actions\""), "no buttons: {text}");
    }

    #[tokio::test]
    async fn slack_down_leaves_the_rollback_done_and_says_the_message_was_not_edited() {
        let h = Handler {
            deployments: FakeDeployments { completed: true, ..Default::default() },
            notifier: FakeNotifier::default(),
            ledger: waiting_in_slack(),
            slack: FakeSlackApi { down: Some("chat.update: HTTP 503".into()), ..Default::default() },
            traffic: FakeTraffic::default(),
        };
        let out = h.handle(ended_during_approval()).await.expect("rolled back all the same");
        assert!(out.notes.iter().any(|n| n.contains("its Slack message could not be updated")), "{out:?}");
        let sent = h.notifier.sent.lock().expect("lock").clone();
        assert!(sent[0].1.contains("its Slack message could not be updated"), "{sent:?}");
        assert!(h.ledger.locks.lock().expect("lock").get("web").is_none(), "the lock is released");
    }
}
