//! The EventBridge "ECR Image Action" event, and which pushes deploy.
//!
//! Only `action-type` PUSH with `result` SUCCESS is a deployable push. A push without a tag
//! (pushed by digest only) is ignored with a reason: tag rules decide what deploys, and an
//! untagged image gives them nothing to decide on. Tagging that image later
//! (`aws ecr put-image`, or `docker push` with a tag) emits a new PUSH event that does deploy.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::manifest::{Manifest, Service};
use crate::request::{Requested, Trigger};

pub const EVENT_SOURCE: &str = "aws.ecr";
pub const EVENT_DETAIL_TYPE: &str = "ECR Image Action";
/// ECR's longest image tag (`ImageIdentifier.imageTag`: length 1 to 300).
pub const MAX_TAG_CHARS: usize = 300;

/// The `detail` of an ECR Image Action event. Fields are optional here so that a missing one
/// is reported by name instead of as a generic shape error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EcrImageAction {
    #[serde(default)]
    pub action_type: Option<String>,
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub repository_name: Option<String>,
    #[serde(default)]
    pub image_digest: Option<String>,
    #[serde(default)]
    pub image_tag: Option<String>,
}

pub type EcrImageActionEvent = EventBridgeEvent<EcrImageAction>;

/// A successful push of a tagged image, or an operator's request that deploys like one (see
/// `crate::request`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    pub account: String,
    pub region: String,
    pub repository: String,
    pub digest: String,
    pub tag: String,
    /// The request's identity: the EventBridge event id (duplicates of one event share it), or
    /// the id an operator's command generated.
    pub event_id: Option<String>,
    /// When the request was made: the event's time, or when the operator ran the command.
    pub event_time: Option<DateTime<Utc>>,
    /// When ECR received the push (`imagePushedAt`, which on-image-push reads from ECR), at
    /// the precision ECR gives it; orders the service's pushes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_at: Option<DateTime<Utc>>,
    /// What asked for this deploy.
    #[serde(default, skip_serializing_if = "Trigger::is_push")]
    pub trigger: Trigger,
    /// Who asked, for a request made by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<Requested>,
    /// The exact task definition to deploy (a rollback's known-good revision), instead of a
    /// new revision derived from the newest configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
}

impl Push {
    /// An operator's request for the image `digest` (pushed to ECR at `pushed_at`) of the
    /// service's repository, made now: a new request id, and who asked.
    pub fn requested(
        (account, region): (&str, &str),
        service: &Service,
        (digest, pushed_at): (&str, Option<DateTime<Utc>>),
        tag: &str,
        trigger: Trigger,
        requested: Requested,
    ) -> Self {
        Self {
            account: account.to_string(),
            region: region.to_string(),
            repository: service.repository.clone(),
            digest: digest.to_string(),
            tag: tag.to_string(),
            event_id: Some(crate::request::new_request_id()),
            event_time: Some(Utc::now()),
            pushed_at,
            trigger,
            requested: Some(requested),
            task_definition: None,
        }
    }

    /// `<account>.dkr.ecr.<region>.amazonaws.com/<repository>@<digest>`: pinned, never a tag.
    pub fn image_uri(&self) -> String {
        format!("{}@{}", self.repository_uri(), self.digest)
    }

    pub fn repository_uri(&self) -> String {
        format!("{}.dkr.ecr.{}.amazonaws.com/{}", self.account, self.region, self.repository)
    }
}

/// What an ECR Image Action event means for greenlight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PushEvent {
    Deployable(Push),
    /// Not a deployable push; the reason says why, for logs and `greenlight plan`.
    Ignored {
        reason: String,
    },
}

impl PushEvent {
    /// Parses and classifies an EventBridge event.
    pub fn parse(json: &str) -> Result<Self, Error> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let event: EcrImageActionEvent = serde_path_to_error::deserialize(de).map_err(|e| Error::InvalidEvent {
            field: if e.path().to_string() == "." { "(top level)".into() } else { e.path().to_string() },
            problem: e.inner().to_string(),
        })?;
        Self::classify(event)
    }

    pub fn classify(event: EcrImageActionEvent) -> Result<Self, Error> {
        if event.source != EVENT_SOURCE || event.detail_type != EVENT_DETAIL_TYPE {
            return Err(invalid(
                "source",
                format!(
                    "is `{}` / detail-type `{}`; this function handles `{EVENT_SOURCE}` / `{EVENT_DETAIL_TYPE}` events only. Check the EventBridge rule's event pattern",
                    event.source, event.detail_type
                ),
            ));
        }
        let d = event.detail;
        let action = d.action_type.as_deref().unwrap_or("");
        if action != "PUSH" {
            return Ok(Self::Ignored { reason: format!("action-type is `{action}`, not PUSH: nothing to deploy") });
        }
        let result = d.result.as_deref().unwrap_or("");
        if result != "SUCCESS" {
            return Ok(Self::Ignored { reason: format!("push result is `{result}`, not SUCCESS: nothing to deploy") });
        }
        let account = required(event.account, "account")?;
        let region = required(event.region, "region")?;
        let repository = required(d.repository_name, "detail.repository-name")?;
        let digest = required(d.image_digest, "detail.image-digest")?;
        if !is_digest(&digest) {
            return Err(invalid(
                "detail.image-digest",
                format!("`{digest}` is not an image digest (expected `sha256:` followed by hex digits)"),
            ));
        }
        if !account.bytes().all(|b| b.is_ascii_digit()) || account.len() != 12 {
            return Err(invalid("account", format!("`{account}` is not a 12-digit AWS account id")));
        }
        let tag = match d.image_tag.filter(|t| !t.is_empty()) {
            Some(t) if t.chars().count() > MAX_TAG_CHARS => {
                return Err(invalid(
                    "detail.image-tag",
                    format!(
                        "is {} characters long; ECR image tags are at most {MAX_TAG_CHARS} (ImageIdentifier.imageTag). This event did not come from ECR",
                        t.chars().count()
                    ),
                ));
            }
            Some(t) if t.chars().any(char::is_control) => {
                return Err(invalid(
                    "detail.image-tag",
                    format!(
                        "{t:?} contains control characters, which no image tag has. This event did not come from ECR"
                    ),
                ));
            }
            Some(t) => t,
            None => {
                return Ok(Self::Ignored {
                    reason: format!(
                        "push of {repository}@{digest} has no tag; greenlight deploys tagged pushes only (tag rules decide what deploys). Tag the image to deploy it"
                    ),
                });
            }
        };
        Ok(Self::Deployable(Push {
            account,
            region,
            repository,
            digest,
            tag,
            event_id: event.id,
            event_time: event.time,
            ..Push::default()
        }))
    }
}

fn invalid(field: &str, problem: String) -> Error {
    Error::InvalidEvent { field: field.into(), problem }
}

fn required(v: Option<String>, field: &str) -> Result<String, Error> {
    v.filter(|s| !s.is_empty()).ok_or_else(|| invalid(field, "is missing or empty".into()))
}

/// `sha256:<hex>`. ECR digests have 64 hex digits; the user guide's sample shortens them,
/// so any non-empty run of hex digits is accepted.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Why a service entry is not a target of a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub service: String,
    pub reason: String,
}

/// The services one push deploys, and why the others don't.
#[derive(Debug, Clone, Serialize)]
pub struct Targets<'a> {
    pub targets: Vec<&'a Service>,
    pub skipped: Vec<Skipped>,
}

/// Matches a push against every service of a validated manifest.
pub fn match_push<'a>(manifest: &'a Manifest, push: &Push) -> Targets<'a> {
    let mut out = Targets { targets: Vec::new(), skipped: Vec::new() };
    for s in &manifest.services {
        if s.repository != push.repository {
            out.skipped.push(Skipped {
                service: s.name.clone(),
                reason: format!("deploys repository `{}`, not `{}`", s.repository, push.repository),
            });
            continue;
        }
        // A validated manifest always compiles; an invalid one deploys nothing.
        let verdict = match s.tags.compile() {
            Ok(m) => m.verdict(&push.tag),
            Err(issues) => {
                out.skipped.push(Skipped {
                    service: s.name.clone(),
                    reason: format!("tag rules do not compile: {}", issues[0]),
                });
                continue;
            }
        };
        if verdict.accepted() {
            out.targets.push(s);
        } else {
            out.skipped.push(Skipped { service: s.name.clone(), reason: verdict.explain(&push.tag) });
        }
    }
    out
}
