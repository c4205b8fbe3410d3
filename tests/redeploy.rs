//! Day-2 requests through the real `greenlight` binary against the emulation: rollback, retry,
//! pause and resume, and which deliveries start an execution of their own (a duplicated event
//! does not; a re-push, a retag, a manual deploy each do). Each is checked against what the
//! listeners serve, the deployments CodeDeploy ran and the ledger.

use std::time::Duration;

use greenlight_core::history::{Outcome, TimelineState};
use greenlight_core::ports::ExecutionStart;
use greenlight_core::request::Trigger;
use greenlight_tests::cli::{greenlight, json, started, stderr, stdout};
use greenlight_tests::emulator::Port;
use greenlight_tests::pipeline::{Pipeline, Setup};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(300);

/// The caller's identity as STS gives it to the CLI (the emulation's one user).
async fn caller(p: &Pipeline) -> String {
    let sts = aws_sdk_sts::Client::new(&p.config);
    sts.get_caller_identity().send().await.expect("GetCallerIdentity").arn().unwrap_or_default().to_string()
}

/// Runs an acting command with JSON output; its execution ARN.
fn act(p: &Pipeline, args: &[&str]) -> (Value, String) {
    let mut args = args.to_vec();
    args.extend(["--output", "json"]);
    let out = json(p, &args);
    let arn = out["execution_arn"].as_str().unwrap_or_default().to_string();
    assert!(arn.starts_with("arn:aws:states:"), "{out:#}");
    (out, arn)
}

#[tokio::test]
async fn a_bad_release_found_after_success_rolls_back_to_the_revision_before_it() {
    let p = Pipeline::start(Setup::default()).await;
    let original = p.seeded["task_definition_arn"].as_str().unwrap_or_default().to_string();
    let v2 = started(&p.push("v2").await);
    assert_eq!(p.finish(&v2, LIMIT, || async {}).await.status, "SUCCEEDED");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v2")));
    let deployments = p.deployments().await.len();

    let (out, execution) = act(&p, &["rollback", "web", "--reason", "v2 leaks memory"]);
    assert_eq!(out["trigger"], "rollback");
    assert_eq!(out["digest"], p.digest("v1").as_str());
    assert_eq!(out["tag"], "v1", "ECR's tag of the image the revision runs");
    assert_eq!(out["task_definition"], original.as_str(), "the revision production ran before v2");
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v1")));
    assert_eq!(p.deployments().await.len(), deployments + 1, "a blue/green deployment of its own");

    let by = caller(&p).await;
    let record = p.history("web").await.into_iter().next().expect("the rollback's record");
    assert_eq!(record.trigger(), Trigger::Rollback);
    assert_eq!(record.outcome, Some(Outcome::Deployed), "{record:?}");
    assert_eq!(record.task_definition.as_deref(), Some(original.as_str()), "that exact task definition");
    let requested = record.requested().expect("who asked");
    assert_eq!((requested.by.as_str(), requested.reason.as_deref()), (by.as_str(), Some("v2 leaks memory")));
    let accepted = record.timeline.iter().find(|e| e.state == TimelineState::Accepted).expect("accepted");
    assert!(
        accepted.detail.as_deref().is_some_and(|d| d.contains(&format!("rollback requested by {by}: v2 leaks memory")))
    );
    assert!(record.validation.as_deref().is_some_and(|v| v.contains("passed")), "validated: {record:?}");
    assert!(p.running_image("web").await.ends_with(&p.digest("v1")));

    let history = json(&p, &["history", "web", "--output", "json"]);
    assert_eq!(history[0]["trigger"], "rollback");
    assert_eq!(history[0]["requested_by"], by.as_str());
    assert_eq!(history[0]["request_reason"], "v2 leaks memory");
    assert_eq!(history[1]["trigger"], "push");

    // Rolling back again does not go back to the bad release: v1 already runs.
    let (_, again) = act(&p, &["rollback", "web", "--reason", "twice"]);
    let end = p.finish(&again, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    let record = p.history("web").await.into_iter().next().expect("the second rollback's record");
    assert_eq!(record.outcome, Some(Outcome::AlreadyLive), "{record:?}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v1")));
}

#[tokio::test]
async fn a_deploy_that_failed_for_a_transient_reason_is_retried() {
    let p = Pipeline::start(Setup::default()).await;
    let v2 = p.digest("v2");
    p.emulator.set_behaviour(&v2, json!({"mode": "error"})).await;
    let failed = started(&p.push("v2").await);
    let end = p.finish(&failed, LIMIT, || async {}).await;
    assert_eq!(end.status, "FAILED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v1")));

    p.emulator.set_behaviour(&v2, json!({"mode": "healthy"})).await;
    let (out, retry) = act(&p, &["retry", "web", "--reason", "the database is back"]);
    assert_eq!((out["trigger"].as_str(), out["tag"].as_str()), (Some("retry"), Some("v2")));
    assert_ne!(retry, failed, "an execution of its own");
    let end = p.finish(&retry, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(v2.clone()));
    let records = p.history("web").await;
    assert_eq!(records[0].trigger(), Trigger::Retry);
    assert_eq!((records[0].digest.as_str(), records[0].outcome), (v2.as_str(), Some(Outcome::Deployed)));
    assert_eq!(records[1].outcome, Some(Outcome::RolledBack), "the failed push keeps its own record");

    // Nothing newer failed: a second retry is refused and changes nothing.
    let o = greenlight(&p, &["retry", "web"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("there is nothing newer to retry"), "{}", stderr(&o));
    assert_eq!(p.history("web").await.len(), records.len());
}

#[tokio::test]
async fn pushes_while_paused_are_held_and_resume_deploys_only_the_newest() {
    let p = Pipeline::start(Setup::default()).await;
    let by = caller(&p).await;
    let paused = json(&p, &["pause", "web", "--reason", "incident 4711", "--output", "json"]);
    assert_eq!(paused["paused"]["by"], by.as_str());
    assert_eq!(paused["paused"]["reason"], "incident 4711");
    let again = greenlight(&p, &["pause", "web", "--reason", "twice"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains(&format!("web is already paused by {by}")), "{}", stderr(&again));

    for tag in ["v2", "v3"] {
        let out = p.push(tag).await;
        assert!(out.executions.is_empty(), "{tag} starts nothing: {out:?}");
        assert!(out.held[0].reason.contains("incident 4711"), "{out:?}");
    }
    assert!(p.executions().await.is_empty());
    assert!(p.deployments().await.is_empty());
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v1")));
    let told = p.emulator.notifications().await;
    let subjects: Vec<&str> = told.iter().filter_map(|n| n["subject"].as_str()).collect();
    assert!(subjects.contains(&"greenlight: web is paused"), "{subjects:?}");
    assert!(subjects.contains(&"greenlight: web is paused; v3 is held"), "{subjects:?}");
    assert!(told.iter().any(|n| n["message"].as_str().is_some_and(|m| m.contains(&by) && m.contains("incident 4711"))));
    let status = json(&p, &["status", "web", "--output", "json"]);
    assert_eq!(status["paused"]["reason"], "incident 4711", "{status:#}");
    let refused = greenlight(&p, &["deploy", "web", "--tag", "v4"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("web is paused by"), "{}", stderr(&refused));

    let (out, execution) = act(&p, &["resume", "web", "--reason", "incident over"]);
    assert_eq!(out["tag"], "v3", "{out:#}");
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v3")));
    assert_eq!(p.deployments().await.len(), 1, "v2 never deployed");
    let records = p.history("web").await;
    let of = |tag: &str| records.iter().find(|r| r.tag == tag).expect("recorded");
    assert_eq!(of("v3").outcome, Some(Outcome::Deployed));
    assert!(of("v3").timeline.iter().any(|e| e.state == TimelineState::Resumed
        && e.detail.as_deref().is_some_and(|d| d.contains("incident over") && d.contains("incident 4711"))));
    assert_eq!(of("v2").outcome, Some(Outcome::Superseded), "{:?}", of("v2"));
    assert_eq!(json(&p, &["status", "web", "--output", "json"])["paused"], Value::Null);
    let not_paused = greenlight(&p, &["resume", "web", "--reason", "again"]);
    assert_eq!(not_paused.status.code(), Some(1));
    assert_eq!(stderr(&not_paused).trim(), "greenlight: web is not paused");
}

/// `web:<tag>` of `digest` as ECR's PutImage makes it: the same manifest under another tag.
async fn retag(p: &Pipeline, from: &str, to: &str) {
    let ecr = aws_sdk_ecr::Client::new(&p.config);
    let id = aws_sdk_ecr::types::ImageIdentifier::builder().image_tag(from).build();
    let got = ecr.batch_get_image().repository_name("web").image_ids(id).send().await.expect("BatchGetImage");
    let manifest = got.images()[0].image_manifest().unwrap_or_default().to_string();
    ecr.put_image().repository_name("web").image_manifest(manifest).image_tag(to).send().await.expect("PutImage");
}

/// ECR's event for `web:<tag>` of `digest`, with an event id of its own.
fn event(p: &Pipeline, tag: &str, digest: &str, id: &str) -> Value {
    let mut e = p.push_event("v1");
    e["id"] = id.into();
    e["detail"]["image-tag"] = tag.into();
    e["detail"]["image-digest"] = digest.into();
    e
}

#[tokio::test]
async fn one_execution_per_event_and_one_per_deliberate_push() {
    let p = Pipeline::start(Setup::default()).await;
    let v2 = p.digest("v2");
    // EventBridge delivers at least once: a duplicate is the same event, byte for byte.
    let once = event(&p, "v2", &v2, "event-1");
    let first = p.deliver(&once).await;
    let duplicate = p.deliver(&once).await;
    // Step Functions answers a StartExecution of a running execution's name and input with that
    // execution (idempotent), and of a closed one with ExecutionAlreadyExists: either way, the
    // same execution.
    match &duplicate.executions[0].start {
        ExecutionStart::AlreadyExists { name } => assert_eq!(name, &first.executions[0].name),
        ExecutionStart::Started { execution_arn } => assert_eq!(execution_arn, &started(&first)),
    }
    assert_eq!(p.executions().await.len(), 1, "a duplicated delivery starts nothing");
    let end = p.finish(&started(&first), LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    let v3 = started(&p.push("v3").await);
    assert_eq!(p.finish(&v3, LIMIT, || async {}).await.status, "SUCCEEDED");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v3")));

    // v2's image pushed again under a new tag, after v3 went live: the newest request, it deploys.
    retag(&p, "v2", "v2-hotfix").await;
    let again = started(&p.deliver(&event(&p, "v2-hotfix", &v2, "event-2")).await);
    let end = p.finish(&again, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(v2.clone()));

    // The live digest pushed once more: its own execution, which finds it already live.
    let live = started(&p.deliver(&event(&p, "v2-hotfix", &v2, "event-3")).await);
    let end = p.finish(&live, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    let records = p.history("web").await;
    assert_eq!(records[0].outcome, Some(Outcome::AlreadyLive), "{:?}", records[0]);
    assert!(records[0].reason.as_deref().is_some_and(|r| r.contains("already runs")), "{:?}", records[0]);
    assert_eq!(p.executions().await.len(), 4);

    // A manual deploy by tag: its own execution too, recorded as manual.
    let (out, manual) = act(&p, &["deploy", "web", "--tag", "v3", "--reason", "back to v3"]);
    assert_eq!(out["trigger"], "manual");
    let end = p.finish(&manual, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v3")));
    assert_eq!(p.history("web").await[0].trigger(), Trigger::Manual);
}

#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    let p = Pipeline::start(Setup::default()).await;
    let cases: &[(&[&str], i32, &str)] = &[
        (&["deploy", "web"], 2, "--tag"),
        (&["rollback", "web"], 2, "--reason"),
        (&["pause", "web"], 2, "--reason"),
        (&["deploy", "web", "--tag", "v2", "--digest", "sha256:00"], 2, "cannot be used with"),
        (&["deploy", "web", "--digest", "v2"], 2, "is not an image digest"),
        (&["deploy", "nope", "--tag", "v2"], 1, "has no service `nope`; it has: web"),
        (&["deploy", "web", "--tag", "main-1"], 1, "does not deploy tag `main-1`"),
        (&["deploy", "web", "--tag", "v99"], 1, "web:v99"),
        (&["rollback", "web", "--reason", "r"], 1, "records no release of web"),
        (&["rollback", "web", "--to", "sha256:abc", "--reason", "r"], 1, "no deployment of sha256:abc"),
        (&["rollback", "web", "--to", "web:99", "--reason", "r"], 1, "web:99"),
        (&["retry", "web"], 1, "no failed or superseded request"),
    ];
    for (args, code, says) in cases {
        let o = greenlight(&p, args);
        assert_eq!(o.status.code(), Some(*code), "{args:?}: {}{}", stdout(&o), stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    assert!(p.executions().await.is_empty(), "nothing started");
    assert!(p.history("web").await.is_empty(), "nothing recorded");
}

/// Registers a revision of `web` as Terraform would: the live revision's configuration with
/// `environment` changed, by someone other than greenlight (no `greenlight:base` tag). Its ARN.
async fn register_as_terraform(p: &Pipeline, name: &str, value: &str) -> String {
    let ecs = aws_sdk_ecs::Client::new(&p.config);
    let original = p.seeded["task_definition_arn"].as_str().unwrap_or_default();
    let td = ecs.describe_task_definition().task_definition(original).send().await.expect("Describe");
    let td = td.task_definition().expect("a task definition");
    let mut container = td.container_definitions()[0].clone();
    let mut environment: Vec<_> = container.environment().iter().filter(|e| e.name() != Some(name)).cloned().collect();
    environment.push(aws_sdk_ecs::types::KeyValuePair::builder().name(name).value(value).build());
    container.environment = Some(environment);
    let out = ecs
        .register_task_definition()
        .family(td.family().unwrap_or_default())
        .set_task_role_arn(td.task_role_arn().map(str::to_string))
        .set_execution_role_arn(td.execution_role_arn().map(str::to_string))
        .set_network_mode(td.network_mode().cloned())
        .set_requires_compatibilities(Some(td.requires_compatibilities().to_vec()))
        .set_cpu(td.cpu().map(str::to_string))
        .set_memory(td.memory().map(str::to_string))
        .set_runtime_platform(td.runtime_platform().cloned())
        .container_definitions(container)
        .send()
        .await
        .expect("RegisterTaskDefinition");
    out.task_definition().and_then(|t| t.task_definition_arn()).unwrap_or_default().to_string()
}

/// The value of `name` in the environment of the revision `web` runs now.
async fn running_env(p: &Pipeline, name: &str) -> Option<String> {
    let ecs = aws_sdk_ecs::Client::new(&p.config);
    let services = ecs.describe_services().cluster("web").services("web").send().await.expect("DescribeServices");
    let arn = services.services()[0].task_definition().unwrap_or_default().to_string();
    let td = ecs.describe_task_definition().task_definition(arn).send().await.expect("Describe");
    let container = &td.task_definition().expect("a task definition").container_definitions()[0];
    container.environment().iter().find(|e| e.name() == Some(name)).and_then(|e| e.value().map(str::to_string))
}

#[tokio::test]
async fn a_configuration_change_registered_outside_greenlight_reaches_production() {
    let p = Pipeline::start(Setup::default()).await;
    let v2 = started(&p.push("v2").await);
    assert_eq!(p.finish(&v2, LIMIT, || async {}).await.status, "SUCCEEDED");
    let status = json(&p, &["status", "web", "--output", "json"]);
    assert_eq!(status["drift"], json!([]), "greenlight's own revision is no drift: {status:#}");

    let terraform = register_as_terraform(&p, "FEATURE_CHECKOUT", "on").await;
    let status = json(&p, &["status", "web", "--output", "json"]);
    assert_eq!(status["base_task_definition"], terraform.as_str());
    assert_eq!(
        status["drift"],
        json!([{"op": "added", "path": "containerDefinitions[web].environment[FEATURE_CHECKOUT]",
                "value": {"name": "FEATURE_CHECKOUT", "value": "on"}}]),
        "{status:#}"
    );
    let text = stdout(&greenlight(&p, &["status", "web"]));
    assert!(text.contains(&format!("  drift        {terraform} sets, beside the live revision:\n")), "{text}");

    let (out, config) = act(&p, &["deploy", "web", "--config", "--reason", "turn checkout on"]);
    assert_eq!((out["trigger"].as_str(), out["digest"].as_str()), (Some("manual"), Some(p.digest("v2").as_str())));
    let end = p.finish(&config, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(running_env(&p, "FEATURE_CHECKOUT").await.as_deref(), Some("on"));
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v2")), "the same image, on the new configuration");
    assert_eq!(json(&p, &["status", "web", "--output", "json"])["drift"], json!([]));

    // Without drift, the live image again is already live; a change then reaches production
    // with the next push.
    let (_, again) = act(&p, &["deploy", "web", "--config"]);
    let end = p.finish(&again, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(p.history("web").await[0].outcome, Some(Outcome::AlreadyLive));
    register_as_terraform(&p, "FEATURE_CHECKOUT", "off").await;
    let v3 = started(&p.push("v3").await);
    assert_eq!(p.finish(&v3, LIMIT, || async {}).await.status, "SUCCEEDED");
    assert_eq!(running_env(&p, "FEATURE_CHECKOUT").await.as_deref(), Some("off"));
    assert_eq!(p.serving(Port::Production).await, Some(p.digest("v3")));
}
