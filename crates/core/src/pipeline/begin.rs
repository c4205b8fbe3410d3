//! How a request begins, whether an ECR push (on-image-push) or an operator's command (the
//! CLI): recorded as its service's newest request (unless a newer one is), then its own
//! execution started and the ledger's first entry written; or, while the service is paused,
//! recorded and held.

use crate::error::Error;
use crate::event::Push;
use crate::history::{HistoryUpdate, Outcome, TimelineState};
use crate::lock::{NewestPush, order_key};
use crate::pause::Pause;
use crate::ports::{ExecutionStart, Executions, History, Locks, Notifier};
use crate::request::Trigger;

use super::{ExecutionInput, StartedExecution, execution_name};

/// Ports a request begins with.
#[derive(Debug)]
pub struct BeginPorts<'a, E, L> {
    pub executions: &'a E,
    pub ledger: &'a L,
}

/// Records `push` as the service's newest request unless a newer one is recorded, and starts
/// its execution. A duplicate delivery of the request starts nothing (`AlreadyExists`). An
/// older request still starts its execution, which ends as `Superseded` and says so.
pub async fn begin<E, L>(
    service: &str,
    push: &Push,
    ports: BeginPorts<'_, E, L>,
    wait_seconds: u32,
) -> Result<StartedExecution, Error>
where
    E: Executions,
    L: Locks + History,
{
    let is_newest = ports.ledger.record_push(service, &newest(push)).await?;
    let name = execution_name(service, push);
    let input = ExecutionInput { service: service.into(), push: push.clone(), wait_seconds };
    let input = serde_json::to_string(&input).unwrap_or_default();
    let start = ports.executions.start(&name, &input).await?;
    if let ExecutionStart::Started { execution_arn } = &start {
        let place = if is_newest {
            "the service's newest request"
        } else {
            "older than a request already recorded for the service: it will be superseded"
        };
        let mut update = HistoryUpdate::state(TimelineState::Accepted).detail(match requested_by(push) {
            Some(who) => format!("{who}; {place}"),
            None => place.to_string(),
        });
        update.execution_id = Some(execution_arn.clone());
        ports.ledger.record(service, push, &update).await?;
    }
    Ok(StartedExecution { service: service.into(), name, start })
}

/// While the service is paused: the push is recorded as the newest request (so `resume` knows
/// what to deploy) and held, and the team is told who paused and why. Its reason.
pub async fn hold<L, N>(service: &str, push: &Push, pause: &Pause, ledger: &L, notifier: &N) -> Result<String, Error>
where
    L: Locks + History,
    N: Notifier,
{
    ledger.record_push(service, &newest(push)).await?;
    let reason = format!(
        "{service} is {}; {} is recorded, not deployed. `greenlight resume {service} --reason …` deploys the newest held push",
        pause.describe(),
        push.tag
    );
    let mut update = HistoryUpdate::state(TimelineState::Held);
    update.outcome = Some(Outcome::Held);
    update.reason = Some(reason.clone());
    ledger.record(service, push, &update).await?;
    let subject = format!("greenlight: {service} is paused; {} is held", push.tag);
    if let Err(e) = notifier.notify(&subject, &format!("{reason}\n\nImage: {}", push.image_uri())).await {
        tracing::warn!(error = %e, service, "the held push could not be announced");
    }
    Ok(reason)
}

fn newest(push: &Push) -> NewestPush {
    NewestPush { order: order_key(push), tag: push.tag.clone(), digest: push.digest.clone() }
}

/// `rollback requested by arn:…: the reason`, for a request made by hand.
pub fn requested_by(push: &Push) -> Option<String> {
    let who = push.requested.as_ref()?;
    let what = match push.trigger {
        Trigger::Push => "push",
        Trigger::Manual => "deploy",
        Trigger::Retry => "retry",
        Trigger::Rollback => "rollback",
    };
    Some(match &who.reason {
        Some(reason) => format!("{what} requested by {}: {reason}", who.by),
        None => format!("{what} requested by {}", who.by),
    })
}
