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
            main.contains("lambda_runtime::run") || main.contains("lambda_http::run"),
            "functions/{f}/src/main.rs must hand the handler to lambda_runtime::run (or lambda_http::run)"
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

fn asl() -> serde_json::Value {
    serde_json::from_str(&read("state-machine/deploy.asl.json")).expect("state-machine/deploy.asl.json is JSON")
}

/// Every `${<crate>_function_arn}` placeholder in the definition.
fn placeholders() -> Vec<String> {
    let text = read("state-machine/deploy.asl.json");
    let mut out: Vec<String> =
        text.split("${").skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string())).collect();
    out.sort();
    out.dedup();
    out
}

fn walk<'a>(v: &'a serde_json::Value, key: &str, out: &mut Vec<&'a serde_json::Value>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, child) in m {
                if k == key {
                    out.push(child);
                }
                walk(child, key, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|c| walk(c, key, out)),
        _ => {}
    }
}

#[test]
fn every_asl_placeholder_names_a_function_crate() {
    let functions = functions();
    let placeholders = placeholders();
    assert!(!placeholders.is_empty());
    for p in &placeholders {
        let krate = p
            .strip_suffix("_function_arn")
            .unwrap_or_else(|| panic!("placeholder `{p}` is not `<crate>_function_arn`"));
        let krate = krate.replace('_', "-");
        assert!(functions.contains(&krate), "placeholder `{p}` has no crate functions/{krate}");
    }
    // And every function is a state, but those EventBridge, CodeDeploy and a function URL invoke.
    for f in functions.iter().filter(|f| !["on-image-push", "validate", "approval-callback"].contains(&f.as_str())) {
        let p = format!("{}_function_arn", f.replace('-', "_"));
        assert!(placeholders.contains(&p), "functions/{f} is not used by the state machine (`${{{p}}}`)");
    }
}

#[test]
fn every_error_the_asl_matches_is_one_a_function_emits() {
    let definition = asl();
    let mut lists = Vec::new();
    walk(&definition, "ErrorEquals", &mut lists);
    // Error names the definition raises itself (Pass states setting `Error`).
    let mut raised = Vec::new();
    walk(&definition, "Error", &mut raised);
    let raised: Vec<&str> = raised.iter().filter_map(|v| v.as_str()).collect();
    assert!(!lists.is_empty());
    for name in lists.iter().flat_map(|l| l.as_array().into_iter().flatten()).filter_map(|v| v.as_str()) {
        let aws = name.starts_with("States.") || name.starts_with("Lambda.");
        assert!(
            aws || greenlight_core::Error::ERROR_TYPES.contains(&name) || raised.contains(&name),
            "ErrorEquals `{name}` is no errorType a function emits (greenlight_core::Error::ERROR_TYPES)"
        );
    }
}

#[test]
fn state_machine_readme_names_every_state_and_function() {
    let readme = read("state-machine/README.md");
    let definition = asl();
    for state in definition["States"].as_object().expect("States").keys() {
        assert!(readme.contains(&format!("`{state}`")), "state-machine/README.md does not describe state `{state}`");
    }
    for f in functions().iter().filter(|f| !["on-image-push", "validate", "approval-callback"].contains(&f.as_str())) {
        assert!(readme.contains(&format!("`{f}`")), "state-machine/README.md does not name function `{f}`");
    }
}

#[test]
fn the_state_machine_raises_exactly_the_names_core_knows() {
    let definition = asl();
    let mut raised = Vec::new();
    walk(&definition, "Error", &mut raised);
    let mut raised: Vec<&str> = raised.iter().filter_map(|v| v.as_str()).collect();
    raised.sort_unstable();
    raised.dedup();
    let mut known = greenlight_core::error::raised::ALL.to_vec();
    known.sort_unstable();
    assert_eq!(raised, known, "the `Error` names deploy.asl.json raises vs greenlight_core::error::raised::ALL");
}

/// Every `.rs` file under `dir`, relative to the root.
fn rust_files(dir: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root().join(dir)];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("dir").filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn no_source_file_grows_past_one_concern() {
    const LIMIT: usize = 500;
    for group in ["crates", "functions"] {
        for path in rust_files(group) {
            let lines = std::fs::read_to_string(&path).expect("source").lines().count();
            assert!(
                lines <= LIMIT,
                "{} has {lines} lines (more than {LIMIT}): split it by concern",
                path.strip_prefix(root()).unwrap_or(&path).display()
            );
        }
    }
}

/// The top-level module of `crates/core/src` a file belongs to (`pipeline/prepare.rs` → `pipeline`).
fn core_module(path: &Path) -> String {
    let rel = path.strip_prefix(root().join("crates/core/src")).expect("under core");
    let first = rel.components().next().expect("a component").as_os_str().to_string_lossy().to_string();
    first.trim_end_matches(".rs").to_string()
}

#[test]
fn core_modules_import_each_other_without_circles() {
    // Edges: module → the modules it names as `crate::<module>`. `fakes` is the tests' support
    // (it implements every port) and `lib` only declares modules.
    let mut edges: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    let names = regex::Regex::new(r"crate::([a-z_]+)").expect("regex");
    for path in rust_files("crates/core/src") {
        let from = core_module(&path);
        if from == "lib" || from == "fakes" {
            continue;
        }
        let text = read(path.strip_prefix(root()).expect("rel").to_str().expect("utf-8"));
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for m in names.captures_iter(code) {
            let to = m[1].to_string();
            if to != from && to != "fakes" {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
        // `use crate::{a, b}` style.
        for group in code.split("use crate::{").skip(1) {
            for to in group.split('}').next().unwrap_or_default().split(',') {
                let to = to.trim().split("::").next().unwrap_or_default().to_string();
                if !to.is_empty() && to != from {
                    edges.entry(from.clone()).or_default().insert(to);
                }
            }
        }
    }
    // Depth-first search for a cycle.
    fn visit(
        m: &str,
        edges: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(i) = path.iter().position(|p| p == m) {
            panic!("crates/core imports in a circle: {} -> {m}", path[i..].join(" -> "));
        }
        path.push(m.to_string());
        for to in edges.get(m).into_iter().flatten() {
            visit(to, edges, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    assert!(edges.contains_key("pipeline"), "the module graph was read");
    let mut done = Default::default();
    for m in edges.keys() {
        visit(m, &edges, &mut Vec::new(), &mut done);
    }
}

#[test]
fn one_tls_stack_one_crypto_provider() {
    // The SDK's transport is greenlight's reqwest client (crates/http): no second HTTP/TLS stack
    // and no second crypto provider may come back through a feature.
    let lock: toml::Table = read("Cargo.lock").parse().expect("Cargo.lock is TOML");
    let packages = lock.get("package").and_then(toml::Value::as_array).expect("packages");
    let names: Vec<(&str, &str)> =
        packages.iter().filter_map(|p| Some((p.get("name")?.as_str()?, p.get("version")?.as_str()?))).collect();
    for banned in ["aws-lc-rs", "aws-lc-sys", "aws-lc-fips-sys"] {
        assert!(
            !names.iter().any(|(n, _)| *n == banned),
            "Cargo.lock has {banned}: a second crypto provider is back (check the `default-https-client` and reqwest `rustls` features)"
        );
    }
    let rustls: Vec<&str> = names.iter().filter(|(n, _)| *n == "rustls").map(|(_, v)| *v).collect();
    assert_eq!(rustls.len(), 1, "one rustls, not {rustls:?}");
}
