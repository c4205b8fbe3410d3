//! Slack's user groups through the Web API: `GET <api>/usergroups.users.list?usergroup=<id>`
//! with the bot token as a bearer token (scope `usergroups:read`). Slack answers
//! `{"ok": true, "users": [...]}`, or `{"ok": false, "error": "no_such_subteam"}` and the like.

use std::time::Duration;

use greenlight_core::Error;
use greenlight_core::ports::SlackDirectory;
use serde::Deserialize;

const TIMEOUT: Duration = Duration::from_secs(10);
/// Slack's Web API.
pub const SLACK_API: &str = "https://slack.com/api";

/// Reads user groups with a bot token; without one, every read fails (and admits nobody).
#[derive(Debug, Clone)]
pub struct HttpSlackDirectory {
    client: reqwest::Client,
    api: String,
    token: Option<String>,
}

impl HttpSlackDirectory {
    pub fn new(client: reqwest::Client, api: impl Into<String>, token: Option<String>) -> Self {
        Self { client, api: api.into(), token }
    }
}

#[derive(Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    error: Option<String>,
}

fn failed(group_id: &str, reason: impl std::fmt::Display) -> Error {
    Error::Chat { reason: format!("usergroups.users.list {group_id}: {reason}") }
}

impl SlackDirectory for HttpSlackDirectory {
    async fn group_members(&self, group_id: &str) -> Result<Vec<String>, Error> {
        let token = self
            .token
            .as_deref()
            .ok_or_else(|| failed(group_id, "no Slack bot token is configured (GREENLIGHT_SLACK_BOT_TOKEN_SECRET)"))?;
        // Group ids are letters and digits (the manifest's check): nothing to escape.
        let url = format!("{}/usergroups.users.list?usergroup={group_id}", self.api.trim_end_matches('/'));
        let response = self.client.get(url).bearer_auth(token).timeout(TIMEOUT).send().await.map_err(|e| {
            failed(group_id, if e.is_timeout() { "no answer within 10 s" } else { "the request failed" })
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(failed(group_id, format!("HTTP {status}")));
        }
        let answer: Answer = response.json().await.map_err(|_| failed(group_id, "the answer is not Slack's JSON"))?;
        if answer.ok {
            Ok(answer.users)
        } else {
            Err(failed(group_id, answer.error.unwrap_or_else(|| "not ok".into())))
        }
    }
}
