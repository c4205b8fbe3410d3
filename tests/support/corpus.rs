//! The bad-input corpus (`tests/corpus/*.json`) run against every entry point: ECR events and
//! hook events through Lambda Invoke to the real function processes, approval callbacks through
//! the function URL, manifests, task definitions and command lines through the `greenlight`
//! binary. Each case names the error class it must get; after them, nothing may have been
//! registered, deployed or started, and nothing may have panicked.

use std::path::{Path, PathBuf};
use std::process::Command;

use greenlight_core::approval::{Decision, sign_slack};
use greenlight_core::links::{LinkTarget, sign_link};
use serde_json::{Value, json};

use crate::approve::now;
use crate::emulator::root;
use crate::pipeline::{LINK_KEY, Pipeline, SLACK_SIGNING_SECRET, binary, function_name};

/// The corpus files, one per entry point.
pub const FILES: &[&str] = &[
    "ecr-events.json",
    "hook-events.json",
    "approval-callbacks.json",
    "manifests.json",
    "task-definitions.json",
    "cli.json",
];

/// How one case went.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub entry: String,
    pub name: String,
    pub expected: String,
    pub got: String,
    /// The message or body the class came with.
    pub detail: String,
    /// The class and the `contains` text both as the case says.
    pub ok: bool,
    /// The case is a refusal (not an `accepted` one).
    pub refusal: bool,
}

/// Everything the corpus showed.
#[derive(Debug, Clone, Default)]
pub struct CorpusReport {
    pub cases: Vec<CaseResult>,
    /// Task definitions registered, deployments created, executions started: must be none.
    pub side_effects: Vec<String>,
    pub panics: u32,
}

impl CorpusReport {
    pub fn refused(&self) -> usize {
        self.cases.iter().filter(|c| c.ok && c.refusal).count()
    }

    pub fn failures(&self) -> Vec<&CaseResult> {
        self.cases.iter().filter(|c| !c.ok).collect()
    }
}

fn corpus_dir() -> PathBuf {
    root().join("tests/corpus")
}

fn load(file: &str) -> Value {
    let path = corpus_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The value a `${name}` placeholder stands for.
fn variable(name: &str, base: &Value, digest: &str) -> Option<Value> {
    Some(match name {
        "digest" => json!(digest),
        "long_tag" => json!(format!("v{}", "a".repeat(9_999))),
        "long_id" => json!(format!("d-{}", "x".repeat(3_998))),
        "one_mib" => json!(format!("payload={}", "a".repeat(1 << 20))),
        "service0" => base.pointer("/services/0").cloned()?,
        "fifty_sidecars" => Value::Array(
            (0..50)
                .map(|i| json!({"name": format!("sidecar-{i}"), "image": "public.ecr.aws/sidecar:1", "essential": false}))
                .collect(),
        ),
        _ => return None,
    })
}

/// Replaces `${name}` strings (whole values) and substrings with their values.
fn substitute(v: &mut Value, base: &Value, digest: &str) {
    match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}'))
                && let Some(value) = variable(name, base, digest)
            {
                *v = value;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| substitute(i, base, digest)),
        Value::Object(map) => map.values_mut().for_each(|i| substitute(i, base, digest)),
        _ => {}
    }
}

fn text_with_variables(s: &str, digest: &str) -> String {
    let mut out = s.to_string();
    for name in ["digest", "long_id", "long_tag", "one_mib"] {
        let placeholder = format!("${{{name}}}");
        if out.contains(&placeholder)
            && let Some(Value::String(v)) = variable(name, &Value::Null, digest)
        {
            out = out.replace(&placeholder, &v);
        }
    }
    out
}

/// Sets the value at a JSON pointer, creating the last key (or appending at an array's end).
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    let target = doc.pointer_mut(parent).unwrap_or_else(|| panic!("corpus: no {parent} to set {pointer} in"));
    match target {
        Value::Object(map) => {
            map.insert(key.replace("~1", "/").replace("~0", "~"), value);
        }
        Value::Array(items) => {
            let i: usize = key.parse().unwrap_or_else(|_| panic!("corpus: {pointer}: not an index"));
            if i == items.len() { items.push(value) } else { items[i] = value }
        }
        _ => panic!("corpus: {parent} is neither an object nor an array"),
    }
}

fn remove(doc: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(key);
        }
        Some(Value::Array(items)) => {
            let i: usize = key.parse().unwrap_or_else(|_| panic!("corpus: {pointer}: not an index"));
            items.remove(i);
        }
        _ => panic!("corpus: no {parent} to remove {pointer} from"),
    }
}

/// The bytes of a case: `raw`, `raw_hex` (bytes that are not UTF-8), or the base with `remove` and `set` applied.
fn input(base: &Value, case: &Value, digest: &str) -> Vec<u8> {
    if let Some(raw) = case["raw"].as_str() {
        return raw.as_bytes().to_vec();
    }
    if let Some(bytes) = case["raw_hex"].as_str() {
        return hex::decode(bytes).unwrap_or_else(|e| panic!("corpus: raw_hex {bytes}: {e}"));
    }
    let mut doc = base.clone();
    for p in case["remove"].as_array().into_iter().flatten() {
        remove(&mut doc, p.as_str().unwrap_or_default());
    }
    for (pointer, value) in case["set"].as_object().into_iter().flatten() {
        let mut value = value.clone();
        substitute(&mut value, base, digest);
        set(&mut doc, pointer, value);
    }
    substitute(&mut doc, base, digest);
    doc.to_string().into_bytes()
}

fn result(entry: &str, case: &Value, got: String, detail: String) -> CaseResult {
    let expected = match &case["expect"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let contains = case["contains"].as_str().unwrap_or_default();
    CaseResult {
        entry: entry.into(),
        name: case["name"].as_str().unwrap_or_default().into(),
        ok: got == expected && detail.contains(contains),
        refusal: expected != "accepted",
        expected,
        got,
        detail,
    }
}

/// Runs every case; `p` is a pipeline whose `web` service is seeded.
pub async fn run(p: &Pipeline) -> CorpusReport {
    let mut report = CorpusReport::default();
    let before = registered(p).await;
    let digest = p.digest("v2");
    cli_files();
    for file in FILES {
        let corpus = load(file);
        let entry = corpus["entry"].as_str().unwrap_or_default().to_string();
        let base = corpus["base"].clone();
        for case in corpus["cases"].as_array().into_iter().flatten() {
            let (got, detail) = match entry.as_str() {
                "ecr-event" => invoke(p, "on-image-push", input(&base, case, &digest)).await,
                "hook-event" => invoke(p, "validate", input(&base, case, &digest)).await,
                "approval-callback" => callback(p, case, &digest).await,
                "manifest" => {
                    let file = scratch(&format!("manifest-{}.json", report.cases.len()), &input(&base, case, &digest));
                    cli(&["manifest", "check", &file.to_string_lossy()], &mut report.panics)
                }
                "task-definition" => {
                    let base = load_json(&root().join("crates/core/tests/fixtures/aws/describe-task-definition.json"));
                    let file = scratch(&format!("td-{}.json", report.cases.len()), &input(&base, case, &digest));
                    plan(&file, &mut report.panics)
                }
                "cli" => {
                    let args: Vec<String> = case["args"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| a.as_str().unwrap_or_default().to_string())
                        .collect();
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    cli(&args, &mut report.panics)
                }
                other => panic!("corpus {file}: unknown entry `{other}`"),
            };
            report.cases.push(result(&entry, case, got, detail));
        }
    }
    let after = registered(p).await;
    if after != before {
        report.side_effects.push(format!("task definitions registered: {before:?} -> {after:?}"));
    }
    let deployments = p.deployments().await;
    if !deployments.is_empty() {
        report.side_effects.push(format!("deployments created: {deployments:?}"));
    }
    let executions = p.executions().await;
    if !executions.is_empty() {
        report.side_effects.push(format!("executions started: {executions:?}"));
    }
    report.panics += crate::reliability::panics(p);
    report
}

fn load_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_default()).unwrap_or(Value::Null)
}

async fn registered(p: &Pipeline) -> Vec<String> {
    let ecs = aws_sdk_ecs::Client::new(&p.config);
    let out = ecs.list_task_definitions().family_prefix("web").send().await.expect("ListTaskDefinitions");
    out.task_definition_arns().to_vec()
}

/// Invokes a function with raw bytes; its errorType and message, or what it answered.
async fn invoke(p: &Pipeline, krate: &str, payload: Vec<u8>) -> (String, String) {
    let lambda = aws_sdk_lambda::Client::new(&p.config);
    let sent = lambda
        .invoke()
        .function_name(function_name(krate))
        .payload(aws_sdk_lambda::primitives::Blob::new(payload))
        .send()
        .await;
    // Lambda itself refuses some payloads (one that is not JSON) before any function runs.
    let out = match sent {
        Ok(out) => out,
        Err(e) => {
            use aws_sdk_lambda::error::ProvideErrorMetadata;
            let code = e.code().unwrap_or("no error code").to_string();
            return (format!("Lambda: {code}"), e.message().unwrap_or_default().to_string());
        }
    };
    let body: Value = out.payload().and_then(|b| serde_json::from_slice(b.as_ref()).ok()).unwrap_or(Value::Null);
    if out.function_error().is_some() {
        let class = body["errorType"].as_str().unwrap_or("?").to_string();
        return (class, body["errorMessage"].as_str().unwrap_or_default().to_string());
    }
    let class = if body["ignored"].is_string() {
        "ignored"
    } else if body["executions"].as_array().is_some_and(Vec::is_empty) {
        "no target"
    } else {
        "accepted"
    };
    (class.into(), body.to_string())
}

async fn callback(p: &Pipeline, case: &Value, digest: &str) -> (String, String) {
    let method = case["method"].as_str().unwrap_or("GET");
    let path = text_with_variables(case["path"].as_str().unwrap_or("/"), digest);
    let body = text_with_variables(case["body"].as_str().unwrap_or_default(), digest);
    let mut url = format!("{}{path}", p.callback_url());
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if let (Some(kind), ["links", id, decision]) = (case["link"].as_str(), segments.as_slice()) {
        let decision = Decision::parse(decision).unwrap_or(Decision::Approve);
        let signed_as = if kind == "approve-signature" { Decision::Approve } else { decision };
        let expires = if kind == "expired" { now() - 10 } else { now() + 3_600 };
        let mut sig = sign_link(LINK_KEY.as_bytes(), &LinkTarget { id, decision: signed_as, expires, to: None });
        if kind == "tampered" {
            sig.replace_range(0..1, if sig.starts_with('0') { "1" } else { "0" });
        }
        url = format!("{url}?expires={expires}&sig={sig}");
    }
    let client = greenlight_http::client().expect("an HTTP client");
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut req = client.request(method, &url).body(body.clone());
    if let Some(ct) = case["content_type"].as_str() {
        req = req.header("content-type", ct);
    }
    if let Some(sign) = case["sign"].as_str() {
        let (secret, ts) = match sign {
            "forged" => ("not-the-secret", now()),
            "stale" => (SLACK_SIGNING_SECRET, now() - 600),
            _ => (SLACK_SIGNING_SECRET, now()),
        };
        req = req
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sign_slack(secret.as_bytes(), ts, body.as_bytes()));
    }
    match req.send().await {
        Ok(resp) => (resp.status().as_u16().to_string(), resp.text().await.unwrap_or_default()),
        Err(e) => ("no answer".into(), e.to_string()),
    }
}

/// `target/corpus`: the cases' files, and where the command lines run.
fn scratch_dir() -> PathBuf {
    let dir = root().join("target/corpus");
    std::fs::create_dir_all(&dir).expect("target/corpus");
    dir
}

/// Valid `m.json`, `e.json` and `t.json` beside the command lines, for the ones that need them.
fn cli_files() {
    let fixtures = root().join("crates/core/tests/fixtures");
    for (name, from) in [
        ("m.json", fixtures.join("manifest-api-server.json")),
        ("e.json", fixtures.join("push-api-server-v1.42.0.json")),
        ("t.json", fixtures.join("aws/describe-task-definition.json")),
    ] {
        std::fs::copy(&from, scratch_dir().join(name)).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
}

fn scratch(name: &str, content: &[u8]) -> PathBuf {
    let path = scratch_dir().join(name);
    std::fs::write(&path, content).expect("a corpus file");
    path
}

fn plan(task_definition: &Path, panics: &mut u32) -> (String, String) {
    let fixtures = root().join("crates/core/tests/fixtures");
    let manifest = fixtures.join("manifest-api-server.json");
    let event = fixtures.join("push-api-server-v1.42.0.json");
    let (code, out) = cli(
        &[
            "plan",
            "--manifest",
            &manifest.to_string_lossy(),
            "--event",
            &event.to_string_lossy(),
            "--task-definition",
            &task_definition.to_string_lossy(),
            "--service",
            "api-server",
            "--output",
            "json",
        ],
        panics,
    );
    (if code == "0" { "accepted".into() } else { code }, out)
}

/// Runs the `greenlight` binary in the scratch directory; its exit code and what it printed.
fn cli(args: &[&str], panics: &mut u32) -> (String, String) {
    let out =
        Command::new(binary("greenlight")).args(args).current_dir(scratch_dir()).output().expect("run greenlight");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    *panics += text.matches("panicked at").count() as u32;
    let code = out.status.code().map(|c| c.to_string()).unwrap_or_else(|| "killed".into());
    (code, text)
}
