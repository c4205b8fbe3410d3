//! What the commands that act share (`deploy`, `retry`, `rollback`, `resume`): the caller's
//! identity, a request built as a push of an image already in ECR, started through the same
//! path as on-image-push (core's `begin`: recorded as the service's newest request, its own
//! execution, the ledger's first entry), and what is printed about it.

use greenlight_aws::{EcrImages, EcsTaskDefinitions, SfnExecutions, SnsNotifier};
use greenlight_core::event::Push;
use greenlight_core::lock::short_digest;
use greenlight_core::manifest::Service;
use greenlight_core::pipeline::{BeginPorts, StartedExecution, begin, image_of, requested_by};
use greenlight_core::ports::{ExecutionStart, Image, Notifier, Pauses, TaskDefinitions};
use greenlight_core::request::{Requested, Trigger};
use greenlight_core::taskdef::TaskDefinition;
use serde_json::json;

use super::{Caller, Online, Orchestrator, aws_failure};
use crate::{Failure, Output};

/// The options every acting command takes.
#[derive(Debug, clap::Args)]
pub(crate) struct Acting {
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
    /// Seconds between two looks at the deployment: the orchestrator module's `wait_seconds`.
    #[arg(long, env = "GREENLIGHT_WAIT_SECONDS", default_value_t = 15)]
    pub(crate) wait_seconds: u32,
    #[command(flatten)]
    pub(crate) orchestrator: Orchestrator,
}

/// A connection and the identity that acts through it.
pub(crate) struct Actor {
    pub(crate) online: Online,
    pub(crate) caller: Caller,
}

impl Actor {
    pub(crate) async fn connect(orchestrator: &Orchestrator) -> Result<Self, Failure> {
        let online = orchestrator.connect().await?;
        let caller = online.caller().await?;
        Ok(Self { online, caller })
    }

    pub(crate) fn images(&self) -> EcrImages {
        EcrImages::new(aws_sdk_ecr::Client::new(&self.online.config))
    }

    pub(crate) fn task_definitions(&self) -> EcsTaskDefinitions {
        EcsTaskDefinitions::new(aws_sdk_ecs::Client::new(&self.online.config))
    }

    /// A request for `image` of the service's repository, made now by the caller.
    pub(crate) fn request(
        &self,
        service: &Service,
        image: &Image,
        tag: &str,
        trigger: Trigger,
        reason: Option<&str>,
    ) -> Push {
        let requested = Requested { by: self.caller.arn.clone(), reason: reason.map(str::to_string) };
        let region = self.online.region();
        let place = (self.caller.account.as_str(), region.as_str());
        Push::requested(place, service, (&image.digest, image.pushed_at), tag, trigger, requested)
    }

    /// `deploy` and `retry` are refused while the service is paused (a rollback is not).
    pub(crate) async fn refuse_if_paused(&self, service: &Service, what: &str) -> Result<(), Failure> {
        let paused =
            self.online.ledger.paused(&service.name).await.map_err(|e| aws_failure("the ledger's pause", &e))?;
        match paused {
            Some(pause) => Err(Failure::Rejected(format!(
                "greenlight: {} is {}; a {what} would not deploy. `greenlight resume {} --reason …` lifts the pause",
                service.name,
                pause.describe(),
                service.name
            ))),
            None => Ok(()),
        }
    }

    /// Starts the request's execution, as on-image-push starts a push's.
    pub(crate) async fn start(
        &self,
        service: &str,
        push: &Push,
        wait_seconds: u32,
    ) -> Result<StartedExecution, Failure> {
        let arn = self.online.state_machine_arn(&self.caller);
        let executions = SfnExecutions::new(aws_sdk_sfn::Client::new(&self.online.config), arn.clone());
        let ports = BeginPorts { executions: &executions, ledger: &self.online.ledger };
        begin(service, push, ports, wait_seconds).await.map_err(|e| aws_failure(&format!("starting {arn}"), &e))
    }

    /// Tells the team on the orchestrator's topic; a failure to is said, not fatal.
    pub(crate) async fn notify(&self, subject: &str, message: &str) -> Option<String> {
        let topic = self.online.topic_arn(&self.caller);
        let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&self.online.config), topic.clone());
        notifier.notify(subject, message).await.err().map(|e| format!("the team was not told on {topic}: {e}"))
    }

    /// The revision the service runs now and the image of its first target container.
    pub(crate) async fn live(&self, service: &Service) -> Result<(TaskDefinition, Image), Failure> {
        let live = self
            .task_definitions()
            .current(&service.cluster, &service.service)
            .await
            .map_err(|e| aws_failure(&format!("ECS service {}/{}", service.cluster, service.service), &e))?;
        let image = self.image_of(service, &live).await?;
        Ok((live, image))
    }

    /// The ECR image a task definition's first target container runs: by its digest, or (a
    /// revision that predates greenlight, pinned by tag) the image the tag names now.
    pub(crate) async fn image_of(&self, service: &Service, td: &TaskDefinition) -> Result<Image, Failure> {
        let what = format!("the image of {}", td.arn().unwrap_or("the task definition"));
        image_of(&self.images(), service, td).await.map_err(|e| aws_failure(&what, &e))
    }
}

/// What an acting command prints once the request's execution started.
pub(crate) fn started(
    output: Output,
    push: &Push,
    started: &StartedExecution,
    notes: &[String],
) -> Result<String, Failure> {
    let execution_arn = match &started.start {
        ExecutionStart::Started { execution_arn } => execution_arn.clone(),
        ExecutionStart::AlreadyExists { name } => {
            return Err(Failure::Rejected(format!("greenlight: execution {name} exists already; nothing new started")));
        }
    };
    Ok(match output {
        Output::Json => format!(
            "{}\n",
            json!({
                "service": started.service, "trigger": push.trigger, "tag": push.tag, "digest": push.digest,
                "task_definition": push.task_definition, "requested_by": push.requested.as_ref().map(|r| &r.by),
                "reason": push.requested.as_ref().and_then(|r| r.reason.as_ref()),
                "execution": started.name, "execution_arn": execution_arn, "notes": notes,
            })
        ),
        Output::Text => {
            let who = requested_by(push).map(|w| format!(": {w}")).unwrap_or_default();
            let mut out = format!(
                "{} {} {} ({}){who}\n  execution {execution_arn}\n  follow it with `greenlight watch {}`\n",
                started.service,
                push.trigger,
                push.tag,
                short_digest(&push.digest),
                started.service
            );
            for note in notes {
                out.push_str(&format!("  note: {note}\n"));
            }
            out
        }
    })
}
