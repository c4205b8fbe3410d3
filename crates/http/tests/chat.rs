//! Slack's webhook through `HttpChat` against a local server answering a script of statuses:
//! 429 and 5xx are tried again (after `Retry-After` when Slack names it), another 4xx fails at
//! once, and the error says every attempt without the URL.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use greenlight_core::ports::Chat;
use greenlight_http::HttpChat;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A webhook on 127.0.0.1 that answers the nth request with `script[n]` (the last one from then
/// on); the URL and the count of requests it got.
async fn webhook(script: &'static [&'static str]) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/services/T0/B0/secret", listener.local_addr().expect("addr"));
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            let status = script[n.min(script.len() - 1)];
            tokio::spawn(async move {
                let mut buf = vec![0; 8192];
                let _ = stream.read(&mut buf).await;
                let body = "ok";
                let reply =
                    format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    (url, seen)
}

fn chat() -> HttpChat {
    HttpChat::new(greenlight_http::client().expect("client"))
}

#[tokio::test]
async fn slack_answering_503_twice_then_200_gets_the_message() {
    let (url, seen) = webhook(&["503 Service Unavailable", "503 Service Unavailable", "200 OK"]).await;
    chat().post(&url, &serde_json::json!({"text": "hello"})).await.expect("posted on the third attempt");
    assert_eq!(seen.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn rate_limited_waits_as_slack_asks_then_posts() {
    let (url, seen) = webhook(&["429 Too Many Requests\r\nretry-after: 1", "200 OK"]).await;
    chat().post(&url, &serde_json::json!({"text": "hello"})).await.expect("posted after the wait");
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_revoked_webhook_fails_at_once_and_an_outage_after_every_attempt() {
    let (url, seen) = webhook(&["404 Not Found"]).await;
    let err = chat().post(&url, &serde_json::json!({})).await.expect_err("no such webhook");
    assert_eq!(seen.load(Ordering::SeqCst), 1, "a 404 is not tried again");
    assert_eq!(err.to_string(), "the Slack request failed: HTTP 404 Not Found");

    let (url, seen) = webhook(&["500 Internal Server Error"]).await;
    let err = chat().post(&url, &serde_json::json!({})).await.expect_err("down");
    assert_eq!(seen.load(Ordering::SeqCst), greenlight_http::chat::ATTEMPTS as usize);
    let text = err.to_string();
    assert_eq!(text.matches("HTTP 500 Internal Server Error").count(), 3, "{text}");
    assert!(!text.contains("secret"), "the URL is a secret: {text}");
    assert_eq!(err.error_type(), "ChatFailed");
}
