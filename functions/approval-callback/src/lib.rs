//! approval-callback (a Lambda function URL): Slack's Approve / Reject buttons (`POST /slack`,
//! signature verified) and the signed links of the email (`GET` shows a confirmation page and
//! changes nothing, `POST` decides). A decision is recorded once, by a conditional write, and
//! resumes the execution with SendTaskSuccess; a second click says who already decided.

use std::time::{SystemTime, UNIX_EPOCH};

mod directory;
mod keys;
mod pages;
mod review;
mod routes;

use greenlight_aws::{DynamoLedger, SecretsManagerSecrets, SfnExecutions};
use greenlight_core::ports::{Approvals, Chat, Secrets, SlackApi, SlackDirectory, TaskTokens};
use greenlight_http::{HttpChat, SLACK_API, SlackWebApi};
use greenlight_runtime::{FunctionError, env};
use lambda_http::{Body, Request, RequestExt, Response};

pub use directory::LazySlackDirectory;
pub use keys::Keys;
pub use routes::{CallbackKeys, CallbackRequest, CallbackResponse};

#[derive(Debug)]
pub struct Handler<A, T, C, S, D, W> {
    pub approvals: A,
    pub tokens: T,
    pub chat: C,
    pub keys: Keys<S>,
    /// Slack's user groups, read when a listed group could admit the person who clicked.
    pub directory: D,
    /// Slack's Web API: a link's decision edits the request's message when it was posted with
    /// the bot token (a click's is edited through its `response_url`).
    pub slack: W,
}

/// The function as deployed.
pub type Deployed = Handler<
    DynamoLedger,
    SfnExecutions,
    HttpChat,
    SecretsManagerSecrets,
    LazySlackDirectory<SecretsManagerSecrets>,
    SlackWebApi<SecretsManagerSecrets>,
>;

impl Deployed {
    /// `GREENLIGHT_LEDGER_TABLE`, and the secrets `GREENLIGHT_SLACK_SIGNING_SECRET`,
    /// `GREENLIGHT_LINK_KEY_SECRET` and `GREENLIGHT_SLACK_BOT_TOKEN_SECRET` (read on the first
    /// request that needs them; a channel without its secret refuses, and a Slack user group
    /// cannot admit anyone without the bot token). `GREENLIGHT_SLACK_API_URL` overrides Slack's
    /// Web API address (the local emulation's fake Slack).
    pub fn from_env(config: &aws_config::SdkConfig, http: reqwest::Client) -> Result<Self, FunctionError> {
        let secrets = || SecretsManagerSecrets::new(aws_sdk_secretsmanager::Client::new(config));
        let keys =
            Keys::new(secrets(), env("GREENLIGHT_SLACK_SIGNING_SECRET").ok(), env("GREENLIGHT_LINK_KEY_SECRET").ok());
        let api = env("GREENLIGHT_SLACK_API_URL").unwrap_or_else(|_| SLACK_API.to_string());
        let bot_token = env("GREENLIGHT_SLACK_BOT_TOKEN_SECRET").ok();
        let directory = LazySlackDirectory::new(secrets(), bot_token.clone(), http.clone(), api.clone());
        let slack = SlackWebApi::new(secrets(), bot_token, http.clone(), api);
        Ok(Self {
            approvals: DynamoLedger::new(aws_sdk_dynamodb::Client::new(config), env("GREENLIGHT_LEDGER_TABLE")?),
            // Only SendTaskSuccess is used: no state machine ARN needed.
            tokens: SfnExecutions::new(aws_sdk_sfn::Client::new(config), String::new()),
            chat: HttpChat::new(http),
            keys,
            directory,
            slack,
        })
    }
}

impl<A, T, C, S, D, W> Handler<A, T, C, S, D, W>
where
    A: Approvals,
    T: TaskTokens,
    C: Chat,
    S: Secrets,
    D: SlackDirectory,
    W: SlackApi,
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
mod tests {
    use super::*;
    use greenlight_core::approval::{ApprovalRecord, Decision, link};
    use greenlight_core::fakes::{
        FakeApprovals, FakeChat, FakeSecrets, FakeSlackApi, FakeSlackDirectory, FakeTaskTokens,
    };

    fn now() -> i64 {
        i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default())
            .unwrap_or_default()
    }

    fn handler() -> Handler<FakeApprovals, FakeTaskTokens, FakeChat, FakeSecrets, FakeSlackDirectory, FakeSlackApi> {
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
        let url = link("https://cb.example", b"key", "a1", Decision::Approve, now() + 600);
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
        let url = link("https://cb.example", b"key", "a1", Decision::Approve, now() + 600);
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
        let url = link("https://cb.example", b"key", "a1", Decision::Approve, now() + 600);
        let expired = h.handle(request("POST", &url)).await.expect("page");
        assert_eq!(expired.status(), 410);
        let unknown = link("https://cb.example", b"key", "nope", Decision::Approve, now() + 600);
        let page = h.handle(request("POST", &unknown)).await.expect("page");
        assert_eq!(page.status(), 404);
        let stale_link = link("https://cb.example", b"key", "a1", Decision::Approve, now() - 5);
        assert_eq!(h.handle(request("GET", &stale_link)).await.expect("page").status(), 410);
        assert!(h.tokens.succeeded.lock().expect("lock").is_empty(), "nothing decided");
    }

    #[tokio::test]
    async fn keys_are_read_when_first_needed_and_a_failed_read_decides_nothing() {
        let mut h = handler();
        // The link key's secret does not exist yet: the request fails and nothing is decided.
        h.keys = Keys::new(FakeSecrets::default(), None, Some("links".into()));
        let url = link("https://cb.example", b"key", "a1", Decision::Approve, now() + 600);
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
        let url = link("https://cb.example", b"key", "a1", Decision::Reject, now() + 600);
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
        let url = link("https://cb.example", b"key", "a1", Decision::Approve, now() + 600);
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
}
