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
    /// `GREENLIGHT_LINK_KEY_SECRET` and `GREENLIGHT_SLACK_BOT_TOKEN_SECRET` (read on the first
    /// request that needs them; a channel without its secret refuses, and a Slack user group
    /// cannot admit anyone without the bot token). `GREENLIGHT_SLACK_API_URL` overrides Slack's
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
        let slack = SlackWebApi::new(secrets(), bot_token, http.clone(), api);
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
mod tests {
    use super::*;
    use greenlight_core::approval::{ApprovalRecord, Decision};
    use greenlight_core::fakes::{
        FakeApprovals, FakeChat, FakeSecrets, FakeSlackApi, FakeSlackDirectory, FakeTaskTokens,
    };
    use greenlight_core::links::{LinkTarget, link};

    fn now() -> i64 {
        i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Rollbacks that record who asked, always to v1.
    #[derive(Debug, Default)]
    struct FakeRollBacks {
        asked: std::sync::Mutex<Vec<greenlight_core::request::Requested>>,
    }

    impl RollBacks for FakeRollBacks {
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
        use greenlight_core::approval::{Decided, DecidedVia};
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
        h.approvals.records.lock().expect("lock")[0].decided = Some(Decided {
            approved: true,
            by: "@alice".into(),
            at: "2026-12-02T00:00:00Z".into(),
            channel: DecidedVia::Slack,
            comment: None,
            approver: Some("slack:U0ALICE01".into()),
        });
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
    }
}
