//! The one error type of the domain, with stable `errorType` names.

use std::fmt;

/// A boxed source error from an adapter, kept whole so callers can still inspect it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One problem found in a manifest: where, what is wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Issue {
    /// JSON path of the offending value, e.g. `services[0].tags.include[1]`.
    pub path: String,
    pub problem: String,
    pub fix: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; {}", self.path, self.problem, self.fix)
    }
}

/// Collects issues; small helpers (in the rules' modules) keep each rule one line.
#[derive(Debug, Default)]
pub(crate) struct IssueSink(pub(crate) Vec<Issue>);

impl IssueSink {
    pub(crate) fn extend(&mut self, issue: Issue) {
        self.0.push(issue);
    }

    pub(crate) fn push(&mut self, path: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) {
        self.0.push(Issue { path: path.into(), problem: problem.into(), fix: fix.into() });
    }
}

/// What kind of AWS resource was missing, so the error name says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Cluster,
    Service,
    TaskDefinition,
    Repository,
    Image,
    Application,
    DeploymentGroup,
    Deployment,
    ManifestParameter,
    Secret,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cluster => "cluster",
            Self::Service => "service",
            Self::TaskDefinition => "task definition",
            Self::Repository => "repository",
            Self::Image => "image",
            Self::Application => "CodeDeploy application",
            Self::DeploymentGroup => "deployment group",
            Self::Deployment => "deployment",
            Self::ManifestParameter => "manifest parameter",
            Self::Secret => "secret",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid manifest ({} problem{}):\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" }, issues_list(.0))]
    InvalidManifest(Vec<Issue>),

    #[error("invalid ECR push event: `{field}` {problem}")]
    InvalidEvent { field: String, problem: String },

    #[error("invalid task definition: `{path}` {problem}")]
    InvalidTaskDefinition { path: String, problem: String },

    #[error(
        "container `{container}` is not in task definition `{family}`; it has: {}. Fix the service's `containers` in the manifest",
        available.join(", ")
    )]
    ContainerNotFound { container: String, family: String, available: Vec<String> },

    #[error(
        "service `{service}`: {problem}. Set `load_balancer.port` in the manifest to the container port the target groups forward to"
    )]
    ContainerPortUnknown { service: String, problem: String },

    #[error("invalid input from the state machine: `{field}` {problem}")]
    InvalidInput { field: String, problem: String },

    #[error("configuration: {variable} {problem}")]
    Configuration { variable: &'static str, problem: String },

    #[error("service `{service}` is not in the deploy manifest; it has: {}. Check the manifest parameter", known.join(", "))]
    UnknownService { service: String, known: Vec<String> },

    #[error(
        "deployment group `{group}` {problem}. Set its deployment_ready_option to {expected}, with a wait at least as long as the approval timeout (the ecs-service module sets both from the same `approval` variable)"
    )]
    DeploymentGroupMismatch { group: String, problem: String, expected: &'static str },

    #[error("{} `{name}` not found{}", kind.as_str(), hint.as_deref().map(|h| format!(": {h}")).unwrap_or_default())]
    NotFound { kind: ResourceKind, name: String, hint: Option<String>, source: Option<BoxError> },

    #[error("deployment group `{group}` already has an active deployment; greenlight retries once it finishes")]
    DeploymentInProgress { group: String, source: BoxError },

    #[error(
        "{service} {tag} is superseded: {by}. It will not be deployed; the newest push of the service deploys instead"
    )]
    Superseded { service: String, tag: String, by: String },

    #[error(
        "{service} {tag} waits for the service's lock, held by {holder}{}; greenlight tries again with backoff",
        if *.shifting { " whose production traffic is already moving (it is never stopped halfway)" } else { "" }
    )]
    Queued { service: String, tag: String, holder: String, shifting: bool },

    #[error(
        "{service} {tag} waited {waited_seconds} s for the service's lock (held by {holder}), longer than concurrency.queue_timeout_seconds ({limit} s). Push again once {holder} has finished, or raise the timeout in the manifest"
    )]
    QueueTimedOut { service: String, tag: String, holder: String, waited_seconds: i64, limit: u32 },

    #[error(
        "deployment {deployment_id} ended {status} while its approval waited ({reason}); the approval is cancelled"
    )]
    DeploymentEndedDuringApproval { deployment_id: String, status: String, reason: String },

    #[error("AWS throttled `{operation}`; retry with backoff")]
    Throttled { operation: &'static str, source: BoxError },

    #[error("AWS `{operation}` was denied: {source}. Grant the function's role this action")]
    AccessDenied { operation: &'static str, source: BoxError },

    #[error(
        "the ledger's {what} is corrupt: {problem}. Delete the item (greenlight writes it anew) or restore it from the table's point-in-time recovery"
    )]
    CorruptRecord { what: String, problem: String },

    #[error("{service} is not rolled back: {problem}. Nothing was stopped or started")]
    RollbackRefused { service: String, problem: String },

    #[error("the Slack request failed: {reason}")]
    Chat { reason: String },

    #[error("AWS `{operation}` failed: {source}")]
    Aws { operation: &'static str, retryable: bool, source: BoxError },
}

/// The error names the state machine raises itself (Pass and Fail states), beside the
/// functions' `errorType`s; rollback reads them in `$.error.Error`. `tests/tidy.rs` checks
/// that these are exactly the names `state-machine/deploy.asl.json` raises.
pub mod raised {
    /// The approver rejected the deployment (`Rejected`).
    pub const REJECTED: &str = "Rejected";
    /// Nobody decided in time and `approval.on_timeout` is `rollback` (`ApprovalExpired`).
    pub const APPROVAL_TIMED_OUT: &str = "ApprovalTimedOut";
    /// CodeDeploy reported the deployment Failed or Stopped (`DeploymentFailed`).
    pub const DEPLOYMENT_FAILED: &str = "DeploymentFailed";
    /// The rollback step itself failed (`RollbackFailed`).
    pub const ROLLBACK_FAILED: &str = "RollbackFailed";

    pub const ALL: &[&str] = &[REJECTED, APPROVAL_TIMED_OUT, DEPLOYMENT_FAILED, ROLLBACK_FAILED];
}

fn issues_list(issues: &[Issue]) -> String {
    issues.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n")
}

impl Error {
    /// `Superseded`'s name, also given to a cancelled approval's task token.
    pub const SUPERSEDED: &'static str = "Superseded";
    /// The watch beside a pending approval saw its deployment end without it.
    pub const DEPLOYMENT_ENDED_DURING_APPROVAL: &'static str = "DeploymentEndedDuringApproval";

    /// The stable name the state machine's `Retry` / `Catch` match on.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::InvalidManifest(_) => "InvalidManifest",
            Self::InvalidEvent { .. } => "InvalidEvent",
            Self::InvalidTaskDefinition { .. } => "InvalidTaskDefinition",
            Self::ContainerNotFound { .. } => "ContainerNotFound",
            Self::ContainerPortUnknown { .. } => "ContainerPortUnknown",
            Self::InvalidInput { .. } => "InvalidInput",
            Self::Configuration { .. } => "InvalidConfiguration",
            Self::UnknownService { .. } => "UnknownService",
            Self::DeploymentGroupMismatch { .. } => "DeploymentGroupMismatch",
            Self::NotFound { kind, .. } => match kind {
                ResourceKind::Cluster => "ClusterNotFound",
                ResourceKind::Service => "ServiceNotFound",
                ResourceKind::TaskDefinition => "TaskDefinitionNotFound",
                ResourceKind::Repository => "RepositoryNotFound",
                ResourceKind::Image => "ImageNotFound",
                ResourceKind::Application => "ApplicationNotFound",
                ResourceKind::DeploymentGroup => "DeploymentGroupNotFound",
                ResourceKind::Deployment => "DeploymentNotFound",
                ResourceKind::ManifestParameter => "ManifestNotFound",
                ResourceKind::Secret => "SecretNotFound",
            },
            Self::DeploymentInProgress { .. } => "DeploymentInProgress",
            Self::Superseded { .. } => Self::SUPERSEDED,
            Self::Queued { .. } => "Queued",
            Self::QueueTimedOut { .. } => "QueueTimedOut",
            Self::DeploymentEndedDuringApproval { .. } => Self::DEPLOYMENT_ENDED_DURING_APPROVAL,
            Self::Throttled { .. } => "Throttled",
            Self::AccessDenied { .. } => "AccessDenied",
            Self::RollbackRefused { .. } => "RollbackRefused",
            Self::Chat { .. } => "ChatFailed",
            Self::CorruptRecord { .. } => "CorruptRecord",
            Self::Aws { retryable: true, .. } => "AwsTransient",
            Self::Aws { retryable: false, .. } => "AwsError",
        }
    }

    /// Whether trying the same call again later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::DeploymentInProgress { .. }
                | Self::Queued { .. }
                | Self::Throttled { .. }
                | Self::Aws { retryable: true, .. }
        )
    }

    /// Every `errorType` this crate can produce, for the tidy tests that tie them to the ASL.
    pub const ERROR_TYPES: &'static [&'static str] = &[
        "InvalidManifest",
        "InvalidEvent",
        "InvalidTaskDefinition",
        "ContainerNotFound",
        "ContainerPortUnknown",
        "InvalidInput",
        "InvalidConfiguration",
        "UnknownService",
        "DeploymentGroupMismatch",
        "ClusterNotFound",
        "ServiceNotFound",
        "TaskDefinitionNotFound",
        "RepositoryNotFound",
        "ImageNotFound",
        "ApplicationNotFound",
        "DeploymentGroupNotFound",
        "DeploymentNotFound",
        "ManifestNotFound",
        "SecretNotFound",
        "DeploymentInProgress",
        "Superseded",
        "Queued",
        "QueueTimedOut",
        "DeploymentEndedDuringApproval",
        "Throttled",
        "AccessDenied",
        "ChatFailed",
        "CorruptRecord",
        "AwsTransient",
        "AwsError",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed() -> BoxError {
        "cause".into()
    }

    /// One value of every variant (and every resource kind): each name is listed, and unique.
    #[test]
    fn every_error_type_is_listed_once() {
        let kinds = [
            ResourceKind::Cluster,
            ResourceKind::Service,
            ResourceKind::TaskDefinition,
            ResourceKind::Repository,
            ResourceKind::Image,
            ResourceKind::Application,
            ResourceKind::DeploymentGroup,
            ResourceKind::Deployment,
            ResourceKind::ManifestParameter,
            ResourceKind::Secret,
        ];
        let mut all: Vec<Error> = vec![
            Error::InvalidManifest(Vec::new()),
            Error::InvalidEvent { field: "f".into(), problem: "p".into() },
            Error::InvalidTaskDefinition { path: "p".into(), problem: "p".into() },
            Error::ContainerNotFound { container: "c".into(), family: "f".into(), available: Vec::new() },
            Error::ContainerPortUnknown { service: "s".into(), problem: "p".into() },
            Error::Configuration { variable: "V", problem: "p".into() },
            Error::InvalidInput { field: "f".into(), problem: "p".into() },
            Error::UnknownService { service: "s".into(), known: Vec::new() },
            Error::DeploymentGroupMismatch { group: "g".into(), problem: "p".into(), expected: "e" },
            Error::DeploymentInProgress { group: "g".into(), source: boxed() },
            Error::Superseded { service: "s".into(), tag: "t".into(), by: "b".into() },
            Error::Queued { service: "s".into(), tag: "t".into(), holder: "h".into(), shifting: false },
            Error::QueueTimedOut {
                service: "s".into(),
                tag: "t".into(),
                holder: "h".into(),
                waited_seconds: 1,
                limit: 1,
            },
            Error::DeploymentEndedDuringApproval {
                deployment_id: "d".into(),
                status: "Stopped".into(),
                reason: "r".into(),
            },
            Error::Throttled { operation: "op", source: boxed() },
            Error::AccessDenied { operation: "op", source: boxed() },
            Error::Chat { reason: "r".into() },
            Error::CorruptRecord { what: "w".into(), problem: "p".into() },
            Error::Aws { operation: "op", retryable: true, source: boxed() },
            Error::Aws { operation: "op", retryable: false, source: boxed() },
        ];
        all.extend(kinds.map(|kind| Error::NotFound { kind, name: "n".into(), hint: None, source: None }));
        let names: Vec<&str> = all.iter().map(Error::error_type).collect();
        for n in &names {
            assert!(Error::ERROR_TYPES.contains(n), "{n} missing from ERROR_TYPES");
        }
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "duplicate error type names");
        assert_eq!(Error::ERROR_TYPES.len(), names.len(), "ERROR_TYPES lists a name nothing produces");
    }
}
