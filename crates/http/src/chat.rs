//! Chat webhooks: Slack's incoming webhook and an interaction's `response_url`.

use std::time::Duration;

use greenlight_core::Error;
use greenlight_core::ports::Chat;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Posts JSON to chat webhooks over one client.
#[derive(Debug, Clone)]
pub struct HttpChat {
    client: reqwest::Client,
}

impl HttpChat {
    pub fn new(client: reqwest::Client) -> Self {
        Self { client }
    }
}

impl Chat for HttpChat {
    async fn post(&self, url: &str, payload: &serde_json::Value) -> Result<(), Error> {
        let chat = |reason: String| Error::Chat { reason };
        let response = self
            .client
            .post(url)
            .json(payload)
            .timeout(TIMEOUT)
            .send()
            .await
            // The URL is a secret: report the failure without it.
            .map_err(|e| {
                chat(if e.is_timeout() { "no answer within 10 s".into() } else { "the request failed".into() })
            })?;
        if !response.status().is_success() {
            return Err(chat(format!("HTTP {}", response.status())));
        }
        Ok(())
    }
}
