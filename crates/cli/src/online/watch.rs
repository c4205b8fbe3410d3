//! `greenlight watch SERVICE|EXECUTION`: follows a deploy to its end, one line per change: the
//! state machine's states as they are entered, the CodeDeploy deployment's lifecycle events,
//! what each listener serves; on a terminal, a spinner names the current state meanwhile. The
//! exit status is the deploy's: 0 when the execution succeeded, 1 otherwise.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use greenlight_aws::Inspector;
use greenlight_aws::inspect::Routes;
use greenlight_core::history::DeploymentRecord;
use greenlight_core::lock::short_digest;
use greenlight_core::manifest::Service;
use greenlight_core::ports::History;
use serde_json::json;

use super::status::Looks;
use super::{Online, Orchestrator, aws_failure};
use crate::{Failure, Output};

#[derive(Debug, clap::Args)]
pub(crate) struct WatchArgs {
    /// A service of the manifest (its newest deploy), or an execution ARN.
    target: String,
    /// Seconds between looks.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=60))]
    every: u64,
    /// `text`: a line per change; `json`: a JSON object per change.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(flatten)]
    orchestrator: Orchestrator,
}

/// What changed since the last look.
enum Change {
    State(String),
    Lifecycle { deployment: String, event: String, status: String },
    Serving { listener: &'static str, what: String, digest: Option<String> },
}

/// Where the deploy is being shown: a spinner on a terminal, plain lines otherwise.
struct Display {
    output: Output,
    spinner: Option<indicatif::ProgressBar>,
}

impl Display {
    fn new(output: Output) -> Self {
        let spinner = (output == Output::Text && std::io::stdout().is_terminal()).then(|| {
            let s = indicatif::ProgressBar::new_spinner();
            s.enable_steady_tick(Duration::from_millis(120));
            s
        });
        Self { output, spinner }
    }

    fn show(&self, change: &Change) {
        let at = chrono::Utc::now().format("%H:%M:%S");
        let line = match (self.output, change) {
            (Output::Json, Change::State(name)) => json!({"at": at.to_string(), "state": name}).to_string(),
            (Output::Json, Change::Lifecycle { deployment, event, status }) => {
                json!({"at": at.to_string(), "deployment": deployment, "event": event, "status": status}).to_string()
            }
            (Output::Json, Change::Serving { listener, what, digest }) => {
                json!({"at": at.to_string(), "listener": listener, "serves": what, "digest": digest}).to_string()
            }
            (Output::Text, Change::State(name)) => format!("{at}  state       {name}"),
            (Output::Text, Change::Lifecycle { deployment, event, status }) => {
                format!("{at}  {deployment:<11} {event} {status}")
            }
            (Output::Text, Change::Serving { listener, what, .. }) => format!("{at}  {listener:<11} serves {what}"),
        };
        match &self.spinner {
            Some(s) => {
                s.println(line);
                if let Change::State(name) = change {
                    s.set_message(name.clone());
                }
            }
            None => println!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(s) = &self.spinner {
            s.finish_and_clear();
        }
    }
}

pub(crate) async fn watch(args: WatchArgs) -> Result<String, Failure> {
    let online = args.orchestrator.connect().await?;
    let (service, execution) = resolve(&online, &args.target).await?;
    let display = Display::new(args.output);
    let sfn = aws_sdk_sfn::Client::new(&online.config);
    let inspector = Inspector::new(&online.config);
    let mut states = 0;
    let mut lifecycle: BTreeMap<String, String> = BTreeMap::new();
    let mut serving: BTreeMap<&'static str, String> = BTreeMap::new();
    // The group's listeners are its configuration: read once; what they forward to, each look.
    let (application, group) = (&service.codedeploy.application, &service.codedeploy.deployment_group);
    let routes = inspector
        .routes(application, group)
        .await
        .map_err(|e| aws_failure(&format!("deployment group {application}/{group}"), &e))?;
    loop {
        // The status first: the history and the deployment read after it are at least as new,
        // so the last look before the end shows everything up to it.
        let described = sfn
            .describe_execution()
            .execution_arn(&execution)
            .send()
            .await
            .map_err(|e| Failure::Rejected(format!("greenlight: reading execution {execution}: {e}")))?;
        let entered = entered_states(&sfn, &execution).await?;
        for name in entered.iter().skip(states) {
            display.show(&Change::State(name.clone()));
        }
        states = states.max(entered.len());
        let history = online.ledger.deployments(&service.name, 50).await.map_err(|e| aws_failure("the ledger", &e))?;
        let record = history.iter().find(|r| r.execution_id.as_deref() == Some(execution.as_str()));
        if let Some(deployment) = record.and_then(|r| r.deployment_id.clone()) {
            let events = inspector
                .lifecycle_events(&deployment)
                .await
                .map_err(|e| aws_failure(&format!("deployment {deployment}"), &e))?;
            for (event, status) in events {
                if lifecycle.get(&event) != Some(&status) {
                    display.show(&Change::Lifecycle {
                        deployment: deployment.clone(),
                        event: event.clone(),
                        status: status.clone(),
                    });
                    lifecycle.insert(event, status);
                }
            }
        }
        for (listener, what, digest) in listeners(&online, &inspector, &routes, service, &history).await? {
            if serving.get(listener) != Some(&what) {
                display.show(&Change::Serving { listener, what: what.clone(), digest });
                serving.insert(listener, what);
            }
        }
        let status = described.status().as_str().to_string();
        if status != "RUNNING" {
            display.finish();
            let ended = end_line(&described, record);
            return if status == "SUCCEEDED" { Ok(format!("{ended}\n")) } else { Err(Failure::Rejected(ended)) };
        }
        tokio::time::sleep(Duration::from_secs(args.every)).await;
    }
}

/// The service and execution a target names: a service's newest deploy, or an execution ARN
/// (whose name starts with its service's).
async fn resolve<'a>(online: &'a Online, target: &str) -> Result<(&'a Service, String), Failure> {
    if target.starts_with("arn:") {
        let name = target.rsplit(':').next().unwrap_or_default();
        let service = greenlight_core::execution::service_of_execution(name).unwrap_or(name);
        return Ok((online.service(service)?, target.to_string()));
    }
    let service = online.service(target)?;
    let newest = online.ledger.deployments(&service.name, 1).await.map_err(|e| aws_failure("the ledger", &e))?;
    match newest.into_iter().next().and_then(|r| r.execution_id) {
        Some(arn) => Ok((service, arn)),
        None => Err(Failure::Rejected(format!("greenlight: {} has no deploy recorded to watch", service.name))),
    }
}

/// The names of the states the execution entered, in order (GetExecutionHistory, every page).
async fn entered_states(sfn: &aws_sdk_sfn::Client, execution: &str) -> Result<Vec<String>, Failure> {
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = sfn
            .get_execution_history()
            .execution_arn(execution)
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| Failure::Rejected(format!("greenlight: reading the history of {execution}: {e}")))?;
        names.extend(
            page.events()
                .iter()
                .filter(|e| e.r#type().as_str().ends_with("StateEntered"))
                .filter_map(|e| e.state_entered_event_details().map(|d| d.name().to_string())),
        );
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(names);
        }
    }
}

/// What each listener serves now, as `(listener, "tag digest", digest)`.
async fn listeners(
    online: &Online,
    inspector: &Inspector,
    routes: &Routes,
    service: &Service,
    history: &[DeploymentRecord],
) -> Result<Vec<(&'static str, String, Option<String>)>, Failure> {
    let task_sets = inspector
        .task_sets(&service.cluster, &service.service)
        .await
        .map_err(|e| aws_failure(&format!("ECS service {}/{}", service.cluster, service.service), &e))?;
    let looks = Looks { online, service, task_sets: &task_sets, history };
    let mut out = Vec::new();
    for (listener, arns) in [("production", &routes.production_listeners), ("test", &routes.test_listeners)] {
        let serving = looks.serving(inspector, arns).await?;
        let what: Vec<String> = serving
            .iter()
            .map(|s| {
                let name = match (&s.tag, &s.digest) {
                    (Some(t), Some(d)) => format!("{t} {}", short_digest(d)),
                    (None, Some(d)) => short_digest(d),
                    _ => "nothing".into(),
                };
                if s.weight < 100 { format!("{name} ({}%)", s.weight) } else { name }
            })
            .collect();
        if !what.is_empty() {
            out.push((listener, what.join(" + "), serving.first().and_then(|s| s.digest.clone())));
        }
    }
    Ok(out)
}

fn end_line(
    described: &aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput,
    record: Option<&DeploymentRecord>,
) -> String {
    let status = described.status().as_str();
    let what = record
        .map(|r| format!("{} {}", r.service, r.tag))
        .unwrap_or_else(|| described.name().unwrap_or_default().to_string());
    let outcome = record.and_then(|r| r.outcome).map(|o| format!(" ({})", o.as_str())).unwrap_or_default();
    let why = record
        .and_then(|r| r.reason.clone())
        .or_else(|| described.cause().map(str::to_string))
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    match status {
        "SUCCEEDED" => format!("{status}: {what}{outcome}"),
        _ => format!("greenlight: {status}: {what}{outcome}{why}"),
    }
}
