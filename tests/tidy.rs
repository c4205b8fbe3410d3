//! Invariants that span files, checked by a test instead of by hope.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn toml_of(rel: &str) -> toml::Table {
    read(rel).parse().unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every member crate's directory, relative to the root.
fn members() -> Vec<String> {
    let mut out = Vec::new();
    for group in ["crates", "functions"] {
        for entry in std::fs::read_dir(root().join(group)).expect("dir") {
            let path = entry.expect("entry").path();
            if path.join("Cargo.toml").is_file() {
                out.push(format!("{group}/{}", path.file_name().and_then(|n| n.to_str()).expect("name")));
            }
        }
    }
    out.extend(["xtask".to_string(), "tests".to_string()]);
    out.sort();
    out
}

fn functions() -> Vec<String> {
    members().into_iter().filter_map(|m| m.strip_prefix("functions/").map(str::to_string)).collect()
}

fn dependency_tables(manifest: &toml::Table) -> Vec<(&'static str, &toml::Table)> {
    ["dependencies", "dev-dependencies", "build-dependencies"]
        .into_iter()
        .filter_map(|k| manifest.get(k).and_then(toml::Value::as_table).map(|t| (k, t)))
        .collect()
}

#[test]
fn core_knows_nothing_of_the_sdk_or_the_runtime() {
    let manifest = toml_of("crates/core/Cargo.toml");
    for (section, deps) in dependency_tables(&manifest) {
        for name in deps.keys() {
            assert!(
                !(name.starts_with("aws-sdk-")
                    || name.starts_with("aws-config")
                    || name.starts_with("aws-smithy")
                    || name.starts_with("lambda_")),
                "crates/core [{section}] depends on `{name}`: the domain must not know the SDK or the runtime; move that code to crates/aws or functions/"
            );
        }
    }
}

#[test]
fn workspace_owns_versions_and_lints() {
    for m in members() {
        let path = format!("{m}/Cargo.toml");
        let manifest = toml_of(&path);
        assert_eq!(
            manifest.get("lints").and_then(|l| l.get("workspace")).and_then(toml::Value::as_bool),
            Some(true),
            "{path}: add `[lints] workspace = true`"
        );
        for (section, deps) in dependency_tables(&manifest) {
            for (name, spec) in deps {
                let inherits = spec.get("workspace").and_then(toml::Value::as_bool) == Some(true);
                assert!(
                    inherits,
                    "{path} [{section}] `{name}`: declare it in [workspace.dependencies] and use `{name}.workspace = true`"
                );
            }
        }
    }
}

#[test]
fn functions_are_thin_mains_over_a_tested_handler() {
    let functions = functions();
    assert!(!functions.is_empty(), "functions/ has no crate");
    for f in functions {
        let main = read(&format!("functions/{f}/src/main.rs"));
        let fns = main.matches("fn ").count();
        assert_eq!(
            fns, 1,
            "functions/{f}/src/main.rs defines {fns} functions: keep only `main` there and put logic in src/lib.rs"
        );
        assert!(
            main.contains("lambda_runtime::run"),
            "functions/{f}/src/main.rs must hand the handler to lambda_runtime::run"
        );
        let lib = read(&format!("functions/{f}/src/lib.rs"));
        assert!(lib.contains("#[cfg(test)]"), "functions/{f}/src/lib.rs has no tests for its handler");
    }
}

#[test]
fn docs_name_every_crate_and_function() {
    let architecture = read("ARCHITECTURE.md");
    for m in members() {
        assert!(architecture.contains(&format!("`{m}/`")), "ARCHITECTURE.md's code map does not mention `{m}/`");
    }
    let readme = read("README.md");
    for f in functions() {
        assert!(readme.contains(&format!("`{f}`")), "README.md's status table does not mention the `{f}` function");
    }
}

#[test]
fn every_error_type_is_documented() {
    let architecture = read("ARCHITECTURE.md");
    for name in greenlight_core::Error::ERROR_TYPES {
        assert!(architecture.contains(&format!("`{name}`")), "ARCHITECTURE.md's error table lacks `{name}`");
    }
}

#[test]
fn ci_runs_the_readme_test_command() {
    let readme = read("README.md");
    assert!(readme.contains("cargo xtask test"), "README.md must show the test command");
    assert!(read(".ci/run").contains("cargo xtask test"), ".ci/run must call `cargo xtask test`");
}
