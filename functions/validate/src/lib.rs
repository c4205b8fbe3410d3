//! validate: the CodeDeploy lifecycle hook (AfterAllowTestTraffic, optionally
//! BeforeAllowTraffic) that runs the service's checks against the test listener.
//!
//! It always reports PutLifecycleEventHookExecutionStatus before its own deadline: the verdict
//! must come within min(the manifest's deadline, the Lambda's remaining time − a margin), and a
//! hanging target, a refused connection, a DNS failure, a panic in check code or an error
//! reading the deployment all end in Failed with the reason. The report call is retried on
//! throttling and transient errors. The report is logged as one JSON line and stored in the
//! ledger under the deployment id.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::FutureExt;
use greenlight_aws::{CodeDeployDeployments, DynamoLedger, EcrImages, EcsTaskDefinitions, SsmManifest};
use greenlight_core::Error;
use greenlight_core::checks::{Probe, ProbeRequest, ProbeResponse, Report, Vars, panic_message, run};
use greenlight_core::manifest::Service;
use greenlight_core::pipeline::{Lease, traffic_gate};
use greenlight_core::ports::{Deployments, Images, Ledger, Locks, ManifestSource, TaskDefinitions};
use greenlight_runtime::{FunctionError, env, env_number, parse_input};
use serde::Deserialize;
use serde_json::{Value, json};

/// Time kept back from the Lambda deadline to store and report the verdict.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(5);
/// How long storing the report in the ledger may take before reporting goes ahead without it.
const LEDGER_TIMEOUT: Duration = Duration::from_secs(2);
const REPORT_ATTEMPTS: u32 = 5;

/// The event CodeDeploy sends to a lifecycle hook.
#[derive(Debug, Deserialize)]
pub struct HookEvent {
    #[serde(rename = "DeploymentId")]
    pub deployment_id: String,
    #[serde(rename = "LifecycleEventHookExecutionId")]
    pub hook_execution_id: String,
}

/// HTTP checks over one reqwest client (connections are reused across checks and attempts).
#[derive(Debug, Clone)]
pub struct HttpProbe {
    client: reqwest::Client,
    /// Fault injection for the always-reports guarantee: every check panics.
    panic_in_checks: bool,
}

impl HttpProbe {
    pub fn new(panic_in_checks: bool) -> Self {
        let client = reqwest::Client::builder().pool_max_idle_per_host(16).build().unwrap_or_default();
        Self { client, panic_in_checks }
    }
}

impl Probe for HttpProbe {
    async fn send(&self, request: ProbeRequest) -> Result<ProbeResponse, String> {
        assert!(!self.panic_in_checks, "fault injection: GREENLIGHT_FAULT_INJECTION=panic_in_checks");
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|e| format!("method: {e}"))?;
        let mut builder = self.client.request(method, &request.url).timeout(request.timeout);
        for (k, v) in &request.headers {
            builder = builder.header(k, v);
        }
        let response = builder.send().await.map_err(|e| describe(&e, request.timeout))?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|e| describe(&e, request.timeout))?;
        Ok(ProbeResponse { status, body })
    }
}

fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    let mut chain = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        chain = s.to_string();
        source = s.source();
    }
    if e.is_timeout() {
        format!("no answer within {} ms", timeout.as_millis())
    } else if e.is_connect() {
        format!("cannot connect: {chain}")
    } else {
        format!("{e}{}", if chain.is_empty() { String::new() } else { format!(": {chain}") })
    }
}

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
    /// `GREENLIGHT_MANIFEST_TTL_SECONDS`, `GREENLIGHT_LEASE_SECONDS` and
    /// `GREENLIGHT_FAULT_INJECTION=panic_in_checks`.
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, FunctionError> {
        let ttl = Duration::from_secs(env_number("GREENLIGHT_MANIFEST_TTL_SECONDS", 60)?);
        let panic_in_checks = std::env::var("GREENLIGHT_FAULT_INJECTION").is_ok_and(|v| v == "panic_in_checks");
        Ok(Self {
            manifests: SsmManifest::new(aws_sdk_ssm::Client::new(config), env("GREENLIGHT_MANIFEST_PARAMETER")?, ttl),
            deployments: CodeDeployDeployments::new(aws_sdk_codedeploy::Client::new(config)),
            task_definitions: EcsTaskDefinitions::new(aws_sdk_ecs::Client::new(config)),
            images: EcrImages::new(aws_sdk_ecr::Client::new(config)),
            ledger: DynamoLedger::new(aws_sdk_dynamodb::Client::new(config), env("GREENLIGHT_LEDGER_TABLE")?),
            probe: Arc::new(HttpProbe::new(panic_in_checks)),
            lease_seconds: greenlight_runtime::lease_seconds()?,
        })
    }
}

/// What the checks ran against, for the report.
#[derive(Debug, Default)]
struct Target {
    service: Option<String>,
    vars: Vars,
}

impl<M, D, T, I, L, P> Handler<M, D, T, I, L, P>
where
    M: ManifestSource + Sync,
    D: Deployments + Sync,
    T: TaskDefinitions + Sync,
    I: Images + Sync,
    L: Ledger + Locks + Sync,
    P: Probe,
{
    /// Runs the checks and reports the verdict to CodeDeploy, whatever happens on the way.
    pub async fn handle(&self, payload: Value, lambda_deadline: SystemTime) -> Result<Value, FunctionError> {
        let event: HookEvent = parse_input(payload)?;
        let started = Instant::now();
        let budget =
            lambda_deadline.duration_since(SystemTime::now()).unwrap_or_default().saturating_sub(SAFETY_MARGIN);
        let mut target = Target::default();
        let verdict =
            tokio::time::timeout(budget, AssertUnwindSafe(self.validate(&event, budget, &mut target)).catch_unwind())
                .await;
        let report = match verdict {
            Ok(Ok(Ok(report))) => report,
            Ok(Ok(Err(e))) => Report::failed(format!("{e}"), started.elapsed()),
            Ok(Err(panic)) => {
                Report::failed(format!("the validation crashed: {}", panic_message(panic)), started.elapsed())
            }
            Err(_) => Report::failed(
                format!("no verdict within {} ms (the Lambda deadline less a safety margin)", budget.as_millis()),
                started.elapsed(),
            ),
        };
        let record = json!({
            "deployment_id": event.deployment_id,
            "hook_execution_id": event.hook_execution_id,
            "service": target.service,
            "image_tag": target.vars.image_tag,
            "image_digest": target.vars.image_digest,
            "task_definition_revision": target.vars.task_definition_revision,
            "report": report,
        });
        match tokio::time::timeout(LEDGER_TIMEOUT, self.ledger.save_validation(&event.deployment_id, &record)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(deployment_id = event.deployment_id, error = %e, "validation report not stored")
            }
            Err(_) => tracing::warn!(
                deployment_id = event.deployment_id,
                "validation report not stored: the ledger did not answer"
            ),
        }
        tracing::info!(
            service = target.service,
            image_digest = target.vars.image_digest,
            deployment_id = event.deployment_id,
            passed = report.passed,
            reason = report.reason,
            report = %record["report"],
            "validation report"
        );
        self.report(&event, report.passed).await?;
        Ok(record)
    }

    async fn report(&self, event: &HookEvent, passed: bool) -> Result<(), Error> {
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=REPORT_ATTEMPTS {
            match self.deployments.report_hook(&event.deployment_id, &event.hook_execution_id, passed).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retryable() && attempt < REPORT_ATTEMPTS => {
                    tracing::warn!(deployment_id = event.deployment_id, attempt, error = %e, "reporting the hook status again");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn validate(&self, event: &HookEvent, budget: Duration, target: &mut Target) -> Result<Report, Error> {
        let info = self.deployments.info(&event.deployment_id).await?;
        let manifest = self.manifests.manifest().await?;
        let service = manifest
            .services
            .iter()
            .find(|s| {
                s.codedeploy.application == info.application && s.codedeploy.deployment_group == info.deployment_group
            })
            .ok_or_else(|| Error::UnknownService {
                service: format!("for deployment group {}/{}", info.application, info.deployment_group),
                known: manifest.services.iter().map(|s| s.name.clone()).collect(),
            })?;
        target.service = Some(service.name.clone());
        target.vars = self.vars(service, info.task_definition_arn.as_deref()).await?;
        let started = Instant::now();
        let report = if service.validation.enabled {
            let url = service.validation.test_listener_url.clone().unwrap_or_default();
            let deadline = Duration::from_secs(service.validation.deadline_seconds.into()).min(budget);
            run(self.probe.clone(), &url, &service.validation.checks, &target.vars, deadline).await
        } else {
            Report { passed: true, reason: None, checks: Vec::new(), elapsed_ms: 0 }
        };
        if !report.passed {
            return Ok(report);
        }
        let lease = Lease { now: greenlight_runtime::now(), seconds: self.lease_seconds };
        let vars = &target.vars;
        match traffic_gate(service, &vars.image_tag, &vars.image_digest, &self.ledger, lease).await {
            Ok(()) => Ok(report),
            Err(e @ Error::Superseded { .. }) => Ok(Report { passed: false, reason: Some(e.to_string()), ..report }),
            Err(e) => Ok(Report::failed(format!("the service's lock could not be checked: {e}"), started.elapsed())),
        }
    }

    /// `${image_digest}` and `${task_definition_revision}` from green's task definition,
    /// `${image_tag}` from ECR's tags for that digest.
    async fn vars(&self, service: &Service, task_definition_arn: Option<&str>) -> Result<Vars, Error> {
        let arn = task_definition_arn.ok_or_else(|| Error::InvalidInput {
            field: "deployment AppSpec TaskDefinition".into(),
            problem: "is missing: the deployment was not started from an AppSpec greenlight can read".into(),
        })?;
        let td = self.task_definitions.describe(arn).await?;
        let container = service.containers.first().map(String::as_str).unwrap_or_default();
        let image = td.image_of(container).unwrap_or_default();
        let digest = image.split_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
        let tags = match self.images.image(&service.repository, &digest).await {
            Ok(image) => image.tags,
            Err(e) => {
                tracing::warn!(error = %e, "image tags unknown; ${{image_tag}} is empty");
                Vec::new()
            }
        };
        let tag = service
            .tags
            .compile()
            .ok()
            .and_then(|m| tags.iter().find(|t| m.verdict(t).accepted()).cloned())
            .or_else(|| tags.first().cloned())
            .unwrap_or_default();
        let revision = td.revision().map(|r| r.to_string()).or_else(|| arn.rsplit(':').next().map(str::to_string));
        Ok(Vars { image_tag: tag, image_digest: digest, task_definition_revision: revision.unwrap_or_default() })
    }
}

#[cfg(test)]
mod tests;
