//! The `greenlight` binary as an operator runs it: output, messages and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/tests/fixtures");

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

fn greenlight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_greenlight")).args(args).output().expect("run greenlight")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A scratch directory per test, under cargo's target dir.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write");
    p.to_string_lossy().into_owned()
}

/// Runs and checks the exit code and that stderr (or stdout for code 0) contains `expected`.
fn check(args: &[&str], code: i32, expected: &str) -> Output {
    let o = greenlight(args);
    assert_eq!(o.status.code(), Some(code), "args {args:?}\nstdout: {}\nstderr: {}", stdout(&o), stderr(&o));
    let text = if code == 0 { stdout(&o) } else { stderr(&o) };
    assert!(text.contains(expected), "args {args:?}: {text:?} lacks {expected:?}");
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    o
}

fn init(dir: &Path) -> String {
    let o = greenlight(&[
        "manifest",
        "init",
        "--service",
        "api-server",
        "--cluster",
        "production",
        "--repository",
        "api-server",
        "--container",
        "api-server",
        "--test-listener-url",
        "http://internal-alb:8080",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    write(dir, "m.json", &stdout(&o))
}

/// The fixture push event with repository and tag changed to match the starter manifest.
fn matching_event(dir: &Path) -> String {
    let mut e: Value =
        serde_json::from_str(include_str!("../../core/tests/fixtures/aws/ecr-image-push-event.json")).expect("json");
    e["detail"]["repository-name"] = json!("api-server");
    e["detail"]["image-tag"] = json!("v1.42.0");
    write(dir, "event.json", &e.to_string())
}

#[test]
fn init_check_plan_json() {
    let dir = scratch("init_check_plan_json");
    let m = init(&dir);
    check(&["manifest", "check", &m], 0, "ok");
    let event = matching_event(&dir);
    let td = fixture("aws/describe-task-definition.json");
    let o = check(
        &[
            "plan",
            "--manifest",
            &m,
            "--event",
            &event,
            "--task-definition",
            td.to_str().expect("utf8"),
            "--output",
            "json",
        ],
        0,
        "register_task_definition",
    );
    let plan: Value = serde_json::from_str(&stdout(&o)).expect("plan is JSON");
    let target = &plan["targets"][0];
    let req = &target["register_task_definition"];
    let original: Value =
        serde_json::from_str(include_str!("../../core/tests/fixtures/aws/describe-task-definition.json"))
            .expect("json");

    assert_eq!(
        req["containerDefinitions"][0]["secrets"],
        original["taskDefinition"]["containerDefinitions"][0]["secrets"]
    );
    assert_eq!(
        req["containerDefinitions"][1], original["taskDefinition"]["containerDefinitions"][1],
        "sidecar untouched"
    );
    let mut tags = original["tags"].as_array().cloned().unwrap_or_default();
    tags.push(serde_json::json!({"key": "greenlight:base", "value": original["taskDefinition"]["taskDefinitionArn"]}));
    assert_eq!(
        req["tags"],
        serde_json::Value::Array(tags),
        "the live revision's tags, and which revision it is based on"
    );
    for field in [
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
    ] {
        assert!(req.get(field).is_none(), "read-only {field} in the request");
    }
    assert_eq!(
        req["containerDefinitions"][0]["image"],
        "123456789012.dkr.ecr.us-west-2.amazonaws.com/api-server@sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234"
    );
    assert_eq!(target["appspec"]["version"], json!(0.0));
    assert_eq!(target["appspec"]["Hooks"], json!([{"AfterAllowTestTraffic": "greenlight-validate"}]));
    assert_eq!(
        target["appspec"]["Resources"][0]["TargetService"]["Properties"]["LoadBalancerInfo"]["ContainerPort"],
        3000
    );
}

#[test]
fn unchanged_fixture_event_yields_no_target_and_says_why() {
    let dir = scratch("unchanged_fixture_event");
    let m = init(&dir);
    let td = fixture("aws/describe-task-definition.json");
    let ev = fixture("aws/ecr-image-push-event.json");
    let args = [
        "plan",
        "--manifest",
        &m,
        "--event",
        ev.to_str().expect("utf8"),
        "--task-definition",
        td.to_str().expect("utf8"),
    ];
    check(&args, 0, "no target: this push deploys nothing");
    check(&args, 0, "api-server: deploys repository `api-server`, not `my-repository-name`");

    // Same repository: the `latest` rule is the reason.
    let mut e: Value = serde_json::from_str(&std::fs::read_to_string(&ev).expect("read")).expect("json");
    e["detail"]["repository-name"] = json!("api-server");
    let latest = write(&dir, "latest.json", &e.to_string());
    let args = ["plan", "--manifest", &m, "--event", &latest, "--task-definition", td.to_str().expect("utf8")];
    check(&args, 0, "tag `latest` is never deployed unless tags.include lists \"latest\" explicitly");
}

#[test]
fn plan_text_shows_the_diff() {
    let dir = scratch("plan_text");
    let m = init(&dir);
    let event = matching_event(&dir);
    let td = fixture("aws/describe-task-definition.json");
    check(
        &["plan", "--manifest", &m, "--event", &event, "--task-definition", td.to_str().expect("utf8")],
        0,
        "~ containerDefinitions[api-server].image: \"123456789012.dkr.ecr.us-east-1.amazonaws.com/api-server:v1.41.0\" -> ",
    );
}

#[test]
fn schema_is_the_committed_one() {
    let o = check(&["manifest", "schema"], 0, "\"title\": \"greenlight deploy manifest\"");
    let committed = include_str!("../../../schema/manifest.schema.json");
    assert_eq!(stdout(&o), committed);
}

// Bad input: each gets its own message and exit code, never a panic.

#[test]
fn missing_file_is_named() {
    check(
        &["manifest", "check", "/nonexistent/m.json"],
        2,
        "greenlight: /nonexistent/m.json: cannot read manifest: No such file",
    );
}

#[test]
fn manifest_that_is_not_json() {
    let dir = scratch("manifest_not_json");
    let m = write(&dir, "m.json", "services: []\n");
    let o = check(
        &["manifest", "check", &m],
        2,
        "m.json: (top level): expected value at line 1 column 1; fix the JSON syntax",
    );
    assert_eq!(stderr(&o).lines().count(), 1, "one line");
}

#[test]
fn manifest_of_the_wrong_shape() {
    let dir = scratch("manifest_wrong_shape");
    // A task definition given where the manifest belongs.
    let td = std::fs::read_to_string(fixture("aws/describe-task-definition.json")).expect("read");
    let m = write(&dir, "m.json", &td);
    let o = check(&["manifest", "check", &m], 2, "unknown field `taskDefinition`");
    assert_eq!(stderr(&o).lines().count(), 1, "one line");
}

#[test]
fn manifest_problems_are_all_listed() {
    let dir = scratch("manifest_problems");
    let mut v: Value =
        serde_json::from_str(include_str!("../../core/tests/fixtures/manifest-api-server.json")).expect("json");
    v["services"][0]["containers"] = json!([]);
    v["services"][1]["tags"]["include"] = json!(["v[0-"]);
    let m = write(&dir, "m.json", &v.to_string());
    let o = check(&["manifest", "check", &m], 1, "invalid manifest (2 problems)");
    let err = stderr(&o);
    assert!(err.contains("services[0].containers: is empty"), "{err}");
    assert!(err.contains("services[1].tags.include[0]: `v[0-` is not a valid glob"), "{err}");
}

#[test]
fn event_that_is_not_an_ecr_push() {
    let dir = scratch("event_not_ecr");
    let m = init(&dir);
    let hook = fixture("aws/codedeploy-lifecycle-hook-event.json");
    let td = fixture("aws/describe-task-definition.json");
    check(
        &[
            "plan",
            "--manifest",
            &m,
            "--event",
            hook.to_str().expect("utf8"),
            "--task-definition",
            td.to_str().expect("utf8"),
        ],
        2,
        "codedeploy-lifecycle-hook-event.json: invalid ECR push event: `(top level)` missing field `detail-type`",
    );
}

#[test]
fn event_that_is_not_json() {
    let dir = scratch("event_not_json");
    let m = init(&dir);
    let ev = write(&dir, "event.json", "<xml/>");
    let td = fixture("aws/describe-task-definition.json");
    check(
        &["plan", "--manifest", &m, "--event", &ev, "--task-definition", td.to_str().expect("utf8")],
        2,
        "event.json: invalid ECR push event: `(top level)` expected value at line 1 column 1",
    );
}

#[test]
fn task_definition_of_the_wrong_shape() {
    let dir = scratch("td_wrong_shape");
    let m = init(&dir);
    let event = matching_event(&dir);
    let td = write(&dir, "td.json", r#"{"services": []}"#);
    check(
        &["plan", "--manifest", &m, "--event", &event, "--task-definition", &td],
        2,
        "td.json: invalid task definition: `taskDefinition` is missing; pass the output of `aws ecs describe-task-definition --include TAGS`",
    );
    let td = write(&dir, "td2.json", "{");
    check(
        &["plan", "--manifest", &m, "--event", &event, "--task-definition", &td],
        2,
        "td2.json: invalid task definition: not JSON",
    );
}

#[test]
fn container_missing_from_the_task_definition() {
    let dir = scratch("container_missing");
    let o = greenlight(&[
        "manifest",
        "init",
        "--service",
        "api-server",
        "--cluster",
        "p",
        "--repository",
        "api-server",
        "--container",
        "app",
    ]);
    let m = write(&dir, "m.json", &stdout(&o));
    let event = matching_event(&dir);
    let td = fixture("aws/describe-task-definition.json");
    check(
        &["plan", "--manifest", &m, "--event", &event, "--task-definition", td.to_str().expect("utf8")],
        1,
        "container `app` is not in task definition `api-server-production`; it has: api-server, otel-collector",
    );
}

#[test]
fn unknown_service_selection() {
    let dir = scratch("unknown_service");
    let m = init(&dir);
    let event = matching_event(&dir);
    let td = fixture("aws/describe-task-definition.json");
    check(
        &[
            "plan",
            "--manifest",
            &m,
            "--event",
            &event,
            "--task-definition",
            td.to_str().expect("utf8"),
            "--service",
            "web",
        ],
        1,
        "no service entry named `web`; it has: api-server",
    );
}

#[test]
fn plan_with_a_newer_terraform_revision_shows_its_drift_and_builds_on_it() {
    let dir = scratch("plan_with_a_newer_terraform_revision");
    let m = init(&dir);
    let event = matching_event(&dir);
    let td = fixture("aws/describe-task-definition.json");
    let mut base: Value =
        serde_json::from_str(include_str!("../../core/tests/fixtures/aws/describe-task-definition.json"))
            .expect("json");
    let arn = base["taskDefinition"]["taskDefinitionArn"].as_str().unwrap_or_default().replace(":41", ":42");
    base["taskDefinition"]["taskDefinitionArn"] = json!(arn);
    base["taskDefinition"]["revision"] = json!(42);
    base["taskDefinition"]["cpu"] = json!("2048");
    let base = write(&dir, "base.json", &base.to_string());
    let args =
        ["plan", "--manifest", &m, "--event", &event, "--task-definition", td.to_str().expect("utf8"), "--base", &base];
    let text = stdout(&check(&args, 0, "drift:"));
    assert!(text.contains(&format!("  drift: {arn} sets, beside the live revision:\n")), "{text}");
    assert!(text.contains(r#"    ~ cpu: "512" -> "2048""#), "{text}");
    let mut json_args = args.to_vec();
    json_args.extend(["--output", "json"]);
    let plan: Value = serde_json::from_str(&stdout(&check(&json_args, 0, "drift"))).expect("JSON");
    let target = &plan["targets"][0];
    assert_eq!(target["base_task_definition"], arn.as_str());
    assert_eq!(target["drift"], json!([{"op": "changed", "path": "cpu", "old": "512", "new": "2048"}]));
    assert_eq!(target["register_task_definition"]["cpu"], "2048", "the next revision is based on it");
}

#[test]
fn cli_usage_errors() {
    check(&["plan", "--manifest", "m.json"], 2, "the following required arguments were not provided");
    check(&["manifest", "init", "--service", "x"], 2, "--cluster <CLUSTER>");
    check(&["deploy"], 2, "the following required arguments were not provided");
    check(&["promote"], 2, "unrecognized subcommand 'promote'");
    check(
        &["plan", "--manifest", "m", "--event", "e", "--task-definition", "t", "--output", "yaml"],
        2,
        "invalid value 'yaml' for '--output <OUTPUT>'",
    );
}

#[test]
fn init_rejects_options_that_make_an_invalid_manifest() {
    check(
        &[
            "manifest",
            "init",
            "--service",
            "my service",
            "--cluster",
            "c",
            "--repository",
            "Api",
            "--container",
            "a",
            "--test-listener-url",
            "ftp://x",
        ],
        1,
        "these options would make an invalid manifest (3 problems)",
    );
}
