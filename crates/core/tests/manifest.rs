//! Manifest parsing and validation: every rule, checked by the message it gives.

use greenlight_core::manifest::{Manifest, Starter};
use greenlight_core::{Error, Issue};
use serde_json::{Value, json};

fn valid() -> Value {
    serde_json::from_str(include_str!("fixtures/manifest-api-server.json")).expect("fixture is JSON")
}

fn issues(doc: &str) -> Vec<Issue> {
    match Manifest::parse(doc) {
        Err(Error::InvalidManifest(issues)) => issues,
        Err(e) => panic!("expected InvalidManifest, got {e}"),
        Ok(_) => panic!("expected the manifest to be rejected:\n{doc}"),
    }
}

/// Applies `edit` to the valid fixture and expects exactly these (path, problem fragment,
/// fix fragment) issues.
fn check(edit: impl FnOnce(&mut Value), expected: &[(&str, &str, &str)]) {
    let mut doc = valid();
    edit(&mut doc);
    let got = issues(&doc.to_string());
    assert_eq!(got.len(), expected.len(), "issues: {got:#?}");
    for (issue, (path, problem, fix)) in got.iter().zip(expected) {
        assert_eq!(issue.path, *path, "{issue}");
        assert!(issue.problem.contains(problem), "problem {:?} lacks {problem:?}", issue.problem);
        assert!(issue.fix.contains(fix), "fix {:?} lacks {fix:?}", issue.fix);
    }
}

fn svc(doc: &mut Value, i: usize) -> &mut Value {
    &mut doc["services"][i]
}

#[test]
fn fixture_is_valid_and_round_trips() {
    let m = Manifest::parse(include_str!("fixtures/manifest-api-server.json")).expect("valid");
    assert_eq!(m.services.len(), 3);
    let again = Manifest::parse(&m.to_json_pretty()).expect("round trip");
    assert_eq!(m, again);
    // Defaults are filled in.
    let api = m.service("api-server").expect("present");
    assert!(api.approval.required);
    assert_eq!(api.validation.deadline_seconds, 120);
    assert_eq!(api.validation.checks[0].expect.status, "200-299");
}

#[test]
fn duplicate_service_names() {
    check(
        |d| svc(d, 1)["name"] = json!("api-server"),
        &[("services[1].name", "`api-server` is also the name of services[0]", "unique name")],
    );
}

#[test]
fn same_ecs_service_and_deployment_group_twice() {
    check(
        |d| {
            svc(d, 1)["service"] = json!("api-server");
            svc(d, 1)["codedeploy"]["deployment_group"] = json!("api-server-production");
        },
        &[
            ("services[1].service", "already deployed by services[0]", "one entry"),
            ("services[1].codedeploy.deployment_group", "already used by services[0]", "its own"),
        ],
    );
}

#[test]
fn tag_pattern_that_does_not_compile() {
    check(
        |d| svc(d, 0)["tags"]["include"] = json!(["v*", "release-[0-9"]),
        &[("services[0].tags.include[1]", "`release-[0-9` is not a valid glob", "`v*`")],
    );
    check(
        |d| svc(d, 0)["tags"]["include"] = json!([]),
        &[("services[0].tags.include", "no tag would ever deploy", "[\"*\"]")],
    );
}

#[test]
fn test_listener_url_must_be_http() {
    check(
        |d| svc(d, 0)["validation"]["test_listener_url"] = json!("ftp://alb:8080"),
        &[("services[0].validation.test_listener_url", "uses scheme `ftp`", "http:// or https://")],
    );
    check(
        |d| svc(d, 0)["validation"]["test_listener_url"] = json!("internal alb"),
        &[("services[0].validation.test_listener_url", "is not a URL", "http://")],
    );
    check(
        |d| svc(d, 0)["validation"]["test_listener_url"] = Value::Null,
        &[(
            "services[0].validation.test_listener_url",
            "missing while validation is enabled",
            "validation.enabled to false",
        )],
    );
}

#[test]
fn timeouts_out_of_range() {
    check(
        |d| {
            svc(d, 0)["validation"]["deadline_seconds"] = json!(900);
            svc(d, 0)["approval"] = json!({"timeout_seconds": 10});
            svc(d, 0)["concurrency"] = json!({"policy": "queue", "queue_timeout_seconds": 0});
        },
        &[
            ("services[0].validation.deadline_seconds", "900 is out of range", "from 5 to 840"),
            ("services[0].approval.timeout_seconds", "10 is out of range", "from 60 to 172800"),
            ("services[0].concurrency.queue_timeout_seconds", "0 is out of range", "from 60 to 86400"),
        ],
    );
}

#[test]
fn empty_container_list() {
    check(
        |d| svc(d, 0)["containers"] = json!([]),
        &[("services[0].containers", "is empty", "list the task definition container")],
    );
    check(
        |d| svc(d, 0)["containers"] = json!(["api-server", "api-server"]),
        &[("services[0].containers[1]", "listed twice", "once")],
    );
}

#[test]
fn unknown_field_is_named_with_its_path() {
    check(
        |d| svc(d, 0)["validation"]["checks"][0]["timeout"] = json!(5),
        &[("services[0].validation.checks[0].timeout", "unknown field `timeout`", "fix its spelling")],
    );
    check(|d| d["verison"] = json!(1), &[("verison", "unknown field `verison`", "fix its spelling")]);
}

#[test]
fn missing_field_and_wrong_type() {
    check(
        |d| {
            svc(d, 2).as_object_mut().expect("object").remove("cluster");
        },
        &[("services[2]", "missing field `cluster`", "manifest init")],
    );
    check(
        |d| svc(d, 0)["load_balancer"]["port"] = json!("3000"),
        &[("services[0].load_balancer.port", "invalid type: string \"3000\"", "schema")],
    );
    check(
        |d| svc(d, 0)["load_balancer"]["port"] = json!(70000),
        &[("services[0].load_balancer.port", "invalid value: integer `70000`", "schema")],
    );
}

#[test]
fn unknown_enum_value() {
    check(
        |d| svc(d, 0)["approval"] = json!({"channels": ["pager"]}),
        &[("services[0].approval.channels[0]", "unknown variant `pager`", "one of the values")],
    );
}

#[test]
fn not_json_at_all() {
    let got = issues("{\"version\": 1,");
    assert_eq!(got.len(), 1);
    assert!(got[0].problem.contains("EOF while parsing"), "{}", got[0]);
    assert_eq!(got[0].fix, "fix the JSON syntax");
}

#[test]
fn version_and_empty_services() {
    check(
        |d| {
            d["version"] = json!(2);
            d["services"] = json!([]);
        },
        &[
            ("version", "is 2, but this greenlight reads version 1", "\"version\": 1"),
            ("services", "is empty", "at least one"),
        ],
    );
}

#[test]
fn repository_must_be_a_name_not_a_uri() {
    check(
        |d| svc(d, 2)["repository"] = json!("123456789012.dkr.ecr.us-east-1.amazonaws.com/billing"),
        &[("services[2].repository", "is not an ECR repository name", "not its URI")],
    );
}

#[test]
fn service_name_rules() {
    check(
        |d| svc(d, 2)["name"] = json!("billing service"),
        &[("services[2].name", "`billing service` is not a valid service entry name", "letters, digits")],
    );
}

#[test]
fn check_rules() {
    check(
        |d| {
            svc(d, 0)["validation"]["checks"] = json!([{
                "name": "bad",
                "method": "FETCH",
                "path": "health",
                "expect": {
                    "status": "299-200",
                    "body_regex": "ok(",
                    "body_contains": "${image_version}",
                    "json": [{"pointer": "version", "equals": "${image_tag"}],
                    "max_latency_ms": 9000
                },
                "consecutive_successes": 0,
                "timeout_ms": 50
            }])
        },
        &[
            ("services[0].validation.checks[0].method", "`FETCH` is not a supported HTTP method", "GET"),
            ("services[0].validation.checks[0].path", "does not start with `/`", "`/health`"),
            ("services[0].validation.checks[0].expect.status", "`299-200` is not a status code or range", "200-299"),
            ("services[0].validation.checks[0].expect.body_regex", "does not compile", "regular expression"),
            (
                "services[0].validation.checks[0].expect.body_contains",
                "unknown variable `${image_version}`",
                "${image_tag}",
            ),
            ("services[0].validation.checks[0].expect.json[0].pointer", "is not a JSON pointer", "start it with `/`"),
            ("services[0].validation.checks[0].expect.json[0].equals", "without a closing `}`", "close the variable"),
            ("services[0].validation.checks[0].consecutive_successes", "0 is out of range", "from 1 to 100"),
            ("services[0].validation.checks[0].timeout_ms", "50 is out of range", "from 100 to 60000"),
            (
                "services[0].validation.checks[0].expect.max_latency_ms",
                "9000 ms is outside 1..=50",
                "no longer than timeout_ms",
            ),
        ],
    );
}

#[test]
fn validation_enabled_needs_checks_and_hooks() {
    check(
        |d| {
            svc(d, 0)["validation"]["checks"] = json!([]);
            svc(d, 0)["validation"]["hooks"] = json!([]);
        },
        &[
            ("services[0].validation.hooks", "is empty while validation is enabled", "AfterAllowTestTraffic"),
            ("services[0].validation.checks", "is empty while validation is enabled", "add a check"),
        ],
    );
}

#[test]
fn approval_needs_a_channel() {
    check(
        |d| svc(d, 0)["approval"] = json!({"required": true, "channels": []}),
        &[("services[0].approval.channels", "nobody would be asked", "approval.required to false")],
    );
}

#[test]
fn approvers_name_people_groups_addresses_or_principals() {
    check(
        |d| svc(d, 0)["approval"] = json!({"approvers": ["U012AB3CD", "bob"]}),
        &[("services[0].approval.approvers[1]", "`bob` is not a Slack user id", "type")],
    );
    check(
        |d| {
            svc(d, 0)["approval"] =
                json!({"approvers": ["U012AB3CD", "ops@example.com", "U012AB3CD"], "required_approvals": 3})
        },
        &[
            ("services[0].approval.approvers[2]", "`U012AB3CD` is listed twice", "once"),
            ("services[0].approval.required_approvals", "approvers lists 2", "lower it"),
        ],
    );
    check(
        |d| svc(d, 0)["approval"] = json!({"required_approvals": 0}),
        &[("services[0].approval.required_approvals", "0 is out of range", "from 1 to 10")],
    );
    // A user group may hold any number of people: no count to check against.
    let mut d = valid();
    svc(&mut d, 0)["approval"] = json!({"approvers": ["S0614TZR7"], "required_approvals": 2});
    let m = Manifest::parse(&d.to_string()).expect("valid");
    assert_eq!(m.services[0].approval.required_approvals, 2);
    assert_eq!(m.services[0].approval.approvers[0].as_str(), "S0614TZR7");
}

#[test]
fn a_slack_channel_is_a_channel_id_and_needs_the_slack_channel() {
    check(
        |d| svc(d, 0)["approval"] = json!({"slack_channel": "#deploys"}),
        &[("services[0].approval.slack_channel", "`#deploys` is not a Slack channel id", "not its name")],
    );
    check(
        |d| svc(d, 0)["approval"] = json!({"channels": ["sns"], "slack_channel": "C0DEPLOYS1"}),
        &[("services[0].approval.slack_channel", "`slack` is not among approval.channels", "add \"slack\"")],
    );
    let mut d = valid();
    svc(&mut d, 0)["approval"] = json!({"slack_channel": "G0PRIVATE1"});
    let m = Manifest::parse(&d.to_string()).expect("valid");
    assert_eq!(m.services[0].approval.slack_channel.as_deref(), Some("G0PRIVATE1"));
}

#[test]
fn the_email_channel_needs_an_email_approver() {
    check(
        |d| svc(d, 0)["approval"] = json!({"channels": ["email"], "approvers": ["U0ALICE01"]}),
        &[("services[0].approval.channels", "no email address to send to", "add the approvers' addresses")],
    );
    let mut d = valid();
    svc(&mut d, 0)["approval"] = json!({"channels": ["slack", "email"], "approvers": ["ops@example.com"]});
    let m = Manifest::parse(&d.to_string()).expect("valid");
    use greenlight_core::manifest::Channel;
    assert_eq!(m.services[0].approval.channels, [Channel::Slack, Channel::Email]);
}

#[test]
fn no_approver_list_is_valid_and_warned_about() {
    let mut d = valid();
    let m = Manifest::parse(&d.to_string()).expect("valid");
    let warned: Vec<String> = m.warnings().iter().map(|w| w.path.clone()).collect();
    assert!(warned.contains(&"services[0].approval.approvers".to_string()), "{warned:?}");
    for i in 0..d["services"].as_array().map_or(0, Vec::len) {
        svc(&mut d, i)["approval"]["approvers"] = json!(["U012AB3CD"]);
    }
    assert_eq!(Manifest::parse(&d.to_string()).expect("valid").warnings(), vec![], "listed: nothing to warn about");
}

#[test]
fn gates_and_network_rules() {
    check(
        |d| {
            svc(d, 2)["gates"] = json!({"scan_findings": {"CRITICAL": 0, "SEVERE": 1}});
            svc(d, 2)["network_configuration"] = json!({"subnets": ["private-a"], "security_groups": ["web"]});
            svc(d, 2)["platform_version"] = json!("1.4");
        },
        &[
            ("services[2].platform_version", "`1.4` is not a Fargate platform version", "LATEST"),
            ("services[2].network_configuration.subnets[0]", "does not look like an id (`subnet-…`)", "not a name"),
            ("services[2].network_configuration.security_groups[0]", "(`sg-…`)", "not a name"),
            ("services[2].gates.scan_findings.SEVERE", "not an ECR finding severity", "CRITICAL"),
        ],
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let mut d = valid();
    svc(&mut d, 0)["containers"] = json!([]);
    svc(&mut d, 1)["name"] = json!("api-server");
    svc(&mut d, 2)["tags"] = json!({"include": ["["]});
    let err = Manifest::parse(&d.to_string()).expect_err("invalid");
    let text = err.to_string();
    assert!(text.starts_with("invalid manifest (3 problems):"), "{text}");
    assert_eq!(err.error_type(), "InvalidManifest");
}

#[test]
fn starter_is_valid_and_shows_every_option() {
    let starter = Starter {
        service: "web".into(),
        cluster: "prod".into(),
        repository: "team/web".into(),
        container: "app".into(),
        port: Some(8080),
        test_listener_url: Some("http://internal-alb:8080".into()),
    };
    let text = Manifest::starter(&starter).to_json_pretty();
    let m = Manifest::parse(&text).expect("starter is valid");
    assert!(m.services[0].validation.enabled);
    for key in [
        "\"tags\"",
        "\"exclude\"",
        "\"platform_version\": null",
        "\"network_configuration\": null",
        "\"capacity_provider_strategy\"",
        "\"deadline_seconds\": 120",
        "\"consecutive_successes\": 1",
        "\"on_timeout\": \"rollback\"",
        "\"scan_findings\": null",
        "\"policy\": \"supersede\"",
    ] {
        assert!(text.contains(key), "starter lacks {key}:\n{text}");
    }
    // Without a test listener URL the starter is still valid, with validation off.
    let m = Manifest::starter(&Starter { test_listener_url: None, ..starter });
    assert!(m.validate().is_empty());
    assert!(!m.services[0].validation.enabled);
}

/// The published schema is generated from the types; this fails when they drift apart.
/// `cargo xtask schema` (or `UPDATE_SCHEMA=1 cargo test`) rewrites it.
#[test]
fn committed_schema_matches_the_types() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schema/manifest.schema.json");
    let generated = format!("{}\n", serde_json::to_string_pretty(&Manifest::json_schema()).expect("schema"));
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &generated).expect("write schema");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "schema/manifest.schema.json is stale: run `cargo xtask schema` and commit the result"
    );
}

#[test]
fn schema_rejects_unknown_fields_and_lists_defaults() {
    let schema = Manifest::json_schema();
    assert_eq!(schema["additionalProperties"], json!(false));
    let text = schema.to_string();
    assert!(text.contains("\"default\":\"supersede\""), "defaults in schema");
    assert!(text.contains("AfterAllowTestTraffic"));
}
