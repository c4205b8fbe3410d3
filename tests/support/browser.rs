//! A real browser for the pages greenlight serves: Debian's Chromium, headless, driven by
//! playwright-core (`tests/browser/`), both installed by `cargo xtask test`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::emulator::root;

/// What one visit of a page showed.
#[derive(Debug, Clone, Deserialize)]
pub struct Visit {
    pub status: Option<u16>,
    pub title: String,
    /// The page's text as rendered (`innerText`).
    pub text: String,
    pub screenshot: PathBuf,
}

/// The review page's form as the browser found it.
#[derive(Debug, Clone, Deserialize)]
pub struct Form {
    /// How many comment fields.
    pub comment: usize,
    pub buttons: Vec<String>,
}

/// An approval link followed in the browser: the page, the answer to its button, a second visit.
#[derive(Debug, Clone, Deserialize)]
pub struct ApprovalPageRun {
    pub form: Form,
    pub visits: Vec<Visit>,
}

/// Where the browser tests keep their screenshots: `target/artifacts/<name>/`.
pub fn artifacts(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let dir = target.join("artifacts").join(name);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// Opens `link` with JavaScript off, types `comment`, clicks the page's button and visits the
/// link again (`tests/browser/approval-page.cjs`); screenshots go to `dir`.
pub fn approval_page(link: &str, dir: &Path, comment: &str) -> ApprovalPageRun {
    let chromium = std::env::var_os("GREENLIGHT_CHROMIUM").map(PathBuf::from).unwrap_or("/usr/bin/chromium".into());
    assert!(
        chromium.is_file(),
        "{} is missing: install Debian's chromium package (`cargo xtask test` does)",
        chromium.display()
    );
    let modules = root().join(".venv/node/node_modules");
    assert!(
        modules.join("playwright-core").is_dir(),
        "playwright-core is missing from {}: `cargo xtask test` installs it",
        modules.display()
    );
    let out = Command::new("node")
        .env("NODE_PATH", &modules)
        .env("GREENLIGHT_CHROMIUM", &chromium)
        .arg(root().join("tests/browser/approval-page.cjs"))
        .args([link, &dir.display().to_string(), comment])
        .output()
        .unwrap_or_else(|e| panic!("could not start node (Node.js 20 or newer is needed): {e}"));
    assert!(out.status.success(), "the browser run failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("the browser run printed no report ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}
