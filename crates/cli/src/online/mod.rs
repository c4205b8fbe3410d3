//! The online commands: they read (and later act on) a running greenlight through the AWS APIs,
//! with the standard credential chain and `AWS_ENDPOINT_URL*`, so they run against a local
//! emulation exactly as against AWS.

mod act;
mod decide;
mod deploy;
mod history;
mod pause;
mod rollback;
mod status;
mod watch;

pub(crate) use decide::{DecideArgs, decide_pending};
pub(crate) use deploy::{DeployArgs, RetryArgs, deploy, retry};
pub(crate) use history::{HistoryArgs, history};
pub(crate) use pause::{PauseArgs, pause, resume};
pub(crate) use rollback::{RollbackArgs, rollback};
pub(crate) use status::{StatusArgs, status};
pub(crate) use watch::{WatchArgs, watch};

use greenlight_aws::{DynamoLedger, SsmManifest};
use greenlight_core::Error;
use greenlight_core::history::DeploymentRecord;
use greenlight_core::manifest::{Manifest, Service};
use greenlight_core::ports::{History, ManifestSource};

use crate::Failure;

/// Which greenlight: the orchestrator module's `name`, from which its resources are named.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Orchestrator {
    /// The orchestrator module's `name` (its ledger is `<name>-ledger`, its manifest
    /// `/<name>/manifest`).
    #[arg(long, env = "GREENLIGHT_NAME", default_value = "greenlight")]
    name: String,
    /// The ledger table, when it is not `<name>-ledger`.
    #[arg(long, env = "GREENLIGHT_LEDGER_TABLE")]
    ledger_table: Option<String>,
    /// The manifest's SSM parameter, when it is not `/<name>/manifest`.
    #[arg(long, env = "GREENLIGHT_MANIFEST_PARAMETER")]
    manifest_parameter: Option<String>,
    /// The deploy state machine, when it is not `<name>-deploy` in the caller's account and region.
    #[arg(long, env = "GREENLIGHT_STATE_MACHINE_ARN")]
    state_machine_arn: Option<String>,
    /// The notification topic, when it is not `<name>-notifications` in the caller's account and region.
    #[arg(long, env = "GREENLIGHT_TOPIC_ARN")]
    topic_arn: Option<String>,
}

/// A connection to one greenlight: the SDK config, its ledger and its manifest.
pub(crate) struct Online {
    pub(crate) config: aws_config::SdkConfig,
    pub(crate) ledger: DynamoLedger,
    pub(crate) manifest_parameter: String,
    pub(crate) manifest: Manifest,
    names: Orchestrator,
}

/// The caller, as STS says.
pub(crate) struct Caller {
    pub(crate) arn: String,
    pub(crate) account: String,
}

impl Orchestrator {
    pub(crate) async fn connect(&self) -> Result<Online, Failure> {
        let http = greenlight_http::client().map_err(|e| Failure::Rejected(format!("greenlight: HTTP client: {e}")))?;
        let config = greenlight_aws::load_config(greenlight_http::sdk_http_client(http)).await;
        let table = self.ledger_table.clone().unwrap_or_else(|| format!("{}-ledger", self.name));
        let parameter = self.manifest_parameter.clone().unwrap_or_else(|| format!("/{}/manifest", self.name));
        let manifests =
            SsmManifest::new(aws_sdk_ssm::Client::new(&config), parameter.clone(), std::time::Duration::ZERO);
        let manifest = manifests.manifest().await.map_err(|e| aws_failure(&format!("the manifest {parameter}"), &e))?;
        Ok(Online {
            ledger: DynamoLedger::new(aws_sdk_dynamodb::Client::new(&config), table),
            config,
            manifest_parameter: parameter,
            manifest,
            names: self.clone(),
        })
    }
}

impl Online {
    /// Who is calling (the identity every decision and manual action is recorded with).
    pub(crate) async fn caller(&self) -> Result<Caller, Failure> {
        let identity = aws_sdk_sts::Client::new(&self.config)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| Failure::Rejected(format!("greenlight: who is calling (sts:GetCallerIdentity): {e}")))?;
        Ok(Caller {
            arn: identity.arn().unwrap_or_default().to_string(),
            account: identity.account().unwrap_or_default().to_string(),
        })
    }

    /// The service's newest `limit` ledger records, newest first.
    pub(crate) async fn deployments(&self, service: &Service, limit: u32) -> Result<Vec<DeploymentRecord>, Failure> {
        self.ledger
            .deployments(&service.name, limit)
            .await
            .map_err(|e| aws_failure(&format!("the ledger of {}", service.name), &e))
    }

    pub(crate) fn region(&self) -> String {
        self.config.region().map(ToString::to_string).unwrap_or_else(|| "us-east-1".into())
    }

    /// `--state-machine-arn`, else `<name>-deploy` in the caller's account and region.
    pub(crate) fn state_machine_arn(&self, caller: &Caller) -> String {
        self.names.state_machine_arn.clone().unwrap_or_else(|| {
            format!("arn:aws:states:{}:{}:stateMachine:{}-deploy", self.region(), caller.account, self.names.name)
        })
    }

    /// `--topic-arn`, else `<name>-notifications` in the caller's account and region.
    pub(crate) fn topic_arn(&self, caller: &Caller) -> String {
        self.names.topic_arn.clone().unwrap_or_else(|| {
            format!("arn:aws:sns:{}:{}:{}-notifications", self.region(), caller.account, self.names.name)
        })
    }

    /// The manifest's entry named `name`, or an error listing the ones it has.
    pub(crate) fn service(&self, name: &str) -> Result<&Service, Failure> {
        self.manifest.service(name).ok_or_else(|| {
            let names: Vec<&str> = self.manifest.services.iter().map(|s| s.name.as_str()).collect();
            Failure::Rejected(format!(
                "greenlight: the manifest {} has no service `{name}`; it has: {}",
                self.manifest_parameter,
                names.join(", ")
            ))
        })
    }
}

/// One line: what was being read, and what AWS said.
pub(crate) fn aws_failure(what: &str, e: &Error) -> Failure {
    Failure::Rejected(format!("greenlight: reading {what}: {e}"))
}

/// Runs an online command on a runtime of its own.
pub(crate) fn block_on(command: impl Future<Output = Result<String, Failure>>) -> Result<String, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Rejected(format!("greenlight: cannot start: {e}")))?;
    runtime.block_on(command)
}
