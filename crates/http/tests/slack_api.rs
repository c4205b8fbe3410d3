//! Slack's Web API through `SlackWebApi` against a local server answering a script of
//! (status, body): the bot token goes as a bearer token, the message and the call's own fields
//! as one JSON body; `ok: false` fails at once with Slack's error, 429 and 5xx are tried again,
//! and without a configured token nothing is sent.

use std::sync::{Arc, Mutex};

use greenlight_core::approval::SlackPost;
use greenlight_core::fakes::FakeSecrets;
use greenlight_core::ports::SlackApi;
use greenlight_http::SlackWebApi;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server got: each request's head and body.
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// A Web API on 127.0.0.1 answering the nth request with `script[n]` (the last from then on).
async fn api(script: &'static [(&'static str, &'static str)]) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/api", listener.local_addr().expect("addr"));
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = vec![0; 65536];
            let mut read = 0;
            // The head, then as much body as content-length says.
            loop {
                let n = stream.read(&mut buf[read..]).await.unwrap_or(0);
                read += n;
                let text = String::from_utf8_lossy(&buf[..read]).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= length || n == 0 {
                        let parsed = serde_json::from_str(body).unwrap_or(Value::Null);
                        let n = {
                            let mut log = log.lock().expect("lock");
                            log.push((head.to_string(), parsed));
                            log.len() - 1
                        };
                        let (status, answer) = script[n.min(script.len() - 1)];
                        let reply = format!(
                            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                            answer.len()
                        );
                        let _ = stream.write_all(reply.as_bytes()).await;
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
        }
    });
    (url, seen)
}

fn slack(url: &str, token_secret: Option<&str>) -> SlackWebApi<FakeSecrets> {
    let secrets = FakeSecrets { values: [("bot".to_string(), "xoxb-test".to_string())].into_iter().collect() };
    SlackWebApi::new(secrets, token_secret.map(str::to_string), greenlight_http::client().expect("client"), url)
}

#[tokio::test]
async fn a_message_is_posted_with_the_bot_token_after_a_503_and_updated_in_place() {
    let (url, seen) = api(&[
        ("503 Service Unavailable", "{}"),
        ("200 OK", r#"{"ok": true, "channel": "C0DEPLOYS1", "ts": "1700000000.000100"}"#),
        ("200 OK", r#"{"ok": true, "channel": "C0DEPLOYS1", "ts": "1700000000.000100"}"#),
    ])
    .await;
    let api = slack(&url, Some("bot"));
    let post = api.post_message("C0DEPLOYS1", &json!({"text": "approve?", "blocks": []}), None).await.expect("posted");
    assert_eq!(post, SlackPost { channel: "C0DEPLOYS1".into(), ts: "1700000000.000100".into() });
    api.update_message(&post, &json!({"text": "cancelled"})).await.expect("updated");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 3, "the 503 was tried again");
    assert!(seen[1].0.starts_with("POST /api/chat.postMessage "), "{}", seen[1].0);
    assert!(seen[1].0.to_ascii_lowercase().contains("authorization: bearer xoxb-test"), "{}", seen[1].0);
    assert_eq!(seen[1].1, json!({"channel": "C0DEPLOYS1", "text": "approve?", "blocks": []}));
    assert!(seen[2].0.starts_with("POST /api/chat.update "), "{}", seen[2].0);
    assert_eq!(seen[2].1, json!({"channel": "C0DEPLOYS1", "ts": "1700000000.000100", "text": "cancelled"}));
}

#[tokio::test]
async fn slack_s_own_error_fails_at_once_and_names_it() {
    let (url, seen) = api(&[("200 OK", r#"{"ok": false, "error": "channel_not_found"}"#)]).await;
    let err = slack(&url, Some("bot"))
        .post_message("C0ELSEWHERE", &json!({"text": "x"}), Some("1.2"))
        .await
        .expect_err("not in that channel");
    assert_eq!(err.to_string(), "the Slack request failed: chat.postMessage: channel_not_found");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1, "not tried again");
    assert_eq!(seen[0].1["thread_ts"], "1.2", "a reply names its thread");
}

#[tokio::test]
async fn without_a_bot_token_nothing_is_sent_and_the_error_names_the_setting() {
    let (url, seen) = api(&[("200 OK", r#"{"ok": true, "ts": "1.1"}"#)]).await;
    let err = slack(&url, None).post_message("C0DEPLOYS1", &json!({"text": "x"}), None).await.expect_err("no token");
    assert_eq!(err.error_type(), "InvalidConfiguration");
    assert!(err.to_string().contains("GREENLIGHT_SLACK_BOT_TOKEN_SECRET"), "{err}");
    assert!(seen.lock().expect("lock").is_empty(), "nothing sent");
}
