//! Configuration drift: Terraform (or anyone but greenlight) registered a newer revision of the
//! service's family than the one that runs, and it sets something differently. greenlight bases
//! every revision it registers on the newest such revision (only the target containers' images
//! set), so a changed environment variable or secret reaches production with the next deploy;
//! it tags each revision it registers with the revision it was based on (`greenlight:base`),
//! which is how it tells its own revisions from Terraform's.

use serde_json::Value;

use crate::diff::{Change, diff};
pub use crate::taskdef::BASE_TAG;
use crate::taskdef::TaskDefinition;

/// What the base revision sets differently from the live one, field by field, the target
/// containers' images and the tags aside (those are greenlight's to set). Empty when the live
/// revision is the base, or was registered from it.
pub fn drift(live: &TaskDefinition, base: &TaskDefinition, containers: &[String]) -> Vec<Change> {
    if live.arn() == base.arn() {
        return Vec::new();
    }
    diff(&comparable(live, containers), &comparable(base, containers))
}

/// The register request without tags and without the target containers' images.
fn comparable(td: &TaskDefinition, containers: &[String]) -> Value {
    let mut request = td.as_register_request();
    request.0.remove("tags");
    if let Some(Value::Array(defs)) = request.0.get_mut("containerDefinitions") {
        for def in defs.iter_mut().filter_map(Value::as_object_mut) {
            if def.get("name").and_then(Value::as_str).is_some_and(|n| containers.iter().any(|c| c == n)) {
                def.remove("image");
            }
        }
    }
    request.to_value()
}

/// Which revision a deploy is based on: the newest ACTIVE revision of the family when
/// greenlight did not register it, else the one that revision was based on (when it is still
/// ACTIVE), else the live revision.
pub fn choose_base<'a>(
    live: &'a TaskDefinition,
    newest: Option<&'a TaskDefinition>,
    newest_base: Option<&'a TaskDefinition>,
) -> &'a TaskDefinition {
    match newest {
        Some(n) if n.tag(BASE_TAG).is_none() => n,
        Some(_) => newest_base.filter(|b| b.status() != Some("INACTIVE")).unwrap_or(live),
        None => live,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn td(revision: u64, env: &str, image: &str, tags: Value) -> TaskDefinition {
        TaskDefinition::from_json(json!({
            "taskDefinition": {
                "taskDefinitionArn": format!("arn:aws:ecs:us-east-1:123456789012:task-definition/web:{revision}"),
                "family": "web", "revision": revision, "status": "ACTIVE",
                "containerDefinitions": [{"name": "web", "image": image, "environment": [{"name": "MODE", "value": env}]}]
            },
            "tags": tags
        }))
        .expect("task definition")
    }

    #[test]
    fn drift_is_what_the_base_sets_differently_images_and_tags_aside() {
        let live = td(3, "blue", "web@sha256:aa", json!([{"key": BASE_TAG, "value": "web:1"}]));
        let base = td(4, "green", "web:latest", json!([{"key": "team", "value": "core"}]));
        let changes = drift(&live, &base, &["web".into()]);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].to_string(), r#"~ containerDefinitions[web].environment[MODE].value: "blue" -> "green""#);
        assert!(drift(&live, &td(5, "blue", "web:v9", json!([])), &["web".into()]).is_empty(), "images only");
        assert!(drift(&live, &live, &["web".into()]).is_empty());
    }

    #[test]
    fn the_base_is_the_newest_revision_greenlight_did_not_register() {
        let live = td(3, "a", "web@sha256:aa", json!([{"key": BASE_TAG, "value": "web:1"}]));
        let terraform = td(4, "b", "web:latest", json!([]));
        let ours = td(5, "a", "web@sha256:bb", json!([{"key": BASE_TAG, "value": "web:1"}]));
        let first = td(1, "a", "web:latest", json!([]));
        assert_eq!(choose_base(&live, Some(&terraform), None).revision(), Some(4));
        assert_eq!(choose_base(&live, Some(&ours), Some(&first)).revision(), Some(1));
        assert_eq!(choose_base(&live, Some(&ours), None).revision(), Some(3), "its base is gone: the live one");
        assert_eq!(choose_base(&live, None, None).revision(), Some(3));
    }
}
