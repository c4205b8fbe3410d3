//! The DynamoDB ledger through the SDK's request path: every conditional write's exact
//! `ConditionExpression`, update expression and values as they go on the wire, what a failed
//! condition means to each port, and corrupt items read as `CorruptRecord`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_smithy_http_client::test_util::infallible_client_fn;
use aws_smithy_types::body::SdkBody;
use greenlight_aws::DynamoLedger;
use greenlight_core::Error;
use greenlight_core::approval::{Decided, DecidedVia, Refused};
use greenlight_core::lock::{Acquire, LockHolder, NewestPush, Renew, Renewal};
use greenlight_core::ports::{Approvals, History, Locks, Settle};
use serde_json::{Value, json};

/// What the ledger sent: (operation, JSON body), in order.
type Sent = Arc<Mutex<Vec<(String, Value)>>>;

const CONDITION_FAILED: (u16, &str) = (400, "ConditionalCheckFailedException");

/// A ledger whose requests are recorded and answered, in turn, by `answers` (then `{}`): a
/// status with a JSON body, or an error code.
fn ledger(answers: Vec<(u16, Value)>) -> (DynamoLedger, Sent) {
    let sent: Sent = Arc::default();
    let seen = sent.clone();
    let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
    let http = infallible_client_fn(move |req| {
        let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let operation = target.rsplit('.').next().unwrap_or_default().to_string();
        let body = serde_json::from_slice(req.body().bytes().unwrap_or_default()).unwrap_or(Value::Null);
        seen.lock().expect("lock").push((operation, body));
        let (status, body) = answers.lock().expect("lock").pop_front().unwrap_or((200, json!({})));
        http::Response::builder().status(status).body(SdkBody::from(body.to_string())).expect("response")
    });
    let conf = aws_sdk_dynamodb::Config::builder()
        .with_test_defaults_v2()
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .http_client(http)
        .build();
    (DynamoLedger::new(aws_sdk_dynamodb::Client::from_conf(conf), "ledger"), sent)
}

fn error((status, code): (u16, &str)) -> (u16, Value) {
    (status, json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{code}"), "message": "from the test"}))
}

fn only(sent: &Sent) -> (String, Value) {
    let sent = sent.lock().expect("lock");
    assert_eq!(sent.len(), 1, "one request: {sent:?}");
    sent[0].clone()
}

fn claim() -> LockHolder {
    LockHolder {
        execution: "web-bbbb".into(),
        request: Some("event-2".into()),
        order: "000000000002000.000000000002000.bbbb".into(),
        tag: "v2".into(),
        digest: "sha256:bbbb".into(),
        lease_until: 1_800_000_900,
        deployment_id: None,
        approval_id: None,
        shifting: false,
    }
}

fn lock_item(execution: &str) -> Value {
    json!({
        "pk": {"S": "service#web"}, "sk": {"S": "lock"}, "execution": {"S": execution},
        "push_order": {"S": "000000000001000.000000000001000.aaaa"}, "tag": {"S": "v1"},
        "digest": {"S": "sha256:aaaa"}, "lease_until": {"N": "1800000600"}, "shifting": {"BOOL": false},
        "deployment_id": {"S": "d-OLD"}
    })
}

#[tokio::test]
async fn the_newest_push_is_a_conditional_put_on_its_order() {
    let push = NewestPush { order: "000000000002000.x.bbbb".into(), tag: "v2".into(), digest: "sha256:bbbb".into() };
    let (l, sent) = ledger(vec![]);
    assert!(l.record_push("web", &push).await.expect("recorded"));
    let (op, body) = only(&sent);
    assert_eq!(op, "PutItem");
    assert_eq!(body["ConditionExpression"], "attribute_not_exists(pk) OR push_order <= :order");
    assert_eq!(body["ExpressionAttributeValues"], json!({":order": {"S": push.order}}));
    assert_eq!(body["Item"]["pk"], json!({"S": "service#web"}));
    assert_eq!(body["Item"]["sk"], json!({"S": "newest"}));

    let (l, _) = ledger(vec![error(CONDITION_FAILED)]);
    assert!(!l.record_push("web", &push).await.expect("a newer push is recorded"), "a failed condition is `false`");
}

#[tokio::test]
async fn acquiring_the_lock_pins_its_condition_with_and_without_supersede() {
    let (l, sent) = ledger(vec![(200, json!({}))]);
    let got = l.acquire("web", &claim(), 1_800_000_000, false).await.expect("acquired");
    assert_eq!(got, Acquire::Acquired { previous: None });
    let (op, body) = only(&sent);
    assert_eq!(op, "PutItem");
    // An ended lease frees the lock only while its traffic is not moving.
    assert_eq!(
        body["ConditionExpression"],
        "attribute_not_exists(pk) OR (execution = :me AND attribute_not_exists(deployment_id)) OR (lease_until < :now AND (attribute_not_exists(shifting) OR shifting = :false))"
    );
    assert_eq!(
        body["ExpressionAttributeValues"],
        json!({":me": {"S": "web-bbbb"}, ":now": {"N": "1800000000"}, ":false": {"BOOL": false}})
    );
    assert_eq!(body["ReturnValues"], "ALL_OLD");
    assert_eq!(body["Item"]["shifting"], json!({"BOOL": false}));
    assert_eq!(body["Item"]["lease_until"], json!({"N": "1800000900"}));

    // supersede: an older push holds it and its traffic is not moving; the old holder comes back.
    let (l, sent) = ledger(vec![(200, json!({"Attributes": lock_item("web-aaaa")}))]);
    let got = l.acquire("web", &claim(), 1_800_000_000, true).await.expect("taken over");
    let Acquire::Acquired { previous: Some(previous) } = got else { panic!("{got:?}") };
    assert_eq!(previous.execution, "web-aaaa");
    assert_eq!(previous.deployment_id.as_deref(), Some("d-OLD"));
    let (_, body) = only(&sent);
    assert_eq!(
        body["ConditionExpression"],
        "attribute_not_exists(pk) OR (execution = :me AND attribute_not_exists(deployment_id)) OR (lease_until < :now AND (attribute_not_exists(shifting) OR shifting = :false)) OR (push_order < :order AND (attribute_not_exists(shifting) OR shifting = :false))"
    );
    assert_eq!(
        body["ExpressionAttributeValues"],
        json!({
            ":me": {"S": "web-bbbb"}, ":now": {"N": "1800000000"}, ":false": {"BOOL": false},
            ":order": {"S": "000000000002000.000000000002000.bbbb"}
        })
    );
}

#[tokio::test]
async fn an_expired_holder_whose_traffic_moved_is_taken_only_while_it_still_holds() {
    let (l, sent) = ledger(vec![(200, json!({"Attributes": lock_item("web-aaaa")}))]);
    let got = l.take_expired("web", &claim(), "web-aaaa", 1_800_000_000).await.expect("taken");
    let Acquire::Acquired { previous: Some(previous) } = got else { panic!("{got:?}") };
    assert_eq!(previous.execution, "web-aaaa");
    let (op, body) = only(&sent);
    assert_eq!(op, "PutItem");
    assert_eq!(body["ConditionExpression"], "execution = :expired AND lease_until < :now");
    assert_eq!(body["ExpressionAttributeValues"], json!({":expired": {"S": "web-aaaa"}, ":now": {"N": "1800000000"}}));
    assert_eq!(body["Item"]["execution"], json!({"S": "web-bbbb"}));
    // Renewed or taken meanwhile: whoever holds it now is read back.
    let (l, _) = ledger(vec![error(CONDITION_FAILED), (200, json!({"Item": lock_item("web-cccc")}))]);
    let got = l.take_expired("web", &claim(), "web-aaaa", 1_800_000_000).await.expect("read");
    assert!(matches!(got, Acquire::Held(ref h) if h.execution == "web-cccc"), "{got:?}");
}

#[tokio::test]
async fn a_held_lock_is_read_back_and_a_vanished_one_is_queued() {
    let (l, sent) = ledger(vec![error(CONDITION_FAILED), (200, json!({"Item": lock_item("web-cccc")}))]);
    let got = l.acquire("web", &claim(), 1_800_000_000, false).await.expect("read");
    let Acquire::Held(holder) = got else { panic!("{got:?}") };
    assert_eq!(holder.execution, "web-cccc");
    let sent = sent.lock().expect("lock").clone();
    assert_eq!(sent[1].0, "GetItem");
    assert_eq!(sent[1].1["ConsistentRead"], true);
    assert_eq!(sent[1].1["Key"], json!({"pk": {"S": "service#web"}, "sk": {"S": "lock"}}));

    let (l, _) = ledger(vec![error(CONDITION_FAILED), (200, json!({}))]);
    let err = l.acquire("web", &claim(), 1_800_000_000, false).await.expect_err("released in between");
    assert_eq!(err.error_type(), "Queued");
}

#[tokio::test]
async fn renewing_sets_only_what_the_renewal_says_while_the_holder_holds() {
    let (l, sent) = ledger(vec![]);
    let renew = Renew { deployment_id: Some("d-1"), approval_id: Some("a-1"), shifting: true };
    assert_eq!(l.renew("web", "web-bbbb", 1_800_000_900, &renew).await.expect("renewed"), Renewal::Held);
    let (op, body) = only(&sent);
    assert_eq!(op, "UpdateItem");
    assert_eq!(body["ConditionExpression"], "execution = :me");
    assert_eq!(
        body["UpdateExpression"],
        "SET lease_until = :until, deployment_id = :deployment, approval_id = :approval, shifting = :true"
    );
    assert_eq!(
        body["ExpressionAttributeValues"],
        json!({
            ":me": {"S": "web-bbbb"}, ":until": {"N": "1800000900"}, ":deployment": {"S": "d-1"},
            ":approval": {"S": "a-1"}, ":true": {"BOOL": true}
        })
    );

    let (l, sent) = ledger(vec![]);
    l.renew("web", "web-bbbb", 5, &Renew::default()).await.expect("renewed");
    let (_, body) = only(&sent);
    assert_eq!(body["UpdateExpression"], "SET lease_until = :until");
    assert_eq!(body["ExpressionAttributeValues"], json!({":me": {"S": "web-bbbb"}, ":until": {"N": "5"}}));

    let (l, _) = ledger(vec![error(CONDITION_FAILED), (200, json!({"Item": lock_item("web-cccc")}))]);
    let lost = l.renew("web", "web-bbbb", 5, &Renew::default()).await.expect("read");
    assert!(matches!(lost, Renewal::Lost(Some(ref h)) if h.execution == "web-cccc"), "{lost:?}");
}

#[tokio::test]
async fn only_the_holder_releases_the_lock() {
    let (l, sent) = ledger(vec![]);
    assert!(l.release("web", "web-bbbb").await.expect("released"));
    let (op, body) = only(&sent);
    assert_eq!(op, "DeleteItem");
    assert_eq!(body["ConditionExpression"], "execution = :me");
    assert_eq!(body["ExpressionAttributeValues"], json!({":me": {"S": "web-bbbb"}}));
    let (l, _) = ledger(vec![error(CONDITION_FAILED)]);
    assert!(!l.release("web", "web-bbbb").await.expect("not ours"));
}

#[tokio::test]
async fn an_approval_is_decided_once_and_before_it_expires() {
    let decided = Decided {
        approved: true,
        by: "@ana".into(),
        at: "2026-12-01T09:30:00Z".into(),
        channel: DecidedVia::Slack,
        comment: None,
        approver: Some("slack:U0ANA0001".into()),
    };
    let first = Settle { counted: 0, approval: Some(&decided), decided: Some(&decided) };
    let (l, sent) = ledger(vec![]);
    assert!(l.settle("a1", first, 1_800_000_000).await.expect("decided"));
    let (op, body) = only(&sent);
    assert_eq!(op, "UpdateItem");
    assert_eq!(body["Key"], json!({"pk": {"S": "approval#a1"}, "sk": {"S": "approval"}}));
    assert_eq!(
        body["UpdateExpression"],
        "SET approvals = list_append(if_not_exists(approvals, :empty), :one), approval_count = :next, decided = :decided"
    );
    assert_eq!(
        body["ConditionExpression"],
        "attribute_exists(pk) AND attribute_not_exists(decided) AND expires_at >= :now AND (attribute_not_exists(approval_count) OR approval_count = :counted)"
    );
    let values = &body["ExpressionAttributeValues"];
    assert_eq!(values[":now"], json!({"N": "1800000000"}));
    assert_eq!((&values[":counted"], &values[":next"]), (&json!({"N": "0"}), &json!({"N": "1"})));
    let stored: Value = serde_json::from_str(values[":decided"]["S"].as_str().expect("S")).expect("JSON");
    assert_eq!(
        stored,
        json!({"approved": true, "by": "@ana", "at": "2026-12-01T09:30:00Z", "channel": "slack", "approver": "slack:U0ANA0001"})
    );

    // A second approval is computed from the first: its count is the condition.
    let (l, sent) = ledger(vec![]);
    let second = Settle { counted: 1, approval: Some(&decided), decided: None };
    assert!(l.settle("a1", second, 1_800_000_000).await.expect("counted"));
    let (_, body) = only(&sent);
    assert!(body["ConditionExpression"].as_str().expect("condition").ends_with("AND approval_count = :counted"));
    assert!(!body["UpdateExpression"].as_str().expect("update").contains("decided"), "one of two decides nothing");

    let (l, _) = ledger(vec![error(CONDITION_FAILED)]);
    assert!(!l.settle("a1", first, 1_800_000_000).await.expect("refused"), "decided already, expired, or counted");

    let (l, _) = ledger(vec![error((400, "ProvisionedThroughputExceededException"))]);
    let err = l.settle("a1", first, 1_800_000_000).await.expect_err("throttled");
    assert_eq!(err.error_type(), "Throttled", "{err}");
}

#[tokio::test]
async fn a_refusal_is_kept_beside_its_approval_only() {
    let refused = Refused {
        by: "@mallory".into(),
        identity: Some("slack:U0MALLORY".into()),
        at: "2026-12-01T09:30:00Z".into(),
        channel: DecidedVia::Slack,
        reason: "not listed".into(),
    };
    let (l, sent) = ledger(vec![]);
    l.refuse("a1", &refused).await.expect("kept");
    let (_, body) = only(&sent);
    assert_eq!(body["UpdateExpression"], "SET refusals = list_append(if_not_exists(refusals, :empty), :one)");
    assert_eq!(body["ConditionExpression"], "attribute_exists(pk)");
    let (l, _) = ledger(vec![error(CONDITION_FAILED)]);
    l.refuse("nope", &refused).await.expect("an unknown approval keeps nothing, and says nothing");
}

#[tokio::test]
async fn where_the_slack_message_is_is_kept_beside_its_approval_only() {
    let post = greenlight_core::approval::SlackPost { channel: "C0DEPLOYS1".into(), ts: "1700000000.000100".into() };
    let (l, sent) = ledger(vec![]);
    l.note_slack_post("a1", &post).await.expect("kept");
    let (op, body) = only(&sent);
    assert_eq!(op, "UpdateItem");
    assert_eq!(body["UpdateExpression"], "SET slack_post = :post");
    assert_eq!(body["ConditionExpression"], "attribute_exists(pk)");
    assert_eq!(
        body["ExpressionAttributeValues"][":post"],
        json!({"S": "{\"channel\":\"C0DEPLOYS1\",\"ts\":\"1700000000.000100\"}"})
    );
    let (l, _) = ledger(vec![error(CONDITION_FAILED)]);
    l.note_slack_post("nope", &post).await.expect("an unknown approval keeps nothing, and says nothing");
}

#[tokio::test]
async fn a_new_approval_never_overwrites_one() {
    let record = greenlight_core::approval::ApprovalRecord {
        digest: "sha256:bbbb".into(),
        expires_at: 1_800_003_600,
        ..greenlight_core::fakes::pending_approval("a1")
    };
    let (l, sent) = ledger(vec![]);
    l.put_approval(&record).await.expect("stored");
    let (op, body) = only(&sent);
    assert_eq!(op, "PutItem");
    assert_eq!(body["ConditionExpression"], "attribute_not_exists(pk)");
    assert_eq!(body["Item"]["expires_at"], json!({"N": "1800003600"}));
}

#[tokio::test]
async fn a_corrupt_approval_is_an_error_not_a_missing_one() {
    let item = json!({"pk": {"S": "approval#a1"}, "sk": {"S": "approval"}, "record": {"S": "{not json"}});
    let (l, _) = ledger(vec![(200, json!({"Item": item}))]);
    let err = l.approval("a1").await.expect_err("corrupt");
    assert!(matches!(err, Error::CorruptRecord { .. }), "{err:?}");
    assert_eq!(err.error_type(), "CorruptRecord");
    assert!(err.to_string().contains("approval record"), "{err}");

    let (l, _) = ledger(vec![(200, json!({}))]);
    assert_eq!(l.approval("a1").await.expect("absent"), None, "no item is `None`");
}

#[tokio::test]
async fn a_deployment_record_with_an_unknown_timeline_state_is_corrupt() {
    let item = json!({
        "pk": {"S": "service#web"}, "sk": {"S": "deploy#1"}, "push_order": {"S": "1"},
        "timeline": {"L": [{"M": {"state": {"S": "celebrated"}, "at": {"S": "2026-12-01T09:30:00+00:00"}}}]}
    });
    let (l, sent) = ledger(vec![(200, json!({"Items": [item], "Count": 1}))]);
    let err = l.deployments("web", 5).await.expect_err("corrupt");
    assert!(err.to_string().contains("timeline state `celebrated` is unknown"), "{err}");
    let (op, body) = only(&sent);
    assert_eq!(op, "Query");
    assert_eq!(body["ScanIndexForward"], false, "newest push first");
    assert_eq!(body["Limit"], 5);
}

#[tokio::test]
async fn a_request_s_record_keeps_the_request_it_began_with_and_a_resume_reopens_it() {
    use greenlight_core::history::{HistoryUpdate, TimelineState};
    let push = greenlight_core::event::Push {
        digest: "sha256:bbbb".into(),
        tag: "v2".into(),
        event_id: Some("event-2".into()),
        trigger: greenlight_core::request::Trigger::Rollback,
        ..greenlight_core::event::Push::default()
    };
    let (l, sent) = ledger(vec![]);
    let mut update = HistoryUpdate::state(TimelineState::Resumed);
    update.reopen = true;
    l.record("web", &push, &update).await.expect("recorded");
    let (op, body) = only(&sent);
    assert_eq!(op, "UpdateItem");
    let expression = body["UpdateExpression"].as_str().unwrap_or_default();
    assert!(expression.contains("request_json = if_not_exists(request_json, :request)"), "{expression}");
    assert!(expression.ends_with(" REMOVE outcome"), "{expression}");
    let key = body["Key"]["sk"]["S"].as_str().unwrap_or_default();
    let name = greenlight_core::execution::execution_name("web", &push);
    assert!(key.starts_with("deploy#") && key.ends_with(&format!("#{name}")), "{key}");
    let request: Value =
        serde_json::from_str(body["ExpressionAttributeValues"][":request"]["S"].as_str().unwrap_or("")).expect("JSON");
    assert_eq!((request["trigger"].as_str(), request["event_id"].as_str()), (Some("rollback"), Some("event-2")));

    let (l, sent) = ledger(vec![]);
    l.record("web", &push, &HistoryUpdate::state(TimelineState::Locked)).await.expect("recorded");
    let (_, body) = only(&sent);
    assert!(!body["UpdateExpression"].as_str().unwrap_or_default().contains("REMOVE"), "{body}");
}

#[tokio::test]
async fn a_pause_is_written_only_where_none_is_and_a_second_learns_the_first() {
    use greenlight_core::pause::Pause;
    use greenlight_core::ports::Pauses;
    let pause = Pause {
        by: "arn:aws:iam::1:user/ana".into(),
        reason: "incident".into(),
        at: "2026-12-01T10:00:00+00:00".into(),
    };
    let (l, sent) = ledger(vec![]);
    assert_eq!(l.pause("web", &pause).await.expect("paused"), None);
    let (op, body) = only(&sent);
    assert_eq!(op, "PutItem");
    assert_eq!(body["ConditionExpression"], "attribute_not_exists(pk)");
    assert_eq!(body["Item"]["sk"], json!({"S": "pause"}));
    assert_eq!(body["Item"]["by"], json!({"S": "arn:aws:iam::1:user/ana"}));

    let first = json!({"Item": {"pk": {"S": "service#web"}, "sk": {"S": "pause"}, "by": {"S": "arn:aws:iam::1:user/bo"},
        "reason": {"S": "freeze"}, "at": {"S": "2026-12-01T09:00:00+00:00"}}});
    let (l, _) = ledger(vec![error(CONDITION_FAILED), (200, first)]);
    let existing = l.pause("web", &pause).await.expect("read").expect("already paused");
    assert_eq!((existing.by.as_str(), existing.reason.as_str()), ("arn:aws:iam::1:user/bo", "freeze"));
}
