//! Slack's Web API for the messages greenlight edits and replies to: `chat.postMessage` and
//! `chat.update`, a JSON POST with the bot token as a bearer token (scope `chat:write`); and
//! the app's incoming webhook, for teams without a bot token (its URL a secret too).
//!
//! Slack answers HTTP 200 with `{"ok": true, "channel": …, "ts": …}`, or with `{"ok": false,
//! "error": "channel_not_found"}` and the like (failed for good); a 429 names its wait in
//! `Retry-After` and, like a 5xx or no answer, is tried again (`chat::retried`). The token is
//! read from Secrets Manager on the first call that needs it and kept for the process's life;
//! a failed read fails that call and the next one reads again.

use greenlight_core::Error;
use greenlight_core::approval::SlackPost;
use greenlight_core::ports::{Chat, Secrets, SlackApi};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::chat::{Attempt, HttpChat, TIMEOUT, retried, unanswered, unsuccessful};

#[derive(Debug)]
pub struct SlackWebApi<S> {
    secrets: S,
    /// Secrets Manager id of the bot token (`GREENLIGHT_SLACK_BOT_TOKEN_SECRET`).
    token_secret: Option<String>,
    /// Secrets Manager id of the incoming webhook's URL (`GREENLIGHT_SLACK_WEBHOOK_SECRET`).
    webhook_secret: Option<String>,
    client: reqwest::Client,
    api: String,
    token: OnceCell<String>,
    webhook: OnceCell<String>,
}

impl<S: Secrets> SlackWebApi<S> {
    pub fn new(secrets: S, token_secret: Option<String>, client: reqwest::Client, api: impl Into<String>) -> Self {
        let (webhook_secret, token, webhook) = (None, OnceCell::new(), OnceCell::new());
        Self { secrets, token_secret, webhook_secret, client, api: api.into(), token, webhook }
    }

    /// Posts through the incoming webhook whose URL is this secret (none: a post says so).
    pub fn with_webhook(mut self, webhook_secret: Option<String>) -> Self {
        self.webhook_secret = webhook_secret;
        self
    }

    /// As the functions are configured: the bot token's secret id in
    /// `GREENLIGHT_SLACK_BOT_TOKEN_SECRET` and the incoming webhook's in
    /// `GREENLIGHT_SLACK_WEBHOOK_SECRET` (unset: a call that needs it says so), Slack's Web API
    /// address in `GREENLIGHT_SLACK_API_URL` (the local emulation's fake Slack) or Slack's own.
    pub fn from_env(secrets: S, client: reqwest::Client) -> Self {
        let var = |name| std::env::var(name).ok().filter(|s| !s.is_empty());
        let api = var("GREENLIGHT_SLACK_API_URL").unwrap_or_else(|| crate::SLACK_API.to_string());
        Self::new(secrets, var("GREENLIGHT_SLACK_BOT_TOKEN_SECRET"), client, api)
            .with_webhook(var("GREENLIGHT_SLACK_WEBHOOK_SECRET"))
    }

    async fn token(&self) -> Result<&str, Error> {
        let token = self
            .token
            .get_or_try_init(|| async {
                let id = self.token_secret.as_deref().ok_or_else(|| Error::Configuration {
                    variable: "GREENLIGHT_SLACK_BOT_TOKEN_SECRET",
                    problem: "is not set, and a service posts to a Slack channel with the bot token (approval.slack_channel): set the orchestrator module's slack_bot_token_secret_arn".into(),
                })?;
                self.secrets.secret(id).await
            })
            .await?;
        Ok(token)
    }

    /// One Web API call, tried again on 429, 5xx and no answer.
    async fn call(&self, method: &str, body: &Value) -> Result<Answer, Error> {
        let token = self.token().await?;
        let url = format!("{}/{method}", self.api.trim_end_matches('/'));
        let attempt = || async {
            let response = match self.client.post(&url).bearer_auth(token).json(body).timeout(TIMEOUT).send().await {
                Ok(r) if r.status().is_success() => r,
                Ok(r) => return unsuccessful(&r),
                Err(e) => return unanswered(&e),
            };
            match response.json::<Answer>().await {
                Ok(a) if a.ok => Attempt::Done(a),
                Ok(a) => Attempt::Failed(a.error.unwrap_or_else(|| "not ok".into())),
                Err(_) => Attempt::Failed("the answer is not Slack's JSON".into()),
            }
        };
        retried(attempt).await.map_err(|reason| Error::Chat { reason: format!("{method}: {reason}") })
    }
}

#[derive(Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// The message's fields (`text`, `blocks`) with the call's own (`channel`, `ts`, `thread_ts`).
fn with(payload: &Value, fields: Value) -> Value {
    let mut body = json!({});
    for source in [payload, &fields] {
        if let (Some(out), Some(fields)) = (body.as_object_mut(), source.as_object()) {
            out.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    body
}

impl<S: Secrets + Sync> SlackApi for SlackWebApi<S> {
    async fn post_message(&self, channel: &str, payload: &Value, thread_ts: Option<&str>) -> Result<SlackPost, Error> {
        let mut fields = json!({"channel": channel});
        if let Some(ts) = thread_ts {
            fields["thread_ts"] = json!(ts);
        }
        let answer = self.call("chat.postMessage", &with(payload, fields)).await?;
        let ts =
            answer.ts.ok_or_else(|| Error::Chat { reason: "chat.postMessage: Slack's answer names no ts".into() })?;
        // Slack answers with the channel's id (a name given would come back as its id).
        Ok(SlackPost { channel: answer.channel.unwrap_or_else(|| channel.to_string()), ts })
    }

    async fn update_message(&self, post: &SlackPost, payload: &Value) -> Result<(), Error> {
        self.call("chat.update", &with(payload, json!({"channel": post.channel, "ts": post.ts}))).await.map(|_| ())
    }

    async fn post_webhook(&self, payload: &Value) -> Result<(), Error> {
        let url = self
            .webhook
            .get_or_try_init(|| async {
                let id = self.webhook_secret.as_deref().ok_or_else(|| Error::Configuration {
                    variable: "GREENLIGHT_SLACK_WEBHOOK_SECRET",
                    problem: "is not set, and a service asks in Slack without approval.slack_channel (through the incoming webhook): set the orchestrator module's slack_webhook_secret_arn".into(),
                })?;
                self.secrets.secret(id).await
            })
            .await?;
        HttpChat::new(self.client.clone()).post(url, payload).await
    }
}
