//! Terraform ↔ code: the orchestrator module (infra/modules/greenlight) parsed as HCL and held
//! against the function crates, the state machine and the manifest schema.
//!
//! - every function crate has a Lambda, every Lambda a crate;
//! - every environment variable a function's code reads is set for it, and nothing else;
//! - every placeholder of state-machine/deploy.asl.json is passed to `templatefile`;
//! - each function's policy grants exactly its `aws-calls` and `implied-actions`
//!   (`[package.metadata.greenlight]` in its Cargo.toml), and every listed call is one the
//!   code can make (the end-to-end runs check the other direction: `cargo xtask test` fails on a
//!   call a function made that its list lacks);
//! - the `services` variable's type has the manifest's fields, required ones and defaults.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use greenlight_tests::emulator::root;
use greenlight_tests::hcl::{
    attribute, blocks, field, function_crates, function_environment, key_name, label, locals, module_dir, module_files,
    named_block, orchestrator_files_edited, parse, resolve, strings,
};
use greenlight_tests::pipeline::declared;
use hcl::expr::{Expression, FuncCall};
use hcl::{Block, Body};
use serde_json::Value;

/// The statements of `local.policy_statements["<function>"]`, from which the function's
/// policy document is built: each written out, or a `local.shared_statements.<name>` that
/// several functions have alike.
fn policy_statements<'a>(locals: &'a BTreeMap<String, Expression>, krate: &str) -> Option<Vec<&'a Expression>> {
    let Expression::Array(items) = field(locals.get("policy_statements")?, krate)? else { return None };
    items.iter().map(|item| resolve(item, locals)).collect()
}

/// Every action the function's statements grant.
fn policy_actions(locals: &BTreeMap<String, Expression>, krate: &str) -> Option<BTreeSet<String>> {
    Some(
        policy_statements(locals, krate)?
            .iter()
            .flat_map(|statement| field(statement, "actions").map(strings).unwrap_or_default())
            .collect(),
    )
}

/// Source of a function crate without its tests.
fn function_source(krate: &str) -> String {
    let dir = root().join("functions").join(krate).join("src");
    let mut text = String::new();
    for entry in std::fs::read_dir(&dir).expect("src/").filter_map(Result::ok) {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let file = std::fs::read_to_string(&path).expect("source");
        text.push_str(file.split("#[cfg(test)]").next().unwrap_or_default());
    }
    text
}

/// `GREENLIGHT_*` variables a function's code reads (directly or through greenlight-runtime).
fn env_read_by(krate: &str) -> BTreeSet<String> {
    let source = function_source(krate);
    let mut vars: BTreeSet<String> = regex::Regex::new(r#""(GREENLIGHT_[A-Z_]+)""#)
        .expect("regex")
        .captures_iter(&source)
        .map(|c| c[1].to_string())
        .collect();
    if source.contains("lease_seconds()") {
        vars.insert("GREENLIGHT_LEASE_SECONDS".into());
    }
    if source.contains("fault_point(") {
        vars.insert("GREENLIGHT_FAULT_INJECTION".into());
    }
    // greenlight-http's Slack Web API client, as the functions configure it.
    if source.contains("SlackWebApi::from_env(") {
        vars.insert("GREENLIGHT_SLACK_BOT_TOKEN_SECRET".into());
        vars.insert("GREENLIGHT_SLACK_WEBHOOK_SECRET".into());
        vars.insert("GREENLIGHT_SLACK_API_URL".into());
    }
    vars
}

/// Only the tests set it: it makes a function fail on purpose.
const TEST_ONLY_VARIABLE: &str = "GREENLIGHT_FAULT_INJECTION";

/// Whether a bundle of adapters from `greenlight_aws` the function builds makes `sdk`'s client.
fn built_by_adapters(source: &str, sdk: &str) -> bool {
    let notify = source.contains("NotifyAdapters::new(")
        && ["aws_sdk_codedeploy", "aws_sdk_sns", "aws_sdk_dynamodb"].contains(&sdk)
        && adapter_source("lib.rs").contains(&format!("{sdk}::Client::new"));
    let inspector = source.contains("Inspector::new(")
        && ["aws_sdk_codedeploy", "aws_sdk_elasticloadbalancingv2", "aws_sdk_ecs"].contains(&sdk)
        && adapter_source("inspect.rs").contains(&format!("{sdk}::Client::new"));
    notify || inspector
}

/// IAM service prefix → (aws-sdk crate, adapter file under crates/aws/src).
fn sdk_of(service: &str) -> Option<(&'static str, &'static str)> {
    Some(match service {
        "codedeploy" => ("aws_sdk_codedeploy", "codedeploy.rs"),
        "dynamodb" => ("aws_sdk_dynamodb", "dynamodb"),
        "ecr" => ("aws_sdk_ecr", "ecr.rs"),
        "ecs" => ("aws_sdk_ecs", "ecs.rs"),
        "secretsmanager" => ("aws_sdk_secretsmanager", "secrets.rs"),
        "ses" => ("aws_sdk_sesv2", "ses.rs"),
        "elasticloadbalancing" => ("aws_sdk_elasticloadbalancingv2", "inspect.rs"),
        "sns" => ("aws_sdk_sns", "sns.rs"),
        "ssm" => ("aws_sdk_ssm", "ssm.rs"),
        "states" => ("aws_sdk_sfn", "sfn.rs"),
        _ => return None,
    })
}

/// An adapter's source: `crates/aws/src/<file>`, or every file of the directory `<name>/`.
fn adapter_source(adapter: &str) -> String {
    let path = root().join("crates/aws/src").join(adapter);
    if !path.is_dir() {
        return std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&path).expect("adapter directory").filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    files.iter().map(|f| std::fs::read_to_string(f).expect("adapter source")).collect()
}

fn snake_case(operation: &str) -> String {
    let mut out = String::new();
    for (i, c) in operation.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Problems between the function crates and the module's functions, environment and policies.
fn function_problems(body: &Body) -> Vec<String> {
    let locals = locals(body);
    let mut problems = Vec::new();
    let crates = function_crates();
    let Some(functions) = locals.get("functions") else {
        return vec!["infra/modules/greenlight: no `functions` local".into()];
    };
    let Expression::Object(functions) = functions else {
        return vec!["infra/modules/greenlight: `local.functions` is not an object literal".into()];
    };
    let in_terraform: BTreeSet<String> = functions.iter().filter_map(|(k, _)| key_name(k)).collect();
    for krate in &crates {
        if !in_terraform.contains(krate) {
            problems.push(format!(
                "function crate `{krate}` has no Lambda: add \"{krate}\" to local.functions in infra/modules/greenlight/main.tf"
            ));
        }
    }
    for name in &in_terraform {
        if !crates.contains(name) {
            problems.push(format!("local.functions has `{name}`, but functions/{name} does not exist: remove it"));
        }
    }

    for krate in crates.iter().filter(|k| in_terraform.contains(*k)) {
        let set = function_environment(body, krate);
        let read = env_read_by(krate);
        for var in read.iter().filter(|v| v.as_str() != TEST_ONLY_VARIABLE) {
            if !set.contains(var) {
                problems.push(format!("{krate} reads {var}, which Terraform does not set: add it to its environment"));
            }
        }
        for var in &set {
            if var == TEST_ONLY_VARIABLE {
                problems.push(format!(
                    "{krate}: {var} makes the function fail on purpose; it must not be set in Terraform"
                ));
            } else if !read.contains(var) {
                problems.push(format!("{krate}: Terraform sets {var}, which its code never reads: remove it"));
            }
        }

        // Policy: exactly the declared calls and implied actions.
        let (calls, implied) = declared(krate);
        let wanted: BTreeSet<String> = calls.union(&implied).cloned().collect();
        let Some(granted) = policy_actions(&locals, krate) else {
            problems.push(format!("{krate} has no entry in local.policy_statements"));
            continue;
        };
        for action in wanted.difference(&granted) {
            problems.push(format!(
                "{krate} needs {action} (functions/{krate}/Cargo.toml), but local.policy_statements[\"{krate}\"] does not grant it"
            ));
        }
        for action in granted.difference(&wanted) {
            problems.push(format!(
                "local.policy_statements[\"{krate}\"] grants {action}, which {krate} never needs: remove it (or list it in functions/{krate}/Cargo.toml with the reason)"
            ));
        }
        for statement in policy_statements(&locals, krate).into_iter().flatten() {
            problems.extend(statement_problems(krate, statement));
        }
    }
    problems.extend(policy_document_problems(body));
    problems
}

/// What checkov cannot see in statements built from a local: no wildcard action, and a
/// statement on every resource (`"*"`) only where the actions take none, saying why.
fn statement_problems(krate: &str, statement: &Expression) -> Vec<String> {
    let mut problems = Vec::new();
    let sid = match field(statement, "sid") {
        Some(Expression::String(s)) => s.clone(),
        _ => "?".into(),
    };
    let at = format!("local.policy_statements[\"{krate}\"] statement `{sid}`");
    for action in field(statement, "actions").map(strings).unwrap_or_default() {
        if action.contains('*') {
            problems.push(format!("{at} grants `{action}`: name each action the function calls"));
        }
    }
    let everything = field(statement, "resources").map(strings).is_some_and(|r| r == ["*"]);
    let why = match field(statement, "unscoped") {
        Some(Expression::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    };
    match (everything, why) {
        (true, None) => problems.push(format!(
            "{at} applies to every resource (\"*\"): scope it to the resources it needs, or say in `unscoped` why its actions take no resource ARN"
        )),
        (false, Some(_)) => problems.push(format!("{at} is scoped: remove its `unscoped` reason")),
        _ => {}
    }
    problems
}

/// One document per function, from `local.policy_statements`, and each role's policy is its own.
fn policy_document_problems(body: &Body) -> Vec<String> {
    let mut problems = Vec::new();
    match named_block(body, "data", "aws_iam_policy_document", "function") {
        Some(doc) => {
            let for_each = attribute(&doc.body, "for_each").map(|e| format!("{e}"));
            if for_each.as_deref() != Some("local.policy_statements") {
                problems.push(format!(
                    "data.aws_iam_policy_document.function must have for_each = local.policy_statements, found {for_each:?}"
                ));
            }
        }
        None => problems.push("infra/modules/greenlight has no data \"aws_iam_policy_document\" \"function\"".into()),
    }
    let policy = named_block(body, "resource", "aws_iam_role_policy", "function")
        .and_then(|p| attribute(&p.body, "policy"))
        .map(|e| format!("{e}"));
    if policy.as_deref() != Some("data.aws_iam_policy_document.function[each.key].json") {
        problems.push(format!(
            "aws_iam_role_policy.function must use data.aws_iam_policy_document.function[each.key].json, found {policy:?}"
        ));
    }
    problems
}

#[test]
fn every_function_crate_is_a_lambda_with_its_environment_and_exactly_its_policy() {
    let body = parse(&module_files(&module_dir()));
    let problems = function_problems(&body);
    assert!(problems.is_empty(), "Terraform and the functions disagree:\n  {}", problems.join("\n  "));
}

/// The problems of a mutated copy of the module: in main.tf, the first `from` after `anchor`
/// becomes `to`.
fn problems_with_main_tf_edited(anchor: &str, from: &str, to: &str) -> Vec<String> {
    function_problems(&parse(&orchestrator_files_edited(anchor, from, to)))
}

#[test]
fn a_policy_missing_an_action_the_code_calls_is_caught() {
    // prepare's ledger statement loses DeleteItem, which prepare calls to release the lock when
    // the push is already live.
    let problems = problems_with_main_tf_edited("\"prepare\" = [", ", \"dynamodb:DeleteItem\"", "");
    assert_eq!(
        problems,
        vec![
            "prepare needs dynamodb:DeleteItem (functions/prepare/Cargo.toml), but local.policy_statements[\"prepare\"] does not grant it"
                .to_string()
        ]
    );
}

#[test]
fn a_policy_granting_more_than_the_code_needs_is_caught() {
    let problems = problems_with_main_tf_edited(
        "\"deployment-status\" = [",
        "[\"codedeploy:GetDeployment\"]",
        "[\"codedeploy:GetDeployment\", \"codedeploy:*\"]",
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("grants codedeploy:*, which deployment-status never needs"), "{problems:?}");
    assert!(problems[1].contains("grants `codedeploy:*`: name each action"), "{problems:?}");
}

#[test]
fn a_statement_on_every_resource_must_say_why() {
    let problems = problems_with_main_tf_edited(
        "\"approval-callback\" = [",
        "unscoped  = \"SendTaskSuccess takes a task token, not a resource ARN.\"",
        "",
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("statement `Resume` applies to every resource"), "{problems:?}");
    let widened = problems_with_main_tf_edited(
        "\"finish\" = [",
        "resources = local.deployment_group_arns",
        "resources = [\"*\"]",
    );
    assert!(widened.iter().any(|p| p.contains("statement `Deployments` applies to every resource")), "{widened:?}");
    // A statement several functions share is checked where it is used.
    let shared = problems_with_main_tf_edited(
        "shared_statements = {",
        "resources = [aws_sns_topic.notifications.arn]",
        "resources = [\"*\"]",
    );
    assert!(
        shared.iter().any(|p| p.contains("[\"finish\"] statement `Notify` applies to every resource")),
        "{shared:?}"
    );
}

#[test]
fn an_environment_variable_the_code_reads_but_terraform_does_not_set_is_caught() {
    let problems = problems_with_main_tf_edited("", "GREENLIGHT_STATE_MACHINE_ARN = local.state_machine_arn", "");
    assert_eq!(
        problems,
        vec![
            "on-image-push reads GREENLIGHT_STATE_MACHINE_ARN, which Terraform does not set: add it to its environment"
        ]
    );
}

#[test]
fn every_listed_call_is_one_the_function_code_can_make() {
    let mut problems = Vec::new();
    for krate in function_crates() {
        let (calls, _) = declared(&krate);
        let source = function_source(&krate);
        for call in &calls {
            let (service, operation) = call.split_once(':').expect("service:Operation");
            let Some((sdk, adapter)) = sdk_of(service) else {
                problems.push(format!("{krate}: {call}: no adapter for `{service}` in crates/aws"));
                continue;
            };
            if !source.contains(&format!("{sdk}::Client")) && !built_by_adapters(&source, sdk) {
                problems.push(format!("{krate} lists {call}, but never builds an {sdk} client"));
            }
            let adapter_source = adapter_source(adapter);
            let builder = format!(".{}()", snake_case(operation));
            if !adapter_source.contains(&builder) {
                problems.push(format!("{krate} lists {call}, but crates/aws/src/{adapter} never calls {builder}"));
            }
        }
    }
    assert!(problems.is_empty(), "declared calls the code cannot make:\n  {}", problems.join("\n  "));
}

#[test]
fn every_state_machine_placeholder_is_passed_to_templatefile() {
    let body = parse(&module_files(&module_dir()));
    let machine =
        named_block(&body, "resource", "aws_sfn_state_machine", "deploy").expect("aws_sfn_state_machine.deploy");
    let Some(Expression::FuncCall(call)) = attribute(&machine.body, "definition") else {
        panic!("aws_sfn_state_machine.deploy's definition must be templatefile(\"…/deploy.asl.json\", {{…}})");
    };
    let FuncCall { name, args, .. } = call.as_ref();
    assert_eq!(name.name.as_str(), "templatefile");
    let passed: BTreeSet<String> = match args.get(1) {
        Some(Expression::Object(o)) => o.iter().filter_map(|(k, _)| key_name(k)).collect(),
        _ => panic!("templatefile's second argument must be an object literal"),
    };
    let asl = std::fs::read_to_string(root().join("state-machine/deploy.asl.json")).expect("ASL");
    let placeholders: BTreeSet<String> =
        regex::Regex::new(r"\$\{([a-z_]+)\}").expect("regex").captures_iter(&asl).map(|c| c[1].to_string()).collect();
    assert!(!placeholders.is_empty());
    assert_eq!(passed, placeholders, "templatefile's variables vs the ASL's placeholders");
}

#[test]
fn the_lambda_resources_cover_every_function_once() {
    let body = parse(&module_files(&module_dir()));
    let lambdas: Vec<&Block> = blocks(&body, "resource", "aws_lambda_function").collect();
    assert_eq!(lambdas.len(), 2, "one shared for_each resource and request-approval's own");
    let shared =
        named_block(&body, "resource", "aws_lambda_function", "function").expect("aws_lambda_function.function");
    assert!(attribute(&shared.body, "for_each").is_some());
    let locals = locals(&body);
    // shared_functions = every function except request-approval, which has its own resource.
    let Some(Expression::ForExpr(for_expr)) = locals.get("shared_functions") else {
        panic!("local.shared_functions must be a for expression over local.functions");
    };
    let condition = for_expr.cond_expr.as_ref().map(|c| format!("{c:?}")).unwrap_or_default();
    assert!(condition.contains("request-approval"), "shared_functions must leave out request-approval: {condition}");
    assert!(named_block(&body, "resource", "aws_lambda_function", "request_approval").is_some());
}

// ---------------------------------------------------------------------------------------------
// The `services` variable's type against the manifest's JSON Schema
// ---------------------------------------------------------------------------------------------

/// A Terraform type constraint, as far as the manifest needs.
#[derive(Debug)]
enum TfType {
    Primitive(String),
    List(Box<TfType>),
    Map(Box<TfType>),
    Object(BTreeMap<String, TfAttribute>),
    Any,
}

#[derive(Debug)]
struct TfAttribute {
    ty: TfType,
    optional: bool,
    default: Option<Value>,
}

fn tf_type(expr: &Expression) -> TfType {
    match expr {
        Expression::Variable(v) if v.as_str() == "any" => TfType::Any,
        Expression::Variable(v) => TfType::Primitive(v.to_string()),
        Expression::FuncCall(call) => {
            let arg = call.args.first().expect("type argument");
            match call.name.name.as_str() {
                "list" | "set" => TfType::List(Box::new(tf_type(arg))),
                "map" => TfType::Map(Box::new(tf_type(arg))),
                "object" => {
                    let Expression::Object(o) = arg else { panic!("object() takes an object") };
                    TfType::Object(
                        o.iter().map(|(k, v)| (key_name(k).expect("attribute name"), tf_attribute(v))).collect(),
                    )
                }
                other => panic!("unexpected type function {other}"),
            }
        }
        other => panic!("unexpected type expression {other:?}"),
    }
}

fn tf_attribute(expr: &Expression) -> TfAttribute {
    if let Expression::FuncCall(call) = expr
        && call.name.name.as_str() == "optional"
    {
        let ty = tf_type(&call.args[0]);
        let default = call.args.get(1).map(hcl_value);
        return TfAttribute { ty, optional: true, default };
    }
    TfAttribute { ty: tf_type(expr), optional: false, default: None }
}

fn hcl_value(expr: &Expression) -> Value {
    match expr {
        Expression::Null => Value::Null,
        Expression::Bool(b) => Value::Bool(*b),
        Expression::Number(n) => serde_json::to_value(n).expect("number"),
        Expression::String(s) => Value::String(s.clone()),
        Expression::Array(items) => Value::Array(items.iter().map(hcl_value).collect()),
        Expression::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (key_name(k).expect("key"), hcl_value(v))).collect())
        }
        other => panic!("a default must be a literal, found {other:?}"),
    }
}

/// The value Terraform gives an attribute left out: its default with nested defaults applied,
/// or null.
fn effective_default(attribute: &TfAttribute) -> Value {
    match (&attribute.default, &attribute.ty) {
        (None, _) => Value::Null,
        (Some(Value::Object(given)), TfType::Object(fields)) => Value::Object(
            fields
                .iter()
                .map(|(name, f)| (name.clone(), given.get(name).cloned().unwrap_or_else(|| effective_default(f))))
                .collect(),
        ),
        (Some(v), _) => v.clone(),
    }
}

struct Schema<'a> {
    defs: &'a serde_json::Map<String, Value>,
}

impl<'a> Schema<'a> {
    fn deref(&self, node: &'a Value) -> &'a Value {
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            let name = r.trim_start_matches("#/$defs/");
            return self.deref(&self.defs[name]);
        }
        if let Some(any) = node.get("anyOf").and_then(Value::as_array)
            && let Some(non_null) = any.iter().find(|v| v.get("type") != Some(&Value::String("null".into())))
        {
            return self.deref(non_null);
        }
        node
    }

    fn compare(&self, path: &str, tf: &TfType, schema: &'a Value, problems: &mut Vec<String>) {
        let schema = self.deref(schema);
        match tf {
            TfType::Any => {}
            TfType::Primitive(p) => {
                let types: Vec<&str> = match schema.get("type") {
                    Some(Value::String(t)) => vec![t.as_str()],
                    Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
                    _ => vec!["string"], // enums and consts of strings
                };
                let expected = match p.as_str() {
                    "string" => &["string"][..],
                    "number" => &["integer", "number"][..],
                    "bool" => &["boolean"][..],
                    other => panic!("{path}: unexpected primitive {other}"),
                };
                if !types.iter().any(|t| expected.contains(t)) {
                    problems.push(format!("{path}: Terraform says {p}, the manifest says {types:?}"));
                }
            }
            TfType::List(inner) => match schema.get("items") {
                Some(items) => self.compare(&format!("{path}[]"), inner, items, problems),
                None => problems.push(format!("{path}: Terraform says list, the manifest does not")),
            },
            TfType::Map(_) => {
                if !schema_types(schema).contains(&"object") {
                    problems.push(format!("{path}: Terraform says map, the manifest does not"));
                }
            }
            TfType::Object(fields) => {
                let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                    problems.push(format!("{path}: Terraform says object, the manifest has no properties"));
                    return;
                };
                let required: BTreeSet<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                for name in props.keys() {
                    // The entry name is the services map's key; $schema is for editors only.
                    let implicit = (path == "services" && name == "name") || name == "$schema";
                    if !implicit && !fields.contains_key(name) {
                        problems.push(format!("{path}.{name}: in the manifest, missing from the Terraform type"));
                    }
                }
                for (name, attribute) in fields {
                    let here = format!("{path}.{name}");
                    let Some(prop) = props.get(name) else {
                        problems.push(format!("{here}: in the Terraform type, not in the manifest"));
                        continue;
                    };
                    if attribute.optional == required.contains(name.as_str()) {
                        problems.push(format!(
                            "{here}: the manifest says {}, Terraform says {}",
                            if required.contains(name.as_str()) { "required" } else { "optional" },
                            if attribute.optional { "optional" } else { "required" }
                        ));
                    }
                    if attribute.optional {
                        let wanted = prop.get("default").cloned().unwrap_or(Value::Null);
                        let got = effective_default(attribute);
                        if !same(&got, &wanted) {
                            problems.push(format!("{here}: Terraform's default {got} is not the manifest's {wanted}"));
                        }
                    }
                    self.compare(&here, &attribute.ty, prop, problems);
                }
            }
        }
    }
}

fn schema_types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// JSON equality with numbers compared by value (HCL's 1 vs the schema's 1.0).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn the_services_variable_has_the_manifests_fields_and_defaults() {
    let body = parse(&module_files(&module_dir()));
    let variable = body
        .blocks()
        .find(|b| b.identifier.as_str() == "variable" && label(b, 0) == Some("services"))
        .expect("variable \"services\"");
    let ty = tf_type(attribute(&variable.body, "type").expect("services has a type"));
    let TfType::Map(service) = ty else { panic!("services must be map(object({{…}})) keyed by entry name") };

    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("schema/manifest.schema.json")).expect("schema"))
            .expect("JSON");
    let defs = schema["$defs"].as_object().expect("$defs");
    let schema = Schema { defs };
    let mut problems = Vec::new();
    schema.compare("services", &service, &defs["Service"], &mut problems);
    assert!(problems.is_empty(), "the services variable and the manifest disagree:\n  {}", problems.join("\n  "));
}

#[test]
fn every_checkov_skip_says_why() {
    let pattern = regex::Regex::new(r"#checkov:skip=([A-Z0-9_]+)(?::(.*))?").expect("regex");
    let mut problems = Vec::new();
    let mut skips = 0;
    for dir in ["infra/modules/greenlight", "infra/modules/ecs-service", "infra/examples/complete"] {
        for (name, text) in module_files(&root().join(dir)) {
            for (i, line) in text.lines().enumerate() {
                if let Some(c) = pattern.captures(line) {
                    skips += 1;
                    let reason = c.get(2).map(|m| m.as_str().trim()).unwrap_or_default();
                    if reason.split_whitespace().count() < 5 {
                        problems.push(format!("{dir}/{name}:{}: skip of {} needs a written reason", i + 1, &c[1]));
                    }
                }
            }
        }
    }
    assert!(skips > 0, "the pattern must find the module's skips");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `variable "x"` / `output "x"` names of a module, in file order.
fn declared_names(dir: &Path, kind: &str) -> Vec<String> {
    parse(&module_files(dir))
        .blocks()
        .filter(|b| b.identifier.as_str() == kind)
        .filter_map(|b| label(b, 0).map(str::to_string))
        .collect()
}

#[test]
fn every_module_readme_lists_its_inputs_and_outputs() {
    let row = regex::Regex::new(r"(?m)^\| `([a-z0-9_]+)` \|").expect("regex");
    let mut problems = Vec::new();
    for dir in ["infra/modules/greenlight", "infra/modules/ecs-service", "infra/examples/complete"] {
        let path = root().join(dir);
        let readme =
            std::fs::read_to_string(path.join("README.md")).unwrap_or_else(|_| format!("{dir} has no README.md"));
        let listed: BTreeSet<String> = row.captures_iter(&readme).map(|c| c[1].to_string()).collect();
        for kind in ["variable", "output"] {
            let names = declared_names(&path, kind);
            for name in &names {
                if !listed.contains(name) {
                    problems.push(format!("{dir}/README.md does not list {kind} `{name}`"));
                }
            }
        }
        let all: BTreeSet<String> =
            declared_names(&path, "variable").into_iter().chain(declared_names(&path, "output")).collect();
        for name in listed.difference(&all) {
            problems.push(format!("{dir}/README.md lists `{name}`, which the module does not declare"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What Terraform makes of a value of this type: optional attributes left out take their
/// default (with the default's own nested defaults) or null.
fn with_defaults(ty: &TfType, value: &Value) -> Value {
    match (ty, value) {
        (TfType::Object(fields), Value::Object(given)) => Value::Object(
            fields
                .iter()
                .map(|(name, attribute)| {
                    let v = match (given.get(name), &attribute.default) {
                        (Some(v), _) => with_defaults(&attribute.ty, v),
                        (None, Some(default)) => with_defaults(&attribute.ty, default),
                        (None, None) if attribute.optional => Value::Null,
                        (None, None) => panic!("required attribute `{name}` missing from the test's services value"),
                    };
                    (name.clone(), v)
                })
                .collect(),
        ),
        (TfType::List(inner), Value::Array(items)) => {
            Value::Array(items.iter().map(|i| with_defaults(inner, i)).collect())
        }
        _ => value.clone(),
    }
}

fn services_type() -> TfType {
    let body = parse(&module_files(&module_dir()));
    let variable = body
        .blocks()
        .find(|b| b.identifier.as_str() == "variable" && label(b, 0) == Some("services"))
        .expect("variable \"services\"");
    match tf_type(attribute(&variable.body, "type").expect("services has a type")) {
        TfType::Map(service) => *service,
        other => panic!("services must be map(object({{…}})), found {other:?}"),
    }
}

#[test]
fn the_manifest_terraform_renders_is_the_one_greenlight_reads() {
    // A services value as a module user writes it: only what differs from the defaults.
    let services = serde_json::json!({
        "web": {
            "cluster": "apps",
            "service": "web",
            "repository": "team/web",
            "containers": ["app"],
            "tags": {"include": ["v*"]},
            "codedeploy": {"application": "web", "deployment_group": "web"},
            "load_balancer": {"container": "app"},
            "network_configuration": {"subnets": ["subnet-1"]},
            "validation": {
                "test_listener_url": "https://web.example.com:8080",
                "checks": [
                    {"name": "health", "path": "/health"},
                    {"name": "version", "path": "/version", "consecutive_successes": 3,
                     "expect": {"body_contains": "${image_digest}", "json": [{"pointer": "/ok", "equals": true}]}}
                ]
            },
            "approval": {"timeout_seconds": 600, "channels": ["sns"]},
            "concurrency": {"policy": "queue"}
        },
        "worker": {
            "cluster": "apps",
            "service": "worker",
            "repository": "team/worker",
            "containers": ["worker"],
            "codedeploy": {"application": "worker", "deployment_group": "worker"},
            "load_balancer": {"container": "worker", "port": 9000},
            "validation": {"enabled": false},
            "approval": {"required": false}
        }
    });
    let ty = services_type();
    // local.manifest: jsonencode({version = 1, services = [for name, s in var.services : merge(s, {name = name})]})
    let render = |with_terraform_defaults: bool| -> String {
        let list: Vec<Value> = services
            .as_object()
            .expect("object")
            .iter()
            .map(|(name, s)| {
                let mut s = if with_terraform_defaults { with_defaults(&ty, s) } else { s.clone() };
                s["name"] = Value::String(name.clone());
                s
            })
            .collect();
        serde_json::json!({"version": 1, "services": list}).to_string()
    };
    let rendered = render(true);
    let manifest = greenlight_core::manifest::Manifest::parse(&rendered)
        .unwrap_or_else(|e| panic!("greenlight rejects the manifest Terraform renders: {e}\n{rendered}"));
    let written =
        greenlight_core::manifest::Manifest::parse(&render(false)).expect("the same manifest written by hand");
    assert_eq!(manifest, written, "Terraform's defaults must be the manifest's");
    assert_eq!(manifest.services.len(), 2);
}

/// The state machine's CloudWatch logging leaves execution data out: it carries the approval's
/// task token (request-approval's input), which no log may hold.
#[test]
fn the_state_machine_logs_no_execution_data() {
    let body = greenlight_tests::hcl::orchestrator();
    let machine = named_block(&body, "resource", "aws_sfn_state_machine", "deploy").expect("the state machine");
    let logging =
        machine.body.blocks().find(|b| b.identifier.as_str() == "logging_configuration").expect("its logging");
    assert_eq!(
        attribute(&logging.body, "include_execution_data"),
        Some(&Expression::Bool(false)),
        "include_execution_data must be false"
    );
}
