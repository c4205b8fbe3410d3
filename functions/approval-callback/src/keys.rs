//! The keys requests are verified with (Slack's signing secret, the link key), read from
//! Secrets Manager on the first request that needs them, then kept for the process's life: a
//! cold start does not wait on them, and a request is never checked against a key that could
//! not be read (that request fails, and the next one reads again).

use greenlight_core::Error;
use greenlight_core::ports::Secrets;
use tokio::sync::OnceCell;

use crate::routes::CallbackKeys;

#[derive(Debug)]
pub struct Keys<S> {
    secrets: S,
    /// Secrets Manager ids; `None`: that channel is not configured and refuses.
    slack_signing_secret: Option<String>,
    link_key_secret: Option<String>,
    loaded: OnceCell<CallbackKeys>,
}

impl<S: Secrets> Keys<S> {
    /// Keys to read from `secrets` when first needed.
    pub fn new(secrets: S, slack_signing_secret: Option<String>, link_key_secret: Option<String>) -> Self {
        Self { secrets, slack_signing_secret, link_key_secret, loaded: OnceCell::new() }
    }

    /// Keys known already (tests).
    pub fn ready(secrets: S, keys: CallbackKeys) -> Self {
        Self { secrets, slack_signing_secret: None, link_key_secret: None, loaded: OnceCell::new_with(Some(keys)) }
    }

    /// The keys, read on first use.
    pub async fn get(&self) -> Result<&CallbackKeys, Error> {
        self.loaded
            .get_or_try_init(|| async {
                let read = |id: Option<String>| async move {
                    match id {
                        Some(id) => Ok::<_, Error>(Some(self.secrets.secret(&id).await?.into_bytes())),
                        None => Ok(None),
                    }
                };
                Ok(CallbackKeys {
                    slack_signing_secret: read(self.slack_signing_secret.clone()).await?,
                    link_key: read(self.link_key_secret.clone()).await?,
                })
            })
            .await
    }
}
