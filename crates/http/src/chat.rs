//! Chat webhooks: Slack's incoming webhook and an interaction's `response_url`.
//!
//! A post that Slack answers with 429 (rate limited: Slack's "Rate limits" guide says to wait the
//! `Retry-After` header's seconds) or 5xx, or that gets no answer, is tried again, at most
//! [`ATTEMPTS`] times in all: a short Slack hiccup never fails a deploy's approval request. Any
//! other answer (a 4xx: a revoked webhook, a bad payload) fails at once.

use std::time::Duration;

use greenlight_core::Error;
use greenlight_core::ports::Chat;

pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);
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
pub(crate) enum Attempt<T> {
    Done(T),
    Again { reason: String, retry_after: Option<Duration> },
    Failed(String),
}

/// Sends until done, at most [`ATTEMPTS`] times, waiting between attempts what Slack asks
/// (`Retry-After`, at most 10 s) or 0.5 s doubling; the reasons of every failed attempt.
pub(crate) async fn retried<T, F, Fut>(mut attempt: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Attempt<T>>,
{
    let mut wait = FIRST_WAIT;
    let mut tried = Vec::new();
    for n in 1..=ATTEMPTS {
        match attempt().await {
            Attempt::Done(value) => return Ok(value),
            Attempt::Failed(reason) => {
                tried.push(reason);
                break;
            }
            Attempt::Again { reason, retry_after } => {
                tried.push(reason);
                if n < ATTEMPTS {
                    tokio::time::sleep(retry_after.unwrap_or(wait).min(LONGEST_WAIT)).await;
                    wait *= 2;
                }
            }
        }
    }
    Err(tried.join(", then "))
}

/// What an HTTP answer that is not a success means for the next attempt: 429 and 5xx are
/// worth another (after `Retry-After` when given), anything else fails for good.
pub(crate) fn unsuccessful<T>(response: &reqwest::Response) -> Attempt<T> {
    let status = response.status();
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

/// A request that got no answer: worth another attempt (the reason names no URL, which may be
/// a secret).
pub(crate) fn unanswered<T>(e: &reqwest::Error) -> Attempt<T> {
    let reason = if e.is_timeout() { "no answer within 10 s" } else { "the request failed" };
    Attempt::Again { reason: reason.into(), retry_after: None }
}

impl HttpChat {
    async fn attempt(&self, url: &str, payload: &serde_json::Value) -> Attempt<()> {
        match self.client.post(url).json(payload).timeout(TIMEOUT).send().await {
            Ok(r) if r.status().is_success() => Attempt::Done(()),
            Ok(r) => unsuccessful(&r),
            Err(e) => unanswered(&e),
        }
    }
}

impl Chat for HttpChat {
    async fn post(&self, url: &str, payload: &serde_json::Value) -> Result<(), Error> {
        retried(|| self.attempt(url, payload)).await.map_err(|reason| Error::Chat { reason })
    }
}
