//! deployment-status beside a pending approval: while the state machine waits for a decision,
//! this watch looks at the deployment and the approval every `poll`. The deployment ending
//! without the decision (stopped in the console, rolled back by an alarm, CodeDeploy's Ready
//! timeout) is an error, `DeploymentEndedDuringApproval`, which ends the wait at once; a decision
//! ends the watch, so the state machine goes on with it.

use crate::error::Error;
use crate::lock::lost_to;
use crate::ports::{Approvals, DeploymentStatus, Deployments, Locks};

use super::status::Watch;
use super::{ApprovalWatch, StatusInput, execution_name, missing_input};

/// Ports the watch reads.
#[derive(Debug)]
pub struct AwaitPorts<'a, D, L> {
    pub deployments: &'a D,
    pub ledger: &'a L,
}

/// Watches the deployment while its approval waits: `Ok(decided)` once the approval is decided
/// (or `decided: false` when the budget runs out), `DeploymentEndedDuringApproval` as soon as
/// the deployment is no longer waiting in Ready.
pub async fn watch_approval<D, L>(
    input: &StatusInput,
    ports: AwaitPorts<'_, D, L>,
    watch: Watch,
) -> Result<ApprovalWatch, Error>
where
    D: Deployments,
    L: Locks + Approvals,
{
    let service = input.service.as_deref().ok_or_else(|| missing_input("service"))?;
    let started = tokio::time::Instant::now();
    loop {
        if decided(ports.ledger, service, &input.deployment.deployment_id).await? {
            return Ok(ApprovalWatch { decided: true });
        }
        let state = ports.deployments.state(&input.deployment.deployment_id).await?;
        if state.status != DeploymentStatus::Ready {
            // A newer push that took the lock stops this deployment: that is `Superseded`, not a
            // deployment that ended on its own.
            if let Some(push) = &input.push {
                let holder = ports.ledger.holder(service).await?;
                if holder.as_ref().is_none_or(|h| h.execution != execution_name(service, push)) {
                    return Err(Error::Superseded {
                        service: service.into(),
                        tag: push.tag.clone(),
                        by: lost_to(holder.as_ref()),
                    });
                }
            }
            return Err(Error::DeploymentEndedDuringApproval {
                deployment_id: state.id.clone(),
                status: state.status.as_str().to_string(),
                reason: state.error_message.clone().unwrap_or_else(|| match state.status {
                    DeploymentStatus::Stopped => "stopped outside greenlight".into(),
                    DeploymentStatus::Succeeded => "continued outside greenlight, without the approval".into(),
                    _ => "CodeDeploy gave no reason".into(),
                }),
            });
        }
        if started.elapsed() + watch.poll > watch.budget {
            return Ok(ApprovalWatch { decided: false });
        }
        tokio::time::sleep(watch.poll).await;
    }
}

/// Whether the approval of this deployment is decided: the lock names the pending approval
/// (request-approval writes it, maybe after this watch began: then nothing is decided yet).
async fn decided<L: Locks + Approvals>(ledger: &L, service: &str, deployment_id: &str) -> Result<bool, Error> {
    let Some(holder) = ledger.holder(service).await? else { return Ok(false) };
    let Some(id) = holder.approval_id.filter(|_| holder.deployment_id.as_deref() == Some(deployment_id)) else {
        return Ok(false);
    };
    Ok(ledger.approval(&id).await?.is_some_and(|r| r.decided.is_some()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::fakes::{FakeDeployments, FakeLedger};

    fn input() -> StatusInput {
        serde_json::from_value(serde_json::json!({
            "deployment": {"deployment_id": "d-1"}, "service": "web", "awaiting_approval": true
        }))
        .expect("input")
    }

    fn watch() -> Watch {
        Watch { poll: Duration::from_millis(1), budget: Duration::from_millis(20) }
    }

    #[tokio::test]
    async fn a_deployment_that_stops_while_the_approval_waits_ends_the_wait() {
        let deployments = FakeDeployments { status: Some(DeploymentStatus::Stopped), ..Default::default() };
        let ledger = FakeLedger::default();
        let err = watch_approval(&input(), AwaitPorts { deployments: &deployments, ledger: &ledger }, watch())
            .await
            .expect_err("ended");
        assert_eq!(err.error_type(), "DeploymentEndedDuringApproval");
        assert!(err.to_string().contains("ended Stopped while its approval waited"), "{err}");
    }

    /// The push of `input_with_push`, and a lock held by `execution` naming approval `a1`.
    fn held(execution: &str, decided: bool) -> (StatusInput, FakeLedger) {
        let push = crate::event::Push { digest: "sha256:ab".into(), tag: "v2".into(), ..Default::default() };
        let mut input = input();
        input.push = Some(push.clone());
        let ledger = FakeLedger::default();
        let execution = if execution == "this" { execution_name("web", &push) } else { execution.to_string() };
        let holder = crate::lock::LockHolder {
            execution,
            request: None,
            order: "1".into(),
            tag: "v3".into(),
            digest: "sha256:cd".into(),
            lease_until: i64::MAX,
            deployment_id: Some("d-1".into()),
            approval_id: Some("a1".into()),
            shifting: false,
        };
        ledger.locks.lock().expect("lock").insert("web".into(), holder);
        ledger.approvals.records.lock().expect("lock").push(crate::approval::ApprovalRecord {
            task_token: "T".into(),
            decided: decided.then(|| crate::approval::Decided {
                approved: true,
                by: "@alice".into(),
                at: "2026-12-01T09:30:00Z".into(),
                channel: crate::approval::DecidedVia::Slack,
                comment: None,
                approver: None,
            }),
            ..crate::fakes::pending_approval("a1")
        });
        (input, ledger)
    }

    #[tokio::test]
    async fn a_decision_ends_the_watch() {
        let deployments = FakeDeployments { status: Some(DeploymentStatus::Ready), ..Default::default() };
        let (input, ledger) = held("this", true);
        let seen = watch_approval(&input, AwaitPorts { deployments: &deployments, ledger: &ledger }, watch())
            .await
            .expect("decided");
        assert_eq!(seen, ApprovalWatch { decided: true });
    }

    #[tokio::test]
    async fn a_deployment_stopped_by_a_newer_push_is_superseded_not_ended() {
        let deployments = FakeDeployments { status: Some(DeploymentStatus::Stopped), ..Default::default() };
        let (input, ledger) = held("web-newer", false);
        let err = watch_approval(&input, AwaitPorts { deployments: &deployments, ledger: &ledger }, watch())
            .await
            .expect_err("superseded");
        assert_eq!(err.error_type(), "Superseded", "{err}");
        // Still this execution's lock: the deployment ended on its own.
        let (input, ledger) = held("this", false);
        let err = watch_approval(&input, AwaitPorts { deployments: &deployments, ledger: &ledger }, watch())
            .await
            .expect_err("ended");
        assert_eq!(err.error_type(), "DeploymentEndedDuringApproval", "{err}");
    }

    #[tokio::test]
    async fn a_deployment_still_ready_is_watched_until_the_budget_runs_out() {
        let deployments = FakeDeployments { status: Some(DeploymentStatus::Ready), ..Default::default() };
        let ledger = FakeLedger::default();
        let seen = watch_approval(&input(), AwaitPorts { deployments: &deployments, ledger: &ledger }, watch())
            .await
            .expect("still waiting");
        assert_eq!(seen, ApprovalWatch { decided: false });
    }
}
