use lambda_http::{Request, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    greenlight_runtime::init_tracing();
    let handler =
        approval_callback::Handler::from_env(&greenlight_aws::load_config().await, greenlight_http::client()).await?;
    lambda_http::run(service_fn(|request: Request| handler.handle(request))).await
}
