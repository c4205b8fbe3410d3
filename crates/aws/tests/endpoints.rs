//! Clients honour AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>, so every client can target
//! an emulator. The environment is injected into the standard loader, not set process-wide.

use std::sync::{Arc, Mutex};

use aws_smithy_http_client::test_util::infallible_client_fn;
use aws_smithy_types::body::SdkBody;
use aws_types::os_shim_internal::{Env, Fs};
use greenlight_aws::Adapters;
use greenlight_core::ports::{Deployments, Images};

#[tokio::test]
async fn general_and_per_service_endpoint_variables() {
    let hosts: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = hosts.clone();
    let http = infallible_client_fn(move |req| {
        seen.lock().expect("lock").push(req.uri().to_string());
        http::Response::builder()
            .status(400)
            .body(SdkBody::from("{\"__type\":\"ValidationException\"}"))
            .expect("response")
    });
    let env = Env::from_slice(&[
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ("AWS_ENDPOINT_URL_CODEDEPLOY", "http://127.0.0.1:5001"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ]);
    let config = greenlight_aws::config_loader().env(env).fs(Fs::from_slice(&[])).http_client(http).load().await;
    let adapters = Adapters::new(&config);

    let _ = adapters.images.image("api", "sha256:ab").await;
    let _ = adapters.deployments.state("d-1").await;
    let hosts = hosts.lock().expect("lock").clone();
    assert_eq!(hosts.len(), 2, "{hosts:?}");
    assert!(hosts[0].starts_with("http://127.0.0.1:5000"), "ECR uses AWS_ENDPOINT_URL: {hosts:?}");
    assert!(hosts[1].starts_with("http://127.0.0.1:5001"), "CodeDeploy uses AWS_ENDPOINT_URL_CODEDEPLOY: {hosts:?}");
}
