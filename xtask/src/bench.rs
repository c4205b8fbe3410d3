//! `cargo xtask bench`: package, then the benchmark table against the packaged binaries.

use anyhow::{Context, Result, bail};

use crate::cmd::{cargo, root};
use crate::{package, venv};

pub(crate) fn run(only_validate: bool) -> Result<()> {
    if !only_validate {
        package::run()?;
        venv::emulator()?;
    }
    let mut c = cargo();
    c.env("GREENLIGHT_PACKAGED_FUNCTIONS", root().join("target/lambda")).args([
        "run",
        "--quiet",
        "--release",
        "--package",
        "greenlight-tests",
        "--bin",
        "bench",
    ]);
    if only_validate {
        c.args(["--", "validate"]);
    }
    let status = c.status().context("running the benchmark")?;
    if !status.success() {
        bail!("the benchmark failed ({status})");
    }
    Ok(())
}
