//! `greenlight pause|resume SERVICE --reason TEXT`: a deploy freeze. While paused, pushes are
//! recorded, not deployed (on-image-push holds them and says so on the topic); deploys already
//! under way carry on. Resume lifts the pause and deploys the newest held push (its own
//! execution, as the push it was); older held pushes are recorded as superseded by it.

use greenlight_core::history::{HistoryUpdate, Outcome, TimelineState, rfc3339};
use greenlight_core::lock::short_digest;
use greenlight_core::pause::Pause;
use greenlight_core::ports::{History, Locks, Pauses};
use serde_json::json;

use super::act::{Acting, Actor, started};
use super::aws_failure;
use crate::{Failure, Output};

#[derive(Debug, clap::Args)]
pub(crate) struct PauseArgs {
    /// The manifest's service entry.
    service: String,
    /// Why; kept with the pause and said in the notification.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    acting: Acting,
}

pub(crate) async fn pause(args: PauseArgs) -> Result<String, Failure> {
    let actor = Actor::connect(&args.acting.orchestrator).await?;
    let service = actor.online.service(&args.service)?;
    let ledger = &actor.online.ledger;
    let pause = Pause {
        by: actor.caller.arn.clone(),
        reason: args.reason.clone(),
        at: rfc3339(chrono::Utc::now().timestamp()),
    };
    if let Some(existing) =
        ledger.pause(&service.name, &pause).await.map_err(|e| aws_failure("the ledger's pause", &e))?
    {
        return Err(Failure::Rejected(format!("greenlight: {} is already {}", service.name, existing.describe())));
    }
    let mut notes = Vec::new();
    if let Some(h) = ledger.holder(&service.name).await.map_err(|e| aws_failure("the ledger's lock", &e))? {
        notes.push(format!(
            "the deploy of {} under way carries on; `greenlight rollback {} --reason …` stops it",
            h.describe(),
            service.name
        ));
    }
    let message = format!(
        "{} is {}.\n\nPushes are recorded, not deployed, until `greenlight resume {} --reason …`.",
        service.name,
        pause.describe(),
        service.name
    );
    notes.extend(actor.notify(&format!("greenlight: {} is paused", service.name), &message).await);
    Ok(match args.acting.output {
        Output::Json => format!("{}\n", json!({"service": service.name, "paused": pause, "notes": notes})),
        Output::Text => {
            let mut out = format!(
                "{} {}\n  pushes are recorded, not deployed, until `greenlight resume {} --reason …`\n",
                service.name,
                pause.describe(),
                service.name
            );
            for note in &notes {
                out.push_str(&format!("  note: {note}\n"));
            }
            out
        }
    })
}

pub(crate) async fn resume(args: PauseArgs) -> Result<String, Failure> {
    let actor = Actor::connect(&args.acting.orchestrator).await?;
    let service = actor.online.service(&args.service)?;
    let ledger = &actor.online.ledger;
    let Some(lifted) = ledger.resume(&service.name).await.map_err(|e| aws_failure("the ledger's pause", &e))? else {
        return Err(Failure::Rejected(format!("greenlight: {} is not paused", service.name)));
    };
    let records = actor.online.deployments(service, 100).await?;
    let who = format!("resumed by {}: {} (it was {})", actor.caller.arn, args.reason, lifted.describe());
    let newest = records.first().filter(|r| r.outcome == Some(Outcome::Held)).and_then(|r| r.request.clone());
    let mut notes = Vec::new();
    if let Some(newest) = &newest {
        for older in records.iter().skip(1).filter(|r| r.outcome == Some(Outcome::Held)) {
            let Some(push) = &older.request else { continue };
            let mut update = HistoryUpdate::state(TimelineState::Superseded);
            update.outcome = Some(Outcome::Superseded);
            update.reason = Some(format!(
                "held while {} was paused; {} ({}) was pushed later and deploys instead",
                service.name,
                newest.tag,
                short_digest(&newest.digest)
            ));
            if let Err(e) = ledger.record(&service.name, push, &update).await {
                notes.push(format!("{} stays recorded as held: {e}", older.tag));
            }
        }
    }
    let subject = format!("greenlight: {} is resumed", service.name);
    let what = match &newest {
        Some(push) => format!("The newest held push, {} ({}), deploys now.", push.tag, short_digest(&push.digest)),
        None => "No push was held: nothing deploys.".into(),
    };
    notes.extend(actor.notify(&subject, &format!("{} is {who}.\n\n{what}", service.name)).await);
    let Some(push) = newest else {
        return Ok(match args.acting.output {
            Output::Json => {
                format!("{}\n", json!({"service": service.name, "resumed": who, "deploying": null, "notes": notes}))
            }
            Output::Text => format!("{} {who}\n  no push was held: nothing deploys\n", service.name),
        });
    };
    let mut resumed = HistoryUpdate::state(TimelineState::Resumed).detail(who.clone());
    resumed.reopen = true;
    resumed.reason = Some(who.clone());
    notes.insert(0, who);
    ledger
        .record(&service.name, &push, &resumed)
        .await
        .map_err(|e| aws_failure(&format!("the ledger of {}", service.name), &e))?;
    let execution = actor.start(&service.name, &push, args.acting.wait_seconds).await?;
    started(args.acting.output, &push, &execution, &notes)
}
