use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    greenlight_runtime::init_tracing();
    let http = greenlight_http::client()?;
    let handler = finish::Handler::from_env(
        &greenlight_aws::load_config(greenlight_http::sdk_http_client(http.clone())).await,
        http,
    )?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| handler.handle(event.payload))).await
}
