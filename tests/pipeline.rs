//! The deploy pipeline end to end: the real function binaries behind the Lambda Runtime API,
//! the real state machine in the Step Functions interpreter, CodeDeploy's blue/green lifecycle,
//! and HTTP through the load balancer's ports.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use greenlight_core::ports::ExecutionStart;
use greenlight_tests::emulator::Port;
use greenlight_tests::pipeline::{Hook, Pipeline, Setup};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);

fn started(outcome: &greenlight_core::pipeline::PushOutcome) -> String {
    assert_eq!(outcome.executions.len(), 1, "{outcome:?}");
    match &outcome.executions[0].start {
        ExecutionStart::Started { execution_arn } => execution_arn.clone(),
        other => panic!("expected a new execution, got {other:?}"),
    }
}

type Samples = Arc<Mutex<Vec<Option<String>>>>;
type Tick<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;

/// A callback for [`Pipeline::finish`] that records what production serves at every tick.
fn sampler<'a>(p: &'a Pipeline) -> (Samples, impl FnMut() -> Tick<'a> + 'a) {
    let samples: Samples = Arc::default();
    let out = samples.clone();
    let tick = move || -> Tick<'a> {
        let samples = samples.clone();
        Box::pin(async move {
            let d = p.serving(Port::Production).await;
            samples.lock().expect("lock").push(d);
        })
    };
    (out, tick)
}

#[tokio::test]
async fn happy_path_puts_the_new_digest_in_production() {
    let p = Pipeline::start(Setup::default()).await;
    let (v1, v2) = (p.digest("v1"), p.digest("v2"));
    assert_eq!(p.serving(Port::Production).await.as_deref(), Some(v1.as_str()));
    let execution = started(&p.push("v2").await);

    let (samples, each) = sampler(&p);
    let end = p.finish(&execution, LIMIT, each).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await.as_deref(), Some(v2.as_str()));
    // Production went from v1 to v2 and never back.
    let samples = samples.lock().expect("lock").clone();
    let first_v2 = samples.iter().position(|d| d.as_deref() == Some(v2.as_str())).unwrap_or(samples.len());
    assert!(samples[first_v2..].iter().all(|d| d.as_deref() == Some(v2.as_str())), "{samples:?}");

    // Revision +1, pinned by digest, everything else unchanged.
    let ecs = aws_sdk_ecs::Client::new(&p.config);
    let svc = ecs.describe_services().cluster("web").services("web").send().await.expect("service");
    let arn = svc.services()[0].task_definition().expect("task definition").to_string();
    assert!(arn.ends_with(":2"), "{arn}");
    let describe = |arn: String| {
        let ecs = ecs.clone();
        async move {
            ecs.describe_task_definition()
                .task_definition(arn)
                .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
                .send()
                .await
                .expect("describe")
        }
    };
    let new = describe(arn).await;
    let old = describe(p.seeded["task_definition_arn"].as_str().expect("arn").to_string()).await;
    let (new_td, old_td) = (new.task_definition().expect("td"), old.task_definition().expect("td"));
    let (new_c, old_c) = (&new_td.container_definitions()[0], &old_td.container_definitions()[0]);
    assert_eq!(new_c.image(), Some(p.seeded["images"]["v2"].as_str().expect("image")));
    assert_eq!(new_c.secrets(), old_c.secrets());
    assert_eq!(new_c.log_configuration(), old_c.log_configuration());
    assert_eq!(new_c.health_check(), old_c.health_check());
    assert_eq!(new_c.port_mappings(), old_c.port_mappings());
    assert_eq!(new_td.runtime_platform(), old_td.runtime_platform());
    assert_eq!(new_td.task_role_arn(), old_td.task_role_arn());
    let mut tags = old.tags().to_vec();
    let base = p.seeded["task_definition_arn"].as_str().unwrap_or_default();
    tags.push(aws_sdk_ecs::types::Tag::builder().key("greenlight:base").value(base).build());
    assert_eq!(new.tags(), tags, "the live revision's tags, and which revision the new one is based on");

    let states = p.states(&execution).await;
    assert!(states.contains(&"NotifySuccess".to_string()), "{states:?}");
    let notes = p.emulator.notifications().await;
    assert!(notes.iter().any(|n| n["subject"] == "greenlight: web v2 is live"), "{notes:?}");
}

#[tokio::test]
async fn duplicate_event_starts_one_execution_and_one_deployment() {
    let p = Pipeline::start(Setup::default()).await;
    let event = p.push_event("v2");
    let execution = started(&p.deliver(&event).await);
    // While the execution runs, Step Functions answers the same name and input with the same
    // execution (StartExecution is idempotent); once it has ended, with ExecutionAlreadyExists.
    let again = p.deliver(&event).await;
    match &again.executions[0].start {
        ExecutionStart::Started { execution_arn } => assert_eq!(execution_arn, &execution),
        ExecutionStart::AlreadyExists { .. } => {}
    }
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    let late = p.deliver(&event).await;
    assert!(matches!(late.executions[0].start, ExecutionStart::AlreadyExists { .. }), "{late:?}");
    assert_eq!(p.executions().await.len(), 1);
    assert_eq!(p.deployments().await.len(), 1);
}

#[tokio::test]
async fn non_matching_tag_starts_nothing() {
    let p = Pipeline::start(Setup::default()).await;
    let mut event = p.push_event("v2");
    event["detail"]["image-tag"] = "latest".into();
    let outcome = p.deliver(&event).await;
    assert!(outcome.executions.is_empty());
    assert_eq!(
        outcome.skipped[0].reason,
        "tag `latest` is never deployed unless tags.include lists \"latest\" explicitly"
    );
    event["detail"]["image-tag"] = "nightly-7".into();
    assert!(p.deliver(&event).await.executions.is_empty());
    assert!(p.executions().await.is_empty());
}

#[tokio::test]
async fn image_already_live_is_skipped() {
    let p = Pipeline::start(Setup::default()).await;
    let execution = started(&p.push("v1").await);
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    let states = p.states(&execution).await;
    assert!(states.contains(&"Skipped".to_string()), "{states:?}");
    assert!(p.deployments().await.is_empty(), "no deployment");
    let output = end.output.unwrap_or(Value::Null);
    assert_eq!(output["prepared"]["already_live"], true, "{output}");
}

#[tokio::test]
async fn hook_failure_rolls_back_and_says_why() {
    let p = Pipeline::start(Setup { hook: Hook::Stub("fail"), ..Setup::default() }).await;
    let v1 = p.digest("v1");
    let execution = started(&p.push("v3").await);
    let (samples, each) = sampler(&p);
    let end = p.finish(&execution, LIMIT, each).await;
    assert_eq!(end.status, "FAILED", "{end:?}");
    assert_eq!(end.error.as_deref(), Some("DeploymentFailed"));
    let cause = end.cause.unwrap_or_default();
    assert!(cause.contains("AfterAllowTestTraffic") && cause.contains("reported Failed"), "{cause}");
    let samples = samples.lock().expect("lock").clone();
    assert!(samples.len() > 3, "{samples:?}");
    assert!(samples.iter().all(|d| d.as_deref() == Some(v1.as_str())), "production served green: {samples:?}");
    assert_eq!(p.serving(Port::Production).await.as_deref(), Some(v1.as_str()));

    let notes = p.emulator.notifications().await;
    let note =
        notes.iter().find(|n| n["subject"] == "greenlight: web v3 rolled back").unwrap_or_else(|| panic!("{notes:?}"));
    let message = note["message"].as_str().unwrap_or_default();
    assert!(message.contains("Reason:") && message.contains("AfterAllowTestTraffic"), "{message}");
    // What production serves is read from the listener: v1, still.
    assert!(
        message.contains(&format!(
            "was not deployed; production serves {}",
            p.seeded["images"]["v1"].as_str().unwrap_or("?")
        )),
        "{message}"
    );
    p.assert_ledger("web", "v3", greenlight_core::history::Outcome::RolledBack, "AfterAllowTestTraffic").await;
}

#[tokio::test]
async fn active_deployment_is_retried_until_the_group_is_free() {
    let p = Pipeline::start(Setup::default()).await;
    // Someone else's deployment holds the group until it is stopped.
    let blocking = p.start_console_deployment().await;
    let execution = started(&p.push("v2").await);
    // The execution keeps retrying CreateDeployment while the other one is active.
    let history = |p: &Pipeline| {
        let sfn = aws_sdk_sfn::Client::new(&p.config);
        let arn = execution.clone();
        async move {
            let events =
                sfn.get_execution_history().execution_arn(arn).max_results(1000).send().await.expect("history");
            events.events().iter().filter(|e| e.r#type().as_str() == "LambdaFunctionFailed").count()
        }
    };
    let deadline = std::time::Instant::now() + LIMIT;
    while history(&p).await == 0 {
        assert!(std::time::Instant::now() < deadline, "CreateDeployment was never rejected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    p.stop_deployment(&blocking).await;
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await.as_deref(), Some(p.digest("v2").as_str()));
    assert_eq!(p.deployments().await.len(), 2);
}

#[tokio::test]
async fn a_variable_terraform_does_not_set_fails_the_deploy_and_rolls_back() {
    // The functions run with exactly the environment infra/modules/greenlight gives them: drop
    // start-deployment's GREENLIGHT_VALIDATE_FUNCTION there, and the deploy fails, saying which.
    let edit = ("GREENLIGHT_VALIDATE_FUNCTION = local.function_name[\"validate\"]", "");
    let p = Pipeline::start(Setup { orchestrator_edit: Some(edit), ..Setup::default() }).await;
    let v1 = p.digest("v1");
    let execution = started(&p.push("v2").await);
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "FAILED", "{end:?}");
    let cause = end.cause.clone().unwrap_or_default();
    assert!(cause.contains("GREENLIGHT_VALIDATE_FUNCTION"), "the cause names the variable: {cause}");
    assert!(p.deployments().await.is_empty(), "nothing was deployed");
    assert_eq!(p.serving(Port::Production).await.as_deref(), Some(v1.as_str()));
}

#[tokio::test]
async fn a_manifest_broken_at_run_time_is_announced_and_deploys_nothing() {
    let p = Pipeline::start(Setup::default()).await;
    p.set_manifest(Some("{\"version\": 1, \"services\": [{\"name\": \"web\"}]}")).await;
    let err = p.try_deliver(&p.push_event("v2")).await.expect_err("no manifest, no deploy");
    assert!(err.contains("InvalidManifest"), "{err}");
    let notes = p.emulator.notifications().await;
    let note = notes
        .iter()
        .find(|n| n["subject"] == "greenlight: the deploy manifest cannot be read; web:v2 is not deployed")
        .unwrap_or_else(|| panic!("not announced: {notes:?}"));
    assert!(note["message"].as_str().unwrap_or_default().contains("cluster"), "{note}");
    assert!(p.executions().await.is_empty());
    assert!(p.deployments().await.is_empty());
}
