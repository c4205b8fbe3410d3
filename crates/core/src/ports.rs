//! What the domain needs from AWS, as small traits named for intent. `greenlight-aws`
//! implements them with the SDK; tests implement them in memory.

use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::approval::{ApprovalRecord, Decided, Refused, SlackPost};
use crate::appspec::AppSpec;
use crate::checks::ValidationRecord;
use crate::error::Error;
use crate::event::Push;
use crate::history::{DeploymentRecord, HistoryUpdate};
use crate::lock::{Acquire, LockHolder, NewestPush, Renew, Renewal};
use crate::manifest::Manifest;
use crate::taskdef::{RegisterRequest, TaskDefinition};

/// A task definition revision ECS has registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    pub arn: String,
    pub revision: u64,
}

/// ECS task definitions of the deployed services.
pub trait TaskDefinitions {
    /// The task definition the service runs now, with its tags.
    fn current(&self, cluster: &str, service: &str) -> impl Future<Output = Result<TaskDefinition, Error>> + Send;

    /// A task definition by ARN, with its tags.
    fn describe(&self, arn: &str) -> impl Future<Output = Result<TaskDefinition, Error>> + Send;

    /// The revision the next one is based on: the newest ACTIVE revision of `live`'s family
    /// that greenlight did not register, else the one that one was based on, else `live`
    /// (`crate::drift::choose_base`).
    fn base(&self, live: &TaskDefinition) -> impl Future<Output = Result<TaskDefinition, Error>> + Send;

    /// Registers a new revision exactly as the request says, every field included.
    fn register(&self, request: &RegisterRequest) -> impl Future<Output = Result<Registered, Error>> + Send;
}

/// An image in ECR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub digest: String,
    pub tags: Vec<String>,
    /// When ECR received the push (`imagePushedAt`), at the precision ECR gives it.
    pub pushed_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// ECR images.
pub trait Images {
    /// The image with this digest; `ImageNotFound` / `RepositoryNotFound` when absent.
    fn image(&self, repository: &str, digest: &str) -> impl Future<Output = Result<Image, Error>> + Send;

    /// The image `repository:tag` names now; `ImageNotFound` / `RepositoryNotFound` when absent.
    fn image_tagged(&self, repository: &str, tag: &str) -> impl Future<Output = Result<Image, Error>> + Send;
}

/// A CodeDeploy deployment's status, by CodeDeploy's names (`DeploymentStatus` in its API);
/// the state machine's `DeploymentProgress` choice matches the same strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentStatus {
    Created,
    Queued,
    InProgress,
    Baking,
    /// Green is up and tested; production traffic waits for ContinueDeployment.
    Ready,
    Succeeded,
    Failed,
    Stopped,
}

impl DeploymentStatus {
    pub const ALL: [Self; 8] = [
        Self::Created,
        Self::Queued,
        Self::InProgress,
        Self::Baking,
        Self::Ready,
        Self::Succeeded,
        Self::Failed,
        Self::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "Created",
            Self::Queued => "Queued",
            Self::InProgress => "InProgress",
            Self::Baking => "Baking",
            Self::Ready => "Ready",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Stopped => "Stopped",
        }
    }

    /// CodeDeploy's name; `None` for one this version does not know.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Succeeded, Failed or Stopped: CodeDeploy is done with it.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Stopped)
    }

    /// Failed or Stopped: the deployment ended without reaching production.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Stopped)
    }
}

impl std::fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a CodeDeploy deployment stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentState {
    pub id: String,
    pub status: DeploymentStatus,
    pub error_message: Option<String>,
}

/// What the validation hook needs to know about the deployment that invoked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentInfo {
    pub id: String,
    pub application: String,
    pub deployment_group: String,
    pub status: DeploymentStatus,
    /// The AppSpec's `TaskDefinition` (green's task definition).
    pub task_definition_arn: Option<String>,
}

/// How a deployment group moves on once green is ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentGroupSettings {
    /// `CONTINUE_DEPLOYMENT` or `STOP_DEPLOYMENT`.
    pub action_on_ready_timeout: Option<String>,
    pub ready_wait_minutes: Option<i32>,
    pub ecs_cluster: Option<String>,
    pub ecs_service: Option<String>,
}

/// CodeDeploy blue/green deployments.
pub trait Deployments {
    /// Starts a deployment; `DeploymentInProgress` when the group already has one.
    fn create(
        &self,
        application: &str,
        deployment_group: &str,
        appspec: &AppSpec,
        description: &str,
    ) -> impl Future<Output = Result<String, Error>> + Send;

    fn state(&self, deployment_id: &str) -> impl Future<Output = Result<DeploymentState, Error>> + Send;

    /// GetDeployment, with the AppSpec's task definition.
    fn info(&self, deployment_id: &str) -> impl Future<Output = Result<DeploymentInfo, Error>> + Send;

    /// PutLifecycleEventHookExecutionStatus: Succeeded or Failed.
    fn report_hook(
        &self,
        deployment_id: &str,
        hook_execution_id: &str,
        succeeded: bool,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// ContinueDeployment: shift production traffic (`READY_WAIT`).
    fn continue_deployment(&self, deployment_id: &str) -> impl Future<Output = Result<(), Error>> + Send;

    /// StopDeployment with auto-rollback; `Ok(false)` when it had already completed.
    fn stop(&self, deployment_id: &str) -> impl Future<Output = Result<bool, Error>> + Send;

    /// The group's deployments still active (created, queued, in progress, baking, ready)
    /// whose description is exactly `description`.
    fn active_with_description(
        &self,
        application: &str,
        deployment_group: &str,
        description: &str,
    ) -> impl Future<Output = Result<Vec<String>, Error>> + Send;

    fn group_settings(
        &self,
        application: &str,
        deployment_group: &str,
    ) -> impl Future<Output = Result<DeploymentGroupSettings, Error>> + Send;
}

/// Where the deploy manifest lives (an SSM parameter).
pub trait ManifestSource {
    fn manifest(&self) -> impl Future<Output = Result<Manifest, Error>> + Send;
}

/// Whether StartExecution started something new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ExecutionStart {
    Started {
        execution_arn: String,
    },
    /// An execution of that name exists: a duplicated event, nothing new to do.
    AlreadyExists {
        name: String,
    },
}

/// Step Functions executions of the deploy state machine.
pub trait Executions {
    fn start(&self, name: &str, input: &str) -> impl Future<Output = Result<ExecutionStart, Error>> + Send;
}

/// The notification topic.
pub trait Notifier {
    fn notify(&self, subject: &str, message: &str) -> impl Future<Output = Result<(), Error>> + Send;
}

/// Validation reports in the ledger, by deployment id.
pub trait Validations {
    /// Stores a validation record under its deployment id.
    fn save_validation(&self, record: &ValidationRecord) -> impl Future<Output = Result<(), Error>> + Send;

    /// The validation records stored for a deployment, oldest first.
    fn validations(&self, deployment_id: &str) -> impl Future<Output = Result<Vec<ValidationRecord>, Error>> + Send;
}

/// Pending approvals in the ledger: single use, expiring.
pub trait Approvals {
    fn put_approval(&self, record: &ApprovalRecord) -> impl Future<Output = Result<(), Error>> + Send;

    /// The approval with this id; `Ok(None)` when there is none, `CorruptRecord` when the
    /// stored item cannot be read.
    fn approval(&self, id: &str) -> impl Future<Output = Result<Option<ApprovalRecord>, Error>> + Send;

    /// Counts an approval and/or records the decision, only while none is recorded, the
    /// approval has not expired and exactly `change.counted` approvals are counted (one
    /// conditional write); `Ok(false)` when refused (someone was faster: read it again).
    fn settle(&self, id: &str, change: Settle<'_>, now: i64) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Keeps a refused decision beside the approval: who, when, why.
    fn refuse(&self, id: &str, refused: &Refused) -> impl Future<Output = Result<(), Error>> + Send;

    /// Keeps where the request's Slack message is (posted with the bot token), so that it can
    /// be edited once the approval ends.
    fn note_slack_post(&self, id: &str, post: &SlackPost) -> impl Future<Output = Result<(), Error>> + Send;
}

/// One conditional change to an approval (see [`Approvals::settle`]).
#[derive(Debug, Clone, Copy)]
pub struct Settle<'a> {
    /// How many approvals the change was computed from.
    pub counted: usize,
    /// An approval to count.
    pub approval: Option<&'a Decided>,
    /// The decision, when this change takes it.
    pub decided: Option<&'a Decided>,
}

/// One target group a production listener forwards to, and what runs behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub target_group: String,
    /// The listener's weight for it, in percent of the listener's total.
    pub weight: i32,
    /// The task definition of the ECS task set registered with it (none: no task set).
    pub task_definition: Option<String>,
    /// The container images of that task definition.
    pub images: Vec<String>,
}

/// What production actually serves (ELBv2 and the ECS task sets behind it): read, never
/// assumed, when a deployment ends without greenlight (a console stop without rollback leaves
/// traffic where it was).
pub trait Traffic {
    /// What the deployment group's production listeners forward to.
    fn production(
        &self,
        group: &crate::manifest::CodeDeployTarget,
    ) -> impl Future<Output = Result<Vec<Served>, Error>> + Send;
}

/// Email to one person (Amazon SES `SendEmail`): an approval request with links bound to the
/// address it is sent to.
pub trait Mailer {
    fn send(&self, to: &str, subject: &str, body: &str) -> impl Future<Output = Result<(), Error>> + Send;
}

/// Slack as greenlight's app posts to it: the Web API with the bot token (scope `chat:write`),
/// whose messages greenlight can edit and reply to in a thread, and the app's incoming webhook,
/// whose messages it cannot.
pub trait SlackApi {
    /// `chat.postMessage` of `payload` (`text`, `blocks`) to `channel`, in the thread of
    /// `thread_ts` when given: the new message.
    fn post_message(
        &self,
        channel: &str,
        payload: &Value,
        thread_ts: Option<&str>,
    ) -> impl Future<Output = Result<SlackPost, Error>> + Send;

    /// `chat.update`: the message becomes `payload`.
    fn update_message(&self, post: &SlackPost, payload: &Value) -> impl Future<Output = Result<(), Error>> + Send;

    /// `payload` through the incoming webhook, to the channel it was made for.
    fn post_webhook(&self, payload: &Value) -> impl Future<Output = Result<(), Error>> + Send;
}

/// Slack's user groups (`usergroups.users.list`): read when a listed group may admit the
/// person who clicked.
pub trait SlackDirectory {
    /// The user ids of the group's members.
    fn group_members(&self, group_id: &str) -> impl Future<Output = Result<Vec<String>, Error>> + Send;
}

/// Where decisions never come from Slack (`greenlight approve`): no group is read.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSlackDirectory;

impl SlackDirectory for NoSlackDirectory {
    async fn group_members(&self, group_id: &str) -> Result<Vec<String>, Error> {
        Err(Error::Chat { reason: format!("Slack user group {group_id} is not read outside Slack") })
    }
}

/// Resuming a `.waitForTaskToken` state.
pub trait TaskTokens {
    fn succeed(&self, task_token: &str, output: &Value) -> impl Future<Output = Result<(), Error>> + Send;

    /// Ends the waiting task with this error; `Ok` also when it no longer waits.
    fn fail(&self, task_token: &str, error: &str, cause: &str) -> impl Future<Output = Result<(), Error>> + Send;
}

/// A service's deploy freeze (`greenlight pause`), in the ledger.
pub trait Pauses {
    /// Pauses the service unless it is paused already; the pause in force when it is.
    fn pause(
        &self,
        service: &str,
        pause: &crate::pause::Pause,
    ) -> impl Future<Output = Result<Option<crate::pause::Pause>, Error>> + Send;

    fn paused(&self, service: &str) -> impl Future<Output = Result<Option<crate::pause::Pause>, Error>> + Send;

    /// Lifts the pause; the one lifted, `None` when the service was not paused.
    fn resume(&self, service: &str) -> impl Future<Output = Result<Option<crate::pause::Pause>, Error>> + Send;
}

/// The per-service lock and the order of pushes, in the ledger (conditional writes only).
pub trait Locks {
    /// Records an accepted push as the service's newest unless a newer one is recorded;
    /// `Ok(false)` when a newer one is.
    fn record_push(&self, service: &str, push: &NewestPush) -> impl Future<Output = Result<bool, Error>> + Send;

    fn newest_push(&self, service: &str) -> impl Future<Output = Result<Option<NewestPush>, Error>> + Send;

    /// Who holds the service's lock now, if anyone.
    fn holder(&self, service: &str) -> impl Future<Output = Result<Option<LockHolder>, Error>> + Send;

    /// Takes the lock when nobody holds it, `claim.execution` holds it already, its lease ended
    /// at `now` and its traffic is not moving, or (with `take_older`) an older push holds it and
    /// its traffic is not moving. A holder whose traffic moves is never taken over here, even
    /// with its lease ended: see [`Locks::take_expired`].
    fn acquire(
        &self,
        service: &str,
        claim: &LockHolder,
        now: i64,
        take_older: bool,
    ) -> impl Future<Output = Result<Acquire, Error>> + Send;

    /// Takes the lock from `expired`, whose lease ended at `now` while its production traffic
    /// moved, once the caller has seen its deployment end; `Acquire::Held` when the lock changed
    /// meanwhile (renewed, released, or taken by someone else).
    fn take_expired(
        &self,
        service: &str,
        claim: &LockHolder,
        expired: &str,
        now: i64,
    ) -> impl Future<Output = Result<Acquire, Error>> + Send;

    /// Extends the lease of `execution`, recording what `renew` says, while it holds the lock.
    fn renew(
        &self,
        service: &str,
        execution: &str,
        lease_until: i64,
        renew: &Renew<'_>,
    ) -> impl Future<Output = Result<Renewal, Error>> + Send;

    /// Releases the lock if `execution` holds it; `Ok(false)` when it did not.
    fn release(&self, service: &str, execution: &str) -> impl Future<Output = Result<bool, Error>> + Send;
}

/// The ledger of deployments: one item per execution, queryable by service, newest first.
pub trait History {
    /// Adds a timeline entry (and the fields the update carries) to the push's item,
    /// creating it on first use.
    fn record(
        &self,
        service: &str,
        push: &Push,
        update: &HistoryUpdate,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The service's deployments, newest push first.
    fn deployments(
        &self,
        service: &str,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<DeploymentRecord>, Error>> + Send;
}

/// Secret values (Secrets Manager): webhook URLs and signing keys. Never logged.
pub trait Secrets {
    fn secret(&self, id: &str) -> impl Future<Output = Result<String, Error>> + Send;
}

/// Posting a JSON message to a chat webhook (Slack's incoming webhook, a response_url).
pub trait Chat {
    fn post(&self, url: &str, payload: &Value) -> impl Future<Output = Result<(), Error>> + Send;
}
