//! Project-local Python venvs under `.venv/`: the emulation's, cargo-lambda's and checkov's,
//! each pinned and installed again when its pin changes.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use crate::cmd::{root, run};

/// cargo-lambda (with zig) builds Lambda zips for Amazon Linux's glibc from any Linux host.
const CARGO_LAMBDA: &str = "cargo-lambda==1.9.2";
/// Static analysis of the Terraform modules; in its own venv (it pins its own boto3).
pub(crate) const CHECKOV: &str = "checkov==3.3.30";

/// A project-local venv holding cargo-lambda and zig, created on first use.
pub(crate) fn cargo_lambda() -> Result<PathBuf> {
    Ok(python_venv("tools", &[CARGO_LAMBDA], CARGO_LAMBDA, &format!("install {CARGO_LAMBDA}"))?.join("bin"))
}

/// The emulation's venv: moto pinned by tests/emulator/requirements.txt, reinstalled when that
/// file changes.
pub(crate) fn emulator() -> Result<()> {
    let requirements = root().join("tests/emulator/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).context("reading tests/emulator/requirements.txt")?;
    let path = requirements.to_string_lossy();
    python_venv("emulator", &["-r", &path], &wanted, "install the emulation's Python packages")?;
    Ok(())
}

/// The Python checks: ruff's lints and mypy (strict), with the emulation's packages installed so
/// mypy reads moto's types.
const RUFF: &str = "ruff==0.17.5";
const MYPY: &str = "mypy==2.4.1";

/// `.venv/pycheck`: ruff, mypy and the emulation's requirements.
pub(crate) fn python_checks() -> Result<PathBuf> {
    let requirements = root().join("tests/emulator/requirements.txt");
    let pinned = std::fs::read_to_string(&requirements).context("reading tests/emulator/requirements.txt")?;
    let path = requirements.to_string_lossy();
    let wanted = format!("{RUFF}\n{MYPY}\n{pinned}");
    python_venv("pycheck", &[RUFF, MYPY, "-r", &path], &wanted, &format!("install {RUFF} and {MYPY}"))
}

/// checkov's venv (`.venv/checkov`).
pub(crate) fn checkov() -> Result<PathBuf> {
    python_venv("checkov", &[CHECKOV], CHECKOV, &format!("install {CHECKOV}"))
}

/// `.venv/<name>` with `pip install <packages>`, installed again when `wanted` (what the
/// packages are pinned to) differs from what was installed last; its path.
fn python_venv(name: &str, packages: &[&str], wanted: &str, step: &str) -> Result<PathBuf> {
    let venv = root().join(".venv").join(name);
    let stamp = venv.join(".installed-requirements");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted) {
        return Ok(venv);
    }
    if !venv.join("bin/python").is_file() {
        let mut mk = Command::new("python3");
        mk.args(["-m", "venv"]).arg(&venv);
        run(&format!("create .venv/{name}"), mk)?;
    }
    let mut pip = Command::new(venv.join("bin/pip"));
    pip.args(["install", "--quiet", "--disable-pip-version-check"]).args(packages);
    run(step, pip)?;
    std::fs::write(&stamp, wanted)?;
    Ok(venv)
}
