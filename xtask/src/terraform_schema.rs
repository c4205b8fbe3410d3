//! `cargo xtask terraform-schema`: regenerates `tests/terraform/aws-provider-schema.json`, the
//! AWS provider's schema for the resource and data types `infra/` uses, from the prebuilt CDK
//! for Terraform bindings of the provider (their jsii assembly names every Terraform argument).
//! `tests/terraform.rs` checks every block of `infra/` against it.

use std::process::Command;

use anyhow::{Context, Result};

use crate::cmd::{root, run as step, target_dir};

/// The bindings of hashicorp/aws 6.25.0, the provider version `infra/` is written against.
const BINDINGS: &str = "cdktf-cdktf-provider-aws==21.22.1";

pub(crate) fn run() -> Result<()> {
    let dir = target_dir().join("terraform-schema");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut download = Command::new("python3");
    download
        .args(["-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check", "-d"])
        .arg(&dir)
        .arg(BINDINGS);
    step(&format!("download {BINDINGS}"), download)?;
    let wheel = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .with_context(|| format!("no wheel in {}", dir.display()))?;
    let mut extract = Command::new("python3");
    extract
        .arg(root().join("tests/terraform/extract_schema.py"))
        .arg(&wheel)
        .arg(root().join("infra"))
        .arg(root().join("tests/terraform/aws-provider-schema.json"));
    step("extract the schema of the types infra/ uses", extract)
}
