//! The orchestrator module's Terraform, parsed (hcl-rs): blocks, attributes, locals as far as
//! they are literal, and what each function's Lambda is given. `tests/infra.rs` holds the module
//! against the code with these; `Pipeline` starts every function with exactly the environment
//! the module gives it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hcl::expr::{Expression, ObjectKey, TraversalOperator};
use hcl::{Block, Body};

use crate::emulator::root;

/// `infra/modules/greenlight`.
pub fn module_dir() -> PathBuf {
    root().join("infra/modules/greenlight")
}

/// Every `.tf` file of a module, as `(file name, text)`.
pub fn module_files(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "tf"))
        .map(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            (name, text)
        })
        .collect();
    files.sort();
    files
}

pub fn parse(files: &[(String, String)]) -> Body {
    let mut body = Body::default();
    for (name, text) in files {
        let parsed = hcl::parse(text).unwrap_or_else(|e| panic!("{name} is not valid HCL: {e}"));
        for structure in parsed {
            body.0.push(structure);
        }
    }
    body
}

pub fn function_crates() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("functions"))
        .expect("functions/")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

pub fn label(block: &Block, i: usize) -> Option<&str> {
    block.labels.get(i).map(|l| l.as_str())
}

pub fn blocks<'a>(body: &'a Body, kind: &'a str, first: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
    body.blocks().filter(move |b| b.identifier.as_str() == kind && label(b, 0) == Some(first))
}

pub fn named_block<'a>(body: &'a Body, kind: &str, first: &str, second: &str) -> Option<&'a Block> {
    body.blocks().find(|b| b.identifier.as_str() == kind && label(b, 0) == Some(first) && label(b, 1) == Some(second))
}

pub fn attribute<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key.as_str() == key).map(|a| &a.expr)
}

pub fn locals(body: &Body) -> BTreeMap<String, Expression> {
    body.blocks()
        .filter(|b| b.identifier.as_str() == "locals")
        .flat_map(|b| b.body.attributes())
        .map(|a| (a.key.to_string(), a.expr.clone()))
        .collect()
}

pub fn key_name(key: &ObjectKey) -> Option<String> {
    match key {
        ObjectKey::Identifier(i) => Some(i.to_string()),
        ObjectKey::Expression(Expression::String(s)) => Some(s.clone()),
        ObjectKey::Expression(Expression::Variable(v)) => Some(v.to_string()),
        _ => None,
    }
}

pub fn field<'a>(object: &'a Expression, name: &str) -> Option<&'a Expression> {
    match object {
        Expression::Object(o) => o.iter().find(|(k, _)| key_name(k).as_deref() == Some(name)).map(|(_, v)| v),
        _ => None,
    }
}

/// Follows `local.a.b["c"]` through the module's locals, as far as they are literal objects.
pub fn resolve<'a>(expr: &'a Expression, locals: &'a BTreeMap<String, Expression>) -> Option<&'a Expression> {
    let Expression::Traversal(t) = expr else { return Some(expr) };
    let Expression::Variable(root) = &t.expr else { return None };
    if root.as_str() != "local" {
        return None;
    }
    let mut ops = t.operators.iter();
    let Some(TraversalOperator::GetAttr(first)) = ops.next() else { return None };
    let mut current = locals.get(first.as_str())?;
    for op in ops {
        let name = match op {
            TraversalOperator::GetAttr(i) => i.to_string(),
            TraversalOperator::Index(Expression::String(s)) => s.clone(),
            _ => return None,
        };
        current = field(current, &name)?;
    }
    Some(current)
}

/// The keys of an environment expression: object literals, `merge(...)` of them and locals.
pub fn env_keys(expr: &Expression, locals: &BTreeMap<String, Expression>) -> BTreeSet<String> {
    match expr {
        Expression::Object(o) => o.iter().filter_map(|(k, _)| key_name(k)).collect(),
        Expression::FuncCall(call) if call.name.name.as_str() == "merge" => {
            call.args.iter().flat_map(|a| env_keys(a, locals)).collect()
        }
        Expression::Traversal(_) => resolve(expr, locals).map(|e| env_keys(e, locals)).unwrap_or_default(),
        _ => BTreeSet::new(),
    }
}

pub fn strings(expr: &Expression) -> Vec<String> {
    match expr {
        Expression::Array(items) => items
            .iter()
            .filter_map(|i| match i {
                Expression::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The names of the environment variables the orchestrator module gives `function`'s Lambda:
/// its entry in `local.functions`, plus what a dedicated `aws_lambda_function` resource adds
/// (request-approval gets the callback URL there).
pub fn function_environment(body: &Body, function: &str) -> BTreeSet<String> {
    let locals = locals(body);
    let entry = locals.get("functions").and_then(|f| field(f, function));
    let mut set = entry.and_then(|e| field(e, "environment")).map(|e| env_keys(e, &locals)).unwrap_or_default();
    if let Some(own) = named_block(body, "resource", "aws_lambda_function", &function.replace('-', "_")) {
        for env in own.body.blocks().filter(|b| b.identifier.as_str() == "environment") {
            if let Some(vars) = attribute(&env.body, "variables") {
                set.extend(env_keys(vars, &locals));
            }
        }
    }
    set
}

/// The orchestrator module as committed.
pub fn orchestrator() -> Body {
    parse(&module_files(&module_dir()))
}

/// The orchestrator module's files with main.tf's first `from` after `anchor` replaced by `to`
/// (`""` anchors at the start); the edit must change main.tf. For tests of what a Terraform
/// mistake does.
pub fn orchestrator_files_edited(anchor: &str, from: &str, to: &str) -> Vec<(String, String)> {
    let mut files = module_files(&module_dir());
    let main = files.iter_mut().find(|(name, _)| name == "main.tf").expect("main.tf");
    let start = main.1.find(anchor).unwrap_or_else(|| panic!("main.tf has no `{anchor}`"));
    let (head, tail) = main.1.split_at(start);
    let mutated = tail.replacen(from, to, 1);
    assert_ne!(mutated, tail, "the mutation must change main.tf after `{anchor}`: it has no `{from}` there");
    main.1 = format!("{head}{mutated}");
    files
}

/// The event pattern of the module's ECR push rule (`aws_cloudwatch_event_rule.push`), as
/// Terraform renders it for services with these repositories: its `jsonencode(...)` evaluated
/// with `local.repositories` computed from `var.services` by the module's own expression.
pub fn push_event_pattern(body: &Body, repositories: &[&str]) -> serde_json::Value {
    use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};

    fn jsonencode(args: FuncArgs) -> Result<hcl::Value, String> {
        serde_json::to_string(&args[0]).map(hcl::Value::String).map_err(|e| e.to_string())
    }
    fn distinct(args: FuncArgs) -> Result<hcl::Value, String> {
        let mut seen = Vec::new();
        for v in args[0].as_array().cloned().unwrap_or_default() {
            if !seen.contains(&v) {
                seen.push(v);
            }
        }
        Ok(hcl::Value::Array(seen))
    }
    let mut ctx = Context::new();
    ctx.declare_func("jsonencode", FuncDef::builder().param(ParamType::Any).build(jsonencode));
    ctx.declare_func("distinct", FuncDef::builder().param(ParamType::Array(Box::new(ParamType::Any))).build(distinct));
    let services: hcl::Map<String, hcl::Value> = repositories
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (format!("service{i}"), hcl::Value::from_iter([("repository".to_string(), hcl::Value::from(*r))]))
        })
        .collect();
    ctx.declare_var("var", hcl::Value::from_iter([("services".to_string(), hcl::Value::Object(services))]));
    let locals = locals(body);
    let repositories = locals
        .get("repositories")
        .expect("local.repositories")
        .evaluate(&ctx)
        .unwrap_or_else(|e| panic!("local.repositories does not evaluate: {e}"));
    ctx.declare_var("local", hcl::Value::from_iter([("repositories".to_string(), repositories)]));
    let rule = named_block(body, "resource", "aws_cloudwatch_event_rule", "push").expect("the ECR push rule");
    let pattern = attribute(&rule.body, "event_pattern").expect("its event_pattern");
    match pattern.evaluate(&ctx).unwrap_or_else(|e| panic!("the push rule's event_pattern does not evaluate: {e}")) {
        hcl::Value::String(json) => serde_json::from_str(&json).expect("the event pattern is JSON"),
        other => panic!("the push rule's event_pattern is not a JSON string: {other:?}"),
    }
}
