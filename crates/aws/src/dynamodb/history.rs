//! One item per request at `pk = service#<name>`, `sk = deploy#<order>#<execution>`: a query of
//! the service's partition, backwards, lists its deployments newest request first.

use aws_sdk_dynamodb::types::AttributeValue;
use greenlight_core::Error;
use greenlight_core::event::Push;
use greenlight_core::history::{DeploymentRecord, HistoryUpdate, Outcome, TimelineEntry, TimelineState, rfc3339};
use greenlight_core::lock::order_key;
use greenlight_core::pipeline::execution_name;
use greenlight_core::ports::History;

use super::{DynamoLedger, Item, KEEP_SECONDS, corrupt, now, service_pk};
use crate::error::classify;

const WHAT: &str = "deployment record";

fn entry(item: &Item) -> Result<TimelineEntry, Error> {
    let state = item.required("state", WHAT)?;
    Ok(TimelineEntry {
        state: TimelineState::parse(&state)
            .ok_or_else(|| corrupt(WHAT, format!("timeline state `{state}` is unknown")))?,
        at: item.text("at").unwrap_or_default(),
        detail: item.text("detail"),
    })
}

fn record(item: &Item) -> Result<DeploymentRecord, Error> {
    let timeline = match item.0.get("timeline").map(AttributeValue::as_l) {
        None => Vec::new(),
        Some(Ok(entries)) => entries
            .iter()
            .map(|e| e.as_m().map_err(|_| corrupt(WHAT, "a timeline entry is not a map".into())))
            .map(|m| m.and_then(|m| entry(&Item(m.clone()))))
            .collect::<Result<_, _>>()?,
        Some(Err(_)) => return Err(corrupt(WHAT, "its `timeline` attribute is not a list".into())),
    };
    let outcome = match item.text("outcome") {
        Some(o) => Some(
            serde_json::from_value::<Outcome>(serde_json::Value::String(o.clone()))
                .map_err(|_| corrupt(WHAT, format!("outcome `{o}` is unknown")))?,
        ),
        None => None,
    };
    Ok(DeploymentRecord {
        service: item.text("service").unwrap_or_default(),
        order: item.required("push_order", WHAT)?,
        execution: item.text("execution").unwrap_or_default(),
        digest: item.text("digest").unwrap_or_default(),
        tag: item.text("tag").unwrap_or_default(),
        execution_id: item.text("execution_id"),
        task_definition: item.text("task_definition"),
        previous_task_definition: item.text("previous_task_definition"),
        deployment_id: item.text("deployment_id"),
        timeline,
        validation: item.text("validation"),
        approver: item.text("approver"),
        outcome,
        reason: item.text("reason"),
        request: item.0.contains_key("request_json").then(|| item.json("request_json", WHAT)).transpose()?,
    })
}

/// `deploy#<order>#<execution>`: the service's requests in order, two requests at one time
/// (one image pushed with two tags) apart.
fn record_key(order: &str, execution: &str) -> String {
    format!("deploy#{order}#{execution}")
}

impl History for DynamoLedger {
    async fn record(&self, service: &str, push: &Push, update: &HistoryUpdate) -> Result<(), Error> {
        let now = now();
        let (order, execution) = (order_key(push), execution_name(service, push));
        let entry = Item::default()
            .s("state", update.state.as_str())
            .s("at", rfc3339(now))
            .s_opt("detail", update.detail.as_deref());
        let mut sets = vec![
            "timeline = list_append(if_not_exists(timeline, :empty), :entry)".to_string(),
            "service = :service".into(),
            "execution = :execution".into(),
            "digest = :digest".into(),
            "tag = :tag".into(),
            "push_order = :order".into(),
            "kind = :kind".into(),
            "expires_at = :expires".into(),
            "request_json = if_not_exists(request_json, :request)".into(),
        ];
        let mut values = Item::default()
            .s(":service", service)
            .s(":execution", &execution)
            .s(":digest", &push.digest)
            .s(":tag", &push.tag)
            .s(":order", &order)
            .s(":kind", "deployment")
            .s(":request", serde_json::to_string(push).unwrap_or_default())
            .n(":expires", now + KEEP_SECONDS);
        values.0.insert(":empty".into(), AttributeValue::L(Vec::new()));
        values.0.insert(":entry".into(), AttributeValue::L(vec![AttributeValue::M(entry.0)]));
        let fields = [
            ("execution_id", update.execution_id.as_deref()),
            ("task_definition", update.task_definition.as_deref()),
            ("previous_task_definition", update.previous_task_definition.as_deref()),
            ("deployment_id", update.deployment_id.as_deref()),
            ("approver", update.approver.as_deref()),
            ("validation", update.validation.as_deref()),
            ("outcome", update.outcome.map(Outcome::as_str)),
            ("reason", update.reason.as_deref()),
        ];
        for (name, value) in fields {
            if let Some(v) = value {
                sets.push(format!("{name} = :{name}"));
                values = values.s(&format!(":{name}"), v);
            }
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Item::key(service_pk(service), record_key(&order, &execution)).0))
            .update_expression(format!("SET {}{}", sets.join(", "), if update.reopen { " REMOVE outcome" } else { "" }))
            .set_expression_attribute_values(Some(values.0))
            .send()
            .await
            .map_err(|e| classify("dynamodb:UpdateItem", e, |_| None))?;
        Ok(())
    }

    async fn deployments(&self, service: &str, limit: u32) -> Result<Vec<DeploymentRecord>, Error> {
        let items = self.query(service_pk(service), "deploy#", true, Some(limit)).await?;
        items.iter().map(record).collect()
    }
}
