//! The deploy manifest: which services greenlight deploys and how.
//!
//! Parsing rejects unknown fields; [`Manifest::parse`] then validates every rule and reports
//! all problems at once, each naming its JSON path, what is wrong and how to fix it.
//! `types` holds the document's shape, `validation` its rules, `starter` the manifest
//! `greenlight manifest init` writes.

mod starter;
mod types;
mod validation;

pub use starter::Starter;
pub use types::*;
pub use validation::parse_status_range;

use crate::error::{Error, Issue};

impl Manifest {
    /// Parses and validates a manifest, reporting every problem found.
    pub fn parse(json: &str) -> Result<Self, Error> {
        let manifest = Self::from_json(json).map_err(|i| Error::InvalidManifest(vec![i]))?;
        let issues = manifest.validate();
        if issues.is_empty() { Ok(manifest) } else { Err(Error::InvalidManifest(issues)) }
    }

    /// Reads the JSON into the types without the semantic rules: the error is the first
    /// place where the document is not JSON or not of the manifest's shape.
    pub fn from_json(json: &str) -> Result<Self, Issue> {
        let de = &mut serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(de).map_err(|e| shape_issue(json_path(&e.path().to_string()), e.inner()))
    }

    /// The service entry with this name.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn to_json_pretty(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The JSON Schema of the manifest, for editors.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Manifest)).unwrap_or_default()
    }
}

/// serde_path_to_error writes the root as `.`.
fn json_path(p: &str) -> String {
    if p.is_empty() || p == "." { "(top level)".into() } else { p.to_string() }
}

fn shape_issue(path: String, e: &serde_json::Error) -> Issue {
    let msg = e.to_string();
    // serde_json appends " at line L column C"; keep it, it helps in large files.
    let fix = if msg.starts_with("unknown field") {
        "remove it or fix its spelling (`greenlight manifest schema` lists every field)"
    } else if msg.starts_with("missing field") {
        "add it (`greenlight manifest init` prints a complete example)"
    } else if msg.starts_with("unknown variant") {
        "use one of the values listed"
    } else if e.is_syntax() || e.is_eof() {
        "fix the JSON syntax"
    } else {
        "use the type `greenlight manifest schema` gives for this field"
    };
    Issue { path, problem: msg, fix: fix.into() }
}
