//! The deploy pipeline's steps as the functions run them: the payloads the state machine passes
//! between functions, and each step's logic over the ports.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::approval::{ApprovalRecord, Decision, Evidence, email_message, link, new_id, slack_message};
use crate::appspec::AppSpec;
use crate::checks::Report;
use crate::error::Error;
use crate::event::{Push, PushEvent, Skipped, match_push};
use crate::manifest::{Channel, Manifest, OnTimeout, Service};
use crate::plan::{HookFunctions, appspec_input, container_port};
use crate::ports::{
    Approvals, Chat, DeploymentState, Deployments, ExecutionStart, Executions, Ledger, ManifestSource, Notifier,
    Secrets, TaskDefinitions,
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

/// on-image-push: one execution per target service of the push.
pub async fn on_push(
    event: &Value,
    manifests: &impl ManifestSource,
    executions: &impl Executions,
    wait_seconds: u32,
) -> Result<PushOutcome, Error> {
    let push = match PushEvent::parse(&event.to_string())? {
        PushEvent::Deployable(push) => push,
        PushEvent::Ignored { reason } => {
            return Ok(PushOutcome { ignored: Some(reason), executions: Vec::new(), skipped: Vec::new() });
        }
    };
    let manifest = manifests.manifest().await?;
    let targets = match_push(&manifest, &push);
    let mut out = PushOutcome { ignored: None, executions: Vec::new(), skipped: targets.skipped };
    for service in targets.targets {
        let name = execution_name(&service.name, &push.digest);
        let input = ExecutionInput { service: service.name.clone(), push: push.clone(), wait_seconds };
        let input = serde_json::to_string(&input).unwrap_or_default();
        let start = executions.start(&name, &input).await?;
        out.executions.push(StartedExecution { service: service.name.clone(), name, start });
    }
    Ok(out)
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
}

/// prepare: checks the deployment group against the manifest, then registers the next
/// revision of the live task definition (only the target images change), unless the digest
/// already runs.
pub async fn prepare(
    input: &StepInput,
    manifests: &impl ManifestSource,
    task_definitions: &impl TaskDefinitions,
    deployments: &impl Deployments,
) -> Result<Prepared, Error> {
    let manifest = manifests.manifest().await?;
    let service = find(&manifest, &input.service)?;
    check_group(service, deployments).await?;
    let current = task_definitions.current(&service.cluster, &service.service).await?;
    let port = container_port(service, &current)?;
    let previous = current.arn().map(str::to_string);
    match current.next_revision(&service.containers, &input.push.image_uri())? {
        Revision::AlreadyLive => Ok(Prepared {
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
        }),
        Revision::Register(request) => {
            let registered = task_definitions.register(&request).await?;
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

/// start-deployment: CreateDeployment with the AppSpec of the prepared revision.
pub async fn start_deployment(
    input: &StepInput,
    manifests: &impl ManifestSource,
    deployments: &impl Deployments,
    validate_function: Option<&str>,
) -> Result<Started, Error> {
    let manifest = manifests.manifest().await?;
    let service = find(&manifest, &input.service)?;
    let prepared = input.prepared.as_ref().ok_or_else(|| missing_input("prepared"))?;
    let arn = prepared.task_definition_arn.clone().ok_or_else(|| missing_input("prepared.task_definition_arn"))?;
    let port = prepared.container_port.ok_or_else(|| missing_input("prepared.container_port"))?;
    let validate = match (service.validation.enabled, validate_function) {
        (true, None) => {
            return Err(Error::Configuration {
                variable: "GREENLIGHT_VALIDATE_FUNCTION",
                problem: format!("is not set, and service `{}` has validation enabled", service.name),
            });
        }
        (_, f) => f.unwrap_or_default().to_string(),
    };
    let spec = AppSpec::render(&appspec_input(service, arn, port, &HookFunctions { validate }));
    let description = format!("greenlight: {} {} ({})", service.name, input.push.tag, input.push.digest);
    let deployment_id = deployments
        .create(&service.codedeploy.application, &service.codedeploy.deployment_group, &spec, &description)
        .await?;
    Ok(Started { deployment_id, appspec_sha256: spec.sha256 })
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

/// finish: ContinueDeployment, or the success notification.
pub async fn finish(
    input: &FinishInput,
    deployments: &impl Deployments,
    notifier: &impl Notifier,
    ledger: &impl Ledger,
) -> Result<Value, Error> {
    let deployment = input.step.deployment.as_ref().ok_or_else(|| missing_input("deployment"))?;
    match input.action {
        FinishAction::Continue => {
            deployments.continue_deployment(&deployment.deployment_id).await?;
            Ok(serde_json::json!({"continued": deployment.deployment_id}))
        }
        FinishAction::Succeeded => {
            let push = &input.step.push;
            let subject = format!("greenlight: {} {} is live", input.step.service, push.tag);
            let revision = input.step.prepared.as_ref().and_then(|p| p.task_definition_arn.as_deref()).unwrap_or("?");
            let (validation, _) = validation_summary(ledger, &deployment.deployment_id).await;
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
}

/// rollback: stop the deployment with auto-rollback (traffic back to blue) if it is still
/// active, and tell the team why.
pub async fn rollback(
    request: &RollbackRequest,
    deployments: &impl Deployments,
    notifier: &impl Notifier,
    ledger: &impl Ledger,
) -> Result<RolledBack, Error> {
    let input = &request.state;
    let error = input.error.as_ref().map_or_else(|| "DeploymentFailed".to_string(), |e| e.error.clone());
    let reason = match (&input.error, &input.status) {
        (Some(e), _) if e.error == "Rejected" && input.approval.is_some() => {
            let a =
                input.approval.as_ref().map(|a| (a.by.as_str(), a.channel.as_str(), a.at.as_str())).unwrap_or_default();
            format!("rejected by {} via {} at {}", a.0, a.1, a.2)
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
    let subject = format!("greenlight: {} {} rolled back", input.service, push.tag);
    let deployment = match &input.deployment {
        Some(d) if stopped => format!("{} (stopped and rolled back)", d.deployment_id),
        Some(d) => format!("{} (already ended; CodeDeploy rolled it back)", d.deployment_id),
        None => "none started".into(),
    };
    let message = format!(
        "{service}: {tag} was not deployed; production stays on the previous version.\n\nReason: {reason}\nError: {error}\nImage: {image}\nDeployment: {deployment}\nExecution: {execution}\n{validation}",
        service = input.service,
        tag = push.tag,
        image = push.image_uri(),
        execution = request.execution_id.as_deref().unwrap_or("?"),
    );
    notifier.notify(&subject, &message).await?;
    Ok(RolledBack { error, reason, stopped_deployment: stopped })
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
    now: i64,
) -> Result<ApprovalRequested, Error>
where
    M: ManifestSource,
    T: TaskDefinitions,
    A: Approvals,
    L: Ledger,
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
        expires_at: now + i64::from(service.approval.timeout_seconds),
        decided: None,
    };
    ports.approvals.put_approval(&record).await?;

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
    Ok(ApprovalRequested { approval_id: record.id, expires_at: record.expires_at, channels: sent })
}
