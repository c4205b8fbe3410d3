//! validate's step, the CodeDeploy lifecycle hook: find the service from the deployment, run
//! its checks against the test listener with the push's template variables, have the lock's
//! last word before production traffic moves, store the record, and always report.
//!
//! Invariant: every path (an error reading the deployment, a hanging target, a panic in check
//! code, the budget running out) ends in PutLifecycleEventHookExecutionStatus.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use crate::checks::{Probe, Report, ValidationRecord, Vars, panic_message, run};
use crate::error::Error;
use crate::lock::Renew;
use crate::manifest::{Manifest, Service};
use crate::ports::{DeploymentInfo, Deployments, Images, Locks, ManifestSource, TaskDefinitions, Validations};

use super::HookEvent;
use super::lease::{Lease, hold_lock};

/// How long storing the report in the ledger may take before reporting goes ahead without it.
const LEDGER_TIMEOUT: Duration = Duration::from_secs(2);
const REPORT_ATTEMPTS: u32 = 5;

/// Ports the validation hook uses.
#[derive(Debug)]
pub struct ValidatePorts<'a, M, D, T, I, L, P> {
    pub manifests: &'a M,
    pub deployments: &'a D,
    pub task_definitions: &'a T,
    pub images: &'a I,
    pub ledger: &'a L,
    /// The checks' HTTP client (shared by the concurrent checks).
    pub probe: &'a Arc<P>,
}

/// The hook's time: the verdict is due within `budget` (the Lambda's remaining time less a
/// margin for storing and reporting it); the lock's lease is renewed for `lease_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookTimes {
    pub budget: Duration,
    pub lease_seconds: i64,
}

/// The validation hook: runs the checks and reports the verdict to CodeDeploy, whatever
/// happens on the way; returns the record it stored. Its error is only a report that could
/// not be delivered (after retries).
pub async fn validate<M, D, T, I, L, P>(
    event: &HookEvent,
    ports: ValidatePorts<'_, M, D, T, I, L, P>,
    times: HookTimes,
) -> Result<ValidationRecord, Error>
where
    M: ManifestSource + Sync,
    D: Deployments + Sync,
    T: TaskDefinitions + Sync,
    I: Images + Sync,
    L: Validations + Locks + Sync,
    P: Probe,
{
    let started = Instant::now();
    let mut record = ValidationRecord {
        deployment_id: event.deployment_id.clone(),
        hook_execution_id: event.hook_execution_id.clone(),
        service: None,
        vars: Vars::default(),
        report: Report::failed("not run", Duration::ZERO),
    };
    let verdict = AssertUnwindSafe(verdict(event, &ports, times, &mut record)).catch_unwind();
    record.report = match tokio::time::timeout(times.budget, verdict).await {
        Ok(Ok(Ok(report))) => report,
        Ok(Ok(Err(e))) => Report::failed(format!("{e}"), started.elapsed()),
        Ok(Err(panic)) => {
            Report::failed(format!("the validation crashed: {}", panic_message(panic)), started.elapsed())
        }
        Err(_) => Report::failed(
            format!("no verdict within {} ms (the Lambda deadline less a safety margin)", times.budget.as_millis()),
            started.elapsed(),
        ),
    };
    match tokio::time::timeout(LEDGER_TIMEOUT, ports.ledger.save_validation(&record)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(deployment_id = event.deployment_id, error = %e, "validation report not stored"),
        Err(_) => {
            tracing::warn!(
                deployment_id = event.deployment_id,
                "validation report not stored: the ledger did not answer"
            )
        }
    }
    tracing::info!(
        service = record.service,
        image_digest = record.vars.image_digest,
        deployment_id = event.deployment_id,
        passed = record.report.passed,
        reason = record.report.reason,
        report = %serde_json::to_value(&record.report).unwrap_or_default(),
        "validation report"
    );
    report(ports.deployments, event, record.report.passed).await?;
    Ok(record)
}

/// PutLifecycleEventHookExecutionStatus, retried on throttling and transient errors.
async fn report(deployments: &impl Deployments, event: &HookEvent, passed: bool) -> Result<(), Error> {
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=REPORT_ATTEMPTS {
        match deployments.report_hook(&event.deployment_id, &event.hook_execution_id, passed).await {
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

/// The manifest's service whose CodeDeploy application and group ran this deployment.
fn service_of<'a>(manifest: &'a Manifest, info: &DeploymentInfo) -> Result<&'a Service, Error> {
    manifest
        .services
        .iter()
        .find(|s| {
            s.codedeploy.application == info.application && s.codedeploy.deployment_group == info.deployment_group
        })
        .ok_or_else(|| Error::UnknownService {
            service: format!("for deployment group {}/{}", info.application, info.deployment_group),
            known: manifest.services.iter().map(|s| s.name.clone()).collect(),
        })
}

/// The checks' verdict, then the traffic gate; fills in what the record says it ran against.
async fn verdict<M, D, T, I, L, P>(
    event: &HookEvent,
    ports: &ValidatePorts<'_, M, D, T, I, L, P>,
    times: HookTimes,
    record: &mut ValidationRecord,
) -> Result<Report, Error>
where
    M: ManifestSource,
    D: Deployments,
    T: TaskDefinitions,
    I: Images,
    L: Locks,
    P: Probe,
{
    let info = ports.deployments.info(&event.deployment_id).await?;
    let manifest = ports.manifests.manifest().await?;
    let service = service_of(&manifest, &info)?;
    record.service = Some(service.name.clone());
    record.vars = vars(ports, service, info.task_definition_arn.as_deref()).await?;
    let started = Instant::now();
    let report = if service.validation.enabled {
        let url = service.validation.test_listener_url.clone().unwrap_or_default();
        let deadline = Duration::from_secs(service.validation.deadline_seconds.into()).min(times.budget);
        run(ports.probe.clone(), &url, &service.validation.checks, &record.vars, deadline).await
    } else {
        Report { passed: true, reason: None, checks: Vec::new(), elapsed_ms: 0 }
    };
    if !report.passed {
        return Ok(report);
    }
    let lease = Lease { now: chrono::Utc::now().timestamp(), seconds: times.lease_seconds };
    let vars = &record.vars;
    match traffic_gate(service, &event.deployment_id, &vars.image_digest, ports.ledger, lease).await {
        Ok(()) => Ok(report),
        Err(e @ Error::Superseded { .. }) => Ok(Report { passed: false, reason: Some(e.to_string()), ..report }),
        Err(e) => Ok(Report::failed(format!("the service's lock could not be checked: {e}"), started.elapsed())),
    }
}

/// `${image_digest}` and `${task_definition_revision}` from green's task definition;
/// `${image_tag}` is the tag of the push this deployment carries (the lock's holder names it),
/// else, for a deployment whose execution lost the lock, a tag ECR has for the digest that the
/// service's tag rules accept.
async fn vars<M, D, T, I, L, P>(
    ports: &ValidatePorts<'_, M, D, T, I, L, P>,
    service: &Service,
    task_definition_arn: Option<&str>,
) -> Result<Vars, Error>
where
    T: TaskDefinitions,
    I: Images,
    L: Locks,
{
    let arn = task_definition_arn.ok_or_else(|| Error::InvalidInput {
        field: "deployment AppSpec TaskDefinition".into(),
        problem: "is missing: the deployment was not started from an AppSpec greenlight can read".into(),
    })?;
    let td = ports.task_definitions.describe(arn).await?;
    let container = service.containers.first().map(String::as_str).unwrap_or_default();
    let image = td.image_of(container).unwrap_or_default();
    let digest = image.split_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
    let revision = td.revision().map(|r| r.to_string()).or_else(|| arn.rsplit(':').next().map(str::to_string));
    let pushed = match ports.ledger.holder(&service.name).await {
        Ok(Some(holder)) if holder.digest == digest => Some(holder.tag),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "the service's lock could not be read; ${{image_tag}} comes from ECR's tags");
            None
        }
    };
    let tag = match pushed {
        Some(tag) => tag,
        None => accepted_tag(ports.images, service, &digest).await,
    };
    Ok(Vars { image_tag: tag, image_digest: digest, task_definition_revision: revision.unwrap_or_default() })
}

/// A tag ECR has for the digest that the service's rules accept (else its first tag, else none).
async fn accepted_tag(images: &impl Images, service: &Service, digest: &str) -> String {
    let tags = match images.image(&service.repository, digest).await {
        Ok(image) => image.tags,
        Err(e) => {
            tracing::warn!(error = %e, "image tags unknown; ${{image_tag}} is empty");
            Vec::new()
        }
    };
    service.tags.first_accepted(&tags).or_else(|| tags.first().cloned()).unwrap_or_default()
}

/// The validation hook's last word before production traffic moves: the deployment's
/// execution must still hold the service's lock (the holder recorded this deployment, or has
/// recorded none yet and carries this digest), and (when no approval follows) the lock records
/// that traffic moves from now on, so no newer request stops it halfway. Conditional writes
/// decide between this and a newer request taking the lock over: exactly one wins.
pub async fn traffic_gate(
    service: &Service,
    deployment_id: &str,
    digest: &str,
    ledger: &impl Locks,
    lease: Lease,
) -> Result<(), Error> {
    let holder = ledger.holder(&service.name).await?;
    let ours = holder.as_ref().filter(|h| match &h.deployment_id {
        Some(id) => id == deployment_id,
        None => h.digest == digest,
    });
    let Some(holder) = ours else {
        return Err(Error::Superseded {
            service: service.name.clone(),
            tag: crate::lock::short_digest(digest),
            by: crate::lock::lost_to(holder.as_ref()),
        });
    };
    let renew = Renew { shifting: !service.approval.required, ..Renew::default() };
    hold_lock(ledger, &service.name, &holder.tag, &holder.execution, lease.until(), &renew).await
}

/// The validation reports the ledger holds for a deployment, as readable text, and the reason
/// of the last failed one; empty when there are none or the ledger cannot be read (a
/// notification goes out regardless).
pub async fn validation_summary(ledger: &impl Validations, deployment_id: &str) -> (String, Option<String>) {
    let records = ledger.validations(deployment_id).await.unwrap_or_default();
    let failure = records.iter().rev().find_map(|r| r.report.reason.clone());
    let text = records.iter().map(|r| format!("\nValidation:\n{}\n", r.report.summary())).collect::<String>();
    (text, failure)
}
