//! What the tasks share: the workspace root, cargo, running a step, the function crates and the
//! features the end-to-end tests build them with.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

pub(crate) fn root() -> PathBuf {
    // xtask/ sits in the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Where cargo builds (`CARGO_TARGET_DIR`, else `target/`).
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

pub(crate) fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

pub(crate) fn run(step: &str, mut cmd: Command) -> Result<()> {
    // Progress goes to stderr: stdout carries what a task prints for its caller (the sandbox's
    // environment, which `eval "$(cargo xtask emulator up)"` reads).
    eprintln!("==> {step}");
    let start = Instant::now();
    let status = cmd.status().with_context(|| format!("{step}: could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{step} failed ({status})");
    }
    eprintln!("    {step}: ok in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// The function crates: every directory under functions/ with a Cargo.toml.
pub(crate) fn functions() -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root().join("functions")).context("reading functions/")? {
        let path = entry?.path();
        if path.join("Cargo.toml").is_file()
            && let Some(name) = path.file_name().and_then(|n| n.to_str())
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// `--features <function>/fault-injection,…`: the test hooks (`GREENLIGHT_FAULT_INJECTION`) the
/// end-to-end tests of failure paths use. Test builds only: `cargo xtask package` never passes it.
pub(crate) fn fault_injection_features() -> Result<String> {
    Ok(functions()?.iter().map(|f| format!("{f}/fault-injection")).collect::<Vec<_>>().join(","))
}
