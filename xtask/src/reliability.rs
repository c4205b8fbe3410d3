//! `cargo xtask reliability`: the fault matrix, the bad-input corpus and the soak on the local
//! emulation, as one table (`tests/bin/reliability.rs`). `cargo xtask test` runs its short form.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::cmd::{run as step, target_dir};
use crate::{test, venv};

/// Builds what the runs need, then runs them; `short` is the form `cargo xtask test` runs.
pub(crate) fn run(short: bool, extra: &[String]) -> Result<()> {
    venv::emulator()?;
    test::build_binaries()?;
    report(short, extra, None)
}

/// The report over binaries already built; with `calls`, the emulations record each function's
/// AWS calls there (`GREENLIGHT_AWS_CALLS_DIR`).
pub(crate) fn report(short: bool, extra: &[String], calls: Option<&Path>) -> Result<()> {
    step(if short { "reliability (short form)" } else { "reliability" }, command(short, extra, calls))
}

/// The report's command (`cargo xtask test` runs the short form beside the test binaries).
pub(crate) fn command(short: bool, extra: &[String], calls: Option<&Path>) -> Command {
    let mut c = Command::new(target_dir().join("debug/reliability"));
    if let Some(dir) = calls {
        c.env("GREENLIGHT_AWS_CALLS_DIR", dir);
    }
    if short {
        c.arg("--short");
    }
    c.args(extra);
    c
}
