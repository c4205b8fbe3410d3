//! greenlight's HTTP adapters: the ports of `greenlight-core` that speak plain HTTP(S), over
//! reqwest, and the AWS SDK's transport over the same client. `greenlight-aws` holds the
//! adapters that speak to AWS through the SDK.

pub mod chat;
mod probe;
mod sdk;
mod slack_api;
mod slack_directory;
mod tls;

pub use chat::HttpChat;
pub use probe::HttpProbe;
pub use sdk::sdk_http_client;
pub use slack_api::SlackWebApi;
pub use slack_directory::{HttpSlackDirectory, SLACK_API};

/// The process's one HTTP client: the AWS SDK's transport ([`sdk_http_client`]), chat webhooks
/// and the checks, over one connection pool and one rustls configuration.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder().pool_max_idle_per_host(16).tls_backend_preconfigured(tls::config()).build()
}
