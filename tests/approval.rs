//! Human approval end to end: request-approval posts to a fake Slack and to the SNS topic,
//! approval-callback (a function URL) takes the decision, and the state machine continues or
//! rolls back.

use std::time::{Duration, Instant};

use greenlight_core::approval::ApprovalRecord;
use greenlight_core::history::Outcome;
use greenlight_core::ports::ExecutionStart;
use greenlight_tests::approve::{click, now, slack_user_id};
use greenlight_tests::emulator::Port;
use greenlight_tests::pipeline::{Hook, Pipeline, SLACK_CHANNEL, SLACK_SIGNING_SECRET, Setup};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(150);

async fn start(timeout: u32) -> (Pipeline, String) {
    let p = Pipeline::start(Setup { hook: Hook::version_check(), approval_timeout: Some(timeout), ..Setup::default() })
        .await;
    let outcome = p.push("v2").await;
    let ExecutionStart::Started { execution_arn } = outcome.executions[0].start.clone() else { panic!("{outcome:?}") };
    (p, execution_arn)
}

/// Waits for the approval request in Slack (by the incoming webhook, or by `chat.postMessage`
/// for a service with `slack_channel`); returns its payload.
async fn slack_request(p: &Pipeline) -> Value {
    let deadline = Instant::now() + LIMIT;
    loop {
        let messages = p.slack_messages().await;
        if let Some(m) =
            messages.into_iter().find(|m| m["hook"] == "incoming-webhook" || m["hook"] == "chat.postMessage")
        {
            return m["payload"].clone();
        }
        assert!(Instant::now() < deadline, "no approval request reached Slack");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The approve or reject link of v2's approval email, once it was sent (request-approval asks
/// in Slack first, then by email).
async fn email_link(p: &Pipeline, decision: &str) -> String {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(link) = greenlight_tests::approve::email_link(p, "v2", decision).await {
            return link;
        }
        assert!(Instant::now() < deadline, "no {decision} link in the approval email");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn running(p: &Pipeline, execution: &str) -> bool {
    p.ended(execution).await.is_none()
}

#[tokio::test]
async fn slack_answering_503_twice_gets_the_request_on_the_third_attempt_and_the_deploy_goes_on() {
    let p =
        Pipeline::start(Setup { hook: Hook::version_check(), approval_timeout: Some(600), ..Setup::default() }).await;
    p.emulator.slack_outage_for(503, 2).await;
    let outcome = p.push("v2").await;
    let ExecutionStart::Started { execution_arn } = outcome.executions[0].start.clone() else { panic!("{outcome:?}") };
    let message = slack_request(&p).await;
    assert_eq!(p.emulator.control_get("state").await["slack"]["refused"], 2, "two refused, the third taken");
    let buttons =
        message["blocks"].as_array().and_then(|b| b.iter().find(|b| b["type"] == "actions")).expect("actions");
    let value = buttons["elements"][0]["value"].as_str().expect("approve").to_string();
    let (status, body) = click(&p, &value, "alice", SLACK_SIGNING_SECRET, now()).await;
    assert_eq!((status, body.as_str()), (200, "approved by @alice"));
    let end = p.finish(&execution_arn, LIMIT, || async {}).await;
    assert_token_in_no_log(&p, value.trim_start_matches("approve:")).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v2")));
    let record = p.assert_ledger("web", "v2", Outcome::Deployed, "").await;
    let asked = record.timeline.iter().find(|e| e.state == greenlight_core::history::TimelineState::ApprovalRequested);
    assert!(asked.is_some_and(|e| !e.detail.as_deref().unwrap_or_default().contains("not sent")), "{record:?}");
}

/// The approval as the ledger keeps it.
async fn approval_record(p: &Pipeline, approval_id: &str) -> ApprovalRecord {
    use greenlight_core::ports::Approvals;
    let table = p.seeded["table"].as_str().unwrap_or_default();
    let ledger = greenlight_aws::DynamoLedger::new(aws_sdk_dynamodb::Client::new(&p.config), table);
    ledger.approval(approval_id).await.expect("the ledger").expect("the approval")
}

/// The Approve button's value of the approval request in Slack.
async fn approve_button(p: &Pipeline) -> String {
    let message = slack_request(p).await;
    greenlight_tests::approve::button(&message, "approve").expect("an Approve button")
}

/// What the fake Slack got on the interactions' response_url (message updates and replies only
/// the clicker sees), oldest first.
async fn responses(p: &Pipeline) -> Vec<Value> {
    p.slack_messages().await.into_iter().filter(|m| m["hook"] == "response").map(|m| m["payload"].clone()).collect()
}

async fn start_with(rules: Value, groups: Value) -> (Pipeline, String) {
    let setup = Setup {
        hook: Hook::version_check(),
        approval_timeout: Some(600),
        approval_rules: rules,
        slack_groups: groups,
        ..Setup::default()
    };
    let p = Pipeline::start(setup).await;
    let outcome = p.push("v2").await;
    let ExecutionStart::Started { execution_arn } = outcome.executions[0].start.clone() else { panic!("{outcome:?}") };
    (p, execution_arn)
}

#[tokio::test]
async fn an_unlisted_slack_user_is_refused_and_a_listed_group_member_decides() {
    let rules = serde_json::json!({"approvers": [slack_user_id("alice"), "S0DEPLOYS"]});
    let (p, execution) = start_with(rules, serde_json::json!({"S0DEPLOYS": [slack_user_id("carol")]})).await;
    let value = approve_button(&p).await;
    let id = value.trim_start_matches("approve:").to_string();

    let (status, body) = click(&p, &value, "mallory", SLACK_SIGNING_SECRET, now()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("refused: Slack user UMALLORY0 is not among the approvers of web"), "{body}");
    // Only mallory sees why: an ephemeral reply, the message itself untouched.
    let replies = responses(&p).await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0]["response_type"], "ephemeral");
    assert_eq!(replies[0]["replace_original"], false);
    assert!(replies[0]["text"].as_str().unwrap_or_default().contains("not among the approvers"), "{replies:?}");
    // Kept beside the approval; nothing decided, production unmoved.
    let record = approval_record(&p, &id).await;
    assert_eq!(record.decided, None);
    assert_eq!(record.refusals.len(), 1, "{record:?}");
    assert_eq!(
        (record.refusals[0].by.as_str(), record.refusals[0].identity.as_deref()),
        ("@mallory", Some("slack:UMALLORY0"))
    );
    assert!(running(&p, &execution).await, "still waiting for a decision");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v1")));

    // carol is in the listed user group (read from Slack with the bot token): she decides.
    let (status, body) = click(&p, &value, "carol", SLACK_SIGNING_SECRET, now()).await;
    assert_eq!((status, body.as_str()), (200, "approved by @carol"));
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v2")));
    let decided = approval_record(&p, &id).await.decided.expect("decided");
    assert_eq!(decided.approver.as_deref(), Some("slack:UCAROL000"));
    p.assert_ledger("web", "v2", Outcome::Deployed, "").await;
}

#[tokio::test]
async fn two_required_approvals_take_two_distinct_approvers() {
    let rules = serde_json::json!({
        "approvers": [slack_user_id("alice"), slack_user_id("bob")], "required_approvals": 2
    });
    let (p, execution) = start_with(rules, serde_json::json!({})).await;
    let value = approve_button(&p).await;
    let id = value.trim_start_matches("approve:").to_string();

    let (status, body) = click(&p, &value, "alice", SLACK_SIGNING_SECRET, now()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("your approval is counted (1 of 2)"), "{body}");
    // One approval is not enough: counted, not decided (the callback answers after its write and
    // after any SendTaskSuccess, so this is what it did).
    let record = approval_record(&p, &id).await;
    assert_eq!((record.approvals.len(), record.decided.is_none()), (1, true), "{record:?}");
    assert!(running(&p, &execution).await);
    // The same approver again does not count twice.
    let (_, again) = click(&p, &value, "alice", SLACK_SIGNING_SECRET, now()).await;
    assert!(again.starts_with("you approved at "), "{again}");
    assert_eq!(approval_record(&p, &id).await.approvals.len(), 1);
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v1")));

    let (status, body) = click(&p, &value, "bob", SLACK_SIGNING_SECRET, now()).await;
    assert_eq!((status, body.as_str()), (200, "approved by @bob"));
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v2")));
    let record = approval_record(&p, &id).await;
    assert_eq!(record.approvals.len(), 2);
    assert_eq!(record.decided.map(|d| d.by), Some("@alice, @bob".to_string()));
    let ledger = p.assert_ledger("web", "v2", Outcome::Deployed, "").await;
    assert!(ledger.approver.as_deref().is_some_and(|a| a.starts_with("@alice, @bob via slack at ")), "{ledger:?}");
}

#[tokio::test]
async fn a_deployment_stopped_in_codedeploy_while_the_approval_waits_cancels_it_and_frees_the_lock() {
    use greenlight_core::approval::DecidedVia;
    // Posted with the bot token, so that greenlight can edit the message.
    let (p, execution) = start_with(json!({"slack_channel": SLACK_CHANNEL}), json!({})).await;
    let value = approve_button(&p).await;
    let id = value.trim_start_matches("approve:").to_string();
    let record = approval_record(&p, &id).await;
    let post = record.slack_post.clone().expect("the request's message is kept");
    assert_eq!(post.channel, SLACK_CHANNEL, "{post:?}");
    // Stopped in the console, with rollback, while greenlight waits for a decision.
    p.stop_deployment(&record.deployment_id).await;
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "FAILED", "{end:?}");
    assert_eq!(end.error.as_deref(), Some("DeploymentEndedDuringApproval"), "{end:?}");
    // The approval is cancelled, so no late click decides a deployment that is gone.
    let decided = approval_record(&p, &id).await.decided.expect("cancelled");
    assert_eq!((decided.approved, decided.channel), (false, DecidedVia::Cancelled), "{decided:?}");
    assert!(
        decided.comment.as_deref().unwrap_or_default().contains("ended Stopped while its approval waited"),
        "{decided:?}"
    );
    // The lock is released: a newer push would not wait.
    assert_eq!(p.lock_holder("web").await, None, "the lock is released");
    // The ledger and the notification say why; production never moved.
    p.assert_ledger("web", "v2", Outcome::RolledBack, "while its approval waited").await;
    let notes = p.emulator.notifications().await;
    let note = notes.iter().find(|n| n["subject"] == "greenlight: web v2 rolled back").expect("a notification");
    assert!(note["message"].as_str().unwrap_or_default().contains("while its approval waited"), "{note}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v1")));
    // The request's message now says so, without buttons.
    let messages = p.slack_messages().await;
    let message = messages.iter().find(|m| m["ts"] == post.ts.as_str()).expect("the request's message");
    let updates = message["updates"].as_array().cloned().unwrap_or_default();
    assert_eq!(updates.len(), 1, "{message}");
    let text = updates[0].to_string();
    assert!(text.contains("the approval is *cancelled*") && text.contains("ended Stopped"), "{text}");
    assert!(!text.contains("greenlight_approve"), "no buttons left: {text}");
    // A click on the old message changes nothing and replaces it with what happened.
    let (status, body) = click(&p, &value, "alice", SLACK_SIGNING_SECRET, now()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("already rejected by greenlight at "), "{body}");
    let replaced = responses(&p).await.pop().expect("the message updated");
    assert_eq!(replaced["replace_original"], true, "{replaced}");
}

/// Every log line of the run (each function process's log and the emulation's own) is free of
/// the approval's task token: it lives in the ledger and in Step Functions, nowhere else.
async fn assert_token_in_no_log(p: &Pipeline, approval_id: &str) {
    let record = approval_record(p, approval_id).await;
    assert!(record.task_token.len() > 20, "a real task token: {}", record.task_token);
    let mut scanned = 0;
    for entry in std::fs::read_dir(&p.emulator.dir).expect("the emulation's logs") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|x| x == "log") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            scanned += text.lines().count();
            assert!(!text.contains(&record.task_token), "{} holds the task token", path.display());
        }
    }
    assert!(scanned > 100, "the functions logged the run ({scanned} lines)");
}

#[tokio::test]
async fn approve_in_slack_moves_production_once() {
    let (p, execution) = start(600).await;
    let message = slack_request(&p).await;
    let text = message.to_string();
    // The evidence: tag, digest, the task definition diff, the validation report, two buttons.
    assert!(text.contains("Deploy web v2 to production?"), "{text}");
    assert!(text.contains(&p.digest("v2")), "digest missing: {text}");
    assert!(text.contains("containerDefinitions[web].image"), "diff missing: {text}");
    assert!(text.contains("validation passed"), "validation report missing: {text}");
    let buttons =
        message["blocks"].as_array().and_then(|b| b.iter().find(|b| b["type"] == "actions")).expect("actions");
    let value = buttons["elements"][0]["value"].as_str().expect("approve").to_string();
    assert!(value.starts_with("approve:"));
    assert!(buttons["elements"][1]["value"].as_str().is_some_and(|v| v.starts_with("reject:")));
    // Green waits on the test listener; production has not moved.
    assert_eq!(p.serving(Port::Test).await, Some(p.digest("v2")));
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v1")));

    // A forged signature and a replayed (stale) request change nothing.
    assert_eq!(click(&p, &value, "mallory", "not-the-secret", now()).await.0, 401);
    let (status, body) = click(&p, &value, "mallory", SLACK_SIGNING_SECRET, now() - 600).await;
    assert_eq!(status, 401, "{body}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(running(&p, &execution).await, "still waiting for a decision");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v1")));

    let (status, body) = click(&p, &value, "alice", SLACK_SIGNING_SECRET, now()).await;
    assert_eq!((status, body.as_str()), (200, "approved by @alice"));
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v2")));
    let updated = p.slack_messages().await.into_iter().find(|m| m["hook"] == "response").expect("message updated");
    assert!(updated["payload"].to_string().contains("approved* by @alice"), "{updated}");
    // The request went through the incoming webhook (no thread to answer in): so does the
    // outcome, with the Roll back button of this approval.
    let live =
        webhook_posts(&p).await.into_iter().find(|m| m["text"] == "web v2 is live").expect("the success in Slack");
    let approval_id = value.trim_start_matches("approve:");
    assert!(live.to_string().contains(&format!("\"rollback:{approval_id}\"")), "{live}");

    // A second click, by link this time, says who already decided.
    let link = email_link(&p, "approve").await;
    let resp = greenlight_http::client().expect("an HTTP client").post(&link).send().await.expect("POST link");
    assert_eq!(resp.status().as_u16(), 409);
    let page = resp.text().await.unwrap_or_default();
    assert!(page.contains("already approved by <strong>@alice</strong>"), "{page}");
    let record = p.assert_ledger("web", "v2", Outcome::Deployed, "").await;
    assert!(record.approver.as_deref().is_some_and(|a| a.starts_with("@alice via slack at ")), "{record:?}");
}

#[tokio::test]
async fn reject_by_signed_link_rolls_back() {
    let (p, execution) = start(600).await;
    slack_request(&p).await;
    let link = email_link(&p, "reject").await;
    let client = greenlight_http::client().expect("an HTTP client");
    // A GET (a link scanner, an unfurler) only shows the confirmation page.
    let page = client.get(&link).send().await.expect("GET link");
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap_or_default().contains("<form method=\"post\">"));
    // A tampered link is refused.
    let tampered = link.replace("sig=", "sig=00");
    assert_eq!(client.post(&tampered).send().await.expect("POST").status().as_u16(), 403);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(running(&p, &execution).await, "nothing decided yet");

    let decided = client.post(&link).send().await.expect("POST link");
    assert_eq!(decided.status().as_u16(), 200);
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "FAILED", "{end:?}");
    assert_eq!(end.error.as_deref(), Some("Rejected"));
    assert!(end.cause.as_deref().unwrap_or_default().starts_with("rejected by signed link via link at "), "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v1")));
    assert_eq!(p.serving(Port::Test).await, Some(p.digest("v1")), "green removed");
    let record = p.assert_ledger("web", "v2", Outcome::RolledBack, "rejected by signed link").await;
    assert!(record.approver.as_deref().is_some_and(|a| a.starts_with("signed link via link at ")), "{record:?}");
    let notes = p.emulator.notifications().await;
    assert!(notes.iter().any(|n| n["subject"] == "greenlight: web v2 rolled back"), "{notes:?}");
    let said =
        webhook_posts(&p).await.into_iter().filter_map(|m| m["text"].as_str().map(str::to_string)).collect::<Vec<_>>();
    assert!(said.iter().any(|t| t.starts_with("web v2 did not go live: rejected by signed link")), "{said:?}");
}

/// What went through the incoming webhook, oldest first.
async fn webhook_posts(p: &Pipeline) -> Vec<Value> {
    let messages = p.slack_messages().await.into_iter();
    messages.filter(|m| m["hook"] == "incoming-webhook").map(|m| m["payload"].clone()).collect()
}

#[tokio::test]
async fn no_decision_in_time_rolls_back() {
    // The manifest's shortest approval timeout is a minute.
    let (p, execution) = start(60).await;
    slack_request(&p).await;
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "FAILED", "{end:?}");
    assert_eq!(end.error.as_deref(), Some("ApprovalTimedOut"), "{end:?}");
    assert!(end.cause.as_deref().unwrap_or_default().contains("Nobody decided before the approval timeout"), "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v1")));
    let notes = p.emulator.notifications().await;
    assert!(notes.iter().any(|n| n["subject"] == "greenlight: web v2 rolled back"), "{notes:?}");
    p.assert_ledger("web", "v2", Outcome::RolledBack, "Nobody decided before the approval timeout").await;
}

#[tokio::test]
async fn the_link_page_in_a_browser_shows_the_evidence_decides_with_a_comment_and_then_who_decided() {
    // The request is posted to a Slack channel with the bot token too: the link's decision edits it.
    let (p, execution) = start_with(json!({"slack_channel": SLACK_CHANNEL}), json!({})).await;
    slack_request(&p).await;
    let link = email_link(&p, "approve").await;
    let approval_id = link.split("/links/").nth(1).and_then(|r| r.split('/').next()).expect("id").to_string();
    let dir = greenlight_tests::browser::artifacts("approval-page");
    // Markup in a comment is text, not HTML.
    let comment = "diff read <b>twice</b> & the report is green";
    let (url, shots) = (link.clone(), dir.clone());
    let run = tokio::task::spawn_blocking(move || greenlight_tests::browser::approval_page(&url, &shots, comment))
        .await
        .expect("the browser run");
    assert_eq!(run.form.comment, 1, "{run:?}");
    assert_eq!(run.form.buttons, ["Approve: shift production traffic"], "{run:?}");
    let [page, answer, again] = &run.visits[..] else { panic!("three visits: {run:?}") };

    assert_eq!((page.status, page.title.as_str()), (Some(200), "Approve web v2 for production?"), "{page:?}");
    let digest = p.digest("v2");
    for needle in [
        "Tag\tv2",
        digest.as_str(),
        "Asked by\tan image pushed to ECR",
        "Who may decide\tanyone with a link",
        "Approved so far\tnobody yet (0 of 1 needed)",
        "Decide before",
        "Task definition changes",
        "Validation on the test listener",
        "passed",
    ] {
        assert!(page.text.contains(needle), "{needle:?} not on the page:\n{}", page.text);
    }
    assert_eq!(answer.status, Some(200), "{answer:?}");
    assert_eq!(answer.title, "Approved", "{answer:?}");
    assert!(answer.text.contains("web v2 goes to production now"), "{answer:?}");
    assert_eq!((again.status, again.title.as_str()), (Some(200), "Already decided"), "{again:?}");
    assert!(again.text.contains("approved by signed link at ") && again.text.contains(comment), "{again:?}");
    for visit in &run.visits {
        let png = std::fs::read(&visit.screenshot).expect("the screenshot");
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{} is no page", visit.screenshot.display());
    }

    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(digest));
    let decided = approval_record(&p, &approval_id).await.decided.expect("decided");
    assert_eq!(decided.comment.as_deref(), Some(comment), "{decided:?}");
    let record = p.assert_ledger("web", "v2", Outcome::Deployed, "").await;
    assert!(record.approver.as_deref().is_some_and(|a| a.starts_with("signed link via link at ")), "{record:?}");
    // The Slack message says who decided and what they said, without its buttons.
    let messages = p.slack_messages().await;
    let message = messages.iter().find(|m| m["hook"] == "chat.postMessage").expect("the request in Slack");
    let edited = message["payload"].to_string();
    assert!(edited.contains("*approved* by signed link") && edited.contains("twice"), "{edited}");
    assert!(!edited.contains("greenlight_approve"), "{edited}");
}

/// The messages greenlight posted in the thread of the Slack message `ts`, oldest first.
async fn thread(p: &Pipeline, ts: &str) -> Vec<Value> {
    p.slack_messages().await.into_iter().filter(|m| m["thread_ts"] == ts).map(|m| m["payload"].clone()).collect()
}

#[tokio::test]
async fn the_success_message_s_roll_back_button_takes_a_listed_approver_and_a_confirmation() {
    let rules = json!({"slack_channel": SLACK_CHANNEL, "approvers": [slack_user_id("alice")]});
    let (p, execution) = start_with(rules, json!({})).await;
    let value = approve_button(&p).await;
    let id = value.trim_start_matches("approve:").to_string();
    assert_eq!(click(&p, &value, "alice", SLACK_SIGNING_SECRET, now()).await.1, "approved by @alice");
    assert_eq!(p.finish(&execution, LIMIT, || async {}).await.status, "SUCCEEDED");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v2")));
    // finish said it in the approval's thread, with a "Roll back" button.
    let post = approval_record(&p, &id).await.slack_post.expect("posted with the bot token");
    let replies = thread(&p, &post.ts).await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0].to_string().contains("is *live* in production"), "{replies:?}");
    let roll_back = greenlight_tests::approve::button(&replies[0], "rollback").expect("a Roll back button");
    let before = p.executions().await.len();

    // Someone not listed: refused, told only them, kept beside the approval; nothing starts.
    let (status, body) = click(&p, &roll_back, "mallory", SLACK_SIGNING_SECRET, now()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("refused: Slack user UMALLORY0 is not among the approvers of web"), "{body}");
    assert_eq!(responses(&p).await.pop().expect("a reply")["response_type"], "ephemeral");
    let refusals = approval_record(&p, &id).await.refusals;
    assert!(refusals.iter().any(|r| r.reason.starts_with("roll back: ")), "{refusals:?}");
    // alice's first click only asks to confirm, and says what production goes back to.
    let (_, body) = click(&p, &roll_back, "alice", SLACK_SIGNING_SECRET, now()).await;
    assert!(body.starts_with("confirm to roll web back to "), "{body}");
    let confirmation = responses(&p).await.pop().expect("the confirmation");
    assert_eq!(confirmation["response_type"], "ephemeral", "{confirmation}");
    let confirm = greenlight_tests::approve::button(&confirmation, "rollback-confirmed").expect("a confirm button");
    assert_eq!(p.executions().await.len(), before, "asking changes nothing");
    // mallory cannot confirm either.
    let (_, body) = click(&p, &confirm, "mallory", SLACK_SIGNING_SECRET, now()).await;
    assert!(body.starts_with("refused: "), "{body}");
    assert_eq!(p.executions().await.len(), before, "nothing started");

    // alice confirms: a rollback as `greenlight rollback` starts it, production goes back to v1.
    let (status, body) = click(&p, &confirm, "alice", SLACK_SIGNING_SECRET, now()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("@alice rolls web back from v2 to v1: execution "), "{body}");
    let rollback = body.split("execution ").nth(1).and_then(|s| s.split_whitespace().next()).expect("its ARN");
    let end = p.finish(rollback, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v1")));
    let record = p.assert_ledger("web", "v1", Outcome::Deployed, "").await;
    assert_eq!(record.trigger(), greenlight_core::request::Trigger::Rollback, "{record:?}");
    assert_eq!(record.requested().map(|r| r.by.as_str()), Some("@alice (Slack user UALICE000)"), "{record:?}");
    // The thread says who rolled back; the topic too.
    let said = thread(&p, &post.ts).await;
    assert!(
        said.iter().any(|m| m["text"].as_str().is_some_and(|t| t.starts_with("@alice rolls web back"))),
        "{said:?}"
    );
    let notes = p.emulator.notifications().await;
    assert!(notes.iter().any(|n| n["subject"] == "greenlight: web rolls back to v1"), "{notes:?}");
    // Once rolled back, the button is refused: v2 is no longer what production runs.
    let (_, body) = click(&p, &confirm, "alice", SLACK_SIGNING_SECRET, now()).await;
    assert!(body.contains("is no longer what production runs"), "{body}");
}

#[tokio::test]
async fn the_approved_message_s_stop_button_stops_the_deployment_in_flight_for_a_listed_approver() {
    // Blue is kept a while after production traffic moves (120 emulated minutes, 72 s): the
    // deployment is still in flight when Stop is clicked.
    let setup = Setup {
        hook: Hook::version_check(),
        approval_timeout: Some(600),
        approval_rules: json!({"approvers": [slack_user_id("alice")]}),
        termination_wait_minutes: 120,
        ..Setup::default()
    };
    let p = Pipeline::start(setup).await;
    let outcome = p.push("v2").await;
    let ExecutionStart::Started { execution_arn } = outcome.executions[0].start.clone() else { panic!("{outcome:?}") };
    let value = approve_button(&p).await;
    assert_eq!(click(&p, &value, "alice", SLACK_SIGNING_SECRET, now()).await.1, "approved by @alice");
    // The request's message, as the approval left it, carries Stop.
    let decided =
        responses(&p).await.into_iter().find(|m| m.to_string().contains("approved* by @alice")).expect("decided");
    let stop = greenlight_tests::approve::button(&decided, "stop").expect("a Stop button");
    let deadline = Instant::now() + LIMIT;
    while p.serving(Port::Production).await != Some(p.digest("v2")) {
        assert!(Instant::now() < deadline, "production never moved to v2");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Someone not listed: refused and kept; nothing stops.
    let (_, body) = click(&p, &stop, "mallory", SLACK_SIGNING_SECRET, now()).await;
    assert!(body.starts_with("refused: Slack user UMALLORY0 is not among the approvers of web"), "{body}");
    let id = value.trim_start_matches("approve:");
    assert!(approval_record(&p, id).await.refusals.iter().any(|r| r.reason.starts_with("stop: ")));
    // alice's first click only asks.
    let (_, body) = click(&p, &stop, "alice", SLACK_SIGNING_SECRET, now()).await;
    assert!(body.starts_with("confirm to stop web v2's deployment d-"), "{body}");
    let confirmation = responses(&p).await.pop().expect("the confirmation");
    assert_eq!(confirmation["response_type"], "ephemeral", "{confirmation}");
    let confirm = greenlight_tests::approve::button(&confirmation, "stop-confirmed").expect("a confirm button");
    assert!(running(&p, &execution_arn).await, "asking stops nothing");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v2")));

    // alice confirms: CodeDeploy rolls the deployment back, production returns to v1.
    let (status, body) = click(&p, &confirm, "alice", SLACK_SIGNING_SECRET, now()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("@alice stopped web v2's deployment d-"), "{body}");
    let end = p.finish(&execution_arn, LIMIT, || async {}).await;
    assert_eq!(end.status, "FAILED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v1")));
    let record = p.assert_ledger("web", "v2", Outcome::RolledBack, "").await;
    let asked = record.timeline.iter().find(|e| e.state == greenlight_core::history::TimelineState::StopRequested);
    let detail = asked.and_then(|e| e.detail.clone()).unwrap_or_default();
    assert!(detail.starts_with("stopped by @alice (Slack user UALICE000): Stop clicked in Slack"), "{record:?}");
    // Slack hears who stopped it and how it ended; so does the topic.
    let said: Vec<String> =
        webhook_posts(&p).await.iter().filter_map(|m| m["text"].as_str().map(str::to_string)).collect();
    assert!(said.iter().any(|t| t.starts_with("@alice stopped web v2's deployment")), "{said:?}");
    assert!(said.iter().any(|t| t.starts_with("web v2 did not go live")), "{said:?}");
    let notes = p.emulator.notifications().await;
    assert!(notes.iter().any(|n| n["subject"] == "greenlight: web v2 is stopped"), "{notes:?}");
    // Once it ended, Stop is refused.
    let (_, body) = click(&p, &confirm, "alice", SLACK_SIGNING_SECRET, now()).await;
    assert!(body.contains("is no longer in flight: nothing was stopped"), "{body}");
}

#[tokio::test]
async fn a_per_approver_email_link_records_that_approver_s_address_and_the_topic_carries_no_link() {
    let rules = json!({
        "channels": ["slack", "sns", "email"],
        "approvers": ["alice@example.com", "bob@example.com", slack_user_id("carol")]
    });
    let (p, execution) = start_with(rules, json!({})).await;
    let value = approve_button(&p).await;
    let id = value.trim_start_matches("approve:").to_string();
    // One email per listed address, from the orchestrator's sender, each with its own links.
    let deadline = Instant::now() + LIMIT;
    let emails = loop {
        let emails = p.emulator.emails().await;
        if emails.len() >= 2 || Instant::now() > deadline {
            break emails;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let to: Vec<&str> = emails.iter().filter_map(|e| e["to"][0].as_str()).collect();
    assert_eq!(to, ["alice@example.com", "bob@example.com"], "{emails:?}");
    assert!(emails.iter().all(|e| e["from"] == greenlight_tests::pipeline::EMAIL_FROM), "{emails:?}");
    let link_of = |address: &str, decision: &str| -> String {
        let email = emails.iter().find(|e| e["to"][0] == address).expect("an email");
        let body = email["body"].as_str().unwrap_or_default();
        body.split_whitespace().find(|w| w.contains(&format!("/{decision}?"))).expect("a link").to_string()
    };
    let alice = link_of("alice@example.com", "approve");
    assert!(alice.contains("&to=alice%40example.com&sig="), "{alice}");
    // The topic hears of the request, without any link that decides.
    let notes = p.emulator.notifications().await;
    let asked = notes.iter().find(|n| n["subject"] == "greenlight: approve web v2 for production?").expect("noticed");
    let text = asked["message"].as_str().unwrap_or_default();
    assert!(!text.contains("/links/"), "{text}");
    assert!(text.contains("alice@example.com"), "{text}");
    // Alice's link cannot be turned into Bob's decision.
    let forged = alice.replace("to=alice%40example.com", "to=bob%40example.com");
    assert_eq!(greenlight_tests::approve::follow(&forged).await, 403);
    // Her page says whom it decides as; her POST decides, and the approval names her.
    let page = greenlight_http::client().expect("client").get(&alice).send().await.expect("GET").text().await;
    assert!(page.unwrap_or_default().contains("You decide as <strong>alice@example.com</strong>"));
    assert_eq!(greenlight_tests::approve::follow(&alice).await, 200);
    assert_eq!(p.finish(&execution, LIMIT, || async {}).await.status, "SUCCEEDED");
    let decided = approval_record(&p, &id).await.decided.expect("decided");
    assert_eq!(
        (decided.by.as_str(), decided.approver.as_deref()),
        ("alice@example.com", Some("email:alice@example.com"))
    );
    let record = p.assert_ledger("web", "v2", Outcome::Deployed, "").await;
    assert!(record.approver.as_deref().is_some_and(|a| a.starts_with("alice@example.com via link at ")), "{record:?}");
}

#[tokio::test]
async fn a_console_stop_without_rollback_is_reported_as_what_production_serves() {
    let (p, execution) = start_with(json!({"slack_channel": SLACK_CHANNEL}), json!({})).await;
    let value = approve_button(&p).await;
    let record = approval_record(&p, value.trim_start_matches("approve:")).await;
    // "Stop deployment" in the console: no rollback, traffic stays where it is.
    p.stop_deployment_with(&record.deployment_id, false).await;
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.error.as_deref(), Some("DeploymentEndedDuringApproval"), "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v1")));
    assert_eq!(p.serving(Port::Test).await, Some(p.digest("v2")), "the stop left green on the test listener");
    // What the team hears is read from the production listener, not assumed.
    let v1 = p.digest("v1");
    let notes = p.emulator.notifications().await;
    let note = notes.iter().find(|n| n["subject"] == "greenlight: web v2 rolled back").expect("a notification");
    let message = note["message"].as_str().unwrap_or_default();
    assert!(message.contains("was not deployed; production serves ") && message.contains(&v1), "{message}");
    assert!(!message.contains("CodeDeploy rolled it back"), "{message}");
    let ledger = p.assert_ledger("web", "v2", Outcome::RolledBack, "Production serves ").await;
    assert!(ledger.reason.as_deref().unwrap_or_default().contains(&v1), "{ledger:?}");
    assert_eq!(p.lock_holder("web").await, None, "the lock is released");
    // The request's Slack message says so, and so does its thread.
    let messages = p.slack_messages().await;
    let post = record.slack_post.expect("posted with the bot token");
    let request = messages.iter().find(|m| m["ts"] == post.ts.as_str()).expect("the request's message");
    let edited = request["updates"][0].to_string();
    assert!(edited.contains("*cancelled*") && edited.contains(&v1), "{edited}");
    let said = thread(&p, &post.ts).await;
    assert!(said.iter().any(|m| m.to_string().contains("did not go live") && m.to_string().contains(&v1)), "{said:?}");
}
