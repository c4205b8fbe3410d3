//! Every `resource` and `data` block of greenlight's Terraform (`infra/`) against the AWS
//! provider's own schema, as `terraform validate` would hold them: no argument or block the
//! provider does not have, every required one present, nested blocks and `dynamic` content
//! alike. The schema is `tests/terraform/aws-provider-schema.json`, extracted from the prebuilt
//! CDK for Terraform bindings of the provider (`cargo xtask terraform-schema` regenerates it);
//! `terraform validate` itself needs a provider download, which is not possible here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use greenlight_tests::emulator::root;
use greenlight_tests::hcl::{label, module_dir, module_files, orchestrator_files_edited, parse};
use hcl::Body;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Provider {
    provider: String,
    resource: BTreeMap<String, Schema>,
    data: BTreeMap<String, Schema>,
}

#[derive(Debug, Deserialize)]
struct Schema {
    /// Argument name → required.
    arguments: BTreeMap<String, bool>,
    blocks: BTreeMap<String, BlockSchema>,
}

#[derive(Debug, Deserialize)]
struct BlockSchema {
    required: bool,
    schema: Schema,
}

/// Terraform's own arguments and blocks of every resource and data source.
const META_ARGUMENTS: &[&str] = &["count", "for_each", "depends_on", "provider"];
const META_BLOCKS: &[&str] = &["lifecycle", "provisioner", "connection"];
const REGENERATE: &str = "run `cargo xtask terraform-schema` to extract it from the provider's bindings";

fn provider() -> Provider {
    let path = root().join("tests/terraform/aws-provider-schema.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}; {REGENERATE}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every directory under infra/ that holds `.tf` files.
fn terraform_dirs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root().join("infra")];
    while let Some(dir) = stack.pop() {
        let entries: Vec<PathBuf> =
            std::fs::read_dir(&dir).expect("infra/").filter_map(Result::ok).map(|e| e.path()).collect();
        if entries.iter().any(|p| p.extension().is_some_and(|x| x == "tf")) {
            out.push(dir.clone());
        }
        stack.extend(entries.into_iter().filter(|p| p.is_dir()));
    }
    out.sort();
    out
}

fn check_body(body: &Body, schema: &Schema, at: &str, top_level: bool, problems: &mut Vec<String>) {
    for attribute in body.attributes() {
        let name = attribute.key.as_str();
        if top_level && META_ARGUMENTS.contains(&name) {
            continue;
        }
        // A nested block the provider declares as a nested attribute (`name = { … }`) reads the
        // same in the bindings: accept either form for those.
        if !schema.arguments.contains_key(name) && !schema.blocks.contains_key(name) {
            problems.push(format!("{at}: `{name}` is not an argument of this type"));
        }
    }
    for block in body.blocks() {
        let ident = block.identifier.as_str();
        if top_level && META_BLOCKS.contains(&ident) {
            continue;
        }
        let (name, inner) = if ident == "dynamic" {
            let name = label(block, 0).unwrap_or_default();
            let content = block.body.blocks().find(|b| b.identifier.as_str() == "content");
            match content {
                Some(c) => (name, &c.body),
                None => {
                    problems.push(format!("{at}: dynamic \"{name}\" has no `content` block"));
                    continue;
                }
            }
        } else {
            (ident, &block.body)
        };
        match schema.blocks.get(name) {
            Some(nested) => check_body(inner, &nested.schema, &format!("{at}.{name}"), false, problems),
            None => problems.push(format!("{at}: `{name}` is not a block of this type")),
        }
    }
    for (name, required) in &schema.arguments {
        if *required && !body.attributes().any(|a| a.key.as_str() == name) {
            problems.push(format!("{at}: the required argument `{name}` is missing"));
        }
    }
    for (name, nested) in &schema.blocks {
        let present = body.blocks().any(|b| {
            b.identifier.as_str() == name || (b.identifier.as_str() == "dynamic" && label(b, 0) == Some(name))
        }) || body.attributes().any(|a| a.key.as_str() == name);
        if nested.required && !present {
            problems.push(format!("{at}: the required block `{name}` is missing"));
        }
    }
}

/// The problems of one directory's Terraform (files as `(name, text)`).
fn problems(dir: &Path, files: &[(String, String)], provider: &Provider) -> Vec<String> {
    let body = parse(files);
    let rel = dir.strip_prefix(root()).unwrap_or(dir).display().to_string();
    let mut problems = Vec::new();
    for block in body.blocks() {
        let kind = block.identifier.as_str();
        let (Some(ty), Some(name)) = (label(block, 0), label(block, 1)) else { continue };
        let types = match kind {
            "resource" => &provider.resource,
            "data" => &provider.data,
            _ => continue,
        };
        // Other providers (random, …) are not in this schema.
        if !ty.starts_with("aws_") {
            continue;
        }
        let at = format!("{rel}: {kind} \"{ty}\" \"{name}\"");
        match types.get(ty) {
            Some(schema) => check_body(&block.body, schema, &at, true, &mut problems),
            None => problems.push(format!("{at}: not in {}'s extracted schema; {REGENERATE}", provider.provider)),
        }
    }
    problems
}

#[test]
fn every_block_of_the_terraform_matches_the_aws_providers_schema() {
    let provider = provider();
    let dirs = terraform_dirs();
    assert!(dirs.len() >= 3, "the modules and the example: {dirs:?}");
    let mut all = Vec::new();
    let mut checked = 0;
    for dir in &dirs {
        let files = module_files(dir);
        checked += parse(&files).blocks().filter(|b| ["resource", "data"].contains(&b.identifier.as_str())).count();
        all.extend(problems(dir, &files, &provider));
    }
    assert!(checked > 40, "only {checked} blocks read");
    assert!(all.is_empty(), "Terraform against {}:\n  {}", provider.provider, all.join("\n  "));
}

/// The problems of the orchestrator module with main.tf's first `from` replaced by `to`.
fn mutated(from: &str, to: &str) -> Vec<String> {
    problems(&module_dir(), &orchestrator_files_edited("", from, to), &provider())
}

#[test]
fn an_unknown_argument_a_missing_one_and_a_wrong_nested_block_are_caught_also_in_dynamic_content() {
    let typo = mutated("retention_in_days = var.log_retention_days", "retention_days = var.log_retention_days");
    assert!(typo.iter().any(|p| p.contains("`retention_days` is not an argument of this type")), "{typo:?}");
    assert!(typo.iter().all(|p| p.contains("aws_cloudwatch_log_group")), "{typo:?}");

    let missing = mutated("assume_role_policy = data.aws_iam_policy_document.lambda_assume.json", "");
    assert!(
        missing
            .iter()
            .any(|p| p.contains("aws_iam_role\" \"function\": the required argument `assume_role_policy` is missing")),
        "{missing:?}"
    );

    let nested = mutated("point_in_time_recovery {", "point_in_time_recoveries {");
    assert!(nested.iter().any(|p| p.contains("`point_in_time_recoveries` is not a block of this type")), "{nested:?}");

    // `dynamic` blocks: the label is the block's name, `content` its body.
    let label = mutated("dynamic \"statement\" {", "dynamic \"statements\" {");
    assert!(label.iter().any(|p| p.contains("`statements` is not a block of this type")), "{label:?}");
    let content = mutated("sid       = statement.value.sid", "sids      = statement.value.sid");
    assert!(
        content.iter().any(|p| p.contains("\"function\".statement: `sids` is not an argument of this type")),
        "{content:?}"
    );
    let deep = mutated("variable = condition.value.variable", "");
    assert!(
        deep.iter().any(|p| p.contains(".statement.condition: the required argument `variable` is missing")),
        "{deep:?}"
    );
}
