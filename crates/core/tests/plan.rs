//! The deploy plan on the fixtures: the shape `greenlight plan --output json` prints.

use greenlight_core::event::PushEvent;
use greenlight_core::manifest::Manifest;
use greenlight_core::plan::{Action, DeployPlan, HookFunctions, NEXT_REVISION};
use greenlight_core::taskdef::TaskDefinition;
use serde_json::{Value, json};

fn plan(edit_td: impl Fn(&mut Value)) -> Result<DeployPlan, greenlight_core::Error> {
    let manifest = Manifest::parse(include_str!("fixtures/manifest-api-server.json")).expect("valid");
    let PushEvent::Deployable(push) =
        PushEvent::parse(include_str!("fixtures/push-api-server-v1.42.0.json")).expect("event")
    else {
        panic!("deployable")
    };
    let hooks = HookFunctions { validate: "greenlight-validate".into() };
    DeployPlan::build(&manifest, &push, None, &hooks, |_| {
        let mut v: Value =
            serde_json::from_str(include_str!("fixtures/aws/describe-task-definition.json")).expect("json");
        edit_td(&mut v);
        Ok((TaskDefinition::from_json(v)?, None))
    })
}

#[test]
fn plan_registers_revision_42_and_names_the_hook() {
    let p = plan(|_| {}).expect("plan");
    assert_eq!(p.targets.len(), 2);
    let api = &p.targets[0];
    assert_eq!(api.action, Action::Deploy);
    assert_eq!(api.task_definition_family.as_deref(), Some("api-server-production"));
    assert_eq!(api.container_port, Some(3000));
    let spec = api.appspec.as_ref().expect("appspec");
    let props = &spec["Resources"][0]["TargetService"]["Properties"];
    // ECS numbers the revision when prepare registers it: the plan does not guess "live + 1".
    assert_eq!(
        props["TaskDefinition"],
        format!("arn:aws:ecs:us-east-1:123456789012:task-definition/api-server-production:{NEXT_REVISION}")
    );
    assert_eq!(props["LoadBalancerInfo"], json!({"ContainerName": "api-server", "ContainerPort": 3000}));
    assert_eq!(spec["Hooks"], json!([{"AfterAllowTestTraffic": "greenlight-validate"}]));
    let diff: Vec<String> = api.diff.iter().map(ToString::to_string).collect();
    assert_eq!(
        diff,
        [
            format!(
                "~ containerDefinitions[api-server].image: \"123456789012.dkr.ecr.us-east-1.amazonaws.com/api-server:v1.41.0\" -> \"{}\"",
                p.image_uri
            ),
            "+ tags[greenlight:base]: {\"key\":\"greenlight:base\",\"value\":\"arn:aws:ecs:us-east-1:123456789012:task-definition/api-server-production:41\"}".to_string(),
        ],
        "the image, and which revision the new one is based on"
    );
    assert!(api.dropped_read_only_fields.contains(&"registeredBy"));
    // The worker has validation off: no checks, but the validate function still holds the
    // gate before production traffic (the service lock's last word).
    assert_eq!(
        p.targets[1].appspec.as_ref().expect("appspec")["Hooks"],
        serde_json::json!([{"AfterAllowTestTraffic": "greenlight-validate"}])
    );
    assert_eq!(p.skipped.len(), 1);
    let text = p.render_text();
    assert!(
        text.contains("register arn:aws:ecs:us-east-1:123456789012:task-definition/api-server-production:41 -> "),
        "{text}"
    );
    assert!(
        text.contains("then   CodeDeploy starts green -> checks on the test listener (AfterAllowTestTraffic) -> approval via slack and sns (wait 3600 s, then roll back) -> production traffic to green"),
        "{text}"
    );
    assert!(p.targets[1].steps().contains(&"no smoke tests (validation off)".to_string()));
    assert!(p.targets[1].approval.is_none());
    assert!(text.contains("billing: deploys repository `billing`, not `api-server`"), "{text}");
}

#[test]
fn already_live_plans_nothing() {
    let p = plan(|v| {
        v["taskDefinition"]["containerDefinitions"][0]["image"] = json!(
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/api-server@sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234"
        )
    })
    .expect("plan");
    assert!(p.targets.iter().all(|t| t.action == Action::AlreadyLive && t.register_task_definition.is_none()));
    assert!(p.render_text().contains("already live"));
}

#[test]
fn load_balancer_port_must_be_mapped() {
    let err =
        plan(|v| v["taskDefinition"]["containerDefinitions"][0]["portMappings"] = json!([])).expect_err("no port");
    assert_eq!(err.error_type(), "ContainerPortUnknown");
    assert!(err.to_string().contains("container `api-server` has no port mappings"), "{err}");
    assert!(err.to_string().contains("Set `load_balancer.port`"), "{err}");
}
