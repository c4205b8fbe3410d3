//! Test support for the whole pipeline: an emulation with a seeded service, greenlight's
//! function binaries running behind the Lambda Runtime API, and the deploy state machine
//! created from `state-machine/deploy.asl.json` with the function ARNs filled in.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use greenlight_core::pipeline::PushOutcome;
use serde_json::{Value, json};

use crate::emulator::{Emulator, Options, Port, root};

/// greenlight's function crates, in the order a deploy uses them.
pub const FUNCTIONS: &[&str] = &[
    "on-image-push",
    "prepare",
    "start-deployment",
    "deployment-status",
    "finish",
    "rollback",
    "validate",
    "request-approval",
    "approval-callback",
];
/// The Slack app's signing secret and the link key the emulated secrets hold.
pub const SLACK_SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const LINK_KEY: &str = "greenlight-test-link-key";
/// The Slack app's bot token, which reads the fake Slack's user groups.
pub const SLACK_BOT_TOKEN: &str = "xoxb-greenlight-test";
/// The Slack channel the fake Slack's bot is in (`approval.slack_channel`).
pub const SLACK_CHANNEL: &str = "C0DEPLOYS1";
/// The approval emails' sender (the orchestrator's `approval_email_from`), verified in SES.
pub const EMAIL_FROM: &str = "approvals@greenlight.example";
pub const STATE_MACHINE: &str = "greenlight-deploy";
pub const VALIDATE_FUNCTION: &str = "greenlight-validate";
pub const MANIFEST_PARAMETER: &str = "/greenlight/manifest";
/// The orchestrator module's ECR push rule, as `name = "greenlight"` names it.
pub const PUSH_RULE: &str = "greenlight-ecr-push";
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";

/// A debug build of one of the workspace's binaries (`cargo xtask test` builds them first), or
/// with `GREENLIGHT_PACKAGED_FUNCTIONS=<dir>` a function's packaged `<dir>/<name>/bootstrap`
/// (what `cargo xtask package` ships; the benchmark runs those).
pub fn binary(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("GREENLIGHT_PACKAGED_FUNCTIONS")
        && FUNCTIONS.contains(&name)
    {
        let path = PathBuf::from(dir).join(name).join("bootstrap");
        assert!(path.is_file(), "{} is missing: run `cargo xtask package` first", path.display());
        return path;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let path = target.join("debug").join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the functions first (`cargo build --bins`, or run `cargo xtask test`)",
        path.display()
    );
    path
}

/// `[package.metadata.greenlight]` of a function crate: (aws-calls, implied-actions).
pub fn declared(krate: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let path = root().join("functions").join(krate).join("Cargo.toml");
    let manifest: toml::Table = std::fs::read_to_string(&path).expect("Cargo.toml").parse().expect("TOML");
    let meta = manifest
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("greenlight"))
        .unwrap_or_else(|| panic!("{} has no [package.metadata.greenlight]", path.display()));
    let list = |key: &str| -> BTreeSet<String> {
        meta.get(key)
            .and_then(|v| v.as_array())
            .unwrap_or_else(|| panic!("{}: [package.metadata.greenlight] needs `{key}`", path.display()))
            .iter()
            .map(|v| v.as_str().expect("action names are strings").to_string())
            .collect()
    };
    (list("aws-calls"), list("implied-actions"))
}

pub fn function_name(krate: &str) -> String {
    format!("greenlight-{krate}")
}

pub fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

/// The state machine definition with every `${<crate>_function_arn}` placeholder filled in.
pub fn definition() -> String {
    let mut asl =
        std::fs::read_to_string(root().join("state-machine/deploy.asl.json")).expect("state-machine/deploy.asl.json");
    for krate in FUNCTIONS {
        let placeholder = format!("${{{}_function_arn}}", krate.replace('-', "_"));
        asl = asl.replace(&placeholder, &function_arn(&function_name(krate)));
    }
    asl
}

/// Which function CodeDeploy's validation hook runs.
#[derive(Debug, Clone)]
pub enum Hook {
    /// Validation off in the manifest: no hook.
    Off,
    /// greenlight's validate function with these manifest checks.
    Validate { checks: Value, deadline_seconds: u32, fault_injection: Option<&'static str> },
    /// The test hook in the validate function's place, behaving as `succeed`, `fail` or
    /// `silent`.
    Stub(&'static str),
}

impl Hook {
    /// The validate function with one check: `/version` reports green's digest.
    pub fn version_check() -> Self {
        Self::Validate {
            checks: json!([{"name": "version", "path": "/version", "expect": {"json": [{"pointer": "/digest", "equals": "${image_digest}"}]}}]),
            deadline_seconds: 30,
            fault_injection: None,
        }
    }
}

/// The image tags seeded for each service; `v1` runs at the start.
pub const TAGS: &[&str] = &["v1", "v2", "v3", "v4", "v5", "v6", "v7"];

/// A service beside `web`: validation off, not behind the emulation's load balancer.
#[derive(Debug, Clone)]
pub struct ExtraService {
    pub name: String,
    /// Its manifest requires approval (and its deployment group waits in Ready).
    pub approval: bool,
}

impl ExtraService {
    pub fn new(name: &str) -> Self {
        Self { name: name.into(), approval: false }
    }
}

/// How the pipeline's service is set up.
#[derive(Debug, Clone)]
pub struct Setup {
    pub options: Options,
    pub hook: Hook,
    /// `Some(seconds)`: the service requires approval, in Slack and by email, within that time.
    pub approval_timeout: Option<u32>,
    /// More of web's `approval` settings (`approvers`, `required_approvals`), merged in.
    pub approval_rules: Value,
    /// The fake Slack's user groups: id → member user ids.
    pub slack_groups: Value,
    /// The manifest's `concurrency.policy`: `supersede` or `queue`.
    pub concurrency: &'static str,
    /// `GREENLIGHT_LEASE_SECONDS` of every function.
    pub lease_seconds: u32,
    /// `GREENLIGHT_FAULT_INJECTION=fail:<function>` for every function.
    pub fail: Option<&'static str>,
    /// Services beside `web` in the same manifest (validation off, no data plane).
    pub extra_services: Vec<ExtraService>,
    /// The image tags seeded for every service; the first runs at the start.
    pub tags: Vec<String>,
    /// How long CodeDeploy keeps blue after traffic moved (emulated minutes, scaled): the
    /// benchmark's long deployments.
    pub termination_wait_minutes: u32,
    /// `GREENLIGHT_WAIT_SECONDS`: how often deployment-status looks at the deployment.
    pub wait_seconds: u32,
    /// Lambda timeouts by function crate (the emulation's default for the rest).
    pub function_timeouts: Vec<(&'static str, f64)>,
    /// `(from, to)`: the functions get the environment of a copy of the orchestrator module in
    /// which main.tf's first `from` reads `to` (tests of what a Terraform mistake does).
    pub orchestrator_edit: Option<(&'static str, &'static str)>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            options: Options::default(),
            hook: Hook::version_check(),
            approval_timeout: None,
            approval_rules: json!({}),
            slack_groups: json!({}),
            concurrency: "supersede",
            lease_seconds: 900,
            fail: None,
            extra_services: Vec::new(),
            tags: TAGS.iter().map(|t| (*t).to_string()).collect(),
            termination_wait_minutes: 0,
            orchestrator_edit: None,
            wait_seconds: 1,
            function_timeouts: Vec::new(),
        }
    }
}

#[derive(Debug)]
pub struct Pipeline {
    pub emulator: Emulator,
    pub seeded: Value,
    /// The extra services' digests, by service, then by tag.
    pub other_digests: BTreeMap<String, BTreeMap<String, String>>,
    pub config: aws_config::SdkConfig,
    pub state_machine_arn: String,
    /// The environment each function process gets, by function: exactly the variables the
    /// orchestrator module (`infra/modules/greenlight`) sets for its Lambda, pointed at the
    /// emulation, plus the test hook and `RUST_LOG`; beside what Lambda itself sets.
    pub function_env: BTreeMap<String, Vec<(String, String)>>,
}

/// Puts a new image `<repository>:<tag>` into the emulation's ECR as a push does (PutImage with
/// a manifest of one layer of its own, so a digest of its own; ECR's push event follows) and
/// sets how its containers behave. Its digest.
pub async fn push_image(
    emulator: &Emulator,
    config: &aws_config::SdkConfig,
    repository: &str,
    tag: &str,
    behaviour: Value,
) -> Result<String, String> {
    let layer = |what: &str| format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(what.as_bytes())));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": layer(&format!("{repository}:{tag}:config:pushed")), "size": 1},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": layer(&format!("{repository}:{tag}:pushed")), "size": 1}]
    });
    let ecr = aws_sdk_ecr::Client::new(config);
    let out = ecr
        .put_image()
        .repository_name(repository)
        .image_manifest(manifest.to_string())
        .image_tag(tag)
        .send()
        .await
        .map_err(|e| format!("ECR PutImage {repository}:{tag}: {}", aws_sdk_ecr::error::DisplayErrorContext(e)))?;
    let digest = out.image().and_then(|i| i.image_id()).and_then(|i| i.image_digest()).unwrap_or_default().to_string();
    emulator.set_behaviour(&digest, behaviour).await;
    Ok(digest)
}

impl Pipeline {
    pub async fn start(setup: Setup) -> Self {
        let emulator = Emulator::start_with(setup.options.clone()).unwrap_or_else(|e| panic!("{e}"));
        Self::install(emulator, setup).await
    }

    /// greenlight installed into `emulator` as `infra/modules/greenlight` installs it into an
    /// account: the seeded services, the manifest, the functions with the module's environment,
    /// the state machine.
    pub async fn install(emulator: Emulator, setup: Setup) -> Self {
        let mut manifest = json!({
            "version": 1,
            "services": [{
                "name": "web",
                "cluster": "web",
                "service": "web",
                "repository": "web",
                "containers": ["web"],
                "tags": {"include": ["v*"]},
                "codedeploy": {"application": "web", "deployment_group": "web"},
                "load_balancer": {"container": "web", "port": 8080},
                "validation": match &setup.hook {
                    Hook::Off => json!({"enabled": false}),
                    Hook::Validate { checks, deadline_seconds, .. } => json!({
                        "test_listener_url": emulator.test_url, "checks": checks, "deadline_seconds": deadline_seconds
                    }),
                    Hook::Stub(_) => json!({"test_listener_url": emulator.test_url, "checks": [{"name": "version", "path": "/version"}]}),
                },
                "approval": match setup.approval_timeout {
                    Some(t) => {
                        let mut approval = json!({"required": true, "timeout_seconds": t, "channels": ["slack", "sns"]});
                        for (k, v) in setup.approval_rules.as_object().into_iter().flatten() {
                            approval[k] = v.clone();
                        }
                        approval
                    }
                    None => json!({"required": false}),
                },
                "concurrency": {"policy": setup.concurrency}
            }]
        });
        let mut other_digests = BTreeMap::new();
        let first = setup.tags.first().cloned().unwrap_or_else(|| "v1".into());
        for extra in &setup.extra_services {
            let name = extra.name.as_str();
            manifest["services"].as_array_mut().expect("services").push(json!({
                "name": name, "cluster": name, "service": name, "repository": name, "containers": [name],
                "tags": {"include": ["v*"]},
                "codedeploy": {"application": name, "deployment_group": name},
                "load_balancer": {"container": name, "port": 8080},
                "validation": {"enabled": false},
                "approval": if extra.approval {
                    json!({"required": true, "timeout_seconds": setup.approval_timeout.unwrap_or(3600), "channels": ["slack"]})
                } else {
                    json!({"required": false})
                },
                "concurrency": {"policy": setup.concurrency}
            }));
            let seeded = emulator
                .seed(json!({
                    "service": name, "tags": setup.tags, "live": first, "bind_load_balancer": false,
                    "approval": extra.approval, "ready_wait_minutes": 2880
                }))
                .await;
            let digests = seeded["digests"]
                .as_object()
                .map(|d| d.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
                .unwrap_or_default();
            other_digests.insert(name.to_string(), digests);
        }
        let seeded = emulator
            .seed(json!({
                "service": "web", "tags": setup.tags, "live": first,
                "approval": setup.approval_timeout.is_some(), "ready_wait_minutes": 2880,
                "termination_wait_minutes": setup.termination_wait_minutes,
                "manifest": manifest,
                "email_from": EMAIL_FROM,
                "greenlight_secrets": {
                    "slack-webhook": format!("{}/greenlight-emulator/slack/incoming-webhook", emulator.endpoint),
                    "slack-signing-secret": SLACK_SIGNING_SECRET,
                    "link-key": LINK_KEY,
                    "slack-bot-token": SLACK_BOT_TOKEN
                }
            }))
            .await;
        let secret = |k: &str| seeded["greenlight_secrets"][k].as_str().unwrap_or_default().to_string();
        let (slack_webhook, slack_signing, link_key, slack_bot_token) =
            (secret("slack-webhook"), secret("slack-signing-secret"), secret("link-key"), secret("slack-bot-token"));
        emulator.slack_groups(SLACK_BOT_TOKEN, &setup.slack_groups, &[SLACK_CHANNEL]).await;
        let slack_api = format!("{}/greenlight-emulator/slack-api", emulator.endpoint);
        let callback_url = format!("{}/lambda-url/{}", emulator.endpoint, function_name("approval-callback"));
        let state_machine_arn = format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE}");
        let topic = seeded["topic_arn"].as_str().unwrap_or_default().to_string();
        let table = seeded["table"].as_str().unwrap_or_default().to_string();
        let fail = setup.fail.map(|f| format!("fail:{f}"));
        let fault = match (&setup.hook, &fail) {
            (_, Some(f)) => f.as_str(),
            (Hook::Validate { fault_injection: Some(f), .. }, None) => *f,
            _ => "",
        };
        let lease = setup.lease_seconds.to_string();
        let wait = setup.wait_seconds.to_string();
        // What the harness can give each variable Terraform may set; a function gets exactly the
        // ones the module sets for it, so a variable missing there fails here too.
        let values: BTreeMap<&str, &str> = [
            ("GREENLIGHT_MANIFEST_PARAMETER", MANIFEST_PARAMETER),
            ("GREENLIGHT_MANIFEST_TTL_SECONDS", "60"),
            ("GREENLIGHT_STATE_MACHINE_ARN", &state_machine_arn),
            ("GREENLIGHT_TOPIC_ARN", &topic),
            ("GREENLIGHT_VALIDATE_FUNCTION", VALIDATE_FUNCTION),
            ("GREENLIGHT_WAIT_SECONDS", &wait),
            ("GREENLIGHT_WATCH_SECONDS", "840"),
            ("GREENLIGHT_LEDGER_TABLE", &table),
            ("GREENLIGHT_CALLBACK_URL", &callback_url),
            ("GREENLIGHT_SLACK_WEBHOOK_SECRET", &slack_webhook),
            ("GREENLIGHT_SLACK_SIGNING_SECRET", &slack_signing),
            ("GREENLIGHT_LINK_KEY_SECRET", &link_key),
            ("GREENLIGHT_EMAIL_FROM", EMAIL_FROM),
            ("GREENLIGHT_SLACK_BOT_TOKEN_SECRET", &slack_bot_token),
            ("GREENLIGHT_SLACK_API_URL", &slack_api),
            ("GREENLIGHT_LEASE_SECONDS", &lease),
        ]
        .into_iter()
        .collect();
        let module = match setup.orchestrator_edit {
            None => crate::hcl::orchestrator(),
            Some((from, to)) => crate::hcl::parse(&crate::hcl::orchestrator_files_edited("", from, to)),
        };
        let mut function_env = BTreeMap::new();
        for krate in FUNCTIONS {
            let mut env: Vec<(String, String)> = crate::hcl::function_environment(&module, krate)
                .into_iter()
                .map(|name| {
                    let value = values.get(name.as_str()).unwrap_or_else(|| {
                        panic!("infra/modules/greenlight sets {name} for {krate}, which the test harness has no value for: add it to Pipeline::start")
                    });
                    (name, (*value).to_string())
                })
                .collect();
            env.push(("GREENLIGHT_FAULT_INJECTION".into(), fault.into()));
            env.push(("RUST_LOG".into(), "info".into()));
            let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let bin = binary(krate);
            let timeout = setup
                .function_timeouts
                .iter()
                .find(|(k, _)| k == krate)
                .map_or(crate::emulator::DEFAULT_FUNCTION_TIMEOUT_S, |(_, t)| *t);
            emulator
                .register_function_timed(&function_name(krate), &[bin.to_str().unwrap_or_default()], &pairs, timeout)
                .await;
            function_env.insert((*krate).to_string(), env);
        }
        if let Hook::Stub(behaviour) = setup.hook {
            let hook = binary("test-hook");
            emulator
                .register_function(
                    VALIDATE_FUNCTION,
                    &[hook.to_str().unwrap_or_default()],
                    &[("HOOK_BEHAVIOUR", behaviour)],
                )
                .await;
        }
        let config = emulator.sdk_config().await;
        let sfn = aws_sdk_sfn::Client::new(&config);
        let created = sfn
            .create_state_machine()
            .name(STATE_MACHINE)
            .definition(definition())
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/greenlight-state-machine"))
            .send()
            .await
            .expect("CreateStateMachine");
        assert_eq!(created.state_machine_arn(), state_machine_arn);
        Self { emulator, seeded, other_digests, config, state_machine_arn, function_env }
    }

    /// The orchestrator module's ECR push rule (`aws_cloudwatch_event_rule.push`, with the event
    /// pattern Terraform renders for these services) targeting on-image-push, through
    /// EventBridge's PutRule and PutTargets: from then on an image put into ECR reaches
    /// on-image-push as it does in AWS. `pattern_edit` changes the rendered pattern first (tests
    /// of a wrong one).
    pub async fn install_push_rule(&self, pattern_edit: impl FnOnce(&mut Value)) {
        let mut repositories = vec!["web"];
        repositories.extend(self.other_digests.keys().map(String::as_str));
        let mut pattern = crate::hcl::push_event_pattern(&crate::hcl::orchestrator(), &repositories);
        pattern_edit(&mut pattern);
        let events = aws_sdk_eventbridge::Client::new(&self.config);
        events.put_rule().name(PUSH_RULE).event_pattern(pattern.to_string()).send().await.expect("PutRule");
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("on-image-push")
            .arn(function_arn(&function_name("on-image-push")))
            .build()
            .expect("a target");
        let out = events.put_targets().rule(PUSH_RULE).targets(target).send().await.expect("PutTargets");
        assert_eq!(out.failed_entry_count(), 0, "{out:?}");
    }

    /// Pushes a new image `web:<tag>` to ECR ([`push_image`]) whose containers behave as
    /// `behaviour` says (`{"mode": "healthy"}`, …). Its digest.
    pub async fn push_image(&self, tag: &str, behaviour: Value) -> String {
        push_image(&self.emulator, &self.config, "web", tag, behaviour).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// The approval-callback function URL.
    pub fn callback_url(&self) -> String {
        format!("{}/lambda-url/{}", self.emulator.endpoint, function_name("approval-callback"))
    }

    /// Messages the fake Slack received: `{hook, payload}`.
    pub async fn slack_messages(&self) -> Vec<Value> {
        let url = format!("{}/greenlight-emulator/slack", self.emulator.endpoint);
        self.emulator.get(&url).await.1.as_array().cloned().unwrap_or_default()
    }

    pub fn digest(&self, tag: &str) -> String {
        self.seeded["digests"][tag].as_str().unwrap_or_default().to_string()
    }

    /// The digest of `<service>:<tag>` (`web` or an extra service).
    pub fn digest_of(&self, service: &str, tag: &str) -> String {
        match service {
            "web" => self.digest(tag),
            other => self.other_digests.get(other).and_then(|d| d.get(tag)).cloned().unwrap_or_default(),
        }
    }

    /// The EventBridge event ECR sends when `web:<tag>` is pushed, stamped now.
    pub fn push_event(&self, tag: &str) -> Value {
        self.push_event_of("web", tag, chrono::Utc::now())
    }

    /// The push event of `<repository>:<tag>` at `time`. The seeded images share one digest
    /// per repository and tag (`<repository>:<tag>` layers), so the digest is derived the
    /// same way for every service.
    pub fn push_event_of(&self, repository: &str, tag: &str, time: chrono::DateTime<chrono::Utc>) -> Value {
        let digest = self.digest_of(repository, tag);
        json!({
            "version": "0",
            "id": format!("event-{repository}-{tag}"),
            "detail-type": "ECR Image Action",
            "source": "aws.ecr",
            "account": ACCOUNT,
            "time": time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "region": REGION,
            "resources": [],
            "detail": {
                "result": "SUCCESS",
                "repository-name": repository,
                "image-digest": digest,
                "action-type": "PUSH",
                "image-tag": tag
            }
        })
    }

    /// Who holds the service's lock in the ledger, if anyone.
    pub async fn lock_holder(&self, service: &str) -> Option<Value> {
        let ddb = aws_sdk_dynamodb::Client::new(&self.config);
        let table = self.seeded["table"].as_str().unwrap_or_default();
        let out = ddb
            .get_item()
            .table_name(table)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("service#{service}")))
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("lock".into()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem lock");
        out.item().map(|item| {
            let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let lease_until = item.get("lease_until").and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok());
            let shifting = item.get("shifting").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false);
            json!({"execution": text("execution"), "tag": text("tag"), "digest": text("digest"), "lease_until": lease_until, "shifting": shifting, "deployment_id": item.get("deployment_id").and_then(|v| v.as_s().ok())})
        })
    }

    /// The ledger of deployments of a service, newest push first.
    pub async fn history(&self, service: &str) -> Vec<greenlight_core::history::DeploymentRecord> {
        use greenlight_core::ports::History;
        let table = self.seeded["table"].as_str().unwrap_or_default();
        let ledger = greenlight_aws::DynamoLedger::new(aws_sdk_dynamodb::Client::new(&self.config), table);
        ledger.deployments(service, 50).await.expect("ledger query")
    }

    /// How an execution ended, as the ledger says: the lock is released and the push's item
    /// has this outcome and a reason containing `reason`; its record is returned.
    pub async fn assert_ledger(
        &self,
        service: &str,
        tag: &str,
        outcome: greenlight_core::history::Outcome,
        reason: &str,
    ) -> greenlight_core::history::DeploymentRecord {
        assert!(self.lock_holder(service).await.is_none(), "{service}'s lock is still held");
        let records = self.history(service).await;
        let record = records.into_iter().find(|r| r.tag == tag).expect("the push is in the ledger");
        assert_eq!(record.outcome, Some(outcome), "{record:?}");
        assert!(record.reason.as_deref().unwrap_or_default().contains(reason), "{record:?}");
        record
    }

    /// The image a service's ECS service runs now (its current task definition's first container).
    pub async fn running_image(&self, service: &str) -> String {
        use greenlight_core::ports::TaskDefinitions;
        let ecs = greenlight_aws::EcsTaskDefinitions::new(aws_sdk_ecs::Client::new(&self.config));
        let td = ecs.current(service, service).await.expect("current task definition");
        td.image_of(service).unwrap_or_default().to_string()
    }

    /// Delivers an event to on-image-push (as the EventBridge rule would) through Lambda Invoke.
    pub async fn deliver(&self, event: &Value) -> PushOutcome {
        self.try_deliver(event).await.unwrap_or_else(|e| panic!("on-image-push failed: {e}"))
    }

    /// [`Self::deliver`], with the function's error instead of a panic.
    pub async fn try_deliver(&self, event: &Value) -> Result<PushOutcome, String> {
        let lambda = aws_sdk_lambda::Client::new(&self.config);
        let out = lambda
            .invoke()
            .function_name(function_name("on-image-push"))
            .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
            .send()
            .await
            .map_err(|e| format!("Invoke on-image-push: {e}"))?;
        let payload = out.payload().map(|b| b.as_ref().to_vec()).unwrap_or_default();
        if out.function_error().is_some() {
            return Err(String::from_utf8_lossy(&payload).into_owned());
        }
        serde_json::from_slice(&payload).map_err(|e| format!("on-image-push answered no PushOutcome: {e}"))
    }

    pub async fn push(&self, tag: &str) -> PushOutcome {
        self.deliver(&self.push_event(tag)).await
    }

    /// The ARN of this pipeline's execution called `name`.
    pub fn execution_arn(&self, name: &str) -> String {
        format!("{}:{name}", self.state_machine_arn.replacen(":stateMachine:", ":execution:", 1))
    }

    pub async fn executions(&self) -> Vec<String> {
        let sfn = aws_sdk_sfn::Client::new(&self.config);
        let out =
            sfn.list_executions().state_machine_arn(&self.state_machine_arn).send().await.expect("ListExecutions");
        out.executions().iter().map(|e| e.execution_arn().to_string()).collect()
    }

    /// Someone else's deployment of the running revision in `web`'s group, as from the console:
    /// its AfterAllowTestTraffic hook never reports, so it stays active until it is stopped (or
    /// the scaled hour of hook timeout runs out). Its id.
    pub async fn start_console_deployment(&self) -> String {
        let blocker = binary("test-hook");
        self.emulator
            .register_function(
                "greenlight-blocker",
                &[blocker.to_str().unwrap_or_default()],
                &[("HOOK_BEHAVIOUR", "silent")],
            )
            .await;
        let cd = aws_sdk_codedeploy::Client::new(&self.config);
        let running = self.seeded["task_definition_arn"].as_str().unwrap_or_default();
        let spec = format!(
            r#"{{"version":0.0,"Resources":[{{"TargetService":{{"Type":"AWS::ECS::Service","Properties":{{"TaskDefinition":"{running}","LoadBalancerInfo":{{"ContainerName":"web","ContainerPort":8080}}}}}}}}],"Hooks":[{{"AfterAllowTestTraffic":"greenlight-blocker"}}]}}"#
        );
        cd.create_deployment()
            .application_name("web")
            .deployment_group_name("web")
            .description("redeployed from the console")
            .revision(
                aws_sdk_codedeploy::types::RevisionLocation::builder()
                    .revision_type(aws_sdk_codedeploy::types::RevisionLocationType::AppSpecContent)
                    .app_spec_content(aws_sdk_codedeploy::types::AppSpecContent::builder().content(spec).build())
                    .build(),
            )
            .send()
            .await
            .expect("the console's deployment")
            .deployment_id()
            .unwrap_or_default()
            .to_string()
    }

    /// A deployment's status (`InProgress`, `Succeeded`, `Stopped`…).
    pub async fn deployment_status(&self, id: &str) -> String {
        let cd = aws_sdk_codedeploy::Client::new(&self.config);
        let out = cd.get_deployment().deployment_id(id).send().await.expect("GetDeployment");
        out.deployment_info().and_then(|d| d.status()).map(|s| s.as_str().to_string()).unwrap_or_default()
    }

    /// Stops a deployment with rollback, as its owner would in the console.
    pub async fn stop_deployment(&self, id: &str) {
        self.stop_deployment_with(id, true).await;
    }

    /// StopDeployment as the console's "Stop deployment" (`auto_rollback: false`: traffic stays
    /// where it is) or "Stop and roll back deployment" does.
    pub async fn stop_deployment_with(&self, id: &str, auto_rollback: bool) {
        let cd = aws_sdk_codedeploy::Client::new(&self.config);
        cd.stop_deployment()
            .deployment_id(id)
            .auto_rollback_enabled(auto_rollback)
            .send()
            .await
            .expect("StopDeployment");
    }

    /// Stops an execution as an operator would (StopExecution): no step of it runs again.
    pub async fn stop_execution(&self, execution_arn: &str) {
        let sfn = aws_sdk_sfn::Client::new(&self.config);
        sfn.stop_execution().execution_arn(execution_arn).cause("stopped by hand").send().await.expect("StopExecution");
    }

    /// Replaces the manifest in SSM (`None`: deletes the parameter).
    pub async fn set_manifest(&self, text: Option<&str>) {
        let ssm = aws_sdk_ssm::Client::new(&self.config);
        match text {
            Some(text) => {
                ssm.put_parameter()
                    .name(MANIFEST_PARAMETER)
                    .value(text)
                    .overwrite(true)
                    .send()
                    .await
                    .expect("PutParameter");
            }
            None => {
                ssm.delete_parameter().name(MANIFEST_PARAMETER).send().await.expect("DeleteParameter");
            }
        }
    }

    pub async fn deployments(&self) -> Vec<String> {
        let cd = aws_sdk_codedeploy::Client::new(&self.config);
        let out = cd
            .list_deployments()
            .application_name("web")
            .deployment_group_name("web")
            .send()
            .await
            .expect("ListDeployments");
        out.deployments().to_vec()
    }

    /// How the execution ended, or `None` while it runs.
    pub async fn ended(&self, execution_arn: &str) -> Option<Execution> {
        let sfn = aws_sdk_sfn::Client::new(&self.config);
        let out = sfn.describe_execution().execution_arn(execution_arn).send().await.expect("DescribeExecution");
        let status = out.status().as_str().to_string();
        (status != "RUNNING").then(|| Execution {
            status,
            error: out.error().map(str::to_string),
            cause: out.cause().map(str::to_string),
            output: out.output().and_then(|o| serde_json::from_str(o).ok()),
        })
    }

    /// Waits for the execution to end, calling `each` about every 50 ms meanwhile (to sample the
    /// ports…). Bounded: a stuck execution fails the caller after `limit`.
    pub async fn finish<F, Fut>(&self, execution_arn: &str, limit: Duration, mut each: F) -> Execution
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let deadline = Instant::now() + limit;
        loop {
            each().await;
            if let Some(end) = self.ended(execution_arn).await {
                return end;
            }
            assert!(Instant::now() < deadline, "execution {execution_arn} still RUNNING after {limit:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits up to `limit` for the execution to end; `None` if it still runs then.
    pub async fn finish_within(&self, execution_arn: &str, limit: Duration) -> Option<Execution> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(end) = self.ended(execution_arn).await {
                return Some(end);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The states the execution has entered so far, in order.
    pub async fn states(&self, execution_arn: &str) -> Vec<String> {
        let sfn = aws_sdk_sfn::Client::new(&self.config);
        let Ok(out) = sfn.get_execution_history().execution_arn(execution_arn).max_results(1000).send().await else {
            return Vec::new();
        };
        out.events().iter().filter_map(|e| e.state_entered_event_details().map(|d| d.name().to_string())).collect()
    }

    /// The newest deployment of the service's group and its lifecycle events with their
    /// status, as GetDeploymentTarget reports them.
    pub async fn lifecycle(&self) -> Option<(String, Vec<(String, String)>)> {
        let cd = aws_sdk_codedeploy::Client::new(&self.config);
        let id = self.deployments().await.last()?.clone();
        let target = cd.get_deployment_target().deployment_id(&id).target_id("web:web").send().await.ok()?;
        let events = target
            .deployment_target()?
            .ecs_target()?
            .lifecycle_events()
            .iter()
            .map(|e| {
                (
                    e.lifecycle_event_name().unwrap_or_default().to_string(),
                    e.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                )
            })
            .collect();
        Some((id, events))
    }

    pub async fn serving(&self, port: Port) -> Option<String> {
        self.emulator.serving(port).await
    }
}

/// How an execution ended.
#[derive(Debug, Clone)]
pub struct Execution {
    pub status: String,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub output: Option<Value>,
}
