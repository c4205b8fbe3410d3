//! greenlight's HTTP adapters: the ports of `greenlight-core` that speak plain HTTP(S), over
//! reqwest. `greenlight-aws` holds the ones that speak to AWS through the SDK.

mod chat;
mod probe;

pub use chat::HttpChat;
pub use probe::HttpProbe;

/// The process's one HTTP client for chat webhooks and checks (connections reused).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(16).build().unwrap_or_default()
}
