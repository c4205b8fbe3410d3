//! Properties of the parsers and the transform over arbitrary input: no input makes a parser
//! panic (every one is refused with an error or read), and the transform keeps every field of
//! the live task definition but the target containers' images. The push order's properties are
//! in `crates/core/src/lock.rs`.

use greenlight_core::event::PushEvent;
use greenlight_core::manifest::Manifest;
use greenlight_core::pipeline::HookEvent;
use greenlight_core::taskdef::{READ_ONLY_FIELDS, Revision, TaskDefinition};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Any JSON value, a few levels deep, with keys that sometimes are the ones the parsers look
/// for (so that arbitrary input reaches past the first check).
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("detail".to_string()),
        Just("detail-type".to_string()),
        Just("source".to_string()),
        Just("image-tag".to_string()),
        Just("image-digest".to_string()),
        Just("services".to_string()),
        Just("version".to_string()),
        Just("name".to_string()),
        Just("taskDefinition".to_string()),
        Just("containerDefinitions".to_string()),
        Just("DeploymentId".to_string()),
        "[a-zA-Z-]{0,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        Just(json!("aws.ecr")),
        Just(json!("ECR Image Action")),
        Just(json!("PUSH")),
        Just(json!("sha256:0123abcd")),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_string_makes_a_parser_panic(text in ".{0,200}") {
        let _ = PushEvent::parse(&text);
        let _ = Manifest::parse(&text);
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            let _ = TaskDefinition::from_json(v.clone());
            let _ = serde_json::from_value::<HookEvent>(v);
        }
    }

    #[test]
    fn no_json_value_makes_a_parser_panic(v in any_json()) {
        let _ = PushEvent::parse(&v.to_string());
        let _ = Manifest::parse(&v.to_string());
        let _ = serde_json::from_value::<HookEvent>(v.clone());
        if let Ok(td) = TaskDefinition::from_json(v) {
            let _ = td.next_revision(&["web".to_string()], "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:ab");
        }
    }

    /// A push event whose fields are arbitrary strings is read or refused with an error that
    /// names a field; a deployable push carries exactly the tag and digest it was given.
    #[test]
    fn a_push_event_is_read_as_given_or_refused(tag in ".{0,400}", digest in ".{0,80}", repository in ".{0,40}") {
        let event = json!({
            "version": "0", "id": "e", "detail-type": "ECR Image Action", "source": "aws.ecr",
            "account": "123456789012", "time": "2026-11-16T01:54:34Z", "region": "us-east-1", "resources": [],
            "detail": {"result": "SUCCESS", "repository-name": repository, "image-digest": digest, "action-type": "PUSH", "image-tag": tag}
        });
        match PushEvent::parse(&event.to_string()) {
            Ok(PushEvent::Deployable(push)) => {
                prop_assert_eq!(&push.tag, &tag);
                prop_assert_eq!(&push.digest, &digest);
                prop_assert!(tag.chars().count() <= 300 && !tag.chars().any(char::is_control));
            }
            Ok(PushEvent::Ignored { reason }) => prop_assert!(tag.is_empty(), "{}", reason),
            Err(e) => prop_assert!(e.to_string().contains("detail.") || e.to_string().contains("account"), "{}", e),
        }
    }

    /// The transform keeps every field but the target containers' images: the next revision is
    /// the live one with its read-only fields dropped, its tags kept, and only `image` of the
    /// named containers replaced.
    #[test]
    fn the_transform_keeps_every_field_but_the_target_images(
        extra in prop::collection::btree_map("[a-zA-Z]{1,12}", any_json(), 0..6),
        container_extra in prop::collection::btree_map("[a-zA-Z]{1,12}", any_json(), 0..4),
        sidecars in 0usize..4,
        targets in prop::collection::btree_set(0usize..4, 1..3),
        tags in prop::collection::vec(("[a-z]{1,8}", "[a-z0-9]{0,8}"), 0..3),
    ) {
        let mut definition: Map<String, Value> = extra.into_iter().filter(|(k, _)| k != "containerDefinitions" && k != "family").collect();
        definition.insert("family".into(), json!("web"));
        for f in READ_ONLY_FIELDS {
            definition.insert((*f).into(), json!("read-only"));
        }
        let names: Vec<String> = (0..=sidecars).map(|i| format!("c{i}")).collect();
        let containers: Vec<Value> = names
            .iter()
            .map(|n| {
                let mut c: Map<String, Value> = container_extra.iter().filter(|(k, _)| *k != "name" && *k != "image").map(|(k, v)| (k.clone(), v.clone())).collect();
                c.insert("name".into(), json!(n));
                c.insert("image".into(), json!(format!("registry/{n}:old")));
                Value::Object(c)
            })
            .collect();
        definition.insert("containerDefinitions".into(), Value::Array(containers.clone()));
        let tags: Vec<Value> = tags.into_iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        let live = json!({"taskDefinition": definition, "tags": tags});
        let td = TaskDefinition::from_json(live).expect("a task definition");
        let targets: Vec<String> = targets.into_iter().filter(|i| *i <= sidecars).map(|i| names[i].clone()).collect();
        prop_assume!(!targets.is_empty());
        let image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:0123abcd";
        let Revision::Register(request) = td.next_revision(&targets, image).expect("a revision") else {
            return Err(TestCaseError::fail("nothing runs this digest yet"));
        };
        let mut expected = definition.clone();
        for f in READ_ONLY_FIELDS {
            expected.remove(*f);
        }
        let expected_containers: Vec<Value> = containers
            .into_iter()
            .map(|mut c| {
                if targets.iter().any(|t| c["name"] == t.as_str()) {
                    c["image"] = json!(image);
                }
                c
            })
            .collect();
        expected.insert("containerDefinitions".into(), Value::Array(expected_containers));
        // The live revision's tags, and which revision the new one is based on (the live one).
        let mut tags = tags;
        tags.push(json!({"key": "greenlight:base", "value": "read-only"}));
        expected.insert("tags".into(), Value::Array(tags));
        prop_assert_eq!(request.0, expected);
    }
}
