//! From the live task definition to the next revision's RegisterTaskDefinition request.
//!
//! The transform works on the JSON itself, not on a Rust model of it: every settable field
//! (including ones AWS adds later) is carried over untouched, the read-only fields are dropped,
//! and only the image of the named containers changes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;

/// Fields DescribeTaskDefinition returns that RegisterTaskDefinition rejects.
pub const READ_ONLY_FIELDS: &[&str] = &[
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
];

/// The tag on every revision greenlight registers: the ARN of the revision it was based on
/// (see the `drift` module).
pub const BASE_TAG: &str = "greenlight:base";

/// A task definition as DescribeTaskDefinition returns it, with its tags.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDefinition {
    definition: Map<String, Value>,
    tags: Vec<Value>,
}

/// A RegisterTaskDefinition request, in AWS's JSON field names: exactly what
/// `aws ecs register-task-definition --cli-input-json` accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RegisterRequest(pub Map<String, Value>);

/// What a push means for a task definition.
#[derive(Debug, Clone, PartialEq)]
pub enum Revision {
    /// Every target container already runs this digest: nothing to register.
    AlreadyLive,
    Register(RegisterRequest),
}

impl TaskDefinition {
    /// Accepts a DescribeTaskDefinition response (`{"taskDefinition": …, "tags": […]}`) or a
    /// bare task definition object.
    pub fn from_json(value: Value) -> Result<Self, Error> {
        let Value::Object(mut root) = value else {
            return Err(invalid("(top level)", "is not a JSON object; expected DescribeTaskDefinition output"));
        };
        let (definition, tags) = match root.remove("taskDefinition") {
            Some(Value::Object(def)) => {
                let tags = match root.remove("tags") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(tags)) => tags,
                    Some(_) => return Err(invalid("tags", "is not a list of {key, value}")),
                };
                (def, tags)
            }
            Some(_) => return Err(invalid("taskDefinition", "is not an object")),
            None if root.contains_key("containerDefinitions") => (root, Vec::new()),
            None => {
                return Err(invalid(
                    "taskDefinition",
                    "is missing; pass the output of `aws ecs describe-task-definition --include TAGS`",
                ));
            }
        };
        let td = Self { definition, tags };
        td.check_shape()?;
        Ok(td)
    }

    fn check_shape(&self) -> Result<(), Error> {
        if !matches!(self.definition.get("family"), Some(Value::String(s)) if !s.is_empty()) {
            return Err(invalid("taskDefinition.family", "is missing or not a string"));
        }
        let Some(Value::Array(containers)) = self.definition.get("containerDefinitions") else {
            return Err(invalid("taskDefinition.containerDefinitions", "is missing or not a list"));
        };
        if containers.is_empty() {
            return Err(invalid("taskDefinition.containerDefinitions", "is empty"));
        }
        for (i, c) in containers.iter().enumerate() {
            let at = format!("taskDefinition.containerDefinitions[{i}]");
            let Value::Object(c) = c else { return Err(invalid(&at, "is not an object")) };
            if !matches!(c.get("name"), Some(Value::String(_))) {
                return Err(invalid(&format!("{at}.name"), "is missing or not a string"));
            }
            if !matches!(c.get("image"), Some(Value::String(_))) {
                return Err(invalid(&format!("{at}.image"), "is missing or not a string"));
            }
        }
        for (i, t) in self.tags.iter().enumerate() {
            if !(t.get("key").is_some_and(Value::is_string) && t.get("value").is_some_and(Value::is_string)) {
                return Err(invalid(&format!("tags[{i}]"), "is not a {\"key\": …, \"value\": …} pair"));
            }
        }
        Ok(())
    }

    pub fn family(&self) -> &str {
        self.definition.get("family").and_then(Value::as_str).unwrap_or_default()
    }

    pub fn revision(&self) -> Option<u64> {
        self.definition.get("revision").and_then(Value::as_u64)
    }

    /// The value of one of its tags.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.get("key").and_then(Value::as_str) == Some(key))
            .and_then(|t| t.get("value").and_then(Value::as_str))
    }

    /// `ACTIVE`, `INACTIVE` (deregistered) or `DELETE_IN_PROGRESS`.
    pub fn status(&self) -> Option<&str> {
        self.definition.get("status").and_then(Value::as_str)
    }

    pub fn arn(&self) -> Option<&str> {
        self.definition.get("taskDefinitionArn").and_then(Value::as_str)
    }

    fn containers(&self) -> impl Iterator<Item = &Map<String, Value>> {
        self.definition
            .get("containerDefinitions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
    }

    pub fn container_names(&self) -> Vec<String> {
        self.containers().filter_map(|c| c.get("name")?.as_str().map(str::to_string)).collect()
    }

    fn container(&self, name: &str) -> Option<&Map<String, Value>> {
        self.containers().find(|c| c.get("name").and_then(Value::as_str) == Some(name))
    }

    pub fn image_of(&self, container: &str) -> Option<&str> {
        self.container(container)?.get("image")?.as_str()
    }

    /// The container ports of a container's port mappings.
    pub fn container_ports(&self, container: &str) -> Vec<u16> {
        self.container(container)
            .and_then(|c| c.get("portMappings"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("containerPort")?.as_u64()?.try_into().ok())
            .collect()
    }

    fn ensure_container(&self, name: &str) -> Result<(), Error> {
        if self.container(name).is_some() {
            Ok(())
        } else {
            Err(Error::ContainerNotFound {
                container: name.into(),
                family: self.family().into(),
                available: self.container_names(),
            })
        }
    }

    /// The task definition as a register request, read-only fields dropped, tags included,
    /// nothing changed. This is the "old" side of a plan's diff.
    pub fn as_register_request(&self) -> RegisterRequest {
        let mut req: Map<String, Value> = self
            .definition
            .iter()
            .filter(|(k, _)| !READ_ONLY_FIELDS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !self.tags.is_empty() {
            req.insert("tags".into(), Value::Array(self.tags.clone()));
        }
        RegisterRequest(req)
    }

    /// The read-only fields present in this task definition (dropped by the transform).
    pub fn read_only_fields_present(&self) -> Vec<&'static str> {
        READ_ONLY_FIELDS.iter().copied().filter(|f| self.definition.contains_key(*f)).collect()
    }

    /// The next revision: `containers` run `image_uri`, everything else as it is.
    pub fn next_revision(&self, containers: &[String], image_uri: &str) -> Result<Revision, Error> {
        for c in containers {
            self.ensure_container(c)?;
        }
        if containers.iter().all(|c| self.image_of(c).is_some_and(|img| same_image(img, image_uri))) {
            return Ok(Revision::AlreadyLive);
        }
        self.with_images(containers, image_uri).map(Revision::Register)
    }

    /// This revision as a register request in which `containers` run `image_uri`, whatever
    /// they ran before, tagged (`greenlight:base`) with the revision it is based on: this one,
    /// or the one this one was based on when greenlight registered it.
    pub fn with_images(&self, containers: &[String], image_uri: &str) -> Result<RegisterRequest, Error> {
        for c in containers {
            self.ensure_container(c)?;
        }
        let mut req = self.as_register_request();
        if let Some(based_on) = self.tag(BASE_TAG).or(self.arn()) {
            let mut tags: Vec<Value> = match req.0.remove("tags") {
                Some(Value::Array(tags)) => tags,
                _ => Vec::new(),
            };
            tags.retain(|t| t.get("key").and_then(Value::as_str) != Some(BASE_TAG));
            tags.push(serde_json::json!({"key": BASE_TAG, "value": based_on}));
            req.0.insert("tags".into(), Value::Array(tags));
        }
        if let Some(Value::Array(defs)) = req.0.get_mut("containerDefinitions") {
            for def in defs.iter_mut().filter_map(Value::as_object_mut) {
                if def.get("name").and_then(Value::as_str).is_some_and(|n| containers.iter().any(|c| c == n)) {
                    def.insert("image".into(), Value::String(image_uri.into()));
                }
            }
        }
        Ok(req)
    }
}

/// Whether `current` is the same repository and digest as the pinned `target`
/// (`repo@sha256:…`); `repo:tag@sha256:…` counts as the same image.
fn same_image(current: &str, target: &str) -> bool {
    let Some((target_repo, target_digest)) = target.split_once('@') else { return current == target };
    let Some((name, digest)) = current.split_once('@') else { return false };
    let repo = match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => &name[..i],
        _ => name,
    };
    repo == target_repo && digest == target_digest
}

fn invalid(path: &str, problem: &str) -> Error {
    Error::InvalidTaskDefinition { path: path.into(), problem: problem.into() }
}

impl RegisterRequest {
    pub fn family(&self) -> &str {
        self.0.get("family").and_then(Value::as_str).unwrap_or_default()
    }

    pub fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_image_compares_repository_and_digest() {
        let t = "1.dkr.ecr.r.amazonaws.com/api@sha256:ab";
        assert!(same_image(t, t));
        assert!(same_image("1.dkr.ecr.r.amazonaws.com/api:v1@sha256:ab", t));
        assert!(!same_image("1.dkr.ecr.r.amazonaws.com/api:v1", t));
        assert!(!same_image("1.dkr.ecr.r.amazonaws.com/api@sha256:cd", t));
        assert!(!same_image("1.dkr.ecr.r.amazonaws.com/other@sha256:ab", t));
        // A registry with a port is not a tag.
        assert!(same_image("localhost:5000/api@sha256:ab", "localhost:5000/api@sha256:ab"));
    }
}
