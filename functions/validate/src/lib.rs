//! validate: the CodeDeploy lifecycle hook (AfterAllowTestTraffic, optionally
//! BeforeAllowTraffic) that runs the service's checks against the test listener and always
//! reports PutLifecycleEventHookExecutionStatus before its own deadline. The step is
//! `greenlight_core::pipeline::validate`; this crate wires it to the SDK, reqwest and Lambda.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use greenlight_aws::{CodeDeployDeployments, DynamoLedger, EcrImages, EcsTaskDefinitions, SsmManifest};
use greenlight_core::checks::{Probe, ValidationRecord};
use greenlight_core::pipeline::{HookEvent, HookTimes, ValidatePorts, validate};
use greenlight_core::ports::{Deployments, Images, Locks, ManifestSource, TaskDefinitions, Validations};
use greenlight_http::HttpProbe;
use greenlight_runtime::{FunctionError, env, env_number, parse_input};
use serde_json::Value;

/// Time kept back from the Lambda deadline to store and report the verdict.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Handler<M, D, T, I, L, P> {
    pub manifests: M,
    pub deployments: D,
    pub task_definitions: T,
    pub images: I,
    pub ledger: L,
    pub probe: Arc<P>,
    /// How long the service's lock lasts after this hook renews it.
    pub lease_seconds: i64,
}

impl Handler<SsmManifest, CodeDeployDeployments, EcsTaskDefinitions, EcrImages, DynamoLedger, HttpProbe> {
    /// `GREENLIGHT_MANIFEST_PARAMETER`, `GREENLIGHT_LEDGER_TABLE`; optionally
    /// `GREENLIGHT_MANIFEST_TTL_SECONDS` and `GREENLIGHT_LEASE_SECONDS`.
    pub fn from_env(config: &aws_config::SdkConfig, http: reqwest::Client) -> Result<Self, FunctionError> {
        let ttl = Duration::from_secs(env_number("GREENLIGHT_MANIFEST_TTL_SECONDS", 60)?);
        let probe = HttpProbe::new(http);
        #[cfg(feature = "fault-injection")]
        let probe = probe.panicking(greenlight_runtime::fault_injection().as_deref() == Some("panic_in_checks"));
        Ok(Self {
            manifests: SsmManifest::new(aws_sdk_ssm::Client::new(config), env("GREENLIGHT_MANIFEST_PARAMETER")?, ttl),
            deployments: CodeDeployDeployments::new(aws_sdk_codedeploy::Client::new(config)),
            task_definitions: EcsTaskDefinitions::new(aws_sdk_ecs::Client::new(config)),
            images: EcrImages::new(aws_sdk_ecr::Client::new(config)),
            ledger: DynamoLedger::new(aws_sdk_dynamodb::Client::new(config), env("GREENLIGHT_LEDGER_TABLE")?),
            probe: Arc::new(probe),
            lease_seconds: greenlight_runtime::lease_seconds()?,
        })
    }
}

impl<M, D, T, I, L, P> Handler<M, D, T, I, L, P>
where
    M: ManifestSource + Sync,
    D: Deployments + Sync,
    T: TaskDefinitions + Sync,
    I: Images + Sync,
    L: Validations + Locks + Sync,
    P: Probe,
{
    /// Runs the checks and reports the verdict to CodeDeploy, whatever happens on the way.
    pub async fn handle(&self, payload: Value, lambda_deadline: SystemTime) -> Result<ValidationRecord, FunctionError> {
        let event: HookEvent = parse_input(payload)?;
        let remaining = lambda_deadline.duration_since(SystemTime::now()).unwrap_or_default();
        let times = HookTimes { budget: remaining.saturating_sub(SAFETY_MARGIN), lease_seconds: self.lease_seconds };
        let ports = ValidatePorts {
            manifests: &self.manifests,
            deployments: &self.deployments,
            task_definitions: &self.task_definitions,
            images: &self.images,
            ledger: &self.ledger,
            probe: &self.probe,
        };
        Ok(validate(&event, ports, times).await?)
    }
}

#[cfg(test)]
mod tests;
