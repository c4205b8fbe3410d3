//! The handler over in-memory ports: the routes, Slack's signatures, links, decisions and the
//! "Roll back" button.

use super::*;
use greenlight_core::approval::{ApprovalRecord, Decision};
use greenlight_core::fakes::{FakeApprovals, FakeChat, FakeSecrets, FakeSlackApi, FakeSlackDirectory, FakeTaskTokens};
use greenlight_core::links::{LinkTarget, link};

fn now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default())
        .unwrap_or_default()
}

/// Rollbacks that record who asked, always to v1.
#[derive(Debug, Default)]
struct FakeRollBacks {
    asked: std::sync::Mutex<Vec<greenlight_core::request::Requested>>,
    stopped: std::sync::Mutex<Vec<greenlight_core::request::Requested>>,
}

impl RollBacks for FakeRollBacks {
    async fn stop(
        &self,
        _: &ApprovalRecord,
        requested: &greenlight_core::request::Requested,
    ) -> Result<crate::rollbacks::Stop, greenlight_core::Error> {
        self.stopped.lock().expect("lock").push(requested.clone());
        Ok(crate::rollbacks::Stop::Stopped(greenlight_core::slack_outcomes::SlackRoute::Webhook))
    }

    async fn target(&self, _: &ApprovalRecord) -> Result<String, greenlight_core::Error> {
        Ok("v1 (web:1)".into())
    }

    async fn roll_back(
        &self,
        approval: &ApprovalRecord,
        requested: greenlight_core::request::Requested,
    ) -> Result<greenlight_core::pipeline::Reverted, greenlight_core::Error> {
        self.asked.lock().expect("lock").push(requested);
        let push = serde_json::from_value(serde_json::json!({
            "account": "1", "region": "r", "repository": "web", "digest": "sha256:01", "tag": "v1"
        }))
        .expect("push");
        let start = greenlight_core::ports::ExecutionStart::Started { execution_arn: "arn:exec:rb".into() };
        Ok(greenlight_core::pipeline::Reverted {
            push,
            started: greenlight_core::pipeline::StartedExecution {
                service: approval.service.clone(),
                name: "rb".into(),
                start,
            },
            notes: Vec::new(),
            subject: String::new(),
            message: String::new(),
            slack: greenlight_core::slack_outcomes::SlackRoute::Webhook,
        })
    }
}

type Test =
    Handler<FakeApprovals, FakeTaskTokens, FakeChat, FakeSecrets, FakeSlackDirectory, FakeSlackApi, FakeRollBacks>;

fn handler() -> Test {
    let approvals = FakeApprovals::default();
    approvals
        .records
        .lock()
        .expect("lock")
        .push(ApprovalRecord { expires_at: now() + 600, ..greenlight_core::fakes::pending_approval("a1") });
    Handler {
        approvals,
        tokens: FakeTaskTokens::default(),
        chat: FakeChat::default(),
        keys: Keys::ready(
            FakeSecrets::default(),
            CallbackKeys { slack_signing_secret: Some(b"slack".to_vec()), link_key: Some(b"key".to_vec()) },
        ),
        directory: FakeSlackDirectory::default(),
        slack: FakeSlackApi::default(),
        rollbacks: FakeRollBacks::default(),
    }
}

fn request(method: &str, url: &str) -> Request {
    let mut r = lambda_http::http::Request::builder().method(method).uri(url).body(Body::Empty).expect("request");
    let query: std::collections::HashMap<String, String> = url
        .split_once('?')
        .map(|(_, q)| {
            q.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
        })
        .unwrap_or_default();
    r = r.with_query_string_parameters(query);
    r
}

/// A POST to /slack as Slack sends it (a form), with this body and no signature.
fn slack_post(body: &str) -> Request {
    lambda_http::http::Request::builder()
        .method("POST")
        .uri("https://cb.example/slack")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::Text(body.into()))
        .expect("request")
}

#[tokio::test]
async fn slack_requests_that_are_not_slack_s_shape_are_refused_before_anything_else() {
    let h = handler();
    let json = lambda_http::http::Request::builder()
        .method("POST")
        .uri("https://cb.example/slack")
        .header("content-type", "application/json")
        .body(Body::Text("{}".into()))
        .expect("request");
    assert_eq!(h.handle(json).await.expect("page").status(), 415);
    let huge = format!("payload={}", "a".repeat(64 * 1024));
    assert_eq!(h.handle(slack_post(&huge)).await.expect("page").status(), 413);
    assert_eq!(h.handle(slack_post("payload=%7B%7D")).await.expect("page").status(), 401, "then the signature");
    assert!(h.tokens.succeeded.lock().expect("lock").is_empty(), "nothing decided");
}

#[tokio::test]
async fn a_get_only_asks_a_post_decides_once() {
    let h = handler();
    let url = link(
        "https://cb.example",
        b"key",
        &LinkTarget { id: "a1", decision: Decision::Approve, expires: now() + 600, to: None },
    );
    let page = h.handle(request("GET", &url)).await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(h.tokens.succeeded.lock().expect("lock").is_empty(), "a GET decides nothing");
    let done = h.handle(request("POST", &url)).await.expect("decided");
    assert_eq!(done.status(), 200);
    let resumed = h.tokens.succeeded.lock().expect("lock").clone();
    assert_eq!(resumed[0].0, "TOKEN");
    assert_eq!(resumed[0].1["approved"], true);
    let again = h.handle(request("POST", &url)).await.expect("page");
    assert_eq!(again.status(), 409);
    assert_eq!(h.tokens.succeeded.lock().expect("lock").len(), 1, "single use");
}

#[tokio::test]
async fn tampered_links_and_wrong_methods_are_refused() {
    let h = handler();
    let url = link(
        "https://cb.example",
        b"key",
        &LinkTarget { id: "a1", decision: Decision::Approve, expires: now() + 600, to: None },
    );
    let tampered = url.replace("/approve?", "/reject?");
    assert_eq!(h.handle(request("POST", &tampered)).await.expect("page").status(), 403);
    assert_eq!(h.handle(request("DELETE", &url)).await.expect("page").status(), 405);
    assert_eq!(h.handle(request("GET", "https://cb.example/slack")).await.expect("page").status(), 405);
    assert_eq!(h.handle(slack_post("payload=%7B%7D")).await.expect("page").status(), 401);
    assert!(h.tokens.succeeded.lock().expect("lock").is_empty(), "nothing decided");
}

#[tokio::test]
async fn expired_and_unknown_approvals_get_a_clear_page() {
    let h = handler();
    h.approvals.records.lock().expect("lock")[0].expires_at = now() - 1;
    let url = link(
        "https://cb.example",
        b"key",
        &LinkTarget { id: "a1", decision: Decision::Approve, expires: now() + 600, to: None },
    );
    let expired = h.handle(request("POST", &url)).await.expect("page");
    assert_eq!(expired.status(), 410);
    let unknown = link(
        "https://cb.example",
        b"key",
        &LinkTarget { id: "nope", decision: Decision::Approve, expires: now() + 600, to: None },
    );
    let page = h.handle(request("POST", &unknown)).await.expect("page");
    assert_eq!(page.status(), 404);
    let stale_link = link(
        "https://cb.example",
        b"key",
        &LinkTarget { id: "a1", decision: Decision::Approve, expires: now() - 5, to: None },
    );
    assert_eq!(h.handle(request("GET", &stale_link)).await.expect("page").status(), 410);
    assert!(h.tokens.succeeded.lock().expect("lock").is_empty(), "nothing decided");
}

#[tokio::test]
async fn keys_are_read_when_first_needed_and_a_failed_read_decides_nothing() {
    let mut h = handler();
    // The link key's secret does not exist yet: the request fails and nothing is decided.
    h.keys = Keys::new(FakeSecrets::default(), None, Some("links".into()));
    let url = link(
        "https://cb.example",
        b"key",
        &LinkTarget { id: "a1", decision: Decision::Approve, expires: now() + 600, to: None },
    );
    let err = h.handle(request("POST", &url)).await.expect_err("the key cannot be read");
    assert_eq!(err.0.error_type(), "SecretNotFound");
    assert!(h.tokens.succeeded.lock().expect("lock").is_empty(), "nothing decided");
    // Once it reads, the link verifies against it; Slack stays refused (not configured).
    let secrets = FakeSecrets { values: [("links".to_string(), "key".to_string())].into_iter().collect() };
    h.keys = Keys::new(secrets, None, Some("links".into()));
    assert_eq!(h.handle(request("POST", &url)).await.expect("decided").status(), 200);
    assert_eq!(h.handle(slack_post("payload=%7B%7D")).await.expect("page").status(), 401);
}

/// A POST of the link page's form with this body.
fn form_post(url: &str, body: &str) -> Request {
    let mut r = request("POST", url);
    *r.body_mut() = Body::Text(body.into());
    r.headers_mut().insert("content-type", "application/x-www-form-urlencoded".parse().expect("header"));
    r
}

async fn body_text(response: Response<Body>) -> String {
    match response.into_body() {
        Body::Text(t) => t,
        other => panic!("not a text body: {other:?}"),
    }
}

#[tokio::test]
async fn the_link_page_shows_the_evidence_and_the_comment_travels_with_the_decision() {
    let h = handler();
    h.approvals.records.lock().expect("lock")[0].evidence = Some(greenlight_core::approval::Evidence {
        image_uri: "1.dkr.ecr.r.amazonaws.com/web@sha256:ab".into(),
        diff: vec!["~ environment[MODE]: \"a\" -> \"<b>\"".into()],
        validation: "validation passed in 9 ms".into(),
        links: vec![("deployment".into(), "https://console.example/d-1".into())],
        requested_by: Some("deploy requested by arn:aws:iam::1:role/ops: hotfix".into()),
    });
    let url = link(
        "https://cb.example",
        b"key",
        &LinkTarget { id: "a1", decision: Decision::Reject, expires: now() + 600, to: None },
    );
    let page = body_text(h.handle(request("GET", &url)).await.expect("page")).await;
    for needle in [
        "<title>Reject web v2?</title>",
        "web@sha256:ab",
        "&quot;&lt;b&gt;&quot;",
        "validation passed in 9 ms",
        "deploy requested by arn:aws:iam::1:role/ops: hotfix",
        "<a href=\"https://console.example/d-1\">d-1</a>",
        "nobody yet (0 of 1 needed)",
        "<textarea id=\"comment\" name=\"comment\"",
        "Reject: roll back",
    ] {
        assert!(page.contains(needle), "{needle} missing from {page}");
    }
    // Too long a comment decides nothing and says so.
    let long = format!("comment={}", "x".repeat(crate::review::MAX_COMMENT + 1));
    let refused = h.handle(form_post(&url, &long)).await.expect("page");
    assert_eq!(refused.status(), 400);
    assert!(body_text(refused).await.contains("at most 1000"));
    assert!(h.tokens.succeeded.lock().expect("lock").is_empty(), "nothing decided");
    let decided = h.handle(form_post(&url, "comment=+error+rate+up+%3E+5%25+")).await.expect("decided");
    assert_eq!(decided.status(), 200);
    let record = h.approvals.records.lock().expect("lock")[0].clone();
    assert_eq!(record.decided.and_then(|d| d.comment).as_deref(), Some("error rate up > 5%"));
    // The second visit says who decided and what they said.
    let again = body_text(h.handle(request("GET", &url)).await.expect("page")).await;
    assert!(again.contains("Already decided") && again.contains("error rate up &gt; 5%"), "{again}");
}

#[tokio::test]
async fn a_link_decision_edits_the_request_s_slack_message_and_slack_down_changes_nothing_of_it() {
    use greenlight_core::approval::SlackPost;
    let post = SlackPost { channel: "C0DEPLOYS1".into(), ts: "1700000000.000001".into() };
    let h = handler();
    h.approvals.records.lock().expect("lock")[0].slack_post = Some(post.clone());
    let url = link(
        "https://cb.example",
        b"key",
        &LinkTarget { id: "a1", decision: Decision::Approve, expires: now() + 600, to: None },
    );
    assert_eq!(h.handle(form_post(&url, "comment=ship+it")).await.expect("decided").status(), 200);
    let updated = h.slack.updated.lock().expect("lock").clone();
    assert_eq!((updated[0].0.as_str(), updated[0].1.as_str()), ("C0DEPLOYS1", "1700000000.000001"));
    let text = updated[0].2.to_string();
    assert!(text.contains("*approved* by signed link") && text.contains("ship it"), "{text}");

    // Slack down: the decision stands and the page says so all the same.
    let mut h = handler();
    h.approvals.records.lock().expect("lock")[0].slack_post = Some(post);
    h.slack = FakeSlackApi { down: Some("chat.update: HTTP 503".into()), ..FakeSlackApi::default() };
    assert_eq!(h.handle(request("POST", &url)).await.expect("decided").status(), 200);
    assert_eq!(h.tokens.succeeded.lock().expect("lock").len(), 1, "decided");
}

/// A click on a button of this value by `user`, signed as Slack signs it.
fn signed_click(value: &str, user: &str) -> Request {
    let payload = serde_json::json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.to_ascii_lowercase()},
        "actions": [{"value": value}],
        "response_url": "https://hooks.slack.example/actions/1"
    });
    let body: String =
        url::form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish();
    let ts = now();
    let signature = greenlight_core::approval::sign_slack(b"slack", ts, body.as_bytes());
    let mut r = slack_post(&body);
    r.headers_mut().insert("x-slack-request-timestamp", ts.to_string().parse().expect("header"));
    r.headers_mut().insert("x-slack-signature", signature.parse().expect("header"));
    r
}

#[tokio::test]
async fn roll_back_asks_to_confirm_then_rolls_back_and_only_approvers_may() {
    use greenlight_core::approvers::Approver;
    let h = handler();
    {
        let mut records = h.approvals.records.lock().expect("lock");
        records[0].approvers = vec![Approver::parse("U0ALICE01").expect("approver")];
        records[0].slack_post =
            Some(greenlight_core::approval::SlackPost { channel: "C0DEPLOYS1".into(), ts: "1.000001".into() });
    }
    // Not approved (yet): nothing to roll back.
    let early = body_text(h.handle(signed_click("rollback:a1", "U0ALICE01")).await.expect("page")).await;
    assert!(early.contains("was never approved"), "{early}");
    h.approvals.records.lock().expect("lock")[0].decided = Some(approved_by_alice());
    // Someone not listed: refused, kept beside the approval, told only them.
    let refused = body_text(h.handle(signed_click("rollback:a1", "U0MALLORY")).await.expect("page")).await;
    assert!(refused.starts_with("refused: Slack user U0MALLORY is not among the approvers of web"), "{refused}");
    let kept = h.approvals.records.lock().expect("lock")[0].refusals.clone();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].reason.starts_with("roll back: "), "{kept:?}");
    let refused_confirm = h.handle(signed_click("rollback-confirmed:a1", "U0MALLORY")).await.expect("page");
    assert!(body_text(refused_confirm).await.starts_with("refused: "));
    assert!(h.rollbacks.asked.lock().expect("lock").is_empty(), "nothing rolled back");
    // A listed approver: the first click only asks.
    let asked = body_text(h.handle(signed_click("rollback:a1", "U0ALICE01")).await.expect("page")).await;
    assert_eq!(asked, "confirm to roll web back to v1 (web:1)");
    assert!(h.rollbacks.asked.lock().expect("lock").is_empty(), "a first click rolls nothing back");
    let confirmation = h.chat.posted.lock().expect("lock").last().cloned().expect("the confirmation");
    assert_eq!(confirmation.1["response_type"], "ephemeral");
    assert!(confirmation.1.to_string().contains("rollback-confirmed:a1"), "{confirmation:?}");
    // The confirmation rolls back, and the thread hears who did.
    let done = body_text(h.handle(signed_click("rollback-confirmed:a1", "U0ALICE01")).await.expect("page")).await;
    assert!(done.starts_with("@u0alice01 rolls web back from v2 to v1: execution arn:exec:rb"), "{done}");
    let asked = h.rollbacks.asked.lock().expect("lock").clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].by, "@u0alice01 (Slack user U0ALICE01)");
    let posted = h.slack.posted.lock().expect("lock").clone();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].2.as_deref(), Some("1.000001"), "in the approval's thread: {posted:?}");
    assert!(h.slack.webhooks.lock().expect("lock").is_empty(), "not also through the webhook");

    // A request that went out through the incoming webhook has no thread: the webhook hears it.
    h.approvals.records.lock().expect("lock")[0].slack_post = None;
    let again = body_text(h.handle(signed_click("rollback-confirmed:a1", "U0ALICE01")).await.expect("page")).await;
    assert!(again.starts_with("@u0alice01 rolls web back"), "{again}");
    let webhooks = h.slack.webhooks.lock().expect("lock").clone();
    assert_eq!(webhooks.len(), 1, "{webhooks:?}");
    assert!(webhooks[0]["text"].as_str().unwrap_or_default().starts_with("@u0alice01 rolls web back"), "{webhooks:?}");
}

#[tokio::test]
async fn stop_takes_an_approved_request_a_listed_approver_and_a_confirmation() {
    use greenlight_core::approvers::Approver;
    let h = handler();
    h.approvals.records.lock().expect("lock")[0].approvers = vec![Approver::parse("U0ALICE01").expect("approver")];
    let waiting = body_text(h.handle(signed_click("stop-confirmed:a1", "U0ALICE01")).await.expect("page")).await;
    assert!(waiting.contains("stops with Reject"), "{waiting}");
    h.approvals.records.lock().expect("lock")[0].decided = Some(approved_by_alice());
    let refused = body_text(h.handle(signed_click("stop-confirmed:a1", "U0MALLORY")).await.expect("page")).await;
    assert!(refused.starts_with("refused: Slack user U0MALLORY is not among the approvers"), "{refused}");
    assert!(h.approvals.records.lock().expect("lock")[0].refusals[0].reason.starts_with("stop: "));
    let asked = body_text(h.handle(signed_click("stop:a1", "U0ALICE01")).await.expect("page")).await;
    assert!(asked.starts_with("confirm to stop web"), "{asked}");
    assert!(h.rollbacks.stopped.lock().expect("lock").is_empty(), "a first click stops nothing");
    let done = body_text(h.handle(signed_click("stop-confirmed:a1", "U0ALICE01")).await.expect("page")).await;
    assert!(done.starts_with("@u0alice01 stopped web"), "{done}");
    assert_eq!(h.rollbacks.stopped.lock().expect("lock")[0].by, "@u0alice01 (Slack user U0ALICE01)");
    let webhooks = h.slack.webhooks.lock().expect("lock").clone();
    assert!(webhooks[0]["text"].as_str().unwrap_or_default().starts_with("@u0alice01 stopped web"), "{webhooks:?}");
}

/// The decision a Slack click by alice (U0ALICE01) made.
fn approved_by_alice() -> greenlight_core::approval::Decided {
    greenlight_core::approval::Decided {
        approved: true,
        by: "@alice".into(),
        at: "2026-12-02T00:00:00Z".into(),
        channel: greenlight_core::approval::DecidedVia::Slack,
        comment: None,
        approver: Some("slack:U0ALICE01".into()),
    }
}
