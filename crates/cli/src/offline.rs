//! The offline commands: write, check and describe manifests; plan a push from files.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use greenlight_core::Error;
use greenlight_core::event::PushEvent;
use greenlight_core::manifest::{Manifest, Starter};
use greenlight_core::plan::{DeployPlan, HookFunctions};
use greenlight_core::taskdef::TaskDefinition;

use crate::{Failure, Output};

#[derive(Debug, Subcommand)]
pub(crate) enum ManifestCommand {
    /// Print a valid starter manifest for one service, every option at its default.
    Init {
        /// Name of the ECS service (also the entry's name and the CodeDeploy names).
        #[arg(long)]
        service: String,
        /// ECS cluster name.
        #[arg(long)]
        cluster: String,
        /// ECR repository name, e.g. `team/api`.
        #[arg(long)]
        repository: String,
        /// Container whose image each push replaces.
        #[arg(long)]
        container: String,
        /// Container port the load balancer forwards to (default: the container's only mapping).
        #[arg(long)]
        port: Option<u16>,
        /// Base URL of the load balancer's test listener; without it validation starts off.
        #[arg(long)]
        test_listener_url: Option<String>,
    },
    /// Check a manifest: prints `ok`, or every problem and exits 1.
    Check {
        /// The manifest JSON file.
        file: PathBuf,
    },
    /// Print the manifest's JSON Schema.
    Schema,
}

#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    /// The deploy manifest.
    #[arg(long)]
    manifest: PathBuf,
    /// An EventBridge "ECR Image Action" event.
    #[arg(long)]
    event: PathBuf,
    /// The live task definition (`aws ecs describe-task-definition --include TAGS` output).
    #[arg(long)]
    task_definition: PathBuf,
    /// The newest revision of the family registered outside greenlight (Terraform's), in the
    /// same form: the next revision is based on it, and the plan shows its drift from the live
    /// one. Default: the live task definition.
    #[arg(long)]
    base: Option<PathBuf>,
    /// Plan only this service entry.
    #[arg(long)]
    service: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Lambda function the AppSpec's validation hooks invoke.
    #[arg(long, default_value = "greenlight-validate")]
    validate_function: String,
}

pub(crate) fn manifest(command: ManifestCommand) -> Result<String, Failure> {
    match command {
        ManifestCommand::Init { service, cluster, repository, container, port, test_listener_url } => {
            let starter = Starter { service, cluster, repository, container, port, test_listener_url };
            let manifest = Manifest::starter(&starter);
            let issues = manifest.validate();
            if !issues.is_empty() {
                return Err(Failure::Rejected(
                    Error::InvalidManifest(issues)
                        .to_string()
                        .replace("invalid manifest", "these options would make an invalid manifest"),
                ));
            }
            if starter.test_listener_url.is_none() {
                eprintln!(
                    "note: validation is off; pass --test-listener-url to smoke-test green before production traffic moves"
                );
            }
            Ok(format!("{}\n", manifest.to_json_pretty()))
        }
        ManifestCommand::Check { file } => {
            let manifest = load_manifest(&file)?;
            // Warnings go to stderr: the manifest is valid, and `ok` stays the answer.
            for w in manifest.warnings() {
                eprintln!("warning: {}: {w}", file.display());
            }
            Ok("ok\n".into())
        }
        ManifestCommand::Schema => {
            Ok(format!("{}\n", serde_json::to_string_pretty(&Manifest::json_schema()).unwrap_or_default()))
        }
    }
}

fn read(path: &Path, what: &str) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::Unreadable(format!("{}: cannot read {what}: {e}", path.display())))
}

fn load_manifest(path: &Path) -> Result<Manifest, Failure> {
    let text = read(path, "manifest")?;
    let manifest = Manifest::from_json(&text).map_err(|i| Failure::Unreadable(format!("{}: {i}", path.display())))?;
    let issues = manifest.validate();
    if issues.is_empty() {
        Ok(manifest)
    } else {
        Err(Failure::Rejected(format!("{}: {}", path.display(), Error::InvalidManifest(issues))))
    }
}

fn load_task_definition(path: &Path) -> Result<TaskDefinition, Failure> {
    let text = read(path, "task definition")?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Failure::Unreadable(format!("{}: invalid task definition: not JSON: {e}", path.display())))?;
    TaskDefinition::from_json(json).map_err(|e| Failure::Unreadable(format!("{}: {e}", path.display())))
}

pub(crate) fn plan(args: &PlanArgs) -> Result<String, Failure> {
    let manifest = load_manifest(&args.manifest)?;
    if let Some(only) = &args.service
        && manifest.service(only).is_none()
    {
        let names: Vec<&str> = manifest.services.iter().map(|s| s.name.as_str()).collect();
        return Err(Failure::Rejected(format!(
            "{}: no service entry named `{only}`; it has: {}",
            args.manifest.display(),
            names.join(", ")
        )));
    }
    let event_text = read(&args.event, "event")?;
    let push = match PushEvent::parse(&event_text) {
        Ok(PushEvent::Deployable(push)) => push,
        Ok(PushEvent::Ignored { reason }) => {
            return Ok(match args.output {
                Output::Text => format!("no target: {reason}\n"),
                Output::Json => format!("{}\n", serde_json::json!({ "targets": [], "ignored": reason })),
            });
        }
        Err(e) => return Err(Failure::Unreadable(format!("{}: {e}", args.event.display()))),
    };
    let current = load_task_definition(&args.task_definition)?;
    let base = args.base.as_deref().map(load_task_definition).transpose()?;
    let hooks = HookFunctions { validate: args.validate_function.clone() };
    let plan =
        DeployPlan::build(&manifest, &push, args.service.as_deref(), &hooks, |_| Ok((current.clone(), base.clone())))
            .map_err(|e| Failure::Rejected(format!("greenlight: plan: {e}")))?;
    Ok(match args.output {
        Output::Text => plan.render_text(),
        Output::Json => format!("{}\n", serde_json::to_string_pretty(&plan).unwrap_or_default()),
    })
}
