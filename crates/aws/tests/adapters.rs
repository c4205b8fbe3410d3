//! The adapters through the real SDK request path: serialization, the wire protocol's error
//! parsing and the interceptors run; only the HTTP exchange is replaced.

use std::sync::{Arc, Mutex};

use aws_smithy_http_client::test_util::infallible_client_fn;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use greenlight_aws::{CodeDeployDeployments, EcrImages, EcsTaskDefinitions};
use greenlight_core::Error;
use greenlight_core::appspec::AppSpec;
use greenlight_core::ports::{Deployments, Images, TaskDefinitions};
use greenlight_core::taskdef::Revision;
use serde_json::{Value, json};

const DESCRIBE_TD: &str = include_str!("../../core/tests/fixtures/aws/describe-task-definition.json");
const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// An awsJson error response, as the service sends it.
fn json_error(status: u16, code: &str) -> Response {
    let body = json!({"__type": code, "message": format!("{code} from the test")}).to_string();
    Response::new(StatusCode::try_from(status).expect("status"), SdkBody::from(body))
}

fn json_ok(body: String) -> Response {
    Response::new(StatusCode::try_from(200).expect("status"), SdkBody::from(body))
}

// ECR

fn ecr_answering(response: fn() -> Response) -> EcrImages {
    let rule = mock!(aws_sdk_ecr::Client::describe_images).then_http_response(response);
    EcrImages::new(mock_client!(aws_sdk_ecr, RuleMode::MatchAny, &[&rule]))
}

#[tokio::test]
async fn ecr_tells_not_found_from_throttled() {
    let missing =
        ecr_answering(|| json_error(400, "ImageNotFoundException")).image("api", DIGEST).await.expect_err("missing");
    assert!(matches!(missing, Error::NotFound { .. }), "{missing:?}");
    assert_eq!(missing.error_type(), "ImageNotFound");
    assert!(!missing.is_retryable());
    assert!(missing.to_string().starts_with(&format!("image `api@{DIGEST}` not found")), "{missing}");

    let repo = ecr_answering(|| json_error(400, "RepositoryNotFoundException"))
        .image("api", DIGEST)
        .await
        .expect_err("no repo");
    assert_eq!(repo.error_type(), "RepositoryNotFound");
    assert!(repo.to_string().contains("check the service's `repository`"), "{repo}");

    let throttled =
        ecr_answering(|| json_error(400, "ThrottlingException")).image("api", DIGEST).await.expect_err("throttled");
    assert!(matches!(throttled, Error::Throttled { operation: "ecr:DescribeImages", .. }), "{throttled:?}");
    assert!(throttled.is_retryable());

    let denied =
        ecr_answering(|| json_error(400, "AccessDeniedException")).image("api", DIGEST).await.expect_err("denied");
    assert_eq!(denied.error_type(), "AccessDenied");
    assert!(!denied.is_retryable());

    // The SDK error stays attached, not flattened to a string.
    let Error::Throttled { source, .. } = throttled else { unreachable!() };
    assert!(
        source
            .downcast_ref::<aws_sdk_ecr::error::SdkError<aws_sdk_ecr::operation::describe_images::DescribeImagesError>>(
            )
            .is_some()
    );
}

#[tokio::test]
async fn ecr_server_errors_are_retryable() {
    // The SDK retries 5xx itself; what still fails afterwards is transient for the caller.
    let rule = mock!(aws_sdk_ecr::Client::describe_images)
        .then_http_response(|| json_error(503, "ServiceUnavailableException"));
    let client = mock_client!(aws_sdk_ecr, RuleMode::MatchAny, &[&rule], |c| c
        .retry_config(aws_sdk_ecr::config::retry::RetryConfig::disabled()));
    let err = EcrImages::new(client).image("api", DIGEST).await.expect_err("unavailable");
    assert_eq!(err.error_type(), "AwsTransient");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn ecr_image_found() {
    let rule = mock!(aws_sdk_ecr::Client::describe_images)
        .match_requests(|r| r.repository_name() == Some("api") && r.image_ids()[0].image_digest() == Some(DIGEST))
        .then_http_response(|| {
            json_ok(
                json!({"imageDetails": [{"imageDigest": DIGEST, "imageTags": ["v2"], "imagePushedAt": 1_764_000_000.5, "repositoryName": "api"}]})
                    .to_string(),
            )
        });
    let image = EcrImages::new(mock_client!(aws_sdk_ecr, RuleMode::MatchAny, &[&rule]))
        .image("api", DIGEST)
        .await
        .expect("found");
    assert_eq!(image.tags, ["v2"]);
    // ECR's push time at its full precision (here, half a second past).
    assert_eq!(image.pushed_at, chrono::DateTime::from_timestamp(1_764_000_000, 500_000_000));
}

// ECS

fn ecs_with(describe_td: fn() -> Response) -> EcsTaskDefinitions {
    let services = mock!(aws_sdk_ecs::Client::describe_services)
        .match_requests(|r| r.cluster() == Some("production") && r.services() == ["api-server"])
        .then_http_response(|| {
            json_ok(
                json!({"services": [{"serviceName": "api-server", "status": "ACTIVE",
                    "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/api-server-production:41"}], "failures": []})
                .to_string(),
            )
        });
    let td = mock!(aws_sdk_ecs::Client::describe_task_definition)
        .match_requests(|r| {
            r.task_definition() == Some("arn:aws:ecs:us-east-1:123456789012:task-definition/api-server-production:41")
                && r.include() == [aws_sdk_ecs::types::TaskDefinitionField::Tags]
        })
        .then_http_response(describe_td);
    EcsTaskDefinitions::new(mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &[&services, &td]))
}

#[tokio::test]
async fn ecs_current_keeps_every_field_of_the_response() {
    let ecs = ecs_with(|| {
        let mut v: Value = serde_json::from_str(DESCRIBE_TD).expect("fixture");
        v["taskDefinition"]["fieldThisSdkDoesNotModel"] = json!({"on": true});
        json_ok(v.to_string())
    });
    let td = ecs.current("production", "api-server").await.expect("current");
    assert_eq!(td.revision(), Some(41));
    let uri = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/api-server@{DIGEST}");
    let Revision::Register(req) = td.next_revision(&["api-server".into()], &uri).expect("next") else {
        panic!("register")
    };
    assert_eq!(req.0["fieldThisSdkDoesNotModel"], json!({"on": true}));
    let tags = req.0["tags"].as_array().cloned().unwrap_or_default();
    assert_eq!(tags.len(), 4, "the live revision's three, and the revision it is based on: {tags:?}");
    assert_eq!(
        tags[3],
        json!({"key": "greenlight:base", "value": "arn:aws:ecs:us-east-1:123456789012:task-definition/api-server-production:41"})
    );
    assert_eq!(req.0["containerDefinitions"][0]["secrets"].as_array().map(Vec::len), Some(2));
}

/// A DescribeTaskDefinition answer for revision `n` of `api-server-production`, tagged as
/// greenlight's (based on `base`) or not.
fn revision(n: u32, base: Option<&str>) -> Value {
    let mut v: Value = serde_json::from_str(DESCRIBE_TD).expect("fixture");
    v["taskDefinition"]["revision"] = n.into();
    v["taskDefinition"]["taskDefinitionArn"] =
        format!("arn:aws:ecs:us-east-1:123456789012:task-definition/api-server-production:{n}").into();
    v["tags"] = match base {
        Some(b) => json!([{"key": "greenlight:base", "value": b}]),
        None => json!([]),
    };
    v
}

#[tokio::test]
async fn ecs_base_is_the_newest_active_revision_greenlight_did_not_register() {
    let arn = |n: u32| format!("arn:aws:ecs:us-east-1:123456789012:task-definition/api-server-production:{n}");
    // The answer's order is not relied on: the newest is picked by revision number.
    let list = mock!(aws_sdk_ecs::Client::list_task_definitions)
        .match_requests(|r| {
            r.family_prefix() == Some("api-server-production")
                && r.status() == Some(&aws_sdk_ecs::types::TaskDefinitionStatus::Active)
                && r.sort() == Some(&aws_sdk_ecs::types::SortOrder::Desc)
        })
        .then_http_response(move || json_ok(json!({"taskDefinitionArns": [arn(40), arn(43), arn(41)]}).to_string()));
    let terraform = mock!(aws_sdk_ecs::Client::describe_task_definition)
        .match_requests(|r| r.task_definition().is_some_and(|t| t.ends_with(":43")))
        .then_http_response(|| json_ok(revision(43, None).to_string()));
    let ecs = EcsTaskDefinitions::new(mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &[&list, &terraform]));
    let live = greenlight_core::taskdef::TaskDefinition::from_json(revision(41, Some(&arn(40)))).expect("live");
    assert_eq!(ecs.base(&live).await.expect("base").revision(), Some(43), "Terraform registered 43");

    // The newest is greenlight's: its own base is the one.
    let list = mock!(aws_sdk_ecs::Client::list_task_definitions)
        .then_http_response(move || json_ok(json!({"taskDefinitionArns": [arn(40), arn(41), arn(44)]}).to_string()));
    let ours = mock!(aws_sdk_ecs::Client::describe_task_definition)
        .match_requests(|r| r.task_definition().is_some_and(|t| t.ends_with(":44")))
        .then_http_response(move || json_ok(revision(44, Some(&arn(40))).to_string()));
    let first = mock!(aws_sdk_ecs::Client::describe_task_definition)
        .match_requests(|r| r.task_definition().is_some_and(|t| t.ends_with(":40")))
        .then_http_response(|| json_ok(revision(40, None).to_string()));
    let ecs = EcsTaskDefinitions::new(mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &[&list, &ours, &first]));
    assert_eq!(ecs.base(&live).await.expect("base").revision(), Some(40));
}

#[tokio::test]
async fn ecs_missing_service_and_cluster_are_named() {
    let rule = mock!(aws_sdk_ecs::Client::describe_services).then_http_response(|| {
        json_ok(json!({"services": [], "failures": [{"arn": "arn:aws:ecs:us-east-1:1:service/p/api", "reason": "MISSING"}]}).to_string())
    });
    let ecs = EcsTaskDefinitions::new(mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &[&rule]));
    let err = ecs.current("production", "api").await.expect_err("missing");
    assert_eq!(err.error_type(), "ServiceNotFound");
    assert_eq!(
        err.to_string(),
        "service `production/api` not found: check the service's `cluster` and `service` in the manifest"
    );

    let rule = mock!(aws_sdk_ecs::Client::describe_services)
        .then_http_response(|| json_error(400, "ClusterNotFoundException"));
    let ecs = EcsTaskDefinitions::new(mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &[&rule]));
    assert_eq!(ecs.current("nope", "api").await.expect_err("missing").error_type(), "ClusterNotFound");
}

/// Body and content-length header of the request the client sent.
type SentRequest = (String, Option<String>);

#[tokio::test]
async fn ecs_register_sends_the_request_json_as_is() {
    let sent: Arc<Mutex<Option<SentRequest>>> = Arc::default();
    let seen = sent.clone();
    let http = infallible_client_fn(move |req| {
        let body = String::from_utf8_lossy(req.body().bytes().unwrap_or_default()).into_owned();
        let len = req.headers().get("content-length").and_then(|v| v.to_str().ok()).map(str::to_string);
        *seen.lock().expect("lock") = Some((body, len));
        http::Response::builder()
            .status(200)
            .body(SdkBody::from(
                json!({"taskDefinition": {"taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/api-server-production:42", "revision": 42}}).to_string(),
            ))
            .expect("response")
    });
    let conf = aws_sdk_ecs::Config::builder().with_test_defaults_v2().http_client(http).build();
    let ecs = EcsTaskDefinitions::new(aws_sdk_ecs::Client::from_conf(conf));

    let v: Value = serde_json::from_str(DESCRIBE_TD).expect("fixture");
    let td = greenlight_core::taskdef::TaskDefinition::from_json(v).expect("td");
    let uri = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/api-server@{DIGEST}");
    let Revision::Register(req) = td.next_revision(&["api-server".into()], &uri).expect("next") else {
        panic!("register")
    };
    let registered = ecs.register(&req).await.expect("registered");
    assert_eq!(registered.revision, 42);
    assert!(registered.arn.ends_with(":42"));

    let (body, len) = sent.lock().expect("lock").take().expect("a request was sent");
    let body: Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(body, req.to_value(), "the wire body is the request, every field");
    assert_eq!(len, Some(req.to_value().to_string().len().to_string()));
}

/// ECS's answer to a revision registered while others of the family are being created.
fn ecs_register_answering(message: &'static str) -> EcsTaskDefinitions {
    let rule = mock!(aws_sdk_ecs::Client::register_task_definition).then_http_response(move || {
        let body = json!({"__type": "ClientException", "message": message}).to_string();
        Response::new(StatusCode::try_from(400).expect("status"), SdkBody::from(body))
    });
    EcsTaskDefinitions::new(mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &[&rule]))
}

#[tokio::test]
async fn ecs_concurrent_revisions_are_throttling_and_other_client_errors_are_not() {
    let v: Value = serde_json::from_str(DESCRIBE_TD).expect("fixture");
    let td = greenlight_core::taskdef::TaskDefinition::from_json(v).expect("td");
    let uri = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/api-server@{DIGEST}");
    let Revision::Register(req) = td.next_revision(&["api-server".into()], &uri).expect("next") else {
        panic!("register")
    };
    let busy = ecs_register_answering("Too many concurrent attempts to create a new revision of the specified family.");
    let err = busy.register(&req).await.expect_err("refused");
    assert_eq!(err.error_type(), "Throttled", "{err}");
    assert!(err.is_retryable());

    let invalid = ecs_register_answering("Container.image should not be null or empty.");
    let err = invalid.register(&req).await.expect_err("refused");
    assert_ne!(err.error_type(), "Throttled", "{err}");
    assert!(!err.is_retryable(), "{err}");
}

// CodeDeploy

fn appspec() -> AppSpec {
    AppSpec { content: "{\"version\":0.0}".into(), sha256: "ab".repeat(32) }
}

#[tokio::test]
async fn codedeploy_active_deployment_is_retryable_in_progress() {
    let rule = mock!(aws_sdk_codedeploy::Client::create_deployment)
        .then_http_response(|| json_error(400, "DeploymentLimitExceededException"));
    let cd = CodeDeployDeployments::new(mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, &[&rule]));
    let err = cd.create("api", "api-prod", &appspec(), "v2").await.expect_err("limit");
    assert_eq!(err.error_type(), "DeploymentInProgress");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("`api-prod` already has an active deployment"), "{err}");

    let rule = mock!(aws_sdk_codedeploy::Client::create_deployment)
        .then_http_response(|| json_error(400, "DeploymentGroupDoesNotExistException"));
    let cd = CodeDeployDeployments::new(mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, &[&rule]));
    let err = cd.create("api", "api-prod", &appspec(), "v2").await.expect_err("no group");
    assert_eq!(err.error_type(), "DeploymentGroupNotFound");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn codedeploy_create_sends_the_appspec_and_reads_state() {
    let create = mock!(aws_sdk_codedeploy::Client::create_deployment)
        .match_requests(|r| {
            let rev = r.revision().expect("revision");
            let content = rev.app_spec_content().expect("appspec");
            rev.revision_type() == Some(&aws_sdk_codedeploy::types::RevisionLocationType::AppSpecContent)
                && content.content() == Some("{\"version\":0.0}")
                && content.sha256().map(str::len) == Some(64)
                && r.deployment_group_name() == Some("api-prod")
        })
        .then_http_response(|| json_ok(json!({"deploymentId": "d-A1B2C3D4E"}).to_string()));
    let get = mock!(aws_sdk_codedeploy::Client::get_deployment).then_http_response(|| {
        json_ok(
            json!({"deploymentInfo": {"deploymentId": "d-A1B2C3D4E", "status": "Failed",
            "errorInformation": {"code": "HOOK_FAILED", "message": "AfterAllowTestTraffic failed"}}})
            .to_string(),
        )
    });
    let group = mock!(aws_sdk_codedeploy::Client::get_deployment_group).then_http_response(|| {
        json_ok(json!({"deploymentGroupInfo": {
            "blueGreenDeploymentConfiguration": {"deploymentReadyOption": {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": 60}},
            "ecsServices": [{"clusterName": "production", "serviceName": "api-server"}]}}).to_string())
    });
    let cd = CodeDeployDeployments::new(mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, &[&create, &get, &group]));
    assert_eq!(cd.create("api", "api-prod", &appspec(), "v2").await.expect("created"), "d-A1B2C3D4E");
    let state = cd.state("d-A1B2C3D4E").await.expect("state");
    assert_eq!(state.status, greenlight_core::ports::DeploymentStatus::Failed);
    assert_eq!(state.error_message.as_deref(), Some("AfterAllowTestTraffic failed"));
    let settings = cd.group_settings("api", "api-prod").await.expect("group");
    assert_eq!(settings.action_on_ready_timeout.as_deref(), Some("STOP_DEPLOYMENT"));
    assert_eq!(settings.ready_wait_minutes, Some(60));
    assert_eq!(settings.ecs_service.as_deref(), Some("api-server"));
}
