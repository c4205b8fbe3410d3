//! `cargo xtask schema`: regenerate `schema/manifest.schema.json` from the manifest types.

use anyhow::Result;

use crate::cmd::{cargo, run as step};

pub(crate) fn run() -> Result<()> {
    let mut t = cargo();
    t.env("UPDATE_SCHEMA", "1").args([
        "test",
        "--package",
        "greenlight-core",
        "--test",
        "manifest",
        "committed_schema",
    ]);
    step("regenerate schema/manifest.schema.json", t)
}
