//! Secrets Manager: webhook URLs and signing keys, read once per process and kept in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use greenlight_core::Error;
use greenlight_core::error::ResourceKind;
use greenlight_core::ports::Secrets;

use crate::error::{Specific, classify};

#[derive(Debug)]
pub struct SecretsManagerSecrets {
    client: aws_sdk_secretsmanager::Client,
    cache: Mutex<HashMap<String, String>>,
}

impl SecretsManagerSecrets {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client, cache: Mutex::new(HashMap::new()) }
    }
}

impl Secrets for SecretsManagerSecrets {
    async fn secret(&self, id: &str) -> Result<String, Error> {
        if let Some(v) = self.cache.lock().ok().and_then(|c| c.get(id).cloned()) {
            return Ok(v);
        }
        let out = self.client.get_secret_value().secret_id(id).send().await.map_err(|e| {
            classify("secretsmanager:GetSecretValue", e, |e| match e {
                GetSecretValueError::ResourceNotFoundException(_) => Specific::not_found(
                    ResourceKind::Secret,
                    id,
                    "check the secret's name or ARN in the function's environment",
                ),
                _ => None,
            })
        })?;
        let value = out.secret_string().unwrap_or_default().to_string();
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(id.to_string(), value.clone());
        }
        Ok(value)
    }
}
