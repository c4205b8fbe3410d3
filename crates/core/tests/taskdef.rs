//! The task-definition transform on a real DescribeTaskDefinition response.

use greenlight_core::Error;
use greenlight_core::taskdef::{READ_ONLY_FIELDS, Revision, TaskDefinition};
use serde_json::{Value, json};

const URI: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/api-server@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/aws/describe-task-definition.json")).expect("fixture is JSON")
}

fn td(v: Value) -> TaskDefinition {
    TaskDefinition::from_json(v).expect("valid task definition")
}

fn register(v: Value, containers: &[&str]) -> serde_json::Map<String, Value> {
    let names: Vec<String> = containers.iter().map(|s| s.to_string()).collect();
    match td(v).next_revision(&names, URI).expect("transform") {
        Revision::Register(req) => req.0,
        Revision::AlreadyLive => panic!("expected a new revision"),
    }
}

#[test]
fn only_the_target_image_changes() {
    let original = fixture();
    let req = register(original.clone(), &["api-server"]);
    let before = &original["taskDefinition"];

    for field in READ_ONLY_FIELDS {
        assert!(!req.contains_key(*field), "read-only `{field}` was kept");
    }
    // Every other field is carried over byte for byte, in order.
    let carried: Vec<&String> = req.keys().filter(|k| *k != "tags").collect();
    let expected: Vec<&String> =
        before.as_object().expect("object").keys().filter(|k| !READ_ONLY_FIELDS.contains(&k.as_str())).collect();
    assert_eq!(carried, expected);
    for key in expected {
        if key != "containerDefinitions" {
            assert_eq!(req[key], before[key], "{key}");
        }
    }
    let app = &req["containerDefinitions"][0];
    assert_eq!(app["image"], URI);
    let mut app_without_image = app.clone();
    app_without_image["image"] = before["containerDefinitions"][0]["image"].clone();
    assert_eq!(app_without_image, before["containerDefinitions"][0], "only the image changed");
    assert_eq!(app["secrets"].as_array().map(Vec::len), Some(2));
    assert_eq!(req["containerDefinitions"][1], before["containerDefinitions"][1], "sidecar untouched");
    let mut tags = original["tags"].as_array().cloned().unwrap_or_default();
    tags.push(json!({"key": "greenlight:base", "value": before["taskDefinitionArn"]}));
    assert_eq!(req["tags"], Value::Array(tags), "its tags, and which revision it is based on");
    assert_eq!(req["enableFaultInjection"], json!(false));
    assert_eq!(req["ephemeralStorage"], json!({"sizeInGiB": 30}));
}

#[test]
fn unmodelled_fields_are_carried_over() {
    let mut v = fixture();
    v["taskDefinition"]["someFieldAwsAddsNextYear"] = json!({"enabled": true});
    v["taskDefinition"]["containerDefinitions"][0]["restartPolicy"] = json!({"enabled": true});
    v["taskDefinition"]["pidMode"] = json!("task");
    v["taskDefinition"]["ipcMode"] = json!("none");
    v["taskDefinition"]["proxyConfiguration"] = json!({"type": "APPMESH", "containerName": "envoy"});
    v["taskDefinition"]["deregisteredAt"] = json!("2026-11-21T00:00:00Z");
    let req = register(v, &["api-server"]);
    assert_eq!(req["someFieldAwsAddsNextYear"], json!({"enabled": true}));
    assert_eq!(req["containerDefinitions"][0]["restartPolicy"], json!({"enabled": true}));
    assert_eq!(req["pidMode"], "task");
    assert_eq!(req["ipcMode"], "none");
    assert_eq!(req["proxyConfiguration"]["type"], "APPMESH");
    assert!(!req.contains_key("deregisteredAt"));
}

#[test]
fn several_containers_can_take_the_image() {
    let req = register(fixture(), &["api-server", "otel-collector"]);
    assert_eq!(req["containerDefinitions"][0]["image"], URI);
    assert_eq!(req["containerDefinitions"][1]["image"], URI);
}

#[test]
fn same_digest_is_already_live() {
    let mut v = fixture();
    v["taskDefinition"]["containerDefinitions"][0]["image"] = json!(URI);
    assert_eq!(td(v.clone()).next_revision(&["api-server".into()], URI).expect("ok"), Revision::AlreadyLive);
    // Tag plus the same digest is the same image.
    let tagged = URI.replace("api-server@", "api-server:v1.42.0@");
    v["taskDefinition"]["containerDefinitions"][0]["image"] = json!(tagged);
    assert_eq!(td(v).next_revision(&["api-server".into()], URI).expect("ok"), Revision::AlreadyLive);
}

#[test]
fn unknown_container_lists_the_ones_that_exist() {
    let err = td(fixture()).next_revision(&["api".into()], URI).expect_err("unknown container");
    assert_eq!(err.error_type(), "ContainerNotFound");
    assert_eq!(
        err.to_string(),
        "container `api` is not in task definition `api-server-production`; it has: api-server, otel-collector. Fix the service's `containers` in the manifest"
    );
}

fn check_invalid(v: Value, path: &str, problem: &str) {
    match TaskDefinition::from_json(v) {
        Err(e @ Error::InvalidTaskDefinition { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&format!("`{path}`")), "{text} does not name {path}");
            assert!(text.contains(problem), "{text} lacks {problem:?}");
        }
        other => panic!("expected InvalidTaskDefinition, got {other:?}"),
    }
}

#[test]
fn malformed_task_definitions_name_the_field() {
    check_invalid(json!({"tags": []}), "taskDefinition", "describe-task-definition --include TAGS");
    check_invalid(json!([1]), "(top level)", "not a JSON object");
    let mut v = fixture();
    v["taskDefinition"]["containerDefinitions"][1].as_object_mut().expect("object").remove("image");
    check_invalid(v, "taskDefinition.containerDefinitions[1].image", "is missing");
    let mut v = fixture();
    v["taskDefinition"]["containerDefinitions"] = json!([]);
    check_invalid(v, "taskDefinition.containerDefinitions", "is empty");
    let mut v = fixture();
    v["tags"] = json!([{"key": "team"}]);
    check_invalid(v, "tags[0]", "pair");
}

#[test]
fn bare_task_definition_is_accepted() {
    let bare = fixture()["taskDefinition"].clone();
    let arn = bare["taskDefinitionArn"].clone();
    let req = register(bare, &["api-server"]);
    assert_eq!(req["tags"], json!([{"key": "greenlight:base", "value": arn}]), "only which revision it is based on");
    assert_eq!(req["family"], "api-server-production");
}
