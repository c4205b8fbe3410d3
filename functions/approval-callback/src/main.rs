use lambda_http::{Request, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    greenlight_runtime::init_tracing();
    let http = greenlight_http::client()?;
    let handler = approval_callback::Deployed::from_env(
        &greenlight_aws::load_config(greenlight_http::sdk_http_client(http.clone())).await,
        http,
    )?;
    lambda_http::run(service_fn(|request: Request| handler.handle(request))).await
}
