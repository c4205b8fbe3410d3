//! approval-callback (a Lambda function URL): Slack's Approve / Reject buttons (`POST /slack`,
//! signature verified) and the signed links of the email (`GET` shows a confirmation page and
//! changes nothing, `POST` decides). A decision is recorded once, by a conditional write, and
//! resumes the execution with SendTaskSuccess; a second click says who already decided. The
//! "Roll back" button of a success message, once confirmed, rolls back as `greenlight rollback`
//! does.

use std::time::{SystemTime, UNIX_EPOCH};

mod directory;
mod keys;
mod pages;
mod review;
mod rollbacks;
mod routes;
mod slack_rollback;
mod slack_stop;

use greenlight_aws::{
    CodeDeployDeployments, DynamoLedger, EcrImages, EcsTaskDefinitions, SecretsManagerSecrets, SfnExecutions,
    SnsNotifier, SsmManifest,
};
use greenlight_core::ports::{Approvals, Chat, Secrets, SlackApi, SlackDirectory, TaskTokens};
use greenlight_http::{HttpChat, SLACK_API, SlackWebApi};
use greenlight_runtime::{FunctionError, env, env_number};
use lambda_http::{Body, Request, RequestExt, Response};

pub use directory::LazySlackDirectory;
pub use keys::Keys;
pub use rollbacks::{RollBacks, Rollbacks};
pub use routes::{CallbackKeys, CallbackRequest, CallbackResponse};

#[derive(Debug)]
pub struct Handler<A, T, C, S, D, W, R> {
    pub approvals: A,
    pub tokens: T,
    pub chat: C,
    pub keys: Keys<S>,
    /// Slack's user groups, read when a listed group could admit the person who clicked.
    pub directory: D,
    /// Slack's Web API: a link's decision edits the request's message when it was posted with
    /// the bot token (a click's is edited through its `response_url`).
    pub slack: W,
    /// The "Roll back" button's rollbacks.
    pub rollbacks: R,
}

/// The function as deployed.
pub type Deployed = Handler<
    DynamoLedger,
    SfnExecutions,
    HttpChat,
    SecretsManagerSecrets,
    LazySlackDirectory<SecretsManagerSecrets>,
    SlackWebApi<SecretsManagerSecrets>,
    Rollbacks<
        SsmManifest,
        EcsTaskDefinitions,
        EcrImages,
        CodeDeployDeployments,
        SfnExecutions,
        DynamoLedger,
        SnsNotifier,
    >,
>;

impl Deployed {
    /// `GREENLIGHT_LEDGER_TABLE`, and the secrets `GREENLIGHT_SLACK_SIGNING_SECRET`,
    /// `GREENLIGHT_LINK_KEY_SECRET`, `GREENLIGHT_SLACK_BOT_TOKEN_SECRET` and
    /// `GREENLIGHT_SLACK_WEBHOOK_SECRET` (read on the first request that needs them; a channel
    /// without its secret refuses, a Slack user group cannot admit anyone without the bot token,
    /// and a rollback started from Slack is said through the webhook where the request was). `GREENLIGHT_SLACK_API_URL` overrides Slack's
    /// Web API address (the local emulation's fake Slack). The "Roll back" button:
    /// `GREENLIGHT_MANIFEST_PARAMETER`, `GREENLIGHT_STATE_MACHINE_ARN`, `GREENLIGHT_TOPIC_ARN`,
    /// `GREENLIGHT_WAIT_SECONDS`.
    pub fn from_env(config: &aws_config::SdkConfig, http: reqwest::Client) -> Result<Self, FunctionError> {
        let secrets = || SecretsManagerSecrets::new(aws_sdk_secretsmanager::Client::new(config));
        let keys =
            Keys::new(secrets(), env("GREENLIGHT_SLACK_SIGNING_SECRET").ok(), env("GREENLIGHT_LINK_KEY_SECRET").ok());
        let api = env("GREENLIGHT_SLACK_API_URL").unwrap_or_else(|_| SLACK_API.to_string());
        let bot_token = env("GREENLIGHT_SLACK_BOT_TOKEN_SECRET").ok();
        let directory = LazySlackDirectory::new(secrets(), bot_token.clone(), http.clone(), api.clone());
        let slack = SlackWebApi::new(secrets(), bot_token, http.clone(), api)
            .with_webhook(env("GREENLIGHT_SLACK_WEBHOOK_SECRET").ok());
        let ledger =
            || env("GREENLIGHT_LEDGER_TABLE").map(|t| DynamoLedger::new(aws_sdk_dynamodb::Client::new(config), t));
        let ttl = std::time::Duration::from_secs(env_number("GREENLIGHT_MANIFEST_TTL_SECONDS", 60)?);
        let rollbacks = Rollbacks {
            manifests: SsmManifest::new(aws_sdk_ssm::Client::new(config), env("GREENLIGHT_MANIFEST_PARAMETER")?, ttl),
            task_definitions: EcsTaskDefinitions::new(aws_sdk_ecs::Client::new(config)),
            images: EcrImages::new(aws_sdk_ecr::Client::new(config)),
            deployments: CodeDeployDeployments::new(aws_sdk_codedeploy::Client::new(config)),
            executions: SfnExecutions::new(aws_sdk_sfn::Client::new(config), env("GREENLIGHT_STATE_MACHINE_ARN")?),
            ledger: ledger()?,
            notifier: SnsNotifier::new(aws_sdk_sns::Client::new(config), env("GREENLIGHT_TOPIC_ARN")?),
            wait_seconds: u32::try_from(env_number("GREENLIGHT_WAIT_SECONDS", 15)?).unwrap_or(15),
        };
        Ok(Self {
            approvals: ledger()?,
            // Only SendTaskSuccess is used: no state machine ARN needed.
            tokens: SfnExecutions::new(aws_sdk_sfn::Client::new(config), String::new()),
            chat: HttpChat::new(http),
            keys,
            directory,
            slack,
            rollbacks,
        })
    }
}

impl<A, T, C, S, D, W, R> Handler<A, T, C, S, D, W, R>
where
    A: Approvals,
    T: TaskTokens,
    C: Chat,
    S: Secrets,
    D: SlackDirectory,
    W: SlackApi,
    R: RollBacks,
{
    pub async fn handle(&self, request: Request) -> Result<Response<Body>, FunctionError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        let req = CallbackRequest {
            method: request.method().as_str().to_string(),
            path: request.uri().path().to_string(),
            query: request.query_string_parameters().iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            headers: request
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or_default().to_string()))
                .collect(),
            body: request.body().to_vec(),
        };
        let response = self.callback(&req, i64::try_from(now).unwrap_or_default()).await?;
        tracing::info!(method = req.method, path = req.path, status = response.status, "approval callback");
        Ok(Response::builder()
            .status(response.status)
            .header("content-type", response.content_type)
            .header("cache-control", "no-store")
            .body(Body::Text(response.body))
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests;
