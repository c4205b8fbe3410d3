//! A CodeDeploy lifecycle hook for the emulation's tests. `HOOK_BEHAVIOUR`: `succeed` (default)
//! and `fail` report that status with PutLifecycleEventHookExecutionStatus; `silent` never
//! reports, as a hook that hangs would; `error` fails the invocation with errorType
//! `TestHookFailure`; `check` reports Succeeded when GET `CHECK_URL` answers 2xx, else Failed
//! (one request, no more: the smoke test of the emulation's demo).

// Its log (the function's output) says why a check failed.
#![allow(clippy::print_stderr)]

use aws_sdk_codedeploy::types::LifecycleEventStatus;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let http = greenlight_http::client()?;
    let config = greenlight_aws::load_config(greenlight_http::sdk_http_client(http.clone())).await;
    let client = aws_sdk_codedeploy::Client::new(&config);
    let behaviour = std::env::var("HOOK_BEHAVIOUR").unwrap_or_else(|_| "succeed".into());
    let check_url = std::env::var("CHECK_URL").unwrap_or_default();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let client = client.clone();
        let behaviour = behaviour.clone();
        let (http, check_url) = (http.clone(), check_url.clone());
        async move {
            let status = match behaviour.as_str() {
                "silent" => return Ok(json!({"reported": null})),
                "error" => {
                    return Err(Diagnostic {
                        error_type: "TestHookFailure".into(),
                        error_message: "the test hook was told to fail".into(),
                    });
                }
                "fail" => LifecycleEventStatus::Failed,
                "check" => match http.get(&check_url).timeout(std::time::Duration::from_secs(5)).send().await {
                    Ok(r) if r.status().is_success() => LifecycleEventStatus::Succeeded,
                    Ok(r) => {
                        eprintln!("GET {check_url}: HTTP {}", r.status());
                        LifecycleEventStatus::Failed
                    }
                    Err(e) => {
                        eprintln!("GET {check_url}: {e:?}");
                        LifecycleEventStatus::Failed
                    }
                },
                _ => LifecycleEventStatus::Succeeded,
            };
            client
                .put_lifecycle_event_hook_execution_status()
                .deployment_id(event.payload["DeploymentId"].as_str().unwrap_or_default())
                .lifecycle_event_hook_execution_id(
                    event.payload["LifecycleEventHookExecutionId"].as_str().unwrap_or_default(),
                )
                .status(status.clone())
                .send()
                .await
                .map_err(|e| Diagnostic { error_type: "PutStatusFailed".into(), error_message: format!("{e:?}") })?;
            Ok(json!({"reported": status.as_str()}))
        }
    }))
    .await
}
