//! ECR Image Action events and tag matching, on the documented sample.

use greenlight_core::event::{PushEvent, match_push};
use greenlight_core::manifest::Manifest;
use serde_json::{Value, json};

const SAMPLE: &str = include_str!("fixtures/aws/ecr-image-push-event.json");

fn sample() -> Value {
    serde_json::from_str(SAMPLE).expect("fixture is JSON")
}

fn classify(edit: impl FnOnce(&mut Value)) -> Result<PushEvent, greenlight_core::Error> {
    let mut e = sample();
    edit(&mut e);
    PushEvent::parse(&e.to_string())
}

fn check_ignored(edit: impl FnOnce(&mut Value), reason: &str) {
    match classify(edit) {
        Ok(PushEvent::Ignored { reason: got }) => assert!(got.contains(reason), "{got:?} lacks {reason:?}"),
        other => panic!("expected Ignored, got {other:?}"),
    }
}

fn check_invalid(edit: impl FnOnce(&mut Value), field: &str, problem: &str) {
    match classify(edit) {
        Err(e @ greenlight_core::Error::InvalidEvent { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&format!("`{field}`")), "{text} does not name {field}");
            assert!(text.contains(problem), "{text} lacks {problem:?}");
            assert_eq!(e.error_type(), "InvalidEvent");
        }
        other => panic!("expected InvalidEvent, got {other:?}"),
    }
}

#[test]
fn documented_sample_is_a_deployable_push() {
    let PushEvent::Deployable(push) = PushEvent::parse(SAMPLE).expect("parses") else { panic!("deployable") };
    assert_eq!(push.repository, "my-repository-name");
    assert_eq!(push.tag, "latest");
    assert_eq!(push.event_id.as_deref(), Some("13cde686-328b-6117-af20-0e5566167482"));
    assert_eq!(
        push.image_uri(),
        "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-repository-name@sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234"
    );
}

#[test]
fn only_successful_pushes_deploy() {
    check_ignored(|e| e["detail"]["action-type"] = json!("DELETE"), "action-type is `DELETE`, not PUSH");
    check_ignored(|e| e["detail"]["result"] = json!("FAILURE"), "push result is `FAILURE`, not SUCCESS");
}

#[test]
fn digest_only_push_is_ignored_with_a_reason() {
    check_ignored(
        |e| {
            e["detail"].as_object_mut().expect("object").remove("image-tag");
        },
        "has no tag; greenlight deploys tagged pushes only",
    );
    check_ignored(|e| e["detail"]["image-tag"] = json!(""), "Tag the image to deploy it");
}

#[test]
fn malformed_events_name_the_field() {
    check_invalid(|e| e["source"] = json!("aws.ec2"), "source", "handles `aws.ecr` / `ECR Image Action` events only");
    check_invalid(
        |e| {
            e["detail"].as_object_mut().expect("object").remove("image-digest");
        },
        "detail.image-digest",
        "is missing",
    );
    check_invalid(|e| e["detail"]["image-digest"] = json!("v1.2.3"), "detail.image-digest", "is not an image digest");
    check_invalid(|e| e["account"] = json!("1234"), "account", "12-digit AWS account id");
    check_invalid(|e| e["detail"]["repository-name"] = json!(42), "detail.repository-name", "invalid type: integer");
    check_invalid(|e| e["time"] = json!("yesterday"), "time", "input contains invalid characters");
    match PushEvent::parse("\"hello\"") {
        Err(e) => assert!(e.to_string().contains("`(top level)`"), "{e}"),
        Ok(p) => panic!("accepted {p:?}"),
    }
}

#[test]
fn matching_yields_zero_one_or_many_targets() {
    let manifest = Manifest::parse(include_str!("fixtures/manifest-api-server.json")).expect("valid");
    let push = |repo: &str, tag: &str| {
        let mut e = sample();
        e["detail"]["repository-name"] = json!(repo);
        e["detail"]["image-tag"] = json!(tag);
        match PushEvent::parse(&e.to_string()).expect("parses") {
            PushEvent::Deployable(p) => p,
            other => panic!("{other:?}"),
        }
    };
    let names = |repo: &str, tag: &str| -> Vec<String> {
        match_push(&manifest, &push(repo, tag)).targets.iter().map(|s| s.name.clone()).collect()
    };
    assert_eq!(names("api-server", "v1.42.0"), ["api-server", "api-worker"]);
    assert_eq!(names("api-server", "latest"), ["api-worker"]);
    assert_eq!(names("api-server", "v1.42.0-rc1"), ["api-worker"]);
    assert_eq!(names("billing", "main-1"), ["billing"]);
    assert!(names("billing", "latest").is_empty());
    assert!(names("unknown", "v1").is_empty());

    let m = match_push(&manifest, &push("api-server", "v1.42.0-rc1"));
    let api = m.skipped.iter().find(|s| s.service == "api-server").expect("skipped");
    assert_eq!(api.reason, "tag `v1.42.0-rc1` matches exclude pattern `*-rc*`");
    let billing = m.skipped.iter().find(|s| s.service == "billing").expect("skipped");
    assert_eq!(billing.reason, "deploys repository `billing`, not `api-server`");
}
