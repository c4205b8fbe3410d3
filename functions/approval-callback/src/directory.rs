//! Slack's user groups for the approver check: the bot token is read from Secrets Manager the
//! first time a listed group has to be read, then kept for the process's life (a failed read
//! fails that check, which admits nobody, and the next one reads again).

use greenlight_core::Error;
use greenlight_core::ports::{Secrets, SlackDirectory};
use greenlight_http::HttpSlackDirectory;
use tokio::sync::OnceCell;

#[derive(Debug)]
pub struct LazySlackDirectory<S> {
    secrets: S,
    /// Secrets Manager id of the bot token; `None`: groups cannot be read (and admit nobody).
    token_secret: Option<String>,
    client: reqwest::Client,
    api: String,
    loaded: OnceCell<HttpSlackDirectory>,
}

impl<S: Secrets> LazySlackDirectory<S> {
    pub fn new(secrets: S, token_secret: Option<String>, client: reqwest::Client, api: String) -> Self {
        Self { secrets, token_secret, client, api, loaded: OnceCell::new() }
    }
}

impl<S: Secrets + Sync> SlackDirectory for LazySlackDirectory<S> {
    async fn group_members(&self, group_id: &str) -> Result<Vec<String>, Error> {
        let directory = self
            .loaded
            .get_or_try_init(|| async {
                let token = match &self.token_secret {
                    Some(id) => Some(self.secrets.secret(id).await?),
                    None => None,
                };
                Ok::<_, Error>(HttpSlackDirectory::new(self.client.clone(), self.api.clone(), token))
            })
            .await?;
        directory.group_members(group_id).await
    }
}
