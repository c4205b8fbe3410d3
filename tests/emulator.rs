//! The local AWS emulation, driven as greenlight drives AWS: aws-sdk-rust clients (through
//! greenlight's own adapters where they exist), real function processes behind the Lambda
//! Runtime API, and HTTP through the load balancer's ports.

use std::time::{Duration, Instant};

use aws_sdk_codedeploy::types::DeploymentWaitType;
use greenlight_aws::{CodeDeployDeployments, EcsTaskDefinitions};
use greenlight_core::appspec::{AppSpec, AppSpecInput};
use greenlight_core::manifest::Hook;
use greenlight_core::ports::{Deployments, TaskDefinitions};
use greenlight_core::taskdef::Revision;
use greenlight_tests::emulator::{Emulator, Options, Port};
use serde_json::{Value, json};

const HOOK: &str = "greenlight-test-hook";

/// A seeded service, blue running v1, and v2 registered as the next revision.
struct Stage {
    emulator: Emulator,
    seeded: Value,
    config: aws_config::SdkConfig,
    v1: String,
    v2: String,
    next_task_definition: String,
}

impl Stage {
    async fn new(options: Options, approval: bool, hook: Option<&str>, alarms: &[&str]) -> Self {
        let emulator = Emulator::start_with(options).unwrap_or_else(|e| panic!("{e}"));
        let seeded = emulator
            .seed(json!({"service": "web", "tags": ["v1", "v2"], "live": "v1", "approval": approval, "alarms": alarms}))
            .await;
        if let Some(behaviour) = hook {
            emulator
                .register_function(HOOK, &[env!("CARGO_BIN_EXE_test-hook")], &[("HOOK_BEHAVIOUR", behaviour)])
                .await;
        }
        let config = emulator.sdk_config().await;
        let v1 = seeded["digests"]["v1"].as_str().expect("v1").to_string();
        let v2 = seeded["digests"]["v2"].as_str().expect("v2").to_string();
        // The next revision, made the way prepare makes it: greenlight's transform on the live JSON.
        let ecs = EcsTaskDefinitions::new(aws_sdk_ecs::Client::new(&config));
        let current = ecs.current("web", "web").await.expect("live task definition");
        let image = seeded["images"]["v2"].as_str().expect("image");
        let Revision::Register(request) = current.next_revision(&["web".into()], image).expect("transform") else {
            panic!("v2 is not live yet")
        };
        let next_task_definition = ecs.register(&request).await.expect("register").arn;
        Self { emulator, seeded, config, v1, v2, next_task_definition }
    }

    fn deployments(&self) -> CodeDeployDeployments {
        CodeDeployDeployments::new(aws_sdk_codedeploy::Client::new(&self.config))
    }

    fn codedeploy(&self) -> aws_sdk_codedeploy::Client {
        aws_sdk_codedeploy::Client::new(&self.config)
    }

    fn appspec(&self, hooks: &[Hook]) -> AppSpec {
        AppSpec::render(&AppSpecInput {
            task_definition_arn: self.next_task_definition.clone(),
            container_name: "web".into(),
            container_port: 8080,
            platform_version: None,
            network_configuration: None,
            capacity_provider_strategy: Vec::new(),
            hooks: hooks.iter().map(|h| (*h, HOOK.to_string())).collect(),
        })
    }

    async fn deploy(&self, hooks: &[Hook]) -> String {
        self.deployments().create("web", "web", &self.appspec(hooks), "v2").await.expect("CreateDeployment")
    }

    async fn status(&self, id: &str) -> String {
        self.deployments().state(id).await.expect("GetDeployment").status.as_str().to_string()
    }

    /// Polls until the deployment reaches one of `statuses`, sampling what production serves
    /// on the way. Bounded, so a stuck deployment fails the test instead of hanging it.
    async fn wait_for(&self, id: &str, statuses: &[&str], production: &mut Vec<Option<String>>) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            production.push(self.emulator.serving(Port::Production).await);
            let status = self.status(id).await;
            if statuses.contains(&status.as_str()) {
                return status;
            }
            assert!(Instant::now() < deadline, "deployment {id} still {status} after 60 s; waiting for {statuses:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn deployment_info(&self, id: &str) -> aws_sdk_codedeploy::types::DeploymentInfo {
        self.codedeploy()
            .get_deployment()
            .deployment_id(id)
            .send()
            .await
            .expect("GetDeployment")
            .deployment_info
            .expect("info")
    }

    async fn lifecycle(&self, id: &str) -> Vec<(String, String)> {
        let target = self
            .codedeploy()
            .get_deployment_target()
            .deployment_id(id)
            .target_id("web:web")
            .send()
            .await
            .expect("target");
        let ecs = target.deployment_target.and_then(|t| t.ecs_target).expect("ECS target");
        ecs.lifecycle_events()
            .iter()
            .map(|e| {
                (
                    e.lifecycle_event_name().unwrap_or_default().to_string(),
                    e.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                )
            })
            .collect()
    }

    async fn task_sets(&self) -> usize {
        let ecs = aws_sdk_ecs::Client::new(&self.config);
        ecs.describe_task_sets().cluster("web").service("web").send().await.expect("task sets").task_sets().len()
    }
}

fn event(events: &[(String, String)], name: &str) -> String {
    events.iter().find(|(n, _)| n == name).map(|(_, s)| s.clone()).unwrap_or_default()
}

#[tokio::test]
async fn production_switches_to_green_only_after_continue() {
    let stage = Stage::new(Options::default(), true, Some("succeed"), &[]).await;
    assert_eq!(stage.emulator.serving(Port::Production).await.as_deref(), Some(stage.v1.as_str()));
    let id = stage.deploy(&[Hook::AfterAllowTestTraffic]).await;

    let mut production = Vec::new();
    assert_eq!(stage.wait_for(&id, &["Ready", "Failed", "Stopped"], &mut production).await, "Ready");
    // Green is up and on the test listener; production has not moved.
    assert_eq!(stage.emulator.serving(Port::Test).await.as_deref(), Some(stage.v2.as_str()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    production.push(stage.emulator.serving(Port::Production).await);
    assert!(
        production.iter().all(|d| d.as_deref() == Some(stage.v1.as_str())),
        "production before continue: {production:?}"
    );
    assert_eq!(event(&stage.lifecycle(&id).await, "AfterAllowTestTraffic"), "Succeeded");

    stage
        .codedeploy()
        .continue_deployment()
        .deployment_id(&id)
        .deployment_wait_type(DeploymentWaitType::ReadyWait)
        .send()
        .await
        .expect("continue");
    let mut after = Vec::new();
    assert_eq!(stage.wait_for(&id, &["Succeeded", "Failed", "Stopped"], &mut after).await, "Succeeded");
    assert_eq!(stage.emulator.serving(Port::Production).await.as_deref(), Some(stage.v2.as_str()));

    // The service now runs the new revision, and blue is gone.
    let ecs = aws_sdk_ecs::Client::new(&stage.config);
    let svc = ecs.describe_services().cluster("web").services("web").send().await.expect("service");
    assert_eq!(svc.services()[0].task_definition(), Some(stage.next_task_definition.as_str()));
    assert_eq!(stage.task_sets().await, 1);
    let events = stage.lifecycle(&id).await;
    for name in ["Install", "AllowTestTraffic", "AfterAllowTestTraffic", "AllowTraffic"] {
        assert_eq!(event(&events, name), "Succeeded", "{name}: {events:?}");
    }
    let info = stage.deployment_info(&id).await;
    assert_eq!(info.deployment_overview().map(|o| o.succeeded()), Some(1));
    assert!(info.complete_time().is_some());
}

#[tokio::test]
async fn failed_hook_rolls_back_and_production_never_serves_green() {
    let stage = Stage::new(Options::default(), false, Some("fail"), &[]).await;
    let id = stage.deploy(&[Hook::AfterAllowTestTraffic]).await;
    let mut production = Vec::new();
    assert_eq!(stage.wait_for(&id, &["Succeeded", "Failed", "Stopped"], &mut production).await, "Failed");
    production.push(stage.emulator.serving(Port::Production).await);
    assert!(production.len() > 3, "sampled {production:?}");
    assert!(production.iter().all(|d| d.as_deref() == Some(stage.v1.as_str())), "production served {production:?}");
    assert_eq!(
        stage.emulator.serving(Port::Test).await.as_deref(),
        Some(stage.v1.as_str()),
        "test traffic back on blue"
    );

    let info = stage.deployment_info(&id).await;
    let error = info.error_information().expect("errorInformation");
    assert_eq!(error.code().map(|c| c.as_str()), Some("HOOK_EXECUTION_FAILURE"));
    assert!(error.message().unwrap_or_default().contains("AfterAllowTestTraffic"), "{error:?}");
    assert!(info.rollback_info().and_then(|r| r.rollback_message()).unwrap_or_default().contains("rolled back"));
    let events = stage.lifecycle(&id).await;
    assert_eq!(event(&events, "AfterAllowTestTraffic"), "Failed");
    assert_eq!(event(&events, "AllowTraffic"), "Skipped");
    assert_eq!(stage.task_sets().await, 1, "green removed");
}

#[tokio::test]
async fn stop_deployment_rolls_back() {
    let stage = Stage::new(Options::default(), true, None, &[]).await;
    let id = stage.deploy(&[]).await;
    let mut production = Vec::new();
    assert_eq!(stage.wait_for(&id, &["Ready"], &mut production).await, "Ready");
    assert_eq!(stage.emulator.serving(Port::Test).await.as_deref(), Some(stage.v2.as_str()));
    let stop =
        stage.codedeploy().stop_deployment().deployment_id(&id).auto_rollback_enabled(true).send().await.expect("stop");
    assert_eq!(stop.status().map(|s| s.as_str()), Some("Pending"));
    assert_eq!(stage.wait_for(&id, &["Stopped", "Failed", "Succeeded"], &mut production).await, "Stopped");
    assert!(production.iter().all(|d| d.as_deref() == Some(stage.v1.as_str())), "production served {production:?}");
    assert_eq!(stage.emulator.serving(Port::Test).await.as_deref(), Some(stage.v1.as_str()));
    let info = stage.deployment_info(&id).await;
    assert_eq!(info.error_information().and_then(|e| e.code()).map(|c| c.as_str()), Some("MANUAL_STOP"));
    assert_eq!(stage.task_sets().await, 1);
    // A finished deployment cannot be stopped again.
    let again = stage.codedeploy().stop_deployment().deployment_id(&id).send().await.expect_err("completed");
    assert_eq!(again.as_service_error().map(|e| e.is_deployment_already_completed_exception()), Some(true));
}

#[tokio::test]
async fn second_active_deployment_is_rejected() {
    let stage = Stage::new(Options::default(), true, None, &[]).await;
    let first = stage.deploy(&[]).await;
    let err = stage.deployments().create("web", "web", &stage.appspec(&[]), "again").await.expect_err("limit");
    assert_eq!(err.error_type(), "DeploymentInProgress");
    assert!(err.is_retryable());
    // Once the first one is over, the group takes a new deployment.
    stage.codedeploy().stop_deployment().deployment_id(&first).auto_rollback_enabled(true).send().await.expect("stop");
    stage.wait_for(&first, &["Stopped"], &mut Vec::new()).await;
    stage.deploy(&[]).await;
}

#[tokio::test]
async fn hook_that_never_reports_times_out() {
    let options = Options { hook_timeout_s: Some(1.5), ..Options::default() };
    let stage = Stage::new(options, false, Some("silent"), &[]).await;
    let id = stage.deploy(&[Hook::AfterAllowTestTraffic]).await;
    let mut production = Vec::new();
    assert_eq!(stage.wait_for(&id, &["Succeeded", "Failed", "Stopped"], &mut production).await, "Failed");
    let info = stage.deployment_info(&id).await;
    let message = info.error_information().and_then(|e| e.message()).unwrap_or_default().to_string();
    assert!(message.contains("timed out") && message.contains(HOOK), "{message}");
    assert!(production.iter().all(|d| d.as_deref() == Some(stage.v1.as_str())), "production served {production:?}");
}

#[tokio::test]
async fn alarm_in_alarm_rolls_back_through_the_cbor_protocol() {
    let stage = Stage::new(Options::default(), true, None, &["web-5xx"]).await;
    let id = stage.deploy(&[]).await;
    stage.wait_for(&id, &["Ready"], &mut Vec::new()).await;
    // aws-sdk-rust's CloudWatch client speaks RPCv2 CBOR.
    let cw = aws_sdk_cloudwatch::Client::new(&stage.config);
    cw.set_alarm_state()
        .alarm_name("web-5xx")
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("5xx from green")
        .send()
        .await
        .expect("SetAlarmState");
    let alarms = cw.describe_alarms().alarm_names("web-5xx").send().await.expect("DescribeAlarms");
    let alarm = &alarms.metric_alarms()[0];
    assert_eq!(alarm.state_value().map(|s| s.as_str()), Some("ALARM"));
    assert!(alarm.state_updated_timestamp().is_some());
    assert_eq!(stage.wait_for(&id, &["Failed", "Stopped", "Succeeded"], &mut Vec::new()).await, "Failed");
    let info = stage.deployment_info(&id).await;
    assert_eq!(info.error_information().and_then(|e| e.code()).map(|c| c.as_str()), Some("ALARM_ACTIVE"));
    assert_eq!(stage.emulator.serving(Port::Test).await.as_deref(), Some(stage.v1.as_str()));
    let _ = &stage.seeded;
}

#[tokio::test]
async fn function_errors_reach_the_caller_with_their_error_type() {
    let emulator = Emulator::start();
    emulator.register_function(HOOK, &[env!("CARGO_BIN_EXE_test-hook")], &[("HOOK_BEHAVIOUR", "error")]).await;
    let lambda = aws_sdk_lambda::Client::new(&emulator.sdk_config().await);
    let out = lambda
        .invoke()
        .function_name(HOOK)
        .payload(aws_sdk_lambda::primitives::Blob::new(b"{}".to_vec()))
        .send()
        .await
        .expect("Invoke");
    assert_eq!(out.function_error(), Some("Unhandled"));
    let body: Value =
        serde_json::from_slice(out.payload().map(|b| b.as_ref()).unwrap_or_default()).expect("JSON error");
    assert_eq!(body["errorType"], "TestHookFailure");
    assert_eq!(body["errorMessage"], "the test hook was told to fail");
}

#[tokio::test]
async fn continue_during_termination_wait_ends_it_early() {
    let emulator = Emulator::start();
    let seeded = emulator
        .seed(json!({"service": "web", "tags": ["v1", "v2"], "live": "v1", "approval": false, "termination_wait_minutes": 2880}))
        .await;
    let v2_image = seeded["images"]["v2"].as_str().expect("image").to_string();
    let config = emulator.sdk_config().await;
    let ecs = EcsTaskDefinitions::new(aws_sdk_ecs::Client::new(&config));
    let current = ecs.current("web", "web").await.expect("live");
    let Revision::Register(request) = current.next_revision(&["web".into()], &v2_image).expect("next") else {
        panic!("v2 is not live yet")
    };
    let arn = ecs.register(&request).await.expect("register").arn;
    let spec = AppSpec::render(&AppSpecInput {
        task_definition_arn: arn,
        container_name: "web".into(),
        container_port: 8080,
        platform_version: None,
        network_configuration: None,
        capacity_provider_strategy: Vec::new(),
        hooks: Vec::new(),
    });
    let deployments = CodeDeployDeployments::new(aws_sdk_codedeploy::Client::new(&config));
    let id = deployments.create("web", "web", &spec, "v2").await.expect("create");
    let cd = aws_sdk_codedeploy::Client::new(&config);
    // Two days of termination wait (CodeDeploy's maximum) are about half an hour at the tests'
    // time scale: only ContinueDeployment ends it within the test.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = cd.get_deployment().deployment_id(&id).send().await.expect("get").deployment_info.expect("info");
        if info.instance_termination_wait_time_started() {
            assert_eq!(info.status().map(|s| s.as_str()), Some("InProgress"));
            break;
        }
        assert!(Instant::now() < deadline, "termination wait never started: {info:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(emulator.serving(Port::Production).await.as_deref(), v2_image.split_once('@').map(|(_, d)| d));
    cd.continue_deployment()
        .deployment_id(&id)
        .deployment_wait_type(DeploymentWaitType::TerminationWait)
        .send()
        .await
        .expect("continue");
    let deadline = Instant::now() + Duration::from_secs(10);
    while deployments.state(&id).await.expect("state").status != greenlight_core::ports::DeploymentStatus::Succeeded {
        assert!(Instant::now() < deadline, "not Succeeded after ContinueDeployment(TERMINATION_WAIT)");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn each_digest_behaves_as_the_scenario_says() {
    let stage = Stage::new(Options::default(), true, None, &[]).await;
    let id = stage.deploy(&[]).await;
    stage.wait_for(&id, &["Ready"], &mut Vec::new()).await;
    let test = format!("{}/health", stage.emulator.test_url);
    let version = format!("{}/version", stage.emulator.test_url);

    let (status, body) = stage.emulator.get(&version).await;
    assert_eq!((status, body["digest"].as_str()), (200, Some(stage.v2.as_str())), "green runs v2 and says so");

    stage.emulator.set_behaviour(&stage.v2, json!({"mode": "error"})).await;
    assert_eq!(stage.emulator.get(&test).await.0, 500);

    stage.emulator.set_behaviour(&stage.v2, json!({"mode": "wrong_version", "image": "web@sha256:old"})).await;
    let (status, body) = stage.emulator.get(&version).await;
    assert_eq!((status, body["digest"].as_str()), (200, Some("sha256:old")));

    stage.emulator.set_behaviour(&stage.v2, json!({"mode": "flapping"})).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(stage.emulator.get(&test).await.0);
    }
    assert!(statuses.contains(&200) && statuses.contains(&500), "{statuses:?}");

    stage.emulator.set_behaviour(&stage.v2, json!({"mode": "slow", "delay_ms": 300})).await;
    let started = Instant::now();
    assert_eq!(stage.emulator.get(&test).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300), "a slow app answers no sooner than its delay");

    stage.emulator.set_behaviour(&stage.v2, json!({"mode": "hang", "hang_s": 30})).await;
    let client = greenlight_http::client().expect("an HTTP client");
    let hung = client.get(&test).timeout(Duration::from_millis(500)).send().await;
    assert!(hung.is_err_and(|e| e.is_timeout()), "a hanging app does not answer");

    // Production stays on blue, whose digest has its own (healthy) behaviour.
    assert_eq!(stage.emulator.serving(Port::Production).await.as_deref(), Some(stage.v1.as_str()));
    let bad = stage.emulator.control_raw("behaviours", &json!({ stage.v2.clone(): {"mode": "sideways"} })).await;
    assert_eq!(bad.0, 400, "{}", bad.1);
    assert!(bad.1["error"].as_str().unwrap_or_default().contains("unknown behaviour 'sideways'"), "{}", bad.1);
}
