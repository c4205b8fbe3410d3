//! on-image-push's step: one push event → the push recorded as its services' newest → one
//! execution per target service.

use serde_json::Value;

use crate::error::Error;
use crate::error::ResourceKind;
use crate::event::{PushEvent, Skipped, match_push};
use crate::ports::{Executions, History, Images, Locks, ManifestSource, Notifier, Pauses};

use super::PushOutcome;
use super::begin::{BeginPorts, begin, hold};

/// Ports on-image-push uses.
#[derive(Debug)]
pub struct PushPorts<'a, M, E, I, L, N> {
    pub manifests: &'a M,
    pub executions: &'a E,
    pub images: &'a I,
    pub ledger: &'a L,
    /// Told when the manifest cannot be read: every push fails until it is fixed.
    pub notifier: &'a N,
}

/// on-image-push: records the push (with ECR's push time) as its services' newest, unless a
/// newer one is recorded, then starts one execution per target service (`begin`), or holds
/// it for a paused service. An older push still starts its execution, which ends as
/// `Superseded` and says so in the ledger.
pub async fn on_push<M, E, I, L, N>(
    event: &Value,
    ports: PushPorts<'_, M, E, I, L, N>,
    wait_seconds: u32,
) -> Result<PushOutcome, Error>
where
    M: ManifestSource,
    E: Executions,
    I: Images,
    L: Locks + History + Pauses,
    N: Notifier,
{
    let mut push = match PushEvent::parse(&event.to_string())? {
        PushEvent::Deployable(push) => push,
        PushEvent::Ignored { reason } => {
            return Ok(PushOutcome { ignored: Some(reason), ..PushOutcome::default() });
        }
    };
    let manifest = match ports.manifests.manifest().await {
        Ok(m) => m,
        Err(e) => {
            if matches!(e, Error::InvalidManifest(_) | Error::NotFound { kind: ResourceKind::ManifestParameter, .. }) {
                announce_unreadable_manifest(&push, &e, ports.notifier).await;
            }
            return Err(e);
        }
    };
    let targets = match_push(&manifest, &push);
    let mut out = PushOutcome { skipped: targets.skipped, ..PushOutcome::default() };
    if targets.targets.is_empty() {
        return Ok(out);
    }
    push.pushed_at = ports.images.image(&push.repository, &push.digest).await?.pushed_at;
    for service in targets.targets {
        if let Some(pause) = ports.ledger.paused(&service.name).await? {
            let reason = hold(&service.name, &push, &pause, ports.ledger, ports.notifier).await?;
            out.held.push(Skipped { service: service.name.clone(), reason });
            continue;
        }
        let ports = BeginPorts { executions: ports.executions, ledger: ports.ledger };
        out.executions.push(begin(&service.name, &push, ports, wait_seconds).await?);
    }
    Ok(out)
}

/// A missing or invalid manifest stops every push until someone fixes it: say so where the
/// team listens, not only in the dead-letter queue the failed event ends in.
async fn announce_unreadable_manifest(push: &crate::event::Push, e: &Error, notifier: &impl Notifier) {
    let subject =
        format!("greenlight: the deploy manifest cannot be read; {}:{} is not deployed", push.repository, push.tag);
    let message = format!(
        "greenlight could not read its deploy manifest, so the push of {image} deploys nothing.\n\n{e}\n\n\
         Fix the manifest (`greenlight manifest check` reports every problem), then push again, or send the \
         event in greenlight's dead-letter queue to on-image-push once more.",
        image = push.image_uri(),
    );
    if let Err(failed) = notifier.notify(&subject, &message).await {
        tracing::warn!(error = %failed, manifest_error = %e, "the unreadable manifest could not be announced");
    }
}
