use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    greenlight_runtime::init_tracing();
    let handler = request_approval::Handler::from_env(&greenlight_aws::load_config().await, greenlight_http::client())?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| handler.handle(event.payload))).await
}
