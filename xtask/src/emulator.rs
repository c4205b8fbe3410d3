//! `cargo xtask emulator up|down`: the local AWS emulation in the background.

use anyhow::{Context, Result, bail};

use crate::cmd::cargo;
use crate::venv;

pub(crate) fn run(action: &str) -> Result<()> {
    if action == "up" {
        venv::emulator()?;
    }
    let mut c = cargo();
    c.args(["run", "--quiet", "--package", "greenlight-tests", "--bin", "emulator", "--", action]);
    let status = c.status().context("running the emulator tool")?;
    if !status.success() {
        bail!("emulator {action} failed ({status})");
    }
    Ok(())
}
