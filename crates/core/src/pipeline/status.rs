//! deployment-status's step: watch a deployment inside one invocation until the state machine
//! has something to do for it.

use std::time::Duration;

use crate::error::Error;
use crate::lock::Renew;
use crate::ports::{DeploymentState, DeploymentStatus, Deployments, Locks};

use super::StatusInput;
use super::lease::{Lease, keep_lock};

/// Ports deployment-status uses.
#[derive(Debug)]
pub struct StatusPorts<'a, D, L> {
    pub deployments: &'a D,
    pub ledger: &'a L,
}

/// How long one deployment-status invocation watches a deployment.
///
/// The state machine used to look once per Wait state: three state transitions per look, so a
/// 15-minute deployment polled every 15 s cost 180 transitions. deployment-status now looks
/// every `poll` inside one invocation and hands back only when the deployment needs the next
/// step (Ready for approval, Succeeded, Failed, Stopped) or when `budget` would run out, so a
/// deploy costs about the same number of transitions however long it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    pub poll: Duration,
    pub budget: Duration,
}

impl Watch {
    /// The budget: at most `limit`, ending `margin` before the invocation's deadline, and within
    /// the lease taken at the start (less a tenth), so a killed execution's last look never
    /// holds the lock longer than one lease.
    pub fn new(poll: Duration, limit: Duration, remaining: Duration, lease_seconds: i64) -> Self {
        const MARGIN: Duration = Duration::from_secs(5);
        let lease = Duration::from_secs(u64::try_from(lease_seconds - lease_seconds / 10).unwrap_or(0));
        Self { poll, budget: limit.min(remaining.saturating_sub(MARGIN)).min(lease) }
    }
}

/// Whether the state machine has something to do for a deployment in this state.
fn needs_next_step(status: DeploymentStatus, continued: bool) -> bool {
    match status {
        DeploymentStatus::Succeeded | DeploymentStatus::Failed | DeploymentStatus::Stopped => true,
        // Ready waits for ContinueDeployment; once finish sent it, Ready is on its way out.
        DeploymentStatus::Ready => !continued,
        DeploymentStatus::Created
        | DeploymentStatus::Queued
        | DeploymentStatus::InProgress
        | DeploymentStatus::Baking => false,
    }
}

/// deployment-status: renews the lock's lease (`Superseded` when it was taken over), then
/// watches the deployment until it needs the next step or the watch's budget runs out. The
/// lock is renewed once more before a deployment that stopped or failed is reported, so a
/// takeover reads as `Superseded`, not as a failure.
pub async fn deployment_status<D, L>(
    input: &StatusInput,
    ports: StatusPorts<'_, D, L>,
    lease: Lease,
    watch: Watch,
) -> Result<DeploymentState, Error>
where
    D: Deployments,
    L: Locks,
{
    let owner = input.service.as_deref().zip(input.push.as_ref());
    if let Some((service, push)) = owner {
        keep_lock(ports.ledger, service, push, lease.until(), &Renew::default()).await?;
    }
    let started = tokio::time::Instant::now();
    let continued = input.deployment.continued.is_some();
    loop {
        let state = ports.deployments.state(&input.deployment.deployment_id).await?;
        if needs_next_step(state.status, continued) {
            if let Some((service, push)) = owner
                && state.status.is_failure()
            {
                let now = lease.now + i64::try_from(started.elapsed().as_secs()).unwrap_or(0);
                keep_lock(ports.ledger, service, push, now + lease.seconds, &Renew::default()).await?;
            }
            return Ok(state);
        }
        if started.elapsed() + watch.poll > watch.budget {
            return Ok(state);
        }
        tokio::time::sleep(watch.poll).await;
    }
}
