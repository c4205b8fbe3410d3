//! In-memory implementations of the ports, for tests of the domain and of the functions'
//! handlers. They record what was asked of them.

use serde_json::Value;
use std::sync::Mutex;

use crate::appspec::AppSpec;
use crate::error::{Error, ResourceKind};
use crate::manifest::Manifest;
use crate::ports::{
    DeploymentGroupSettings, DeploymentInfo, DeploymentState, DeploymentStatus, Deployments, ExecutionStart,
    Executions, Image, Images, ManifestSource, Notifier, Registered, TaskDefinitions,
};
use crate::taskdef::{RegisterRequest, TaskDefinition};

mod ledger;

pub use ledger::FakeLedger;

#[derive(Debug)]
pub struct FakeManifest(pub Manifest);

impl ManifestSource for FakeManifest {
    async fn manifest(&self) -> Result<Manifest, Error> {
        Ok(self.0.clone())
    }
}

/// Starts executions; a second start of the same name is `AlreadyExists`, as in Step Functions.
#[derive(Debug, Default)]
pub struct FakeExecutions {
    pub started: Mutex<Vec<(String, String)>>,
}

impl Executions for FakeExecutions {
    async fn start(&self, name: &str, input: &str) -> Result<ExecutionStart, Error> {
        let mut started = self.started.lock().map_err(|_| poisoned())?;
        if started.iter().any(|(n, _)| n == name) {
            return Ok(ExecutionStart::AlreadyExists { name: name.into() });
        }
        started.push((name.into(), input.into()));
        Ok(ExecutionStart::Started {
            execution_arn: format!("arn:aws:states:us-east-1:123456789012:execution:deploy:{name}"),
        })
    }
}

#[derive(Debug, Default)]
pub struct FakeNotifier {
    pub sent: Mutex<Vec<(String, String)>>,
}

impl Notifier for FakeNotifier {
    async fn notify(&self, subject: &str, message: &str) -> Result<(), Error> {
        self.sent.lock().map_err(|_| poisoned())?.push((subject.into(), message.into()));
        Ok(())
    }
}

/// One live task definition; registering records the request and returns the family's next
/// revision (after `registered_since` revisions others registered since the live one).
#[derive(Debug)]
pub struct FakeTaskDefinitions {
    pub live: TaskDefinition,
    pub registered_since: u64,
    pub registered: Mutex<Vec<RegisterRequest>>,
}

impl TaskDefinitions for FakeTaskDefinitions {
    async fn current(&self, _cluster: &str, _service: &str) -> Result<TaskDefinition, Error> {
        Ok(self.live.clone())
    }

    async fn describe(&self, _arn: &str) -> Result<TaskDefinition, Error> {
        Ok(self.live.clone())
    }

    async fn base(&self, live: &TaskDefinition) -> Result<TaskDefinition, Error> {
        Ok(live.clone())
    }

    async fn register(&self, request: &RegisterRequest) -> Result<Registered, Error> {
        let mut registered = self.registered.lock().map_err(|_| poisoned())?;
        registered.push(request.clone());
        let revision = self.live.revision().unwrap_or(0) + self.registered_since + registered.len() as u64;
        Ok(Registered {
            arn: format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{}:{revision}", request.family()),
            revision,
        })
    }
}

/// A deployment group with these settings; records created, continued and stopped deployments.
#[derive(Debug, Default)]
pub struct FakeDeployments {
    pub settings: Option<DeploymentGroupSettings>,
    pub created: Mutex<Vec<AppSpec>>,
    pub continued: Mutex<Vec<String>>,
    pub stopped: Mutex<Vec<String>>,
    /// (deployment id, hook execution id, succeeded) per PutLifecycleEventHookExecutionStatus.
    pub reported: Mutex<Vec<(String, String, bool)>>,
    /// StopDeployment answers "already completed".
    pub completed: bool,
    /// Active deployments the group has, as (id, description): what ListDeployments finds.
    pub active: Mutex<Vec<(String, String)>>,
    /// What GetDeployment reports (default `InProgress`).
    pub status: Option<DeploymentStatus>,
    /// What GetDeployment reports on its first calls, in turn, before `status`.
    pub script: Mutex<std::collections::VecDeque<DeploymentStatus>>,
    /// GetDeployment calls so far.
    pub looks: Mutex<u32>,
    /// The next this-many PutLifecycleEventHookExecutionStatus calls are throttled.
    pub throttle_reports: Mutex<u32>,
}

impl Deployments for FakeDeployments {
    async fn create(
        &self,
        _application: &str,
        _group: &str,
        appspec: &AppSpec,
        _description: &str,
    ) -> Result<String, Error> {
        let mut created = self.created.lock().map_err(|_| poisoned())?;
        created.push(appspec.clone());
        Ok(format!("d-FAKE{:05}", created.len()))
    }

    async fn state(&self, deployment_id: &str) -> Result<DeploymentState, Error> {
        *self.looks.lock().map_err(|_| poisoned())? += 1;
        let scripted = self.script.lock().map_err(|_| poisoned())?.pop_front();
        let status = scripted.or(self.status).unwrap_or(DeploymentStatus::InProgress);
        Ok(DeploymentState { id: deployment_id.into(), status, error_message: None })
    }

    async fn info(&self, deployment_id: &str) -> Result<DeploymentInfo, Error> {
        Ok(DeploymentInfo {
            id: deployment_id.into(),
            application: "api-server".into(),
            deployment_group: "api-server-production".into(),
            status: DeploymentStatus::InProgress,
            task_definition_arn: Some(
                "arn:aws:ecs:us-east-1:123456789012:task-definition/api-server-production:42".into(),
            ),
        })
    }

    async fn report_hook(&self, deployment_id: &str, hook_execution_id: &str, succeeded: bool) -> Result<(), Error> {
        {
            let mut throttled = self.throttle_reports.lock().map_err(|_| poisoned())?;
            if *throttled > 0 {
                *throttled -= 1;
                return Err(Error::Throttled {
                    operation: "codedeploy:PutLifecycleEventHookExecutionStatus",
                    source: "Rate exceeded".into(),
                });
            }
        }
        self.reported.lock().map_err(|_| poisoned())?.push((deployment_id.into(), hook_execution_id.into(), succeeded));
        Ok(())
    }

    async fn continue_deployment(&self, deployment_id: &str) -> Result<(), Error> {
        self.continued.lock().map_err(|_| poisoned())?.push(deployment_id.into());
        Ok(())
    }

    async fn stop(&self, deployment_id: &str) -> Result<bool, Error> {
        self.stopped.lock().map_err(|_| poisoned())?.push(deployment_id.into());
        Ok(!self.completed)
    }

    async fn active_with_description(&self, _: &str, _: &str, description: &str) -> Result<Vec<String>, Error> {
        let active = self.active.lock().map_err(|_| poisoned())?;
        Ok(active.iter().filter(|(_, d)| d == description).map(|(id, _)| id.clone()).collect())
    }

    async fn group_settings(&self, application: &str, group: &str) -> Result<DeploymentGroupSettings, Error> {
        self.settings.clone().ok_or_else(|| Error::NotFound {
            kind: ResourceKind::DeploymentGroup,
            name: format!("{application}/{group}"),
            hint: None,
            source: None,
        })
    }
}

pub(crate) fn poisoned() -> Error {
    Error::Aws { operation: "fake", retryable: false, source: "a fake's lock was poisoned".into() }
}

/// Production as a test sets it; `down` fails every read with it.
#[derive(Debug, Default)]
pub struct FakeTraffic {
    pub served: Vec<crate::ports::Served>,
    pub down: Option<String>,
}

impl crate::ports::Traffic for FakeTraffic {
    async fn production(&self, _group: &crate::manifest::CodeDeployTarget) -> Result<Vec<crate::ports::Served>, Error> {
        match &self.down {
            Some(reason) => Err(Error::Aws {
                operation: "elasticloadbalancing:DescribeListeners",
                retryable: true,
                source: reason.clone().into(),
            }),
            None => Ok(self.served.clone()),
        }
    }
}

/// Emails in memory: `(to, subject, body)`; `down` fails every send with it.
#[derive(Debug, Default)]
pub struct FakeMailer {
    pub sent: Mutex<Vec<(String, String, String)>>,
    pub down: Option<String>,
}

impl crate::ports::Mailer for FakeMailer {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), Error> {
        if let Some(reason) = &self.down {
            return Err(Error::Aws { operation: "ses:SendEmail", retryable: true, source: reason.clone().into() });
        }
        self.sent.lock().map_err(|_| poisoned())?.push((to.into(), subject.into(), body.into()));
        Ok(())
    }
}

/// Every image exists with these tags.
#[derive(Debug, Default)]
pub struct FakeImages {
    pub tags: Vec<String>,
}

impl Images for FakeImages {
    async fn image(&self, _repository: &str, digest: &str) -> Result<Image, Error> {
        Ok(Image { digest: digest.into(), tags: self.tags.clone(), pushed_at: None })
    }

    async fn image_tagged(&self, _repository: &str, tag: &str) -> Result<Image, Error> {
        Ok(Image { digest: format!("sha256:{tag}"), tags: vec![tag.into()], pushed_at: None })
    }
}

/// A pending approval for tests: `id` for web v2 (`sha256:ab`, deployment `d-1`, task token
/// `TOKEN`), one approval required, anyone may decide, never expiring; set what a test needs
/// with struct update syntax.
pub fn pending_approval(id: &str) -> crate::approval::ApprovalRecord {
    crate::approval::ApprovalRecord {
        id: id.into(),
        task_token: "TOKEN".into(),
        service: "web".into(),
        tag: "v2".into(),
        digest: "sha256:ab".into(),
        deployment_id: "d-1".into(),
        execution_id: None,
        expires_at: i64::MAX,
        decided: None,
        approvers: Vec::new(),
        required_approvals: 1,
        approvals: Vec::new(),
        refusals: Vec::new(),
        evidence: None,
        slack_post: None,
    }
}

/// Approvals in memory, with the ledger's single-use and expiry rules.
#[derive(Debug, Default)]
pub struct FakeApprovals {
    pub records: Mutex<Vec<crate::approval::ApprovalRecord>>,
}

impl crate::ports::Approvals for FakeApprovals {
    async fn put_approval(&self, record: &crate::approval::ApprovalRecord) -> Result<(), Error> {
        self.records.lock().map_err(|_| poisoned())?.push(record.clone());
        Ok(())
    }

    async fn approval(&self, id: &str) -> Result<Option<crate::approval::ApprovalRecord>, Error> {
        Ok(self.records.lock().map_err(|_| poisoned())?.iter().find(|r| r.id == id).cloned())
    }

    async fn settle(&self, id: &str, change: crate::ports::Settle<'_>, now: i64) -> Result<bool, Error> {
        let mut records = self.records.lock().map_err(|_| poisoned())?;
        match records.iter_mut().find(|r| r.id == id) {
            Some(r) if r.decided.is_none() && now <= r.expires_at && r.approvals.len() == change.counted => {
                r.approvals.extend(change.approval.cloned());
                r.decided = change.decided.cloned();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn refuse(&self, id: &str, refused: &crate::approval::Refused) -> Result<(), Error> {
        let mut records = self.records.lock().map_err(|_| poisoned())?;
        if let Some(r) = records.iter_mut().find(|r| r.id == id) {
            r.refusals.push(refused.clone());
        }
        Ok(())
    }

    async fn note_slack_post(&self, id: &str, post: &crate::approval::SlackPost) -> Result<(), Error> {
        let mut records = self.records.lock().map_err(|_| poisoned())?;
        if let Some(r) = records.iter_mut().find(|r| r.id == id) {
            r.slack_post = Some(post.clone());
        }
        Ok(())
    }
}

/// Slack in memory: every message posted (channel, payload, thread), every update (channel, ts,
/// payload) and every incoming webhook's message; `down` fails every call with it.
#[derive(Debug, Default)]
pub struct FakeSlackApi {
    pub posted: Mutex<Vec<(String, Value, Option<String>)>>,
    pub updated: Mutex<Vec<(String, String, Value)>>,
    pub webhooks: Mutex<Vec<Value>>,
    pub down: Option<String>,
}

impl crate::ports::SlackApi for FakeSlackApi {
    async fn post_message(
        &self,
        channel: &str,
        payload: &Value,
        thread_ts: Option<&str>,
    ) -> Result<crate::approval::SlackPost, Error> {
        if let Some(reason) = &self.down {
            return Err(Error::Chat { reason: reason.clone() });
        }
        let mut posted = self.posted.lock().map_err(|_| poisoned())?;
        posted.push((channel.to_string(), payload.clone(), thread_ts.map(str::to_string)));
        Ok(crate::approval::SlackPost { channel: channel.to_string(), ts: format!("1700000000.{:06}", posted.len()) })
    }

    async fn update_message(&self, post: &crate::approval::SlackPost, payload: &Value) -> Result<(), Error> {
        if let Some(reason) = &self.down {
            return Err(Error::Chat { reason: reason.clone() });
        }
        self.updated.lock().map_err(|_| poisoned())?.push((post.channel.clone(), post.ts.clone(), payload.clone()));
        Ok(())
    }

    async fn post_webhook(&self, payload: &Value) -> Result<(), Error> {
        if let Some(reason) = &self.down {
            return Err(Error::Chat { reason: reason.clone() });
        }
        self.webhooks.lock().map_err(|_| poisoned())?.push(payload.clone());
        Ok(())
    }
}

/// Slack user groups by id.
#[derive(Debug, Default)]
pub struct FakeSlackDirectory {
    pub groups: std::collections::HashMap<String, Vec<String>>,
}

impl crate::ports::SlackDirectory for FakeSlackDirectory {
    async fn group_members(&self, group_id: &str) -> Result<Vec<String>, Error> {
        self.groups.get(group_id).cloned().ok_or_else(|| Error::Chat { reason: format!("no_such_subteam: {group_id}") })
    }
}

#[derive(Debug, Default)]
pub struct FakeTaskTokens {
    pub succeeded: Mutex<Vec<(String, serde_json::Value)>>,
    /// `(token, error, cause)`.
    pub failed: Mutex<Vec<(String, String, String)>>,
}

impl crate::ports::TaskTokens for FakeTaskTokens {
    async fn succeed(&self, task_token: &str, output: &serde_json::Value) -> Result<(), Error> {
        self.succeeded.lock().map_err(|_| poisoned())?.push((task_token.into(), output.clone()));
        Ok(())
    }

    async fn fail(&self, task_token: &str, error: &str, cause: &str) -> Result<(), Error> {
        self.failed.lock().map_err(|_| poisoned())?.push((task_token.into(), error.into(), cause.into()));
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct FakeSecrets {
    pub values: std::collections::HashMap<String, String>,
}

impl crate::ports::Secrets for FakeSecrets {
    async fn secret(&self, id: &str) -> Result<String, Error> {
        self.values.get(id).cloned().ok_or_else(|| Error::NotFound {
            kind: ResourceKind::Secret,
            name: id.into(),
            hint: None,
            source: None,
        })
    }
}

#[derive(Debug, Default)]
pub struct FakeChat {
    pub posted: Mutex<Vec<(String, serde_json::Value)>>,
    /// `Some(reason)`: every post fails with it (the chat service is down).
    pub down: Option<String>,
}

impl crate::ports::Chat for FakeChat {
    async fn post(&self, url: &str, payload: &serde_json::Value) -> Result<(), Error> {
        if let Some(reason) = &self.down {
            return Err(Error::Chat { reason: reason.clone() });
        }
        self.posted.lock().map_err(|_| poisoned())?.push((url.into(), payload.clone()));
        Ok(())
    }
}
