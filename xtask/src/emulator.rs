//! `cargo xtask emulator up|push|down`: the local sandbox (the AWS emulation with greenlight
//! installed into it) in the background; see `tests/bin/emulator.rs`.

use anyhow::{Context, Result, bail};

use crate::cmd::cargo;
use crate::{test, venv};

pub(crate) fn run(args: &[String]) -> Result<()> {
    if args.first().is_some_and(|a| a == "up") {
        venv::emulator()?;
        // The functions run as the binaries the tests run.
        test::build_binaries()?;
    }
    let mut c = cargo();
    c.args(["run", "--quiet", "--package", "greenlight-tests", "--bin", "emulator", "--"]).args(args);
    let status = c.status().context("running the emulator tool")?;
    if !status.success() {
        bail!("emulator {} failed ({status})", args.join(" "));
    }
    Ok(())
}
