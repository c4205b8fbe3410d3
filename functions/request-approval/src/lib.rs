//! request-approval: invoked by the state machine with `.waitForTaskToken` once green is Ready.
//! Stores a single-use, expiring approval in the ledger, then asks in Slack (Block Kit, with
//! Approve and Reject buttons) and by email (SNS, two signed links), with the evidence: image,
//! task definition diff, validation report. The execution waits for approval-callback.

use std::time::Duration;

use greenlight_aws::{DynamoLedger, EcsTaskDefinitions, SecretsManagerSecrets, SesMailer, SnsNotifier, SsmManifest};
use greenlight_core::pipeline::{
    ApprovalChannels, ApprovalPorts, ApprovalRequest, ApprovalRequested, request_approval,
};
use greenlight_core::ports::{
    Approvals, History, Locks, Mailer, ManifestSource, Notifier, Secrets, SlackApi, TaskDefinitions, Validations,
};
use greenlight_http::SlackWebApi;
use greenlight_runtime::{FunctionError, env, env_number, lease, lease_seconds, parse_input};
use serde_json::Value;

#[derive(Debug)]
pub struct Handler<M, T, L, S, N, W, E> {
    pub manifests: M,
    pub task_definitions: T,
    /// The ledger: approvals and validation reports.
    pub ledger: L,
    pub secrets: S,
    pub notifier: N,
    /// Slack: the bot token (services with `approval.slack_channel`) and the incoming webhook.
    pub slack: W,
    /// Amazon SES: one email per listed email approver (the `email` channel).
    pub mailer: E,
    pub channels: ApprovalChannels,
    pub lease_seconds: i64,
}

/// The function as deployed.
pub type Deployed = Handler<
    SsmManifest,
    EcsTaskDefinitions,
    DynamoLedger,
    SecretsManagerSecrets,
    SnsNotifier,
    SlackWebApi<SecretsManagerSecrets>,
    SesMailer,
>;

impl Deployed {
    /// `GREENLIGHT_MANIFEST_PARAMETER`, `GREENLIGHT_LEDGER_TABLE`, `GREENLIGHT_TOPIC_ARN`,
    /// `GREENLIGHT_CALLBACK_URL`, and the secrets `GREENLIGHT_SLACK_WEBHOOK_SECRET`,
    /// `GREENLIGHT_LINK_KEY_SECRET`, `GREENLIGHT_SLACK_BOT_TOKEN_SECRET` (each needed by
    /// services using that channel; the bot token by those with `approval.slack_channel`);
    /// `GREENLIGHT_SLACK_API_URL` overrides Slack's Web API address.
    pub fn from_env(config: &aws_config::SdkConfig, http: reqwest::Client) -> Result<Self, FunctionError> {
        let ttl = Duration::from_secs(env_number("GREENLIGHT_MANIFEST_TTL_SECONDS", 60)?);
        Ok(Self {
            manifests: SsmManifest::new(aws_sdk_ssm::Client::new(config), env("GREENLIGHT_MANIFEST_PARAMETER")?, ttl),
            task_definitions: EcsTaskDefinitions::new(aws_sdk_ecs::Client::new(config)),
            ledger: DynamoLedger::new(aws_sdk_dynamodb::Client::new(config), env("GREENLIGHT_LEDGER_TABLE")?),
            secrets: SecretsManagerSecrets::new(aws_sdk_secretsmanager::Client::new(config)),
            notifier: SnsNotifier::new(aws_sdk_sns::Client::new(config), env("GREENLIGHT_TOPIC_ARN")?),
            slack: SlackWebApi::from_env(SecretsManagerSecrets::new(aws_sdk_secretsmanager::Client::new(config)), http),
            mailer: SesMailer::new(aws_sdk_sesv2::Client::new(config), env("GREENLIGHT_EMAIL_FROM").ok()),
            channels: ApprovalChannels {
                callback_url: env("GREENLIGHT_CALLBACK_URL")?,
                link_key_secret: env("GREENLIGHT_LINK_KEY_SECRET").ok(),
            },
            lease_seconds: lease_seconds()?,
        })
    }
}

impl<M, T, L, S, N, W, E> Handler<M, T, L, S, N, W, E>
where
    M: ManifestSource,
    T: TaskDefinitions,
    L: Approvals + Validations + Locks + History,
    S: Secrets,
    N: Notifier,
    W: SlackApi,
    E: Mailer,
{
    pub async fn handle(&self, payload: Value) -> Result<ApprovalRequested, FunctionError> {
        greenlight_runtime::fault_point("request-approval")?;
        let request: ApprovalRequest = parse_input(payload)?;
        let ports = ApprovalPorts {
            manifests: &self.manifests,
            task_definitions: &self.task_definitions,
            approvals: &self.ledger,
            ledger: &self.ledger,
            secrets: &self.secrets,
            notifier: &self.notifier,
            slack: &self.slack,
            mailer: &self.mailer,
        };
        let requested = request_approval(&request, ports, &self.channels, lease(self.lease_seconds)).await?;
        tracing::info!(
            service = request.step.service,
            image_digest = request.step.push.digest,
            execution_id = request.step.execution_id,
            deployment_id = request.step.deployment.as_ref().map(|d| d.deployment_id.as_str()),
            approval_id = requested.approval_id,
            channels = ?requested.channels,
            "approval requested"
        );
        Ok(requested)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight_core::fakes::{
        FakeLedger, FakeMailer, FakeManifest, FakeNotifier, FakeSecrets, FakeSlackApi, FakeTaskDefinitions,
    };
    use greenlight_core::manifest::{Channel, Manifest};
    use greenlight_core::taskdef::TaskDefinition;
    use serde_json::json;

    fn handler(
        slack: FakeSlackApi,
    ) -> Handler<FakeManifest, FakeTaskDefinitions, FakeLedger, FakeSecrets, FakeNotifier, FakeSlackApi, FakeMailer>
    {
        let manifest = Manifest::parse(include_str!("../../../crates/core/tests/fixtures/manifest-api-server.json"))
            .expect("manifest");
        let td: Value =
            serde_json::from_str(include_str!("../../../crates/core/tests/fixtures/aws/describe-task-definition.json"))
                .expect("json");
        Handler {
            manifests: FakeManifest(manifest),
            task_definitions: FakeTaskDefinitions {
                live: TaskDefinition::from_json(td).expect("td"),
                registered_since: 0,
                registered: Default::default(),
            },
            ledger: FakeLedger::held_by_digest("api-server", "sha256:abc"),
            secrets: FakeSecrets { values: [("links".to_string(), "link-key".to_string())].into_iter().collect() },
            notifier: FakeNotifier::default(),
            slack,
            mailer: FakeMailer::default(),
            channels: ApprovalChannels {
                callback_url: "https://callback.example".into(),
                link_key_secret: Some("links".into()),
            },
            lease_seconds: 60,
        }
    }

    fn payload() -> Value {
        json!({
            "task_token": "TOKEN-123",
            "service": "api-server",
            "push": {"account": "123456789012", "region": "us-east-1", "repository": "api-server", "digest": "sha256:abc", "tag": "v1.42.0"},
            "deployment": {"deployment_id": "d-1", "appspec_sha256": "00"}
        })
    }

    #[tokio::test]
    async fn asks_in_slack_and_by_email_without_leaking_secrets() {
        let h = handler(FakeSlackApi::default());
        let payload = payload();
        let out = h.handle(payload).await.expect("requested");
        assert_eq!(out.channels, [Channel::Slack, Channel::Sns]);
        let stored = h.ledger.approvals.records.lock().expect("lock").clone();
        assert_eq!(stored[0].task_token, "TOKEN-123");
        assert_eq!(stored[0].id, out.approval_id);
        let posted = h.slack.webhooks.lock().expect("lock").clone();
        assert!(posted[0].to_string().contains(&format!("approve:{}", out.approval_id)), "{}", posted[0]);
        let email = h.notifier.sent.lock().expect("lock").clone();
        assert!(email[0].1.contains(&format!("https://callback.example/links/{}/approve?expires=", out.approval_id)));
        for text in [posted[0].to_string(), email[0].1.clone()] {
            assert!(!text.contains("TOKEN-123") && !text.contains("link-key"), "{text}");
        }
    }

    #[tokio::test]
    async fn slack_down_still_asks_by_email_and_the_ledger_says_slack_failed() {
        let h = handler(FakeSlackApi { down: Some("HTTP 503 Service Unavailable".into()), ..FakeSlackApi::default() });
        let out = h.handle(payload()).await.expect("requested by email");
        assert_eq!(out.channels, [Channel::Sns]);
        let email = h.notifier.sent.lock().expect("lock").clone();
        assert!(email[0].1.contains(&format!("/links/{}/approve?expires=", out.approval_id)), "{email:?}");
        let timeline = h.ledger.history.lock().expect("lock").clone();
        let detail = format!("{timeline:?}");
        assert!(
            detail.contains("via sns") && detail.contains("not sent in slack") && detail.contains("HTTP 503"),
            "{detail}"
        );
    }

    #[tokio::test]
    async fn every_channel_down_fails_the_step_with_the_first_failure() {
        let mut h = handler(FakeSlackApi { down: Some("HTTP 500".into()), ..FakeSlackApi::default() });
        h.channels.link_key_secret = None;
        let err = h.handle(payload()).await.expect_err("nobody was asked");
        assert!(err.to_string().contains("HTTP 500"), "{err}");
    }

    #[tokio::test]
    async fn a_service_with_a_slack_channel_is_asked_with_the_bot_token_and_the_message_is_kept() {
        let mut h = handler(FakeSlackApi::default());
        h.manifests.0.services[0].approval.slack_channel = Some("C0DEPLOYS1".into());
        let out = h.handle(payload()).await.expect("requested");
        assert_eq!(out.channels, [Channel::Slack, Channel::Sns]);
        assert!(h.slack.webhooks.lock().expect("lock").is_empty(), "not through the webhook");
        let posted = h.slack.posted.lock().expect("lock").clone();
        assert_eq!((posted[0].0.as_str(), posted[0].2.as_deref()), ("C0DEPLOYS1", None));
        assert!(posted[0].1.to_string().contains(&format!("approve:{}", out.approval_id)), "{:?}", posted[0].1);
        let stored = h.ledger.approvals.records.lock().expect("lock")[0].clone();
        let post = stored.slack_post.expect("the message is kept");
        assert_eq!((post.channel.as_str(), post.ts.as_str()), ("C0DEPLOYS1", "1700000000.000001"));
    }

    #[tokio::test]
    async fn each_email_approver_gets_links_bound_to_their_address_and_the_topic_gets_none() {
        use greenlight_core::approvers::Approver;
        let mut h = handler(FakeSlackApi::default());
        let approval = &mut h.manifests.0.services[0].approval;
        approval.channels = vec![Channel::Slack, Channel::Sns, Channel::Email];
        approval.approvers = ["alice@example.com", "U0CAROL01", "bob@example.com"]
            .iter()
            .map(|a| Approver::parse(a).expect("approver"))
            .collect();
        let out = h.handle(payload()).await.expect("requested");
        assert_eq!(out.channels, [Channel::Slack, Channel::Sns, Channel::Email]);
        let sent = h.mailer.sent.lock().expect("lock").clone();
        let to: Vec<&str> = sent.iter().map(|(to, _, _)| to.as_str()).collect();
        assert_eq!(to, ["alice@example.com", "bob@example.com"]);
        assert!(sent[0].2.contains("&to=alice%40example.com&sig="), "{}", sent[0].2);
        assert!(sent[1].2.contains("&to=bob%40example.com&sig="), "{}", sent[1].2);
        let topic = h.notifier.sent.lock().expect("lock").clone();
        assert!(!topic[0].1.contains("/links/"), "no link on the shared topic: {}", topic[0].1);

        // SES down for everyone: the email channel failed, the others asked.
        let mut h2 = handler(FakeSlackApi::default());
        h2.manifests = FakeManifest(h.manifests.0.clone());
        h2.mailer = FakeMailer { down: Some("SES throttled".into()), ..FakeMailer::default() };
        let out = h2.handle(payload()).await.expect("requested in Slack");
        assert_eq!(out.channels, [Channel::Slack, Channel::Sns]);
    }
}
