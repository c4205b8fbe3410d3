//! Chat webhooks: Slack's incoming webhook and an interaction's `response_url`.
//!
//! A post that Slack answers with 429 (rate limited: Slack's "Rate limits" guide says to wait the
//! `Retry-After` header's seconds) or 5xx, or that gets no answer, is tried again, at most
//! [`ATTEMPTS`] times in all: a short Slack hiccup never fails a deploy's approval request. Any
//! other answer (a 4xx: a revoked webhook, a bad payload) fails at once.

use std::time::Duration;

use greenlight_core::Error;
use greenlight_core::ports::Chat;

const TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per post, the first included.
pub const ATTEMPTS: u32 = 3;
/// The wait before the second attempt when Slack names none; doubled before each next one.
const FIRST_WAIT: Duration = Duration::from_millis(500);
/// The longest `Retry-After` honoured: a function's budget is minutes, not Slack's hour.
const LONGEST_WAIT: Duration = Duration::from_secs(10);

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

/// One attempt's result: done, worth another attempt (after the wait Slack asked for, if any),
/// or failed for good.
enum Attempt {
    Posted,
    Again { reason: String, retry_after: Option<Duration> },
    Failed(String),
}

impl HttpChat {
    async fn attempt(&self, url: &str, payload: &serde_json::Value) -> Attempt {
        let response = match self.client.post(url).json(payload).timeout(TIMEOUT).send().await {
            Ok(r) => r,
            // The URL is a secret: report the failure without it.
            Err(e) if e.is_timeout() => {
                return Attempt::Again { reason: "no answer within 10 s".into(), retry_after: None };
            }
            Err(_) => return Attempt::Again { reason: "the request failed".into(), retry_after: None },
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Posted;
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Attempt::Again { reason: format!("HTTP {status}"), retry_after }
        } else {
            Attempt::Failed(format!("HTTP {status}"))
        }
    }
}

impl Chat for HttpChat {
    async fn post(&self, url: &str, payload: &serde_json::Value) -> Result<(), Error> {
        let mut wait = FIRST_WAIT;
        let mut tried = Vec::new();
        for attempt in 1..=ATTEMPTS {
            match self.attempt(url, payload).await {
                Attempt::Posted => return Ok(()),
                Attempt::Failed(reason) => {
                    tried.push(reason);
                    break;
                }
                Attempt::Again { reason, retry_after } => {
                    tried.push(reason);
                    if attempt < ATTEMPTS {
                        tokio::time::sleep(retry_after.unwrap_or(wait).min(LONGEST_WAIT)).await;
                        wait *= 2;
                    }
                }
            }
        }
        Err(Error::Chat { reason: tried.join(", then ") })
    }
}
