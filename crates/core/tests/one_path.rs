//! The dry run and the real run are one path: on the same manifest, push and live task
//! definition, `greenlight plan` (DeployPlan::build) and prepare + start-deployment register
//! the same revision and send the same AppSpec, and agree on "already live".

use greenlight_core::event::{Push, PushEvent};
use greenlight_core::fakes::{FakeDeployments, FakeLedger, FakeManifest, FakeTaskDefinitions, FakeTaskTokens};
use greenlight_core::manifest::Manifest;
use greenlight_core::pipeline::{Lease, PreparePorts, Prepared, StartPorts, StepInput, prepare, start_deployment};
use greenlight_core::plan::{Action, DeployPlan, HookFunctions, NEXT_REVISION, TargetPlan};
use greenlight_core::ports::DeploymentGroupSettings;
use greenlight_core::taskdef::TaskDefinition;
use serde_json::{Value, json};

const VALIDATE: &str = "greenlight-validate";
const LEASE: Lease = Lease { now: 1_800_000_000, seconds: 600 };

struct Inputs {
    manifest: Manifest,
    push: Push,
    live: TaskDefinition,
}

fn inputs(edit_td: impl Fn(&mut Value)) -> Inputs {
    let manifest = Manifest::parse(include_str!("fixtures/manifest-api-server.json")).expect("valid");
    let PushEvent::Deployable(push) =
        PushEvent::parse(include_str!("fixtures/push-api-server-v1.42.0.json")).expect("event")
    else {
        panic!("deployable")
    };
    let mut td: Value = serde_json::from_str(include_str!("fixtures/aws/describe-task-definition.json")).expect("json");
    edit_td(&mut td);
    Inputs { manifest, push, live: TaskDefinition::from_json(td).expect("task definition") }
}

fn dry_run(i: &Inputs) -> TargetPlan {
    let hooks = HookFunctions { validate: VALIDATE.into() };
    let plan = DeployPlan::build(&i.manifest, &i.push, Some("api-server"), &hooks, |_| Ok((i.live.clone(), None)))
        .expect("plan");
    plan.targets.into_iter().next().expect("api-server is a target")
}

struct RealRun {
    prepared: Prepared,
    task_definitions: FakeTaskDefinitions,
    deployments: FakeDeployments,
}

/// prepare, then (when there is something to deploy) start-deployment, over fakes; the family
/// has had three revisions registered since the live one.
async fn real_run(i: &Inputs) -> RealRun {
    let manifests = FakeManifest(i.manifest.clone());
    let task_definitions =
        FakeTaskDefinitions { live: i.live.clone(), registered_since: 3, registered: Default::default() };
    let deployments = FakeDeployments {
        settings: Some(DeploymentGroupSettings {
            action_on_ready_timeout: Some("STOP_DEPLOYMENT".into()),
            ready_wait_minutes: Some(60),
            ecs_cluster: Some("production".into()),
            ecs_service: Some("api-server".into()),
        }),
        ..Default::default()
    };
    let (ledger, tokens) = (FakeLedger::default(), FakeTaskTokens::default());
    let mut input = StepInput {
        service: "api-server".into(),
        push: i.push.clone(),
        prepared: None,
        deployment: None,
        execution_id: None,
        started_at: None,
    };
    let ports = PreparePorts {
        manifests: &manifests,
        task_definitions: &task_definitions,
        deployments: &deployments,
        ledger: &ledger,
        approvals: &ledger,
        tokens: &tokens,
    };
    let prepared = prepare(&input, ports, LEASE).await.expect("prepared");
    if !prepared.already_live {
        input.prepared = Some(prepared.clone());
        let ports = StartPorts { manifests: &manifests, deployments: &deployments, ledger: &ledger };
        start_deployment(&input, ports, Some(VALIDATE), LEASE).await.expect("started");
    }
    RealRun { prepared, task_definitions, deployments }
}

#[tokio::test]
async fn prepare_and_start_deployment_carry_out_the_plan() {
    let i = inputs(|_| {});
    let plan = dry_run(&i);
    let real = real_run(&i).await;
    assert_eq!(plan.action, Action::Deploy);
    assert!(!real.prepared.already_live);

    let registered = real.task_definitions.registered.lock().expect("lock").clone();
    assert_eq!(registered.len(), 1);
    assert_eq!(Some(&registered[0]), plan.register_task_definition.as_ref(), "the same revision is registered");
    // live revision 41, three registered since: ECS gives 45, not "live + 1".
    let arn = real.prepared.task_definition_arn.clone().expect("registered");
    assert_eq!(arn, "arn:aws:ecs:us-east-1:123456789012:task-definition/api-server-production:45");
    assert_eq!(real.prepared.container_port, plan.container_port);

    let sent: Value = {
        let created = real.deployments.created.lock().expect("lock");
        serde_json::from_str(&created[0].content).expect("appspec JSON")
    };
    let planned = plan.appspec.clone().expect("the plan's AppSpec").to_string().replace(
        &format!("arn:aws:ecs:us-east-1:123456789012:task-definition/api-server-production:{NEXT_REVISION}"),
        &arn,
    );
    let planned: Value = serde_json::from_str(&planned).expect("JSON");
    assert_eq!(sent, planned, "CreateDeployment gets the plan's AppSpec, for the revision ECS registered");
    assert_eq!(sent["Hooks"], json!([{"AfterAllowTestTraffic": VALIDATE}]));
}

#[tokio::test]
async fn an_already_live_digest_is_already_live_in_both_whatever_the_port_mappings() {
    // The live revision runs the pushed digest and maps no port: nothing is deployed, so the
    // port does not matter (prepare used to fail on it where the plan said "already live").
    let i = inputs(|v| {
        v["taskDefinition"]["containerDefinitions"][0]["image"] = json!(
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/api-server@sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234"
        );
        v["taskDefinition"]["containerDefinitions"][0]["portMappings"] = json!([]);
    });
    let plan = dry_run(&i);
    let real = real_run(&i).await;
    assert_eq!(plan.action, Action::AlreadyLive);
    assert!(real.prepared.already_live, "{:?}", real.prepared);
    assert!(real.task_definitions.registered.lock().expect("lock").is_empty(), "nothing registered");
    assert!(real.deployments.created.lock().expect("lock").is_empty(), "nothing deployed");
}
