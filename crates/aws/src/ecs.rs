//! ECS: the live task definition of a service, and registering the next revision.

use aws_sdk_ecs::operation::describe_services::DescribeServicesError;
use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionError;
use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionError;
use aws_sdk_ecs::types::{ContainerDefinition, SortOrder, TaskDefinitionField, TaskDefinitionStatus};
use greenlight_core::Error;
use greenlight_core::drift::{BASE_TAG, choose_base};
use greenlight_core::error::ResourceKind;
use greenlight_core::ports::{Registered, TaskDefinitions};
use greenlight_core::taskdef::{RegisterRequest, TaskDefinition};

use crate::error::{Specific, classify};
use crate::raw_json::{KeepJsonBody, SendJsonBody};

#[derive(Debug, Clone)]
pub struct EcsTaskDefinitions {
    client: aws_sdk_ecs::Client,
}

impl EcsTaskDefinitions {
    pub fn new(client: aws_sdk_ecs::Client) -> Self {
        Self { client }
    }

    /// The task definition a service runs (DescribeServices).
    async fn service_task_definition(&self, cluster: &str, service: &str) -> Result<String, Error> {
        let out = self.client.describe_services().cluster(cluster).services(service).send().await.map_err(|e| {
            classify("ecs:DescribeServices", e, |e| match e {
                DescribeServicesError::ClusterNotFoundException(_) => {
                    Specific::not_found(ResourceKind::Cluster, cluster, "check the service's `cluster` in the manifest")
                }
                _ => None,
            })
        })?;
        let found = out.services().iter().find(|s| s.status() != Some("INACTIVE"));
        match found.and_then(|s| s.task_definition()) {
            Some(td) => Ok(td.to_string()),
            None => Err(Error::NotFound {
                kind: ResourceKind::Service,
                name: format!("{cluster}/{service}"),
                hint: Some("check the service's `cluster` and `service` in the manifest".into()),
                source: None,
            }),
        }
    }
}

impl TaskDefinitions for EcsTaskDefinitions {
    async fn current(&self, cluster: &str, service: &str) -> Result<TaskDefinition, Error> {
        let arn = self.service_task_definition(cluster, service).await?;
        self.describe(&arn).await
    }

    async fn describe(&self, arn: &str) -> Result<TaskDefinition, Error> {
        // The typed output would drop fields this SDK does not model: keep the raw JSON.
        let raw = KeepJsonBody::default();
        self.client
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| {
                classify("ecs:DescribeTaskDefinition", e, |e| match e {
                    DescribeTaskDefinitionError::ClientException(_) => {
                        Specific::not_found(ResourceKind::TaskDefinition, arn, "")
                    }
                    _ => None,
                })
            })?;
        let json = raw.take().ok_or_else(|| Error::InvalidTaskDefinition {
            path: "(top level)".into(),
            problem: format!("DescribeTaskDefinition for `{arn}` returned no JSON body"),
        })?;
        TaskDefinition::from_json(json)
    }

    async fn base(&self, live: &TaskDefinition) -> Result<TaskDefinition, Error> {
        // ListTaskDefinitions with `familyPrefix` lists that family's revisions; `sort` DESC puts
        // the newest first. The newest is also picked here by revision number, whatever the
        // order the answer comes in.
        let out = self
            .client
            .list_task_definitions()
            .family_prefix(live.family())
            .status(TaskDefinitionStatus::Active)
            .sort(SortOrder::Desc)
            .max_results(10)
            .send()
            .await
            .map_err(|e| classify("ecs:ListTaskDefinitions", e, |_| None))?;
        let newest = out.task_definition_arns().iter().max_by_key(|arn| revision_of(arn));
        let newest = match newest {
            None => return Ok(live.clone()),
            Some(arn) if Some(arn.as_str()) == live.arn() => live.clone(),
            Some(arn) => self.describe(arn).await?,
        };
        let newest_base = match newest.tag(BASE_TAG) {
            None => None,
            Some(arn) if Some(arn) == live.arn() => Some(live.clone()),
            Some(arn) => match self.describe(arn).await {
                Ok(td) => Some(td),
                Err(Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            },
        };
        Ok(choose_base(live, Some(&newest), newest_base.as_ref()).clone())
    }

    async fn register(&self, request: &RegisterRequest) -> Result<Registered, Error> {
        // The typed input only needs to be valid; the request JSON is what is sent.
        let body = serde_json::to_string(&request.to_value()).unwrap_or_default();
        let out = self
            .client
            .register_task_definition()
            .family(request.family())
            .container_definitions(ContainerDefinition::builder().build())
            .customize()
            .interceptor(SendJsonBody { body })
            .send()
            .await
            .map_err(|e| classify("ecs:RegisterTaskDefinition", e, concurrent_revisions))?;
        let td = out.task_definition().ok_or_else(|| Error::InvalidTaskDefinition {
            path: "taskDefinition".into(),
            problem: "RegisterTaskDefinition returned no task definition".into(),
        })?;
        Ok(Registered {
            arn: td.task_definition_arn().unwrap_or_default().to_string(),
            revision: u64::try_from(td.revision()).unwrap_or_default(),
        })
    }
}

/// ECS refuses a revision registered while others of the same family are being created with a
/// `ClientException` (HTTP 400) "Too many concurrent attempts to create a new revision of the
/// specified family.": a condition that clears, so greenlight treats it as throttling and the
/// state machine retries the step, where any other `ClientException` is the request's fault.
fn concurrent_revisions(e: &RegisterTaskDefinitionError) -> Option<Specific> {
    match e {
        RegisterTaskDefinitionError::ClientException(c)
            if c.message().is_some_and(|m| m.starts_with(CONCURRENT_REVISIONS)) =>
        {
            Some(Specific::Throttled)
        }
        _ => None,
    }
}

/// The revision number at the end of a task definition ARN (`…:task-definition/web:7`).
fn revision_of(arn: &str) -> u64 {
    arn.rsplit(':').next().and_then(|r| r.parse().ok()).unwrap_or(0)
}

const CONCURRENT_REVISIONS: &str = "Too many concurrent attempts to create a new revision";
