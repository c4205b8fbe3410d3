//! The `greenlight` binary's online commands, run as an operator runs them (the standard AWS
//! credential chain, `AWS_ENDPOINT_URL` pointing at the emulation), their output checked field
//! by field against the ledger and what the emulation's listeners serve.

use std::time::{Duration, Instant};

use greenlight_tests::cli::{greenlight, greenlight_at, json, operator, started, stderr, stdout};
use greenlight_tests::emulator::Port;
use greenlight_tests::pipeline::{Pipeline, Setup};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(300);

#[tokio::test]
async fn status_and_history_after_a_deploy_say_what_the_listeners_and_the_ledger_say() {
    let p = Pipeline::start(Setup::default()).await;
    let before = json(&p, &["status", "web", "--output", "json"]);
    assert_eq!(before["production"][0]["digest"], p.digest("v1").as_str(), "{before:#}");
    assert_eq!(before["production"][0]["tag"], "v1", "ECR's tag of a digest greenlight never deployed");
    assert_eq!(before["newest_push"], Value::Null);
    assert_eq!(json(&p, &["history", "web", "--output", "json"]), serde_json::json!([]));

    let execution = started(&p.push("v2").await);
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");

    let status = json(&p, &["status", "web", "--output", "json"]);
    let v2 = p.digest("v2");
    for listener in ["production", "test"] {
        let serving = &status[listener][0];
        assert_eq!(serving["digest"], v2.as_str(), "{listener}: {status:#}");
        assert_eq!(serving["tag"], "v2", "{listener}");
        assert_eq!(serving["weight"], 100);
        assert!(serving["image"].as_str().is_some_and(|i| i.ends_with(&format!("@{v2}"))), "{serving}");
    }
    assert_eq!(p.serving(Port::Production).await.as_deref(), Some(v2.as_str()));
    let record = p.history("web").await.into_iter().next().expect("a ledger record");
    let revision = record.task_definition.as_deref().and_then(|a| a.rsplit(':').next()).expect("revision");
    assert_eq!(status["production"][0]["revision"].to_string(), revision);
    assert_eq!(status["production"][0]["task_definition"], record.task_definition.as_deref().unwrap_or_default());
    assert_eq!(status["deployments"], serde_json::json!([]), "nothing active once it succeeded");
    assert_eq!(status["lock"], Value::Null, "the lock was released");
    assert_eq!(status["newest_push"]["tag"], "v2");
    assert_eq!(status["newest_push"]["digest"], v2.as_str());
    assert!(status["newest_push"]["pushed_at"].as_str().is_some_and(|t| t.starts_with("20")), "{status:#}");
    assert_eq!(status["approval"], Value::Null);

    let text = stdout(&greenlight(&p, &["status"]));
    let short = &v2[..19];
    assert!(text.starts_with("web  (ECS web/web, CodeDeploy web/web)\n"), "{text}");
    assert!(text.contains(&format!("  production   v2 {short}  revision {revision}")), "{text}");
    assert!(text.contains("  deployment   none active\n") && text.contains("  lock         free\n"), "{text}");

    let history = json(&p, &["history", "web", "--output", "json"]);
    let entry = &history[0];
    assert_eq!(history.as_array().map(Vec::len), Some(1));
    assert_eq!(entry["tag"], record.tag.as_str());
    assert_eq!(entry["digest"], record.digest.as_str());
    assert_eq!(entry["execution"], record.execution.as_str());
    assert_eq!(entry["outcome"], "deployed");
    assert_eq!(entry["trigger"], "push");
    assert_eq!(entry["deployment_id"], record.deployment_id.as_deref().unwrap_or_default());
    assert_eq!(entry["validation"], record.validation.as_deref().unwrap_or_default());
    assert_eq!(entry["started_at"], record.timeline.first().map(|t| t.at.as_str()).unwrap_or_default());
    assert_eq!(entry["ended_at"], record.timeline.last().map(|t| t.at.as_str()).unwrap_or_default());
    assert!(entry["duration_seconds"].as_i64().is_some_and(|s| s >= 0), "{entry}");
    let text = stdout(&greenlight(&p, &["history", "web"]));
    let row = text.lines().nth(1).unwrap_or_default();
    assert!(text.starts_with("requested at "), "{text}");
    assert!(
        row.contains(" v2 ") && row.contains(short) && row.contains(" push ") && row.contains(" deployed "),
        "{row}"
    );
}

/// `greenlight status web` once the push's approval was requested.
async fn pending(p: &Pipeline) -> Value {
    let deadline = Instant::now() + LIMIT;
    loop {
        let status = json(p, &["status", "web", "--output", "json"]);
        if status["approval"].is_object() {
            return status;
        }
        assert!(Instant::now() < deadline, "no approval was requested: {status:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn status_while_an_approval_waits_shows_green_on_the_test_listener_and_who_holds_the_lock() {
    let p = Pipeline::start(Setup { approval_timeout: Some(600), ..Setup::default() }).await;
    let execution = started(&p.push("v2").await);
    let status = pending(&p).await;
    assert_eq!(status["production"][0]["digest"], p.digest("v1").as_str(), "{status:#}");
    assert_eq!(status["test"][0]["digest"], p.digest("v2").as_str(), "{status:#}");
    let deployment = &status["deployments"][0];
    let events: Vec<(String, String)> = deployment["lifecycle"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["event"].as_str().unwrap_or_default().into(), e["status"].as_str().unwrap_or_default().into()))
        .collect();
    assert!(events.contains(&("AfterAllowTestTraffic".into(), "Succeeded".into())), "{events:?}");
    assert!(events.contains(&("AllowTraffic".into(), "Pending".into())), "{events:?}");
    let lock = &status["lock"];
    assert_eq!(lock["tag"], "v2");
    assert_eq!(lock["deployment_id"], deployment["id"]);
    assert_eq!(lock["traffic_moving"], false);
    assert_eq!(lock["lease_expired"], false);
    let approval = &status["approval"];
    assert_eq!(approval["id"], lock["approval_id"]);
    assert_eq!(approval["deployment_id"], deployment["id"]);
    assert_eq!(approval["channels"], serde_json::json!(["slack", "sns"]));
    assert_eq!(approval["decided"], Value::Null);
    assert!(approval.get("task_token").is_none(), "the task token never leaves the ledger: {approval}");
    let text = stdout(&greenlight(&p, &["status", "web"]));
    assert!(
        text.contains("  approval     v2 ")
            && text.contains("waiting until")
            && text.contains("asked in slack and sns"),
        "{text}"
    );
    assert!(
        text.contains(&format!("  deployment   {} Ready", deployment["id"].as_str().unwrap_or_default())),
        "{text}"
    );
    p.stop_execution(&execution).await;
}

#[tokio::test]
async fn bad_usage_and_a_missing_service_get_one_clear_line() {
    let p = Pipeline::start(Setup::default()).await;
    let o = greenlight(&p, &["status", "api"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stderr(&o), "greenlight: the manifest /greenlight/manifest has no service `api`; it has: web\n");
    assert!(stdout(&o).is_empty());
    for args in [&["history"][..], &["history", "web", "--limit", "0"], &["status", "--output", "yaml"]] {
        let o = greenlight(&p, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("error: "), "{args:?}: {}", stderr(&o));
    }
    let o = greenlight(&p, &["status", "--name", "other"]);
    assert_eq!(o.status.code(), Some(1));
    let line = stderr(&o);
    assert!(
        line.starts_with("greenlight: reading the manifest /other/manifest: ") && line.lines().count() == 1,
        "{line}"
    );
    // Nothing listens there: the command says so in one line instead of hanging.
    let o = greenlight_at("http://127.0.0.1:9", &["history", "web"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("greenlight: reading the manifest /greenlight/manifest: "), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
}

#[tokio::test]
async fn approve_from_the_cli_decides_once_as_the_caller_with_a_comment() {
    // Blue is kept a while after traffic moves (30 emulated minutes, 18 s), so the lock and its
    // approval are still there for the second decision. The request is posted with the bot
    // token, so that greenlight can show the CLI's decision on it.
    let setup = Setup {
        approval_timeout: Some(600),
        termination_wait_minutes: 30,
        approval_rules: serde_json::json!({"slack_channel": greenlight_tests::pipeline::SLACK_CHANNEL}),
        ..Setup::default()
    };
    let p = Pipeline::start(setup).await;
    let o = greenlight(&p, &["approve", "web"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "greenlight: web has no approval pending\n");

    let execution = started(&p.push("v2").await);
    pending(&p).await;
    let o = greenlight(&p, &["approve", "web", "--comment", "dashboards are green"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let said = stdout(&o);
    let short = &p.digest("v2")[..19];
    let prefix = format!("approved web v2 ({short}) as ");
    assert!(said.starts_with(&prefix) && said.ends_with(": production traffic moves to it next\n"), "{said}");
    let caller = said[prefix.len()..].split(':').take(6).collect::<Vec<_>>().join(":");
    assert!(caller.starts_with("arn:aws:"), "the caller's AWS identity: {said}");

    let again = greenlight(&p, &["reject", "web"]);
    assert_eq!(again.status.code(), Some(1), "{}", stdout(&again));
    let refused = stderr(&again);
    assert!(
        refused.starts_with(&format!("greenlight: web v2 ({short}) was already approved by {caller} via cli at ")),
        "{refused}"
    );

    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await.as_deref(), Some(p.digest("v2").as_str()));
    let record = p.history("web").await.into_iter().next().expect("a ledger record");
    let approver = record.approver.unwrap_or_default();
    assert!(
        approver.starts_with(&format!("{caller} via cli at ")) && approver.ends_with(": \"dashboards are green\""),
        "{approver}"
    );
    // The request's Slack message shows the decision (finish edits it: the CLI has no Slack token).
    let messages = p.slack_messages().await;
    let request = messages.iter().find(|m| m["hook"] == "chat.postMessage").expect("the request in Slack");
    let shown = request["updates"].as_array().and_then(|u| u.last()).map(Value::to_string).unwrap_or_default();
    assert!(shown.contains(&format!("*approved* by {caller}")) && shown.contains("dashboards are green"), "{shown}");
}

#[tokio::test]
async fn a_caller_the_approvers_do_not_list_is_refused_from_the_cli() {
    // The list names one role, which the operator's credentials are not.
    let setup = Setup {
        approval_timeout: Some(600),
        approval_rules: serde_json::json!({"approvers": ["arn:aws:iam::123456789012:role/Releaser"]}),
        ..Setup::default()
    };
    let p = Pipeline::start(setup).await;
    let execution = started(&p.push("v2").await);
    pending(&p).await;
    let o = greenlight(&p, &["approve", "web", "--comment", "looks fine"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let refused = stderr(&o);
    let short = &p.digest("v2")[..19];
    assert!(refused.starts_with(&format!("greenlight: refused for web v2 ({short}): arn:aws:")), "{refused}");
    assert!(refused.contains("is not among the approvers of web; nothing changed"), "{refused}");
    let status = json(&p, &["status", "web", "--output", "json"]);
    assert!(status["approval"]["decided"].is_null(), "nothing decided: {status:#}");
    let refusals = status["approval"]["refusals"].as_array().cloned().unwrap_or_default();
    assert_eq!(refusals.len(), 1, "the refusal is kept: {status:#}");
    assert_eq!(refusals[0]["channel"], "cli");
    assert!(p.ended(&execution).await.is_none(), "still waiting");
    let end = greenlight(&p, &["reject", "web"]);
    assert_eq!(end.status.code(), Some(1), "a reject from an unlisted caller is refused too");
    assert!(stderr(&end).contains("is not among the approvers"), "{}", stderr(&end));
}

#[tokio::test]
async fn reject_from_the_cli_rolls_the_deploy_back() {
    let p = Pipeline::start(Setup { approval_timeout: Some(600), ..Setup::default() }).await;
    let execution = started(&p.push("v2").await);
    pending(&p).await;
    let o = greenlight(&p, &["reject", "web", "--comment", "wrong build", "--output", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let decided: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(decided["tag"], "v2");
    assert_eq!(decided["decided"]["approved"], false);
    assert_eq!(decided["decided"]["channel"], "cli");
    assert_eq!(decided["decided"]["comment"], "wrong build");
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "FAILED", "{end:?}");
    assert_eq!(p.serving(Port::Production).await.as_deref(), Some(p.digest("v1").as_str()));
    let record = p.history("web").await.into_iter().next().expect("a ledger record");
    assert_eq!(record.outcome, Some(greenlight_core::history::Outcome::RolledBack));
    let reason = record.reason.unwrap_or_default();
    let by = decided["decided"]["by"].as_str().unwrap_or_default();
    assert!(reason.contains("rejected") && reason.contains(by), "{reason}");
}

/// `greenlight watch ARGS` started in the background (stdout is a pipe: plain lines).
fn watch(p: &Pipeline, args: &[&str]) -> std::process::Child {
    let args: Vec<&str> = std::iter::once("watch").chain(args.iter().copied()).collect();
    operator(&p.emulator.endpoint, &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start greenlight watch")
}

/// Position of the first line containing `needle`, so the order of what was seen can be checked.
fn line_of(lines: &[&str], needle: &str) -> usize {
    lines.iter().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with {needle:?} in {lines:#?}"))
}

#[tokio::test]
async fn watch_follows_a_deploy_to_its_end_and_exits_with_its_outcome() {
    let p = Pipeline::start(Setup { approval_timeout: Some(600), ..Setup::default() }).await;
    let o = greenlight(&p, &["watch", "web"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "greenlight: web has no deploy recorded to watch\n");

    let execution = started(&p.push("v2").await);
    let watching = watch(&p, &["web", "--every", "1"]);
    pending(&p).await;
    let request = greenlight_tests::approve::slack_requests(&p).await.into_iter().next().expect("a Slack request");
    let value = greenlight_tests::approve::button(&request, "approve").expect("an Approve button");
    let (status, _) = greenlight_tests::approve::click(
        &p,
        &value,
        "alice",
        greenlight_tests::pipeline::SLACK_SIGNING_SECRET,
        greenlight_tests::approve::now(),
    )
    .await;
    assert_eq!(status, 200);
    let out = tokio::task::spawn_blocking(move || watching.wait_with_output()).await.expect("join").expect("watch ran");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let short = &p.digest("v2")[..19];
    // The states in the order they were entered, the lifecycle as CodeDeploy moved, production
    // on v1 until traffic moved, then on v2.
    assert!(line_of(&lines, "state       Prepare") < line_of(&lines, "state       StartDeployment"), "{text}");
    assert!(
        line_of(&lines, "production  serves v1 ") < line_of(&lines, &format!("production  serves v2 {short}")),
        "{text}"
    );
    assert!(line_of(&lines, "AfterAllowTestTraffic Succeeded") < line_of(&lines, "AllowTraffic Succeeded"), "{text}");
    assert!(
        line_of(&lines, "state       RequestApproval") < line_of(&lines, &format!("production  serves v2 {short}")),
        "{text}"
    );
    assert_eq!(lines.last().copied(), Some("SUCCEEDED: web v2 (deployed)"), "{text}");
    let end = p.finish(&execution, LIMIT, || async {}).await;
    assert_eq!(end.status, "SUCCEEDED");

    // Watching an execution by its ARN once it ended shows it all at once; a failed one exits 1.
    let o = greenlight(&p, &["watch", &execution, "--output", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let seen: Vec<Value> = stdout(&o).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(seen.iter().any(|v| v["state"] == "NotifySuccess"), "{seen:?}");
    assert!(seen.iter().any(|v| v["listener"] == "production" && v["digest"] == p.digest("v2").as_str()), "{seen:?}");
}

#[tokio::test]
async fn watch_of_a_rolled_back_deploy_exits_1_with_the_reason() {
    let p = Pipeline::start(Setup::default()).await;
    p.emulator.set_behaviour(&p.digest("v2"), serde_json::json!({"mode": "error"})).await;
    let execution = started(&p.push("v2").await);
    let watching = watch(&p, &[&execution, "--every", "1"]);
    let out = tokio::task::spawn_blocking(move || watching.wait_with_output()).await.expect("join").expect("watch ran");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let line = stderr(&out);
    assert!(line.starts_with("greenlight: FAILED: web v2 (rolled_back): "), "{line}");
    assert!(line.contains("HTTP 500"), "the reason names what failed: {line}");
    assert!(stdout(&out).contains("state       Rollback"), "{}", stdout(&out));
}
