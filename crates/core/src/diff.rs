//! A readable, path-level diff of two JSON documents (old vs new task definition).
//!
//! Lists of objects that carry a `name` (container definitions, volumes, secrets…) or a `key`
//! (tags) are matched by it, so reordering is not a change and a path reads
//! `containerDefinitions[api].image` or `tags[team]`.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    Added { path: String, value: Value },
    Removed { path: String, value: Value },
    Changed { path: String, old: Value, new: Value },
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Added { path, value } => write!(f, "+ {path}: {value}"),
            Self::Removed { path, value } => write!(f, "- {path}: {value}"),
            Self::Changed { path, old, new } => write!(f, "~ {path}: {old} -> {new}"),
        }
    }
}

/// The changes that turn `old` into `new`, in document order.
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk("", old, new, &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn walk(path: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                match b.get(k) {
                    Some(vb) => walk(&join(path, k), va, vb, out),
                    None => out.push(Change::Removed { path: join(path, k), value: va.clone() }),
                }
            }
            for (k, vb) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                out.push(Change::Added { path: join(path, k), value: vb.clone() });
            }
        }
        (Value::Array(a), Value::Array(b)) if let Some(field) = named(a, b) => {
            let id = |v: &Value| v.get(field).and_then(Value::as_str).unwrap_or_default().to_string();
            for ea in a {
                let name = id(ea);
                match b.iter().find(|eb| id(eb) == name) {
                    Some(eb) => walk(&format!("{path}[{name}]"), ea, eb, out),
                    None => out.push(Change::Removed { path: format!("{path}[{name}]"), value: ea.clone() }),
                }
            }
            for eb in b.iter().filter(|eb| !a.iter().any(|ea| id(ea) == id(eb))) {
                out.push(Change::Added { path: format!("{path}[{}]", id(eb)), value: eb.clone() });
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (ea, eb)) in a.iter().zip(b).enumerate() {
                walk(&format!("{path}[{i}]"), ea, eb, out);
            }
        }
        _ if old == new => {}
        _ => out.push(Change::Changed { path: path.to_string(), old: old.clone(), new: new.clone() }),
    }
}

/// The field two lists of objects are matched by: each object has a distinct string `name`
/// (or else `key`), and the lists are not both empty (an empty list beside a named one is named
/// too: its first variable, secret or tag is an addition).
fn named(a: &[Value], b: &[Value]) -> Option<&'static str> {
    if a.is_empty() && b.is_empty() {
        return None;
    }
    ["name", "key"].into_iter().find(|field| keyed(a, field) && keyed(b, field))
}

fn keyed(list: &[Value], field: &str) -> bool {
    let id = |v: &Value| v.get(field).and_then(Value::as_str).map(str::to_string);
    list.iter().all(|v| id(v).is_some())
        && list.iter().enumerate().all(|(i, v)| list[..i].iter().all(|w| id(w) != id(v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(old: Value, new: Value, expected: &[&str]) {
        let got: Vec<String> = diff(&old, &new).iter().map(ToString::to_string).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn named_lists_match_by_name() {
        check(
            json!({"containerDefinitions": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}),
            json!({"containerDefinitions": [{"name": "b", "image": "y"}, {"name": "a", "image": "z"}]}),
            &["~ containerDefinitions[a].image: \"x\" -> \"z\""],
        );
        check(
            json!({"environment": []}),
            json!({"environment": [{"name": "MODE", "value": "on"}]}),
            &["+ environment[MODE]: {\"name\":\"MODE\",\"value\":\"on\"}"],
        );
        check(
            json!({"tags": [{"key": "team", "value": "a"}]}),
            json!({"tags": [{"key": "base", "value": "x"}, {"key": "team", "value": "b"}]}),
            &["~ tags[team].value: \"a\" -> \"b\"", "+ tags[base]: {\"key\":\"base\",\"value\":\"x\"}"],
        );
    }

    #[test]
    fn added_removed_and_positional() {
        check(
            json!({"cpu": "256", "command": ["a", "b"], "gone": 1}),
            json!({"cpu": "512", "command": ["a", "c"], "new": true}),
            &["~ cpu: \"256\" -> \"512\"", "~ command[1]: \"b\" -> \"c\"", "- gone: 1", "+ new: true"],
        );
        check(json!({"l": [1]}), json!({"l": [1, 2]}), &["~ l: [1] -> [1,2]"]);
        check(json!({"same": {"x": [1]}}), json!({"same": {"x": [1]}}), &[]);
    }
}
