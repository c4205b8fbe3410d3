//! The "Roll back" button of a success message in Slack: the release the approval let through,
//! what it would go back to (shown in the confirmation), and the rollback itself through core's
//! `revert`, the path `greenlight rollback` takes, told on the notification topic; and the "Stop"
//! button of an approved deploy still in flight.

use greenlight_core::Error;
use greenlight_core::approval::ApprovalRecord;
use greenlight_core::history::{DeploymentRecord, HistoryUpdate, TimelineState};
use greenlight_core::manifest::Service;
use greenlight_core::pipeline::{
    RevertPorts, RevertRequest, RevertTarget, Reverted, before_release, find_service, revert,
};
use greenlight_core::ports::{
    Deployments, Executions, History, Images, Locks, ManifestSource, Notifier, TaskDefinitions,
};
use greenlight_core::request::Requested;
use greenlight_core::slack_outcomes::SlackRoute;

/// Rolling back the release an approval let through.
pub trait RollBacks {
    /// What a rollback would deploy (`v1 (web:3)`); refused as the rollback itself would be.
    fn target(&self, approval: &ApprovalRecord) -> impl Future<Output = Result<String, Error>> + Send;

    /// Starts the rollback and tells the team on the notification topic.
    fn roll_back(
        &self,
        approval: &ApprovalRecord,
        requested: Requested,
    ) -> impl Future<Output = Result<Reverted, Error>> + Send;

    /// Stops the approval's deployment while its execution still holds the service's lock
    /// (CodeDeploy rolls it back; the execution's rollback step tells how it ended), records
    /// who asked in the ledger and tells the topic.
    fn stop(
        &self,
        approval: &ApprovalRecord,
        requested: &Requested,
    ) -> impl Future<Output = Result<Stop, Error>> + Send;
}

/// What a Stop did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// StopDeployment with rollback was sent; where the service's deploys are told in Slack.
    Stopped(SlackRoute),
    /// The deployment is no longer in flight: nothing was stopped (why).
    NotInFlight(String),
}

/// The rollbacks over the AWS adapters (or any ports).
#[derive(Debug)]
pub struct Rollbacks<M, T, I, D, E, L, N> {
    pub manifests: M,
    pub task_definitions: T,
    pub images: I,
    pub deployments: D,
    pub executions: E,
    pub ledger: L,
    pub notifier: N,
    /// Seconds between two looks at the deployment (the orchestrator's `wait_seconds`).
    pub wait_seconds: u32,
}

impl<M, T, I, D, E, L, N> Rollbacks<M, T, I, D, E, L, N>
where
    M: ManifestSource + Sync,
    L: History + Sync,
{
    /// The approval's service and the ledger's record of the release it let through.
    async fn release(&self, approval: &ApprovalRecord) -> Result<(Service, Vec<DeploymentRecord>, usize), Error> {
        let manifest = self.manifests.manifest().await?;
        let service = find_service(&manifest, &approval.service)?.clone();
        let records = self.ledger.deployments(&service.name, 100).await?;
        let at = records.iter().position(|r| r.deployment_id.as_deref() == Some(approval.deployment_id.as_str()));
        let at = at.ok_or_else(|| Error::RollbackRefused {
            service: service.name.clone(),
            problem: format!("the ledger has no release of deployment {}", approval.deployment_id),
        })?;
        Ok((service, records, at))
    }
}

impl<M, T, I, D, E, L, N> RollBacks for Rollbacks<M, T, I, D, E, L, N>
where
    M: ManifestSource + Sync,
    T: TaskDefinitions + Sync,
    I: Images + Sync,
    D: Deployments + Sync,
    E: Executions + Sync,
    L: Locks + History + Sync,
    N: Notifier + Sync,
{
    async fn target(&self, approval: &ApprovalRecord) -> Result<String, Error> {
        let (service, records, at) = self.release(approval).await?;
        let revision = before_release(&service, &records[at].execution, &records)?;
        let name = revision.rsplit('/').next().unwrap_or(&revision).to_string();
        Ok(match records.iter().find(|r| r.task_definition.as_deref() == Some(revision.as_str())) {
            Some(r) => format!("{} ({name})", r.tag),
            None => name,
        })
    }

    async fn roll_back(&self, approval: &ApprovalRecord, requested: Requested) -> Result<Reverted, Error> {
        let (service, records, at) = self.release(approval).await?;
        let release = &records[at];
        let push = release.request.as_ref();
        let request = RevertRequest {
            service: &service,
            to: RevertTarget::Release { execution: &release.execution },
            requested,
            account: push.map(|p| p.account.clone()).unwrap_or_default(),
            region: push.map(|p| p.region.clone()).unwrap_or_default(),
            wait_seconds: self.wait_seconds,
        };
        let ports = RevertPorts {
            task_definitions: &self.task_definitions,
            images: &self.images,
            deployments: &self.deployments,
            executions: &self.executions,
            ledger: &self.ledger,
        };
        let reverted = revert(&request, ports).await?;
        if let Err(e) = self.notifier.notify(&reverted.subject, &reverted.message).await {
            tracing::warn!(service = service.name, error = %e, "the rollback started; the topic was not told");
        }
        Ok(reverted)
    }

    async fn stop(&self, approval: &ApprovalRecord, requested: &Requested) -> Result<Stop, Error> {
        let (service, records, at) = self.release(approval).await?;
        let id = approval.deployment_id.as_str();
        let holder = self.ledger.holder(&service.name).await?;
        let ended = format!(
            "{} {}'s deployment {id} is no longer in flight: nothing was stopped. To go back, use Roll back on its success message or `greenlight rollback {}`",
            service.name, approval.tag, service.name
        );
        if holder.is_none_or(|h| h.execution != records[at].execution || h.deployment_id.as_deref() != Some(id)) {
            return Ok(Stop::NotInFlight(ended));
        }
        if !self.deployments.stop(id).await? {
            return Ok(Stop::NotInFlight(ended));
        }
        let said = format!("stopped by {}: {}", requested.by, requested.reason.as_deref().unwrap_or("no reason given"));
        if let Some(push) = &records[at].request {
            let update = HistoryUpdate::state(TimelineState::StopRequested).detail(said.clone());
            if let Err(e) = self.ledger.record(&service.name, push, &update).await {
                tracing::warn!(service = service.name, error = %e, "the deployment is stopped; the ledger did not record who asked");
            }
        }
        let subject = format!("greenlight: {} {} is stopped", service.name, approval.tag);
        let message = format!("{} {}: deployment {id} {said}. CodeDeploy rolls it back.", service.name, approval.tag);
        if let Err(e) = self.notifier.notify(&subject, &message).await {
            tracing::warn!(service = service.name, error = %e, "the deployment is stopped; the topic was not told");
        }
        Ok(Stop::Stopped(SlackRoute::of(&service.approval)))
    }
}
