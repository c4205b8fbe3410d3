//! `greenlight history SERVICE [--limit N]`: the ledger's deploys of a service, newest first.

use chrono::{DateTime, Utc};
use greenlight_core::history::DeploymentRecord;
use greenlight_core::lock::{pushed_at, requested_at, short_digest};
use greenlight_core::ports::History;
use serde::Serialize;

use super::{Orchestrator, aws_failure};
use crate::{Failure, Output};

#[derive(Debug, clap::Args)]
pub(crate) struct HistoryArgs {
    /// The manifest's service entry.
    service: String,
    /// How many deploys, newest first.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(flatten)]
    orchestrator: Orchestrator,
}

/// One deploy as the ledger has it.
#[derive(Debug, Serialize)]
struct Entry {
    tag: String,
    digest: String,
    execution: String,
    /// When the request was made (a push: when ECR received it; a retag, a re-push or a
    /// command: when it was made).
    requested_at: Option<String>,
    /// When ECR received the image.
    pushed_at: Option<String>,
    /// What started it: `push`, `manual`, `retry` or `rollback`.
    trigger: &'static str,
    /// Who asked, for a request made by hand (their AWS identity), and why.
    requested_by: Option<String>,
    request_reason: Option<String>,
    /// `deployed`, `rolled_back`, `superseded`, `already_live`; none while it runs.
    outcome: Option<&'static str>,
    reason: Option<String>,
    approver: Option<String>,
    started_at: Option<String>,
    ended_at: Option<String>,
    /// From its first timeline entry to its last.
    duration_seconds: Option<i64>,
    validation: Option<String>,
    deployment_id: Option<String>,
    task_definition: Option<String>,
    /// What production ran before it (what `greenlight rollback` goes back to).
    previous_task_definition: Option<String>,
    /// The last state it reached (`succeeded`, `rolled_back`, `approval_requested`…).
    state: Option<&'static str>,
}

pub(crate) async fn history(args: HistoryArgs) -> Result<String, Failure> {
    let online = args.orchestrator.connect().await?;
    let service = online.service(&args.service)?;
    let records =
        online.ledger.deployments(&service.name, args.limit).await.map_err(|e| aws_failure("the ledger", &e))?;
    let entries: Vec<Entry> = records.into_iter().map(entry).collect();
    Ok(match args.output {
        Output::Json => format!("{}\n", serde_json::to_string_pretty(&entries).unwrap_or_default()),
        Output::Text => text(&service.name, &entries),
    })
}

fn entry(r: DeploymentRecord) -> Entry {
    let at = |i: Option<&greenlight_core::history::TimelineEntry>| i.map(|t| t.at.clone());
    let (started, ended) = (at(r.timeline.first()), at(r.timeline.last()));
    let seconds = |t: &Option<String>| {
        t.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc))
    };
    let duration = match (seconds(&started), seconds(&ended)) {
        (Some(a), Some(b)) => Some((b - a).num_seconds()),
        _ => None,
    };
    let requested = r.requested().cloned();
    Entry {
        requested_at: requested_at(&r.order).map(|t| t.to_rfc3339()),
        pushed_at: pushed_at(&r.order).map(|t| t.to_rfc3339()),
        trigger: r.trigger().as_str(),
        requested_by: requested.as_ref().map(|q| q.by.clone()),
        request_reason: requested.and_then(|q| q.reason),
        outcome: r.outcome.map(|o| o.as_str()),
        state: r.timeline.last().map(|t| t.state.as_str()),
        started_at: started,
        ended_at: ended,
        duration_seconds: duration,
        tag: r.tag,
        digest: r.digest,
        execution: r.execution,
        reason: r.reason,
        approver: r.approver,
        validation: r.validation,
        deployment_id: r.deployment_id,
        task_definition: r.task_definition,
        previous_task_definition: r.previous_task_definition,
    }
}

/// Who asked and why (a request made by hand), then how it ended and why.
fn reasons(e: &Entry) -> String {
    let asked = e.requested_by.as_ref().map(|by| match &e.request_reason {
        Some(why) => format!("requested by {by}: {why}"),
        None => format!("requested by {by}"),
    });
    [asked, e.reason.clone()].into_iter().flatten().collect::<Vec<_>>().join("; ")
}

fn text(service: &str, entries: &[Entry]) -> String {
    if entries.is_empty() {
        return format!("{service}: no deploys recorded\n");
    }
    let mut out = format!(
        "{:<19}  {:<12}  {:<19}  {:<8}  {:<12}  {:>8}  {:<14}  {}\n",
        "requested at", "tag", "digest", "trigger", "outcome", "duration", "approver", "reason"
    );
    for e in entries {
        let outcome = e.outcome.or(e.state).unwrap_or("?");
        let duration = e.duration_seconds.map(|s| format!("{s} s")).unwrap_or_default();
        // To the second: the column lines up whatever precision the request's time has.
        let pushed = e.requested_at.as_deref().map(|t| t.get(..19).unwrap_or(t)).unwrap_or("?");
        out.push_str(&format!(
            "{:<19}  {:<12}  {:<19}  {:<8}  {:<12}  {:>8}  {:<14}  {}\n",
            pushed,
            e.tag,
            short_digest(&e.digest),
            e.trigger,
            outcome,
            duration,
            e.approver.as_deref().unwrap_or("-"),
            reasons(e)
        ));
    }
    out
}
