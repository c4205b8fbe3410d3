//! start-deployment's step: CreateDeployment with the plan's AppSpec for the registered
//! revision, between two lock checks.

use crate::error::Error;
use crate::history::{HistoryUpdate, TimelineState};
use crate::lock::Renew;
use crate::plan::{HookFunctions, deployment_appspec};
use crate::ports::{Deployments, History, Locks, ManifestSource};

use super::lease::{Lease, keep_lock};
use super::{Started, StepInput, find_service, missing_input};

/// Ports start-deployment uses.
#[derive(Debug)]
pub struct StartPorts<'a, M, D, L> {
    pub manifests: &'a M,
    pub deployments: &'a D,
    pub ledger: &'a L,
}

/// The description of the deployment a push starts: how rollback finds one whose id was lost.
pub(super) fn deployment_description(service: &str, push: &crate::event::Push) -> String {
    format!("greenlight: {service} {} ({})", push.tag, push.digest)
}

/// start-deployment: CreateDeployment with the AppSpec of the prepared revision, while this
/// execution holds the service's lock (checked before, and recorded with the deployment id
/// after: a deployment created after losing the lock is stopped at once).
pub async fn start_deployment<M, D, L>(
    input: &StepInput,
    ports: StartPorts<'_, M, D, L>,
    validate_function: Option<&str>,
    lease: Lease,
) -> Result<Started, Error>
where
    M: ManifestSource,
    D: Deployments,
    L: Locks + History,
{
    let manifest = ports.manifests.manifest().await?;
    let service = find_service(&manifest, &input.service)?;
    let prepared = input.prepared.as_ref().ok_or_else(|| missing_input("prepared"))?;
    let arn = prepared.task_definition_arn.clone().ok_or_else(|| missing_input("prepared.task_definition_arn"))?;
    let port = prepared.container_port.ok_or_else(|| missing_input("prepared.container_port"))?;
    let validate = validate_function.map(str::to_string).ok_or_else(|| Error::Configuration {
        variable: "GREENLIGHT_VALIDATE_FUNCTION",
        problem: "is not set: the validate function runs in the AfterAllowTestTraffic hook (the checks, and the lock's last word before production traffic moves)".into(),
    })?;
    let ledger = ports.ledger;
    keep_lock(ledger, &input.service, &input.push, lease.until(), &Renew::default()).await?;
    let spec = deployment_appspec(service, arn, port, &HookFunctions { validate });
    let description = deployment_description(&service.name, &input.push);
    let deployment_id = ports
        .deployments
        .create(&service.codedeploy.application, &service.codedeploy.deployment_group, &spec, &description)
        .await?;
    let recorded = Renew { deployment_id: Some(&deployment_id), ..Renew::default() };
    if let Err(e) = keep_lock(ledger, &input.service, &input.push, lease.until(), &recorded).await {
        ports.deployments.stop(&deployment_id).await?;
        return Err(e);
    }
    let mut update = HistoryUpdate::state(TimelineState::DeploymentCreated);
    update.deployment_id = Some(deployment_id.clone());
    ledger.record(&service.name, &input.push, &update).await?;
    Ok(Started { deployment_id, appspec_sha256: spec.sha256 })
}
