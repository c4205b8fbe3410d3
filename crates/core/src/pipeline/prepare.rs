//! prepare's step: the service's lock ("latest digest wins"), the deployment group against the
//! manifest, then the plan's [`Registration`]: the next revision registered, or "already live".

use crate::approval::{Decided, DecidedVia, decision_time};
use crate::error::Error;
use crate::event::Push;
use crate::history::{HistoryUpdate, Outcome, TimelineState};
use crate::lock::{Acquire, LockHolder, order_key, short_digest};
use crate::manifest::{ConcurrencyPolicy, Service};
use crate::plan::Registration;
use crate::ports::{
    Approvals, DeploymentState, DeploymentStatus, Deployments, History, Locks, ManifestSource, Settle, TaskDefinitions,
    TaskTokens,
};

use crate::slack_outcomes::SlackRoute;

use super::lease::{Lease, epoch_seconds};
use super::{ApprovalStep, Prepared, StepInput, execution_name, find_service};

/// Ports prepare uses.
#[derive(Debug)]
pub struct PreparePorts<'a, M, T, D, L, A, K> {
    pub manifests: &'a M,
    pub task_definitions: &'a T,
    pub deployments: &'a D,
    pub ledger: &'a L,
    pub approvals: &'a A,
    pub tokens: &'a K,
}

/// prepare: takes the service's lock ("latest digest wins"), checks the deployment group
/// against the manifest, then carries out the plan's registration: the next revision of the
/// live task definition (only the target images change), unless the digest already runs.
pub async fn prepare<M, T, D, L, A, K>(
    input: &StepInput,
    ports: PreparePorts<'_, M, T, D, L, A, K>,
    lease: Lease,
) -> Result<Prepared, Error>
where
    M: ManifestSource,
    T: TaskDefinitions,
    D: Deployments,
    L: Locks + History,
    A: Approvals,
    K: TaskTokens,
{
    let manifest = ports.manifests.manifest().await?;
    let service = find_service(&manifest, &input.service)?;
    take_lock(input, service, &ports, lease).await?;
    let (task_definitions, ledger) = (ports.task_definitions, ports.ledger);
    check_group(service, ports.deployments).await?;
    let current = task_definitions.current(&service.cluster, &service.service).await?;
    let previous = current.arn().map(str::to_string);
    let mut prepared = Prepared {
        already_live: false,
        reason: None,
        previous_task_definition_arn: previous,
        task_definition_arn: None,
        revision: None,
        container_port: None,
        approval: ApprovalStep::of(service, &input.push),
        codedeploy: Some(service.codedeploy.clone()),
        slack: SlackRoute::of(&service.approval),
    };
    let registration = match &input.push.task_definition {
        Some(arn) => Registration::pinned(service, &current, &task_definitions.describe(arn).await?)?,
        None => Registration::of(service, &input.push, &current, &task_definitions.base(&current).await?)?,
    };
    match registration {
        Registration::AlreadyLive => {
            ledger.release(&service.name, &execution_name(&service.name, &input.push)).await?;
            let live = prepared.previous_task_definition_arn.as_deref().unwrap_or("current task definition");
            let reason = match &input.push.task_definition {
                Some(arn) => format!("{} already runs {arn}; nothing to roll back", service.name),
                None => format!("{} already runs {} ({live}); nothing to deploy", service.name, input.push.digest),
            };
            let mut update = HistoryUpdate::state(TimelineState::AlreadyLive);
            update.previous_task_definition = prepared.previous_task_definition_arn.clone();
            update.outcome = Some(Outcome::AlreadyLive);
            update.reason = Some(reason.clone());
            ledger.record(&service.name, &input.push, &update).await?;
            prepared.already_live = true;
            prepared.reason = Some(reason);
        }
        Registration::Register { request, container_port } => {
            let registered = task_definitions.register(&request).await?;
            let mut update = HistoryUpdate::state(TimelineState::Registered);
            update.task_definition = Some(registered.arn.clone());
            update.previous_task_definition = prepared.previous_task_definition_arn.clone();
            ledger.record(&service.name, &input.push, &update).await?;
            prepared.task_definition_arn = Some(registered.arn);
            prepared.revision = Some(registered.revision);
            prepared.container_port = Some(container_port);
        }
        Registration::Existing { arn, revision, container_port } => {
            let mut update = HistoryUpdate::state(TimelineState::Registered)
                .detail(format!("deploys {arn} as it is: nothing registered"));
            update.task_definition = Some(arn.clone());
            update.previous_task_definition = prepared.previous_task_definition_arn.clone();
            ledger.record(&service.name, &input.push, &update).await?;
            prepared.task_definition_arn = Some(arn);
            prepared.revision = revision;
            prepared.container_port = Some(container_port);
        }
    }
    Ok(prepared)
}

fn superseded(input: &StepInput, by: String) -> Error {
    Error::Superseded { service: input.service.clone(), tag: input.push.tag.clone(), by }
}

/// Takes the service's lock for this push, or says why not: a newer push exists (`Superseded`),
/// or an execution that must not be stopped holds it (`Queued`, retried by the state machine,
/// until `QueueTimedOut`). Taking it over from an older execution stops that one's deployment
/// and cancels its pending approval.
async fn take_lock<M, T, D, L, A, K>(
    input: &StepInput,
    service: &Service,
    ports: &PreparePorts<'_, M, T, D, L, A, K>,
    lease: Lease,
) -> Result<(), Error>
where
    D: Deployments,
    L: Locks + History,
    A: Approvals,
    K: TaskTokens,
{
    let order = order_key(&input.push);
    if let Some(newest) = ports.ledger.newest_push(&service.name).await?
        && newest.order > order
    {
        return Err(superseded(input, format!("{} ({}) was pushed later", newest.tag, short_digest(&newest.digest))));
    }
    let claim = LockHolder {
        execution: execution_name(&service.name, &input.push),
        request: input.push.event_id.clone(),
        order,
        tag: input.push.tag.clone(),
        digest: input.push.digest.clone(),
        lease_until: lease.until(),
        deployment_id: None,
        approval_id: None,
        shifting: false,
    };
    let take_older = service.concurrency.policy == ConcurrencyPolicy::Supersede;
    let mut acquired = ports.ledger.acquire(&service.name, &claim, lease.now, take_older).await?;
    if let Acquire::Held(holder) = &acquired
        && holder.shifting
        && holder.lease_until < lease.now
        && holder.order <= claim.order
        && let ended @ (HolderDeployment::Ended(_) | HolderDeployment::Unrecorded) =
            deployment_end(holder, ports.deployments).await?
    {
        // Its execution stopped renewing while production traffic moved, and the deployment
        // has ended since: nothing is left to stop. Its own execution will not record how it
        // ended; this one does.
        let abandoned = holder.clone();
        acquired = ports.ledger.take_expired(&service.name, &claim, &holder.execution, lease.now).await?;
        if matches!(&acquired, Acquire::Acquired { .. }) {
            record_abandoned(ports.ledger, service, &input.push, &abandoned, ended).await;
        }
    }
    let previous = match acquired {
        Acquire::Held(holder) if holder.order > claim.order => {
            return Err(superseded(input, format!("{} was pushed later and holds the lock", holder.describe())));
        }
        Acquire::Held(holder) => {
            let started = input.started_at.as_deref().and_then(epoch_seconds).unwrap_or(lease.now);
            let waited = lease.now - started;
            let limit = service.concurrency.queue_timeout_seconds;
            if waited > i64::from(limit) {
                return Err(Error::QueueTimedOut {
                    service: service.name.clone(),
                    tag: input.push.tag.clone(),
                    holder: holder.describe(),
                    waited_seconds: waited,
                    limit,
                });
            }
            return Err(Error::Queued {
                service: service.name.clone(),
                tag: input.push.tag.clone(),
                holder: holder.describe(),
                shifting: holder.shifting,
            });
        }
        Acquire::Acquired { previous } => previous.filter(|p| p.execution != claim.execution),
    };
    let mut update = HistoryUpdate::state(TimelineState::Locked);
    if let Some(previous) = &previous {
        let how = if previous.lease_until < lease.now { "whose lease had expired" } else { "an older push" };
        update.detail = Some(format!("took the lock over from {} ({how})", previous.describe()));
        stop_superseded(previous, &claim, ports, lease.now).await?;
    }
    ports.ledger.record(&service.name, &input.push, &update).await
}

/// Where the deployment of a holder whose production traffic moved stands.
enum HolderDeployment {
    Running,
    Ended(DeploymentState),
    /// The holder recorded none: nothing runs.
    Unrecorded,
}

async fn deployment_end(holder: &LockHolder, deployments: &impl Deployments) -> Result<HolderDeployment, Error> {
    match &holder.deployment_id {
        Some(id) => {
            let state = deployments.state(id).await?;
            Ok(if state.status.is_terminal() { HolderDeployment::Ended(state) } else { HolderDeployment::Running })
        }
        None => Ok(HolderDeployment::Unrecorded),
    }
}

/// Records the end of a push whose execution stopped (killed by hand, or timed out) while its
/// production traffic moved: what its deployment came to, as the ledger's outcome of that push.
/// Best-effort: the takeover itself is recorded in this push's timeline either way.
async fn record_abandoned(
    ledger: &impl History,
    service: &Service,
    like: &Push,
    abandoned: &LockHolder,
    ended: HolderDeployment,
) {
    let Some(push) = push_of(&service.name, abandoned, like) else { return };
    let (state, outcome, what) = match &ended {
        HolderDeployment::Ended(d) if d.status == DeploymentStatus::Succeeded => {
            (TimelineState::Succeeded, Outcome::Deployed, format!("its deployment {} succeeded", d.id))
        }
        HolderDeployment::Ended(d) => (
            TimelineState::RolledBack,
            Outcome::RolledBack,
            format!(
                "its deployment {} ended {}{}",
                d.id,
                d.status,
                d.error_message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
            ),
        ),
        HolderDeployment::Unrecorded => (TimelineState::RolledBack, Outcome::RolledBack, "it had no deployment".into()),
        // Still running: nothing to record yet (the caller takes the lock only once it ended).
        HolderDeployment::Running => return,
    };
    let mut update = HistoryUpdate::state(state);
    update.outcome = Some(outcome);
    update.reason = Some(format!(
        "its execution stopped while production traffic moved, before it recorded its end; {what} (recorded by {}, which took the lock over)",
        like.tag
    ));
    if let Err(e) = ledger.record(&service.name, &push, &update).await {
        tracing::warn!(error = %e, abandoned = abandoned.describe(), "the end of the abandoned push was not recorded");
    }
}

/// The push a lock holder names, rebuilt from its order key (its request and push times) and
/// its request id, so that its ledger record is the one its own execution wrote; `None` for a
/// key that is not one.
fn push_of(service: &str, holder: &LockHolder, like: &Push) -> Option<Push> {
    let requested = crate::lock::requested_at(&holder.order)?;
    let pushed = crate::lock::pushed_at(&holder.order)?;
    let push = Push {
        digest: holder.digest.clone(),
        tag: holder.tag.clone(),
        event_id: holder.request.clone(),
        pushed_at: Some(pushed),
        event_time: Some(requested),
        trigger: crate::request::Trigger::default(),
        requested: None,
        task_definition: None,
        ..like.clone()
    };
    (order_key(&push) == holder.order && execution_name(service, &push) == holder.execution).then_some(push)
}

/// Stops the deployment of the execution whose lock was taken over (auto-rollback: its
/// production traffic had not moved) and cancels its pending approval, so that its execution
/// ends as `Superseded` instead of waiting for a decision that no longer matters. A deployment
/// whose traffic moved is never stopped: the lock is only taken from it once it ended.
async fn stop_superseded<M, T, D, L, A, K>(
    previous: &LockHolder,
    by: &LockHolder,
    ports: &PreparePorts<'_, M, T, D, L, A, K>,
    now: i64,
) -> Result<(), Error>
where
    D: Deployments,
    A: Approvals,
    K: TaskTokens,
{
    if let Some(id) = &previous.deployment_id
        && !previous.shifting
    {
        ports.deployments.stop(id).await?;
    }
    if let Some(id) = &previous.approval_id
        && let Some(record) = ports.approvals.approval(id).await?
        && record.decided.is_none()
    {
        let decided = Decided {
            approved: false,
            by: format!("greenlight (superseded by {})", by.describe()),
            at: decision_time(now),
            channel: DecidedVia::Superseded,
            comment: None,
            approver: None,
        };
        let change = Settle { counted: record.approvals.len(), approval: None, decided: Some(&decided) };
        if ports.approvals.settle(id, change, now).await? {
            let cause = format!(
                "{} {} is superseded: {} was pushed later. Its approval request is cancelled.",
                record.service,
                record.tag,
                by.describe()
            );
            ports.tokens.fail(&record.task_token, Error::SUPERSEDED, &cause).await?;
        }
    }
    Ok(())
}

/// Approval ↔ deployment group: a service with approval needs the group to stop in Ready
/// (STOP_DEPLOYMENT); one without uses CONTINUE_DEPLOYMENT. The group must deploy this service.
async fn check_group(service: &Service, deployments: &impl Deployments) -> Result<(), Error> {
    let group = &service.codedeploy.deployment_group;
    let settings = deployments.group_settings(&service.codedeploy.application, group).await?;
    let expected = if service.approval.required { "STOP_DEPLOYMENT" } else { "CONTINUE_DEPLOYMENT" };
    let actual = settings.action_on_ready_timeout.as_deref().unwrap_or("CONTINUE_DEPLOYMENT");
    if actual != expected {
        let why = if service.approval.required {
            "would shift production traffic without waiting for approval"
        } else {
            "stops in Ready and waits for a ContinueDeployment that nobody sends, since the service requires no approval"
        };
        return Err(Error::DeploymentGroupMismatch {
            group: group.clone(),
            problem: format!("uses {actual}, which {why}"),
            expected,
        });
    }
    let wait_seconds = i64::from(settings.ready_wait_minutes.unwrap_or(0)) * 60;
    if service.approval.required && wait_seconds < i64::from(service.approval.timeout_seconds) {
        return Err(Error::DeploymentGroupMismatch {
            group: group.clone(),
            problem: format!(
                "waits {} minutes in Ready, less than the approval timeout ({} s), so CodeDeploy would stop the deployment before anyone decides",
                wait_seconds / 60,
                service.approval.timeout_seconds
            ),
            expected,
        });
    }
    if let Some(ecs_service) = &settings.ecs_service
        && ecs_service != &service.service
    {
        return Err(Error::DeploymentGroupMismatch {
            group: group.clone(),
            problem: format!("deploys ECS service `{ecs_service}`, not `{}`", service.service),
            expected,
        });
    }
    Ok(())
}
