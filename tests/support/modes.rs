//! AWS's own failure modes, and the team's tools failing, each reproduced in the emulation on
//! an approved deploy (`Base::Approved`): how it is set up, what the person or the event source
//! does differently, and what must hold after it besides the common invariants of
//! [`crate::reliability`].

use greenlight_core::history::{DeploymentRecord, Outcome};
use greenlight_core::ports::ExecutionStart;
use serde_json::Value;

use crate::faults::{Kind, Rule};
use crate::pipeline::{Pipeline, Setup, function_name};

/// The step whose function is killed by its Lambda timeout, and the call held past it.
const KILLED_STEP: &str = "start-deployment";
/// start-deployment's second UpdateItem records the deployment it created under its lock.
const KILLED_AT: (&str, u32) = ("dynamodb:UpdateItem", 2);
/// The killed step's Lambda timeout, and how long its call is held: past the timeout, short of
/// the SDK's attempt timeout (so the function is still waiting when Lambda kills it).
const KILLED_TIMEOUT_S: f64 = 3.0;
const KILLED_DELAY_S: f64 = 4.5;
/// What the fake Slack answers during its outage.
const SLACK_OUTAGE_STATUS: u16 = 503;
/// A manifest that parses as JSON and is not one (no `source`, no `deploy`).
const INVALID_MANIFEST: &str = r#"{"version": 1, "services": [{"name": "web"}]}"#;

/// One failure mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// Someone deployed the service from the console: greenlight's CreateDeployment answers
    /// `DeploymentLimitExceededException` until the state machine's retries run out. The push
    /// fails cleanly, says why, and never stops the other deployment.
    ConsoleDeployment,
    /// start-deployment is killed by its Lambda timeout right after CreateDeployment, while it
    /// records the deployment: the deployment it created is rolled back, nothing is left active.
    KilledByTimeout,
    /// Slack's webhook answers 503: the approval request still goes out by email and is
    /// answered by its signed link; the ledger says Slack was not reached.
    SlackDown,
    /// EventBridge delivers the push twice, and once more after the deploy ended: Step Functions
    /// answers with the same execution, then `ExecutionAlreadyExists`; one execution, one
    /// deployment.
    DeliveredTwice,
    /// The manifest parameter deleted from SSM: the push is announced as not deployed and
    /// nothing starts.
    ManifestMissing,
    /// The manifest in SSM replaced by one that does not validate: the same.
    ManifestInvalid,
}

/// What a mode set up before the push.
#[derive(Debug, Default)]
pub struct Prepared {
    /// The console's deployment.
    pub console_deployment: Option<String>,
}

impl Mode {
    pub const ALL: [Mode; 6] = [
        Mode::ConsoleDeployment,
        Mode::KilledByTimeout,
        Mode::SlackDown,
        Mode::DeliveredTwice,
        Mode::ManifestMissing,
        Mode::ManifestInvalid,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mode::ConsoleDeployment => "a console deployment holds the group (DeploymentLimitExceeded)",
            Mode::KilledByTimeout => "start-deployment killed by its Lambda timeout after CreateDeployment",
            Mode::SlackDown => "Slack down (HTTP 503): approved by the email link",
            Mode::DeliveredTwice => "the push delivered twice and once more later (ExecutionAlreadyExists)",
            Mode::ManifestMissing => "the manifest parameter missing at run time",
            Mode::ManifestInvalid => "the manifest invalid at run time",
        }
    }

    /// The fault the mode injects (counted as the scenario's fault).
    pub fn fault(self) -> Option<Rule> {
        match self {
            Mode::KilledByTimeout => {
                let mut held = Rule::once(&function_name(KILLED_STEP), KILLED_AT.0, Kind::Delay).from_nth(KILLED_AT.1);
                held.delay_s = KILLED_DELAY_S;
                Some(held)
            }
            _ => None,
        }
    }

    pub fn adjust(self, setup: &mut Setup) {
        if self == Mode::KilledByTimeout {
            setup.function_timeouts.push((KILLED_STEP, KILLED_TIMEOUT_S));
        }
    }

    /// Sets the failure up before the first push.
    pub async fn prepare(self, p: &Pipeline) -> Prepared {
        let mut prepared = Prepared::default();
        match self {
            Mode::ConsoleDeployment => prepared.console_deployment = Some(p.start_console_deployment().await),
            Mode::SlackDown => p.emulator.slack_outage(Some(SLACK_OUTAGE_STATUS)).await,
            Mode::ManifestMissing => p.set_manifest(None).await,
            Mode::ManifestInvalid => p.set_manifest(Some(INVALID_MANIFEST)).await,
            Mode::KilledByTimeout | Mode::DeliveredTwice => {}
        }
        prepared
    }

    /// The approver answers by the email's link (Slack never showed the request).
    pub fn answers_by_link(self) -> bool {
        self == Mode::SlackDown
    }

    /// Delivers the push's event again: the outcome must name the same execution.
    pub async fn deliver_again(self, p: &Pipeline, event: &Value, execution: Option<&str>, when: &str) -> Vec<String> {
        if self != Mode::DeliveredTwice {
            return Vec::new();
        }
        let name = execution.and_then(|arn| arn.rsplit(':').next()).unwrap_or_default();
        match p.try_deliver(event).await {
            Ok(again) => match again.executions.first().map(|e| &e.start) {
                Some(ExecutionStart::Started { execution_arn }) if Some(execution_arn.as_str()) == execution => {
                    Vec::new()
                }
                Some(ExecutionStart::AlreadyExists { name: n }) if n == name => Vec::new(),
                other => vec![format!("the push delivered again {when} started {other:?}, not execution {name}")],
            },
            Err(e) => vec![format!("the push delivered again {when} failed: {e}")],
        }
    }

    /// What must hold after the run, besides the common invariants.
    pub async fn check(
        self,
        p: &Pipeline,
        prepared: &Prepared,
        history: &[DeploymentRecord],
        notes: &[Value],
    ) -> Vec<String> {
        let mut out = Vec::new();
        let v2 = history.iter().find(|r| r.tag == "v2");
        let outcome = v2.and_then(|r| r.outcome);
        let reason = v2.and_then(|r| r.reason.clone()).unwrap_or_default();
        let state = p.emulator.control_get("state").await;
        match self {
            Mode::ConsoleDeployment => {
                if outcome == Some(Outcome::Deployed) {
                    out.push("v2 deployed while the console's deployment held the group".into());
                }
                if !reason.contains("active deployment") && !reason.contains("already has an active") {
                    out.push(format!("v2's reason does not say the group was busy: {reason:?}"));
                }
            }
            Mode::KilledByTimeout => {
                let killed = state["functions"][function_name(KILLED_STEP)]["timeouts"].as_u64().unwrap_or(0);
                if killed == 0 {
                    out.push(format!("{KILLED_STEP} was never killed by its timeout"));
                }
                if outcome != Some(Outcome::RolledBack) {
                    out.push(format!("v2 ended {outcome:?}, not rolled back"));
                }
            }
            Mode::SlackDown => {
                if state["slack"]["refused"].as_u64().unwrap_or(0) == 0 {
                    out.push("Slack was never asked".into());
                }
                if outcome != Some(Outcome::Deployed) {
                    out.push(format!("v2 ended {outcome:?}: the email's link did not carry the approval"));
                }
                let said = v2.is_some_and(|r| {
                    r.timeline.iter().any(|t| t.detail.as_deref().is_some_and(|d| d.contains("not sent in slack")))
                });
                if !said {
                    out.push("the ledger does not say that Slack was not reached".into());
                }
            }
            Mode::DeliveredTwice => {
                let (executions, deployments) = (p.executions().await.len(), p.deployments().await.len());
                if (executions, deployments) != (1, 1) {
                    out.push(format!("{executions} executions and {deployments} deployments for one push"));
                }
                if outcome != Some(Outcome::Deployed) {
                    out.push(format!("v2 ended {outcome:?}"));
                }
            }
            Mode::ManifestMissing | Mode::ManifestInvalid => {
                let announced = notes.iter().any(|n| {
                    n["subject"].as_str().is_some_and(|s| s.contains("manifest cannot be read") && s.contains(":v2 "))
                });
                if !announced {
                    out.push("the unreadable manifest was not announced".into());
                }
                if !p.executions().await.is_empty() || !p.deployments().await.is_empty() {
                    out.push("something started without a manifest".into());
                }
            }
        }
        if let Some(id) = &prepared.console_deployment {
            // greenlight never touches a deployment it did not start: it is still waiting for
            // its hook. Then it is stopped as its owner would, so the run ends with none active.
            let status = p.deployment_status(id).await;
            if status != "InProgress" {
                out.push(format!("the console's deployment {id} is {status}: greenlight must not end it"));
            }
            p.stop_deployment(id).await;
        }
        out
    }
}
