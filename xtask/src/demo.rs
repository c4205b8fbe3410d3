//! `cargo xtask demo`: the pipeline on the local emulation (v2 deploys, v3 rolls back).

use anyhow::{Context, Result, bail};

use crate::cmd::cargo;
use crate::{test, venv};

pub(crate) fn run() -> Result<()> {
    venv::emulator()?;
    test::build_binaries()?;
    let mut c = cargo();
    c.args(["run", "--quiet", "--package", "greenlight-tests", "--bin", "demo"]);
    let status = c.status().context("running the demo")?;
    if !status.success() {
        bail!("the demo failed ({status})");
    }
    Ok(())
}
