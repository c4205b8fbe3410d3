use lambda_runtime::{LambdaEvent, service_fn};
use on_image_push::handle;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    greenlight_runtime::init_tracing();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move { handle(&event.payload) })).await
}
