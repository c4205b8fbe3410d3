//! The DynamoDB ledger: `pk` / `sk` string keys, one table for every kind of record.
//! Validation reports live at `pk = deployment#<id>`, `sk = validation#<time>`; approvals at
//! `pk = approval#<id>`; a service's lock, newest push and deployments at `pk = service#<name>`.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use greenlight_core::Error;
use greenlight_core::event::Push;
use greenlight_core::lock::{
    Acquire, DeploymentRecord, HistoryUpdate, LockHolder, NewestPush, Outcome, Renew, Renewal, TimelineEntry,
    order_key, rfc3339,
};
use greenlight_core::pipeline::execution_name;
use greenlight_core::ports::{History, Ledger, Locks};
use serde_json::Value;

use crate::error::classify;

/// Reports are kept 90 days (the table's TTL attribute is `expires_at`).
const KEEP_SECONDS: u64 = 90 * 24 * 3600;

#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoLedger {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

impl Ledger for DynamoLedger {
    async fn save_validation(&self, deployment_id: &str, report: &Value) -> Result<(), Error> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("deployment#{deployment_id}")))
            .item("sk", AttributeValue::S(format!("validation#{:020}", now.as_nanos())))
            .item("kind", AttributeValue::S("validation".into()))
            .item("report", AttributeValue::S(report.to_string()))
            .item("expires_at", AttributeValue::N((now.as_secs() + KEEP_SECONDS).to_string()))
            .send()
            .await
            .map_err(|e| classify("dynamodb:PutItem", e, |_| None))?;
        Ok(())
    }

    async fn validations(&self, deployment_id: &str) -> Result<Vec<Value>, Error> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :kind)")
            .expression_attribute_values(":pk", AttributeValue::S(format!("deployment#{deployment_id}")))
            .expression_attribute_values(":kind", AttributeValue::S("validation#".into()))
            .send()
            .await
            .map_err(|e| classify("dynamodb:Query", e, |_| None))?;
        Ok(out
            .items()
            .iter()
            .filter_map(|item| item.get("report")?.as_s().ok().and_then(|s| serde_json::from_str(s).ok()))
            .collect())
    }
}

/// Approvals live at `pk = approval#<id>`, `sk = approval`; `decided` is written once, by a
/// conditional update, and never after `expires_at`.
impl greenlight_core::ports::Approvals for DynamoLedger {
    async fn put_approval(&self, record: &greenlight_core::approval::ApprovalRecord) -> Result<(), Error> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("approval#{}", record.id)))
            .item("sk", AttributeValue::S("approval".into()))
            .item("kind", AttributeValue::S("approval".into()))
            .item("record", AttributeValue::S(serde_json::to_string(record).unwrap_or_default()))
            .item("expires_at", AttributeValue::N(record.expires_at.to_string()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| classify("dynamodb:PutItem", e, |_| None))?;
        Ok(())
    }

    async fn approval(&self, id: &str) -> Result<Option<greenlight_core::approval::ApprovalRecord>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("approval#{id}")))
            .key("sk", AttributeValue::S("approval".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("dynamodb:GetItem", e, |_| None))?;
        let Some(item) = out.item() else { return Ok(None) };
        let mut record: greenlight_core::approval::ApprovalRecord =
            match item.get("record").and_then(|r| r.as_s().ok()).and_then(|s| serde_json::from_str(s).ok()) {
                Some(r) => r,
                None => return Ok(None),
            };
        record.decided = item.get("decided").and_then(|d| d.as_s().ok()).and_then(|s| serde_json::from_str(s).ok());
        Ok(Some(record))
    }

    async fn decide(&self, id: &str, decided: &greenlight_core::approval::Decided, now: i64) -> Result<bool, Error> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("approval#{id}")))
            .key("sk", AttributeValue::S("approval".into()))
            .update_expression("SET decided = :decided")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(decided) AND expires_at >= :now")
            .expression_attribute_values(
                ":decided",
                AttributeValue::S(serde_json::to_string(decided).unwrap_or_default()),
            )
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(classify("dynamodb:UpdateItem", e, |_| None)),
        }
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn service_key(service: &str) -> AttributeValue {
    s(format!("service#{service}"))
}

fn text(item: &HashMap<String, AttributeValue>, key: &str) -> Option<String> {
    item.get(key).and_then(|v| v.as_s().ok()).cloned()
}

fn holder(item: &HashMap<String, AttributeValue>) -> Option<LockHolder> {
    Some(LockHolder {
        execution: text(item, "execution")?,
        order: text(item, "push_order")?,
        tag: text(item, "tag").unwrap_or_default(),
        digest: text(item, "digest").unwrap_or_default(),
        lease_until: item.get("lease_until").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0),
        deployment_id: text(item, "deployment_id"),
        approval_id: text(item, "approval_id"),
        shifting: item.get("shifting").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
    })
}

fn conditional_failed<E: aws_smithy_types::error::metadata::ProvideErrorMetadata>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some("ConditionalCheckFailedException")
}

impl DynamoLedger {
    /// One of the service's items, read consistently.
    async fn service_item(&self, service: &str, sk: &str) -> Result<Option<HashMap<String, AttributeValue>>, Error> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", service_key(service))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("dynamodb:GetItem", e, |_| None))?;
        Ok(out.item)
    }

    async fn lock_item(&self, service: &str) -> Result<Option<LockHolder>, Error> {
        Ok(self.service_item(service, "lock").await?.as_ref().and_then(holder))
    }
}

/// The lock lives at `pk = service#<name>`, `sk = lock`; the newest push at `sk = newest`.
/// Every change is a conditional write on that one item, so DynamoDB serialises them: of two
/// executions racing for the lock, exactly one wins.
impl Locks for DynamoLedger {
    async fn record_push(&self, service: &str, push: &NewestPush) -> Result<bool, Error> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", service_key(service))
            .item("sk", s("newest"))
            .item("kind", s("newest_push"))
            .item("push_order", s(&push.order))
            .item("tag", s(&push.tag))
            .item("digest", s(&push.digest))
            .condition_expression("attribute_not_exists(pk) OR push_order <= :order")
            .expression_attribute_values(":order", s(&push.order))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(classify("dynamodb:PutItem", e, |_| None)),
        }
    }

    async fn newest_push(&self, service: &str) -> Result<Option<NewestPush>, Error> {
        Ok(self.service_item(service, "newest").await?.as_ref().and_then(|item| {
            Some(NewestPush {
                order: text(item, "push_order")?,
                tag: text(item, "tag").unwrap_or_default(),
                digest: text(item, "digest").unwrap_or_default(),
            })
        }))
    }

    async fn acquire(&self, service: &str, claim: &LockHolder, now: i64, take_older: bool) -> Result<Acquire, Error> {
        let mut condition = "attribute_not_exists(pk) OR execution = :me OR lease_until < :now".to_string();
        if take_older {
            condition.push_str(" OR (push_order < :order AND (attribute_not_exists(shifting) OR shifting = :false))");
        }
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", service_key(service))
            .item("sk", s("lock"))
            .item("kind", s("lock"))
            .item("execution", s(&claim.execution))
            .item("push_order", s(&claim.order))
            .item("tag", s(&claim.tag))
            .item("digest", s(&claim.digest))
            .item("lease_until", n(claim.lease_until))
            .item("shifting", AttributeValue::Bool(false))
            .condition_expression(condition)
            .expression_attribute_values(":me", s(&claim.execution))
            .expression_attribute_values(":now", n(now))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld);
        if take_older {
            put = put
                .expression_attribute_values(":order", s(&claim.order))
                .expression_attribute_values(":false", AttributeValue::Bool(false));
        }
        match put.send().await {
            Ok(out) => Ok(Acquire::Acquired { previous: out.attributes().and_then(holder) }),
            Err(e) if conditional_failed(&e) => match self.lock_item(service).await? {
                Some(h) => Ok(Acquire::Held(h)),
                // Released between the two calls: take it on the next attempt.
                None => Err(Error::Queued {
                    service: service.into(),
                    tag: claim.tag.clone(),
                    holder: "an execution that just finished".into(),
                    shifting: false,
                }),
            },
            Err(e) => Err(classify("dynamodb:PutItem", e, |_| None)),
        }
    }

    async fn renew(
        &self,
        service: &str,
        execution: &str,
        lease_until: i64,
        renew: &Renew<'_>,
    ) -> Result<Renewal, Error> {
        let mut expression = "SET lease_until = :until".to_string();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", service_key(service))
            .key("sk", s("lock"))
            .condition_expression("execution = :me")
            .expression_attribute_values(":me", s(execution))
            .expression_attribute_values(":until", n(lease_until));
        if let Some(d) = renew.deployment_id {
            expression.push_str(", deployment_id = :deployment");
            update = update.expression_attribute_values(":deployment", s(d));
        }
        if let Some(a) = renew.approval_id {
            expression.push_str(", approval_id = :approval");
            update = update.expression_attribute_values(":approval", s(a));
        }
        if renew.shifting {
            expression.push_str(", shifting = :true");
            update = update.expression_attribute_values(":true", AttributeValue::Bool(true));
        }
        match update.update_expression(expression).send().await {
            Ok(_) => Ok(Renewal::Held),
            Err(e) if conditional_failed(&e) => Ok(Renewal::Lost(self.lock_item(service).await?)),
            Err(e) => Err(classify("dynamodb:UpdateItem", e, |_| None)),
        }
    }

    async fn release(&self, service: &str, execution: &str) -> Result<bool, Error> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", service_key(service))
            .key("sk", s("lock"))
            .condition_expression("execution = :me")
            .expression_attribute_values(":me", s(execution))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(classify("dynamodb:DeleteItem", e, |_| None)),
        }
    }
}

/// One item per execution at `pk = service#<name>`, `sk = deploy#<push order>`: a query of the
/// service's partition, backwards, lists its deployments newest push first.
impl History for DynamoLedger {
    async fn record(&self, service: &str, push: &Push, update: &HistoryUpdate) -> Result<(), Error> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let mut entry = HashMap::from([
            ("state".to_string(), s(&update.state)),
            ("at".to_string(), s(rfc3339(i64::try_from(now.as_secs()).unwrap_or_default()))),
        ]);
        if let Some(d) = &update.detail {
            entry.insert("detail".into(), s(d));
        }
        let mut sets = vec![
            "timeline = list_append(if_not_exists(timeline, :empty), :entry)",
            "service = :service",
            "execution = :execution",
            "digest = :digest",
            "tag = :tag",
            "push_order = :order",
            "kind = :kind",
            "expires_at = :expires",
        ];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", service_key(service))
            .key("sk", s(format!("deploy#{}", order_key(push))))
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":entry", AttributeValue::L(vec![AttributeValue::M(entry)]))
            .expression_attribute_values(":service", s(service))
            .expression_attribute_values(":execution", s(execution_name(service, &push.digest)))
            .expression_attribute_values(":digest", s(&push.digest))
            .expression_attribute_values(":tag", s(&push.tag))
            .expression_attribute_values(":order", s(order_key(push)))
            .expression_attribute_values(":kind", s("deployment"))
            .expression_attribute_values(
                ":expires",
                n(i64::try_from(now.as_secs() + KEEP_SECONDS).unwrap_or(i64::MAX)),
            );
        let fields = [
            ("execution_id", update.execution_id.as_deref()),
            ("task_definition", update.task_definition.as_deref()),
            ("deployment_id", update.deployment_id.as_deref()),
            ("approver", update.approver.as_deref()),
            ("validation", update.validation.as_deref()),
            ("outcome", update.outcome.map(Outcome::as_str)),
            ("reason", update.reason.as_deref()),
        ];
        let mut extra = Vec::new();
        for (name, value) in fields {
            if let Some(v) = value {
                extra.push(format!("{name} = :{name}"));
                request = request.expression_attribute_values(format!(":{name}"), s(v));
            }
        }
        sets.extend(extra.iter().map(String::as_str));
        request
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
            .map_err(|e| classify("dynamodb:UpdateItem", e, |_| None))?;
        Ok(())
    }

    async fn deployments(&self, service: &str, limit: u32) -> Result<Vec<DeploymentRecord>, Error> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :kind)")
            .expression_attribute_values(":pk", service_key(service))
            .expression_attribute_values(":kind", s("deploy#"))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| classify("dynamodb:Query", e, |_| None))?;
        Ok(out
            .items()
            .iter()
            .map(|item| DeploymentRecord {
                service: text(item, "service").unwrap_or_default(),
                order: text(item, "push_order").unwrap_or_default(),
                execution: text(item, "execution").unwrap_or_default(),
                digest: text(item, "digest").unwrap_or_default(),
                tag: text(item, "tag").unwrap_or_default(),
                execution_id: text(item, "execution_id"),
                task_definition: text(item, "task_definition"),
                deployment_id: text(item, "deployment_id"),
                timeline: item
                    .get("timeline")
                    .and_then(|t| t.as_l().ok())
                    .map(|entries| {
                        entries
                            .iter()
                            .filter_map(|e| e.as_m().ok())
                            .map(|e| TimelineEntry {
                                state: text(e, "state").unwrap_or_default(),
                                at: text(e, "at").unwrap_or_default(),
                                detail: text(e, "detail"),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                validation: text(item, "validation"),
                approver: text(item, "approver"),
                outcome: text(item, "outcome").and_then(|o| serde_json::from_value(Value::String(o)).ok()),
                reason: text(item, "reason"),
            })
            .collect())
    }
}
