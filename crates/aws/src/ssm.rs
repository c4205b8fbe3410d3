//! The deploy manifest from an SSM parameter, cached for a while per process (a warm Lambda
//! instance reads it once per `ttl`, not once per event).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use greenlight_core::Error;
use greenlight_core::manifest::Manifest;
use greenlight_core::ports::ManifestSource;

use crate::error::{Specific, classify};

#[derive(Debug)]
pub struct SsmManifest {
    client: aws_sdk_ssm::Client,
    parameter: String,
    ttl: Duration,
    cache: Mutex<Option<(Instant, Manifest)>>,
}

impl SsmManifest {
    pub fn new(client: aws_sdk_ssm::Client, parameter: impl Into<String>, ttl: Duration) -> Self {
        Self { client, parameter: parameter.into(), ttl, cache: Mutex::new(None) }
    }

    fn cached(&self) -> Option<Manifest> {
        let cache = self.cache.lock().ok()?;
        cache.as_ref().filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, m)| m.clone())
    }
}

impl ManifestSource for SsmManifest {
    async fn manifest(&self) -> Result<Manifest, Error> {
        if let Some(m) = self.cached() {
            return Ok(m);
        }
        let out = self.client.get_parameter().name(&self.parameter).send().await.map_err(|e| {
            classify("ssm:GetParameter", e, |e| match e {
                GetParameterError::ParameterNotFound(_) => Specific::not_found(
                    greenlight_core::error::ResourceKind::ManifestParameter,
                    &self.parameter,
                    "check GREENLIGHT_MANIFEST_PARAMETER",
                ),
                _ => None,
            })
        })?;
        let text = out.parameter().and_then(|p| p.value()).unwrap_or_default();
        let manifest = Manifest::parse(text)?;
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some((Instant::now(), manifest.clone()));
        }
        Ok(manifest)
    }
}
