//! on-image-push's step: one push event → the push recorded as its services' newest → one
//! execution per target service.

use serde_json::Value;

use crate::error::Error;
use crate::event::{PushEvent, match_push};
use crate::history::{HistoryUpdate, TimelineState};
use crate::lock::{NewestPush, order_key};
use crate::ports::{ExecutionStart, Executions, History, Images, Locks, ManifestSource};

use super::{ExecutionInput, PushOutcome, StartedExecution, execution_name};

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
            let mut update = HistoryUpdate::state(TimelineState::Accepted).detail(if is_newest {
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
