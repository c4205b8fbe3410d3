//! The deploy pipeline's steps as the functions run them: the payloads the state machine passes
//! between functions, and each step's logic over the ports.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::approval::{ApprovalRecord, Decision, Evidence, email_message, link, new_id, slack_message};
use crate::appspec::AppSpec;
use crate::checks::Report;
use crate::error::Error;
use crate::event::{Push, PushEvent, Skipped, match_push};
use crate::lock::{
    Acquire, HistoryUpdate, LockHolder, NewestPush, Outcome, Renew, Renewal, lost_to, order_key, rfc3339,
};
use crate::manifest::ConcurrencyPolicy;
use crate::manifest::{Channel, Manifest, OnTimeout, Service};
use crate::plan::{HookFunctions, appspec_input, container_port};
use crate::ports::{
    Approvals, Chat, DeploymentState, Deployments, ExecutionStart, Executions, History, Images, Ledger, Locks,
    ManifestSource, Notifier, Secrets, TaskDefinitions, TaskTokens,
};
use crate::taskdef::Revision;

/// The state machine's input: one push of one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionInput {
    pub service: String,
    pub push: Push,
    /// Seconds between deployment status reads (1 in tests, 15–30 in production).
    pub wait_seconds: u32,
}

/// `<service>-<first 32 hex digits of the digest>`: the same push of the same service always
/// gets the same name, so Step Functions refuses a duplicate (names are 1–80 characters of
/// letters, digits, `-` and `_`).
pub fn execution_name(service: &str, digest: &str) -> String {
    let hex: String = digest.trim_start_matches("sha256:").chars().take(32).collect();
    format!("{service}-{hex}")
}

/// What on-image-push did with one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushOutcome {
    /// Why the event deploys nothing at all (not a successful tagged push).
    pub ignored: Option<String>,
    pub executions: Vec<StartedExecution>,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartedExecution {
    pub service: String,
    pub name: String,
    pub start: ExecutionStart,
}

/// Ports on-image-push uses.
#[derive(Debug)]
pub struct PushPorts<'a, M, E, I, L> {
    pub manifests: &'a M,
    pub executions: &'a E,
    pub images: &'a I,
    pub ledger: &'a L,
}

/// on-image-push: records the push (with ECR's push time) as its services' newest, unless a
/// newer one is recorded, then starts one execution per target service. An older push still
/// starts its execution, which ends as `Superseded` and says so in the ledger.
pub async fn on_push<M, E, I, L>(
    event: &Value,
    ports: PushPorts<'_, M, E, I, L>,
    wait_seconds: u32,
) -> Result<PushOutcome, Error>
where
    M: ManifestSource,
    E: Executions,
    I: Images,
    L: Locks + History,
{
    let mut push = match PushEvent::parse(&event.to_string())? {
        PushEvent::Deployable(push) => push,
        PushEvent::Ignored { reason } => {
            return Ok(PushOutcome { ignored: Some(reason), executions: Vec::new(), skipped: Vec::new() });
        }
    };
    let manifest = ports.manifests.manifest().await?;
    let targets = match_push(&manifest, &push);
    let mut out = PushOutcome { ignored: None, executions: Vec::new(), skipped: targets.skipped };
    if targets.targets.is_empty() {
        return Ok(out);
    }
    push.pushed_at = ports.images.image(&push.repository, &push.digest).await?.pushed_at;
    let newest = NewestPush { order: order_key(&push), tag: push.tag.clone(), digest: push.digest.clone() };
    for service in targets.targets {
        let is_newest = ports.ledger.record_push(&service.name, &newest).await?;
        let name = execution_name(&service.name, &push.digest);
        let input = ExecutionInput { service: service.name.clone(), push: push.clone(), wait_seconds };
        let input = serde_json::to_string(&input).unwrap_or_default();
        let start = ports.executions.start(&name, &input).await?;
        if let ExecutionStart::Started { execution_arn } = &start {
            let mut update = HistoryUpdate::state("accepted").detail(if is_newest {
                "the service's newest push"
            } else {
                "older than a push already recorded for the service: it will be superseded"
            });
            update.execution_id = Some(execution_arn.clone());
            ports.ledger.record(&service.name, &push, &update).await?;
        }
        out.executions.push(StartedExecution { service: service.name.clone(), name, start });
    }
    Ok(out)
}

/// How long a lock taken now lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Seconds since the epoch.
    pub now: i64,
    pub seconds: i64,
}

impl Lease {
    pub fn until(self) -> i64 {
        self.now + self.seconds
    }
}

/// Extends this execution's lease; `Superseded` when another execution holds the lock.
async fn keep_lock(
    ledger: &impl Locks,
    service: &str,
    push: &Push,
    until: i64,
    renew: &Renew<'_>,
) -> Result<(), Error> {
    hold_lock(ledger, service, &push.tag, &push.digest, until, renew).await
}

/// `keep_lock` for a caller that knows the pushed tag and digest but not the whole push.
async fn hold_lock(
    ledger: &impl Locks,
    service: &str,
    tag: &str,
    digest: &str,
    until: i64,
    renew: &Renew<'_>,
) -> Result<(), Error> {
    let me = execution_name(service, digest);
    match ledger.renew(service, &me, until, renew).await? {
        Renewal::Held => Ok(()),
        Renewal::Lost(holder) => {
            Err(Error::Superseded { service: service.into(), tag: tag.into(), by: lost_to(holder.as_ref()) })
        }
    }
}

fn superseded(input: &StepInput, by: String) -> Error {
    Error::Superseded { service: input.service.clone(), tag: input.push.tag.clone(), by }
}

fn find<'a>(manifest: &'a Manifest, name: &str) -> Result<&'a Service, Error> {
    manifest.service(name).ok_or_else(|| Error::UnknownService {
        service: name.into(),
        known: manifest.services.iter().map(|s| s.name.clone()).collect(),
    })
}

/// prepare's result: the revision to deploy, or why there is nothing to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prepared {
    pub already_live: bool,
    pub reason: Option<String>,
    pub previous_task_definition_arn: Option<String>,
    pub task_definition_arn: Option<String>,
    pub revision: Option<u64>,
    pub container_port: Option<u16>,
    /// What the state machine does at Ready.
    pub approval: ApprovalStep,
}

/// The approval policy the state machine follows for this execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalStep {
    pub required: bool,
    pub timeout_seconds: u32,
    pub on_timeout: OnTimeout,
}

impl ApprovalStep {
    fn of(service: &Service) -> Self {
        Self {
            required: service.approval.required,
            timeout_seconds: service.approval.timeout_seconds,
            on_timeout: service.approval.on_timeout,
        }
    }
}

/// The parts of the state that later steps read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepInput {
    pub service: String,
    pub push: Push,
    #[serde(default)]
    pub prepared: Option<Prepared>,
    #[serde(default)]
    pub deployment: Option<Started>,
    /// The state machine execution, for logs and notifications.
    #[serde(default)]
    pub execution_id: Option<String>,
    /// When the execution started (RFC 3339), for the queue timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
}

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
/// against the manifest, then registers the next revision of the live task definition (only
/// the target images change), unless the digest already runs.
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
    let service = find(&manifest, &input.service)?;
    take_lock(input, service, &ports, lease).await?;
    let (task_definitions, deployments, ledger) = (ports.task_definitions, ports.deployments, ports.ledger);
    check_group(service, deployments).await?;
    let current = task_definitions.current(&service.cluster, &service.service).await?;
    let port = container_port(service, &current)?;
    let previous = current.arn().map(str::to_string);
    match current.next_revision(&service.containers, &input.push.image_uri())? {
        Revision::AlreadyLive => {
            ledger.release(&service.name, &execution_name(&service.name, &input.push.digest)).await?;
            let mut update = HistoryUpdate::state("already_live");
            update.outcome = Some(Outcome::AlreadyLive);
            ledger.record(&service.name, &input.push, &update).await?;
            Ok(Prepared {
                already_live: true,
                reason: Some(format!(
                    "{} already runs {} ({}); nothing to deploy",
                    service.name,
                    input.push.digest,
                    previous.as_deref().unwrap_or("current task definition")
                )),
                previous_task_definition_arn: previous,
                task_definition_arn: None,
                revision: None,
                container_port: Some(port),
                approval: ApprovalStep::of(service),
            })
        }
        Revision::Register(request) => {
            let registered = task_definitions.register(&request).await?;
            let mut update = HistoryUpdate::state("registered");
            update.task_definition = Some(registered.arn.clone());
            ledger.record(&service.name, &input.push, &update).await?;
            Ok(Prepared {
                already_live: false,
                reason: None,
                previous_task_definition_arn: previous,
                task_definition_arn: Some(registered.arn),
                revision: Some(registered.revision),
                container_port: Some(port),
                approval: ApprovalStep::of(service),
            })
        }
    }
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
        return Err(superseded(
            input,
            format!("{} ({}) was pushed later", newest.tag, crate::lock::short_digest(&newest.digest)),
        ));
    }
    let claim = LockHolder {
        execution: execution_name(&service.name, &input.push.digest),
        order,
        tag: input.push.tag.clone(),
        digest: input.push.digest.clone(),
        lease_until: lease.until(),
        deployment_id: None,
        approval_id: None,
        shifting: false,
    };
    let take_older = service.concurrency.policy == ConcurrencyPolicy::Supersede;
    let previous = match ports.ledger.acquire(&service.name, &claim, lease.now, take_older).await? {
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
    let mut update = HistoryUpdate::state("locked");
    if let Some(previous) = &previous {
        let how = if previous.lease_until < lease.now { "whose lease had expired" } else { "an older push" };
        update.detail = Some(format!("took the lock over from {} ({how})", previous.describe()));
        stop_superseded(previous, &claim, ports.deployments, ports.approvals, ports.tokens, lease.now).await?;
    }
    ports.ledger.record(&service.name, &input.push, &update).await
}

/// `$$.Execution.StartTime` in seconds: RFC 3339, or with a space between date and time.
pub fn epoch_seconds(time: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(time)
        .or_else(|_| chrono::DateTime::parse_from_str(time, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .ok()
        .map(|t| t.timestamp())
}

/// Stops the deployment of the execution whose lock was taken over (auto-rollback: its
/// production traffic had not moved) and cancels its pending approval, so that its execution
/// ends as `Superseded` instead of waiting for a decision that no longer matters.
async fn stop_superseded(
    previous: &LockHolder,
    by: &LockHolder,
    deployments: &impl Deployments,
    approvals: &impl Approvals,
    tokens: &impl TaskTokens,
    now: i64,
) -> Result<(), Error> {
    if let Some(id) = &previous.deployment_id {
        deployments.stop(id).await?;
    }
    if let Some(id) = &previous.approval_id
        && let Some(record) = approvals.approval(id).await?
        && record.decided.is_none()
    {
        let decided = crate::approval::Decided {
            approved: false,
            by: format!("greenlight (superseded by {})", by.describe()),
            at: rfc3339(now),
            channel: "superseded".into(),
        };
        if approvals.decide(id, &decided, now).await? {
            let cause = format!(
                "{} {} is superseded: {} was pushed later. Its approval request is cancelled.",
                record.service,
                record.tag,
                by.describe()
            );
            tokens.fail(&record.task_token, "Superseded", &cause).await?;
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

/// start-deployment's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Started {
    pub deployment_id: String,
    pub appspec_sha256: String,
}

/// start-deployment: CreateDeployment with the AppSpec of the prepared revision, while this
/// execution holds the service's lock (checked before, and recorded with the deployment id
/// after: a deployment created after losing the lock is stopped at once).
pub async fn start_deployment(
    input: &StepInput,
    manifests: &impl ManifestSource,
    deployments: &impl Deployments,
    ledger: &(impl Locks + History),
    validate_function: Option<&str>,
    lease: Lease,
) -> Result<Started, Error> {
    let manifest = manifests.manifest().await?;
    let service = find(&manifest, &input.service)?;
    let prepared = input.prepared.as_ref().ok_or_else(|| missing_input("prepared"))?;
    let arn = prepared.task_definition_arn.clone().ok_or_else(|| missing_input("prepared.task_definition_arn"))?;
    let port = prepared.container_port.ok_or_else(|| missing_input("prepared.container_port"))?;
    let validate = validate_function.map(str::to_string).ok_or_else(|| Error::Configuration {
        variable: "GREENLIGHT_VALIDATE_FUNCTION",
        problem: "is not set: the validate function runs in the AfterAllowTestTraffic hook (the checks, and the lock's last word before production traffic moves)".into(),
    })?;
    keep_lock(ledger, &input.service, &input.push, lease.until(), &Renew::default()).await?;
    let spec = AppSpec::render(&appspec_input(service, arn, port, &HookFunctions { validate }));
    let description = format!("greenlight: {} {} ({})", service.name, input.push.tag, input.push.digest);
    let deployment_id = deployments
        .create(&service.codedeploy.application, &service.codedeploy.deployment_group, &spec, &description)
        .await?;
    let recorded = Renew { deployment_id: Some(&deployment_id), ..Renew::default() };
    if let Err(e) = keep_lock(ledger, &input.service, &input.push, lease.until(), &recorded).await {
        deployments.stop(&deployment_id).await?;
        return Err(e);
    }
    let mut update = HistoryUpdate::state("deployment_created");
    update.deployment_id = Some(deployment_id.clone());
    ledger.record(&service.name, &input.push, &update).await?;
    Ok(Started { deployment_id, appspec_sha256: spec.sha256 })
}

/// The validation hook's last word before production traffic moves: the deployment's
/// execution must still hold the service's lock, and (when no approval follows) the lock
/// records that traffic moves from now on, so no newer push stops it halfway. Conditional
/// writes decide between this and a newer push taking the lock over: exactly one wins.
pub async fn traffic_gate(
    service: &Service,
    tag: &str,
    digest: &str,
    ledger: &impl Locks,
    lease: Lease,
) -> Result<(), Error> {
    let renew = Renew { shifting: !service.approval.required, ..Renew::default() };
    hold_lock(ledger, &service.name, tag, digest, lease.until(), &renew).await
}

/// deployment-status's input: the deployment, and (to renew the lock) whose it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusInput {
    /// `$.deployment`: start-deployment's result, with `continued` once finish has let
    /// production traffic move.
    pub deployment: WatchedDeployment,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub push: Option<Push>,
    /// Seconds between two looks at the deployment (the execution's `wait_seconds`).
    #[serde(default)]
    pub poll_seconds: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchedDeployment {
    pub deployment_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continued: Option<Value>,
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
    pub poll: std::time::Duration,
    pub budget: std::time::Duration,
}

impl Watch {
    /// The budget: at most `limit`, ending `margin` before the invocation's deadline, and within
    /// the lease taken at the start (less a tenth), so a killed execution's last look never
    /// holds the lock longer than one lease.
    pub fn new(
        poll: std::time::Duration,
        limit: std::time::Duration,
        remaining: std::time::Duration,
        lease_seconds: i64,
    ) -> Self {
        const MARGIN: std::time::Duration = std::time::Duration::from_secs(5);
        let lease = std::time::Duration::from_secs(u64::try_from(lease_seconds - lease_seconds / 10).unwrap_or(0));
        Self { poll, budget: limit.min(remaining.saturating_sub(MARGIN)).min(lease) }
    }
}

/// Whether the state machine has something to do for a deployment in this state.
fn needs_next_step(status: &str, continued: bool) -> bool {
    match status {
        "Succeeded" | "Failed" | "Stopped" => true,
        // Ready waits for ContinueDeployment; once finish sent it, Ready is on its way out.
        "Ready" => !continued,
        _ => false,
    }
}

/// deployment-status: renews the lock's lease (`Superseded` when it was taken over), then
/// watches the deployment until it needs the next step or the watch's budget runs out. The
/// lock is renewed once more before a deployment that stopped or failed is reported, so a
/// takeover reads as `Superseded`, not as a failure.
pub async fn deployment_status(
    input: &StatusInput,
    deployments: &impl Deployments,
    ledger: &impl Locks,
    lease: Lease,
    watch: Watch,
) -> Result<DeploymentState, Error> {
    let owner = input.service.as_deref().zip(input.push.as_ref());
    if let Some((service, push)) = owner {
        keep_lock(ledger, service, push, lease.until(), &Renew::default()).await?;
    }
    let started = tokio::time::Instant::now();
    let continued = input.deployment.continued.is_some();
    loop {
        let state = deployments.state(&input.deployment.deployment_id).await?;
        if needs_next_step(&state.status, continued) {
            if let Some((service, push)) = owner
                && matches!(state.status.as_str(), "Failed" | "Stopped")
            {
                let now = lease.now + i64::try_from(started.elapsed().as_secs()).unwrap_or(0);
                keep_lock(ledger, service, push, now + lease.seconds, &Renew::default()).await?;
            }
            return Ok(state);
        }
        if started.elapsed() + watch.poll > watch.budget {
            return Ok(state);
        }
        tokio::time::sleep(watch.poll).await;
    }
}

fn missing_input(field: &str) -> Error {
    Error::InvalidInput { field: field.into(), problem: "is missing from the state machine's input".into() }
}

/// What the finish function is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishAction {
    /// Green is Ready: shift production traffic.
    Continue,
    /// The deployment Succeeded: tell the team.
    Succeeded,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinishInput {
    pub action: FinishAction,
    /// The approver's decision, when production traffic moves after one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<crate::approval::Decided>,
    #[serde(flatten)]
    pub step: StepInput,
}

/// The validation reports the ledger holds for a deployment, as readable text, and the reason
/// of the last failed one; empty when there are none or the ledger cannot be read (a
/// notification goes out regardless).
pub async fn validation_summary(ledger: &impl Ledger, deployment_id: &str) -> (String, Option<String>) {
    let records = ledger.validations(deployment_id).await.unwrap_or_default();
    let reports: Vec<Report> =
        records.iter().filter_map(|r| serde_json::from_value(r["report"].clone()).ok()).collect();
    let failure = reports.iter().rev().find_map(|r| r.reason.clone());
    let text = reports.iter().map(|r| format!("\nValidation:\n{}\n", r.summary())).collect::<String>();
    (text, failure)
}

/// finish: ContinueDeployment (once the lock records that production traffic moves, so no
/// newer push stops it halfway), or the success: ledger, lock released, notification.
pub async fn finish(
    input: &FinishInput,
    deployments: &impl Deployments,
    notifier: &impl Notifier,
    ledger: &(impl Ledger + Locks + History),
    lease: Lease,
) -> Result<Value, Error> {
    let deployment = input.step.deployment.as_ref().ok_or_else(|| missing_input("deployment"))?;
    let step = &input.step;
    match input.action {
        FinishAction::Continue => {
            let shifting = Renew { shifting: true, ..Renew::default() };
            keep_lock(ledger, &step.service, &step.push, lease.until(), &shifting).await?;
            deployments.continue_deployment(&deployment.deployment_id).await?;
            let mut update = HistoryUpdate::state("traffic_shifting");
            update.approver = input.approval.as_ref().map(crate::approval::Decided::summary);
            ledger.record(&step.service, &step.push, &update).await?;
            Ok(serde_json::json!({"continued": deployment.deployment_id}))
        }
        FinishAction::Succeeded => {
            let push = &input.step.push;
            let subject = format!("greenlight: {} {} is live", input.step.service, push.tag);
            let revision = input.step.prepared.as_ref().and_then(|p| p.task_definition_arn.as_deref()).unwrap_or("?");
            let (validation, _) = validation_summary(ledger, &deployment.deployment_id).await;
            let mut update = HistoryUpdate::state("succeeded");
            update.outcome = Some(Outcome::Deployed);
            update.validation = Some(validation.trim().to_string()).filter(|v| !v.is_empty());
            ledger.record(&step.service, push, &update).await?;
            ledger.release(&step.service, &execution_name(&step.service, &push.digest)).await?;
            let message = format!(
                "{service}: {tag} is in production.\n\nImage: {image}\nTask definition: {revision}\nDeployment: {id}\n{validation}",
                service = input.step.service,
                tag = push.tag,
                image = push.image_uri(),
                id = deployment.deployment_id,
            );
            notifier.notify(&subject, &message).await?;
            Ok(serde_json::json!({"notified": subject}))
        }
    }
}

/// A state's caught error, as Step Functions writes it (`Catch` with `ResultPath`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

impl CaughtError {
    /// The readable part of the cause: a Lambda error's `errorMessage`, else the cause itself.
    pub fn reason(&self) -> String {
        let cause = self.cause.clone().unwrap_or_default();
        match serde_json::from_str::<Value>(&cause) {
            Ok(v) => v.get("errorMessage").and_then(Value::as_str).map(str::to_string).unwrap_or(cause),
            Err(_) if cause.is_empty() => self.error.clone(),
            Err(_) => cause,
        }
    }
}

/// rollback's payload: the whole execution state (whatever exists of it) and the execution id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackRequest {
    pub state: RollbackInput,
    #[serde(default)]
    pub execution_id: Option<String>,
}

/// Everything the rollback function may find in the state; any part can be missing, depending
/// on where the execution failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackInput {
    pub service: String,
    pub push: Push,
    #[serde(default)]
    pub deployment: Option<Started>,
    #[serde(default)]
    pub status: Option<DeploymentState>,
    #[serde(default)]
    pub error: Option<CaughtError>,
    /// The approver's decision, when there was one.
    #[serde(default)]
    pub approval: Option<crate::approval::Decided>,
}

/// rollback's result: what the state machine's Fail state reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolledBack {
    pub error: String,
    pub reason: String,
    pub stopped_deployment: bool,
    /// What could not be done on the way (the ledger did not answer…), for the logs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// rollback: stop the deployment with auto-rollback (traffic back to blue) if it is still
/// active, record why in the ledger, release the service's lock, and tell the team. A push
/// superseded before anything of it was deployed is recorded, not announced.
pub async fn rollback(
    request: &RollbackRequest,
    deployments: &impl Deployments,
    notifier: &impl Notifier,
    ledger: &(impl Ledger + Locks + History),
) -> Result<RolledBack, Error> {
    let input = &request.state;
    let error = input.error.as_ref().map_or_else(|| "DeploymentFailed".to_string(), |e| e.error.clone());
    let reason = match (&input.error, &input.status) {
        (Some(e), _) if e.error == "Rejected" && input.approval.is_some() => {
            format!(
                "rejected by {}",
                input.approval.as_ref().map(crate::approval::Decided::summary).unwrap_or_default()
            )
        }
        (Some(e), Some(s)) if e.cause.as_deref().is_none_or(str::is_empty) => {
            format!(
                "deployment {} ended {}: {}",
                s.id,
                s.status,
                s.error_message.as_deref().unwrap_or("no reason given")
            )
        }
        (Some(e), _) => e.reason(),
        (None, Some(s)) => {
            format!(
                "deployment {} ended {}: {}",
                s.id,
                s.status,
                s.error_message.as_deref().unwrap_or("no reason given")
            )
        }
        (None, None) => "the deployment failed for an unknown reason".into(),
    };
    let stopped = match &input.deployment {
        Some(d) => deployments.stop(&d.deployment_id).await?,
        None => false,
    };
    // A failed validation says more than "the hook reported Failed": add its reason.
    let (validation, failure) = match &input.deployment {
        Some(d) => validation_summary(ledger, &d.deployment_id).await,
        None => (String::new(), None),
    };
    let reason = match failure {
        Some(f) if !reason.contains(&f) => format!("{reason} Validation: {f}."),
        _ => reason,
    };
    let push = &input.push;
    // A deployment that ended before the stop may have succeeded on its own (the failure was
    // greenlight's, after CodeDeploy finished): say so instead of claiming a rollback.
    let succeeded = match &input.deployment {
        Some(d) if !stopped => deployments.state(&d.deployment_id).await.is_ok_and(|s| s.status == "Succeeded"),
        _ => false,
    };
    let subject = format!("greenlight: {} {} rolled back", input.service, push.tag);
    let deployment = match &input.deployment {
        Some(d) if stopped => format!("{} (stopped and rolled back)", d.deployment_id),
        Some(d) if succeeded => format!("{} (had already succeeded before it could be stopped)", d.deployment_id),
        Some(d) => format!("{} (already ended; CodeDeploy rolled it back)", d.deployment_id),
        None => "none started".into(),
    };
    let outcome = if succeeded {
        "greenlight failed after CodeDeploy had finished: it is in production. Check it, and push a fix if it must not stay"
    } else {
        "was not deployed; production stays on the previous version"
    };
    let message = format!(
        "{service}: {tag} {outcome}.\n\nReason: {reason}\nError: {error}\nImage: {image}\nDeployment: {deployment}\nExecution: {execution}\n{validation}",
        service = input.service,
        tag = push.tag,
        image = push.image_uri(),
        execution = request.execution_id.as_deref().unwrap_or("?"),
    );
    let is_superseded = error == "Superseded";
    let mut notes = Vec::new();
    let (state, outcome) = match (is_superseded, succeeded) {
        (true, _) => ("superseded", Outcome::Superseded),
        (false, true) => ("failed_after_success", Outcome::Deployed),
        (false, false) => ("rolled_back", Outcome::RolledBack),
    };
    let mut update = HistoryUpdate::state(state);
    update.outcome = Some(outcome);
    update.reason = Some(reason.clone());
    update.validation = Some(validation.trim().to_string()).filter(|v| !v.is_empty());
    update.approver = input.approval.as_ref().map(crate::approval::Decided::summary);
    if let Err(e) = ledger.record(&input.service, push, &update).await {
        notes.push(format!("the ledger did not record the outcome: {e}"));
    }
    if let Err(e) = ledger.release(&input.service, &execution_name(&input.service, &push.digest)).await {
        notes.push(format!("the lock was not released (its lease ends it): {e}"));
    }
    if is_superseded && input.deployment.is_none() {
        return Ok(RolledBack { error, reason, stopped_deployment: stopped, notes });
    }
    let subject = if is_superseded { subject.replace("rolled back", "superseded") } else { subject };
    notifier.notify(&subject, &message).await?;
    Ok(RolledBack { error, reason, stopped_deployment: stopped, notes })
}

/// request-approval's payload: the step input and the task token to resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub task_token: String,
    #[serde(flatten)]
    pub step: StepInput,
}

/// Where request-approval sends the request, and with which secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalChannels {
    /// The approval-callback function URL (signed links point there).
    pub callback_url: String,
    /// Secrets Manager id of the Slack incoming webhook URL.
    pub slack_webhook_secret: Option<String>,
    /// Secrets Manager id of the key that signs links.
    pub link_key_secret: Option<String>,
}

/// What request-approval did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequested {
    pub approval_id: String,
    pub expires_at: i64,
    pub channels: Vec<String>,
}

/// Ports request-approval uses.
#[derive(Debug)]
pub struct ApprovalPorts<'a, M, T, A, L, S, C, N> {
    pub manifests: &'a M,
    pub task_definitions: &'a T,
    pub approvals: &'a A,
    pub ledger: &'a L,
    pub secrets: &'a S,
    pub chat: &'a C,
    pub notifier: &'a N,
}

/// request-approval: stores a single-use, expiring approval, then asks on every channel of the
/// service with the evidence (image, task definition diff, validation report).
pub async fn request_approval<M, T, A, L, S, C, N>(
    request: &ApprovalRequest,
    ports: ApprovalPorts<'_, M, T, A, L, S, C, N>,
    channels: &ApprovalChannels,
    lease: Lease,
) -> Result<ApprovalRequested, Error>
where
    M: ManifestSource,
    T: TaskDefinitions,
    A: Approvals,
    L: Ledger + Locks + History,
    S: Secrets,
    C: Chat,
    N: Notifier,
{
    let manifest = ports.manifests.manifest().await?;
    let service = find(&manifest, &request.step.service)?;
    let deployment = request.step.deployment.as_ref().ok_or_else(|| missing_input("deployment"))?;
    let push = &request.step.push;
    let record = ApprovalRecord {
        id: new_id(),
        task_token: request.task_token.clone(),
        service: service.name.clone(),
        tag: push.tag.clone(),
        digest: push.digest.clone(),
        deployment_id: deployment.deployment_id.clone(),
        execution_id: request.step.execution_id.clone(),
        expires_at: lease.now + i64::from(service.approval.timeout_seconds),
        decided: None,
    };
    ports.approvals.put_approval(&record).await?;
    // The lock outlives the wait for a decision, and names the approval so that a newer push
    // can cancel it.
    let renew = Renew { approval_id: Some(&record.id), ..Renew::default() };
    keep_lock(ports.ledger, &service.name, push, record.expires_at + lease.seconds, &renew).await?;

    let mut diff = Vec::new();
    if let Some(prepared) = &request.step.prepared
        && let (Some(old), Some(new)) = (&prepared.previous_task_definition_arn, &prepared.task_definition_arn)
    {
        let (old, new) = (ports.task_definitions.describe(old).await?, ports.task_definitions.describe(new).await?);
        diff = crate::diff::diff(&old.as_register_request().to_value(), &new.as_register_request().to_value())
            .iter()
            .map(ToString::to_string)
            .collect();
    }
    let (validation, _) = validation_summary(ports.ledger, &deployment.deployment_id).await;
    let evidence = Evidence {
        image_uri: push.image_uri(),
        diff,
        validation: validation.trim().trim_start_matches("Validation:").trim().to_string(),
        links: vec![(
            "deployment".into(),
            format!(
                "https://console.aws.amazon.com/codesuite/codedeploy/deployments/{}?region={}",
                deployment.deployment_id, push.region
            ),
        )],
    };
    let mut sent = Vec::new();
    for channel in &service.approval.channels {
        match channel {
            Channel::Slack => {
                let secret = channels.slack_webhook_secret.as_deref().ok_or(Error::Configuration {
                    variable: "GREENLIGHT_SLACK_WEBHOOK_SECRET",
                    problem: format!("is not set, and service `{}` asks for approval in Slack", service.name),
                })?;
                let webhook = ports.secrets.secret(secret).await?;
                let message = slack_message(&record, &evidence, service.approval.timeout_seconds);
                ports.chat.post(&webhook, &message).await?;
                sent.push("slack".to_string());
            }
            Channel::Sns => {
                let secret = channels.link_key_secret.as_deref().ok_or(Error::Configuration {
                    variable: "GREENLIGHT_LINK_KEY_SECRET",
                    problem: format!("is not set, and service `{}` asks for approval by email links", service.name),
                })?;
                let key = ports.secrets.secret(secret).await?;
                let approve =
                    link(&channels.callback_url, key.as_bytes(), &record.id, Decision::Approve, record.expires_at);
                let reject =
                    link(&channels.callback_url, key.as_bytes(), &record.id, Decision::Reject, record.expires_at);
                let subject = format!("greenlight: approve {} {} for production?", record.service, record.tag);
                ports.notifier.notify(&subject, &email_message(&record, &evidence, &approve, &reject)).await?;
                sent.push("sns".to_string());
            }
        }
    }
    let update = HistoryUpdate::state("approval_requested").detail(format!(
        "via {}, until {}",
        sent.join(" and "),
        rfc3339(record.expires_at)
    ));
    ports.ledger.record(&service.name, push, &update).await?;
    Ok(ApprovalRequested { approval_id: record.id, expires_at: record.expires_at, channels: sent })
}
