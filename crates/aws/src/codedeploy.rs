//! CodeDeploy: start a blue/green deployment from an AppSpec, read its state and the
//! deployment group's settings.

use aws_sdk_codedeploy::operation::create_deployment::CreateDeploymentError;
use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentError;
use aws_sdk_codedeploy::operation::get_deployment_group::GetDeploymentGroupError;
use aws_sdk_codedeploy::operation::put_lifecycle_event_hook_execution_status::PutLifecycleEventHookExecutionStatusError;
use aws_sdk_codedeploy::operation::stop_deployment::StopDeploymentError;
use aws_sdk_codedeploy::types::DeploymentWaitType;
use aws_sdk_codedeploy::types::{AppSpecContent, LifecycleEventStatus, RevisionLocation, RevisionLocationType};
use greenlight_core::Error;
use greenlight_core::appspec::AppSpec;
use greenlight_core::error::ResourceKind;
use greenlight_core::ports::{DeploymentGroupSettings, DeploymentInfo, DeploymentState, DeploymentStatus, Deployments};

use crate::error::{Specific, classify};

#[derive(Debug, Clone)]
pub struct CodeDeployDeployments {
    client: aws_sdk_codedeploy::Client,
}

impl CodeDeployDeployments {
    pub fn new(client: aws_sdk_codedeploy::Client) -> Self {
        Self { client }
    }

    // The free function's future itself, not one more async layer around it: validate's future
    // nests deep enough already for the compiler's layout queries.
    fn get_deployment<'a>(
        &'a self,
        deployment_id: &'a str,
    ) -> impl Future<Output = Result<aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput, Error>> + 'a
    {
        get_deployment(&self.client, deployment_id)
    }
}

/// GetDeployment; a deployment CodeDeploy does not know is `NotFound`.
pub(crate) async fn get_deployment(
    client: &aws_sdk_codedeploy::Client,
    deployment_id: &str,
) -> Result<aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput, Error> {
    client.get_deployment().deployment_id(deployment_id).send().await.map_err(|e| {
        classify("codedeploy:GetDeployment", e, |e| match e {
            GetDeploymentError::DeploymentDoesNotExistException(_) => {
                Specific::not_found(ResourceKind::Deployment, deployment_id, "")
            }
            _ => None,
        })
    })
}

/// GetDeploymentGroup; a missing application or group is `NotFound`, naming the manifest field.
pub(crate) async fn get_deployment_group(
    client: &aws_sdk_codedeploy::Client,
    application: &str,
    deployment_group: &str,
) -> Result<aws_sdk_codedeploy::operation::get_deployment_group::GetDeploymentGroupOutput, Error> {
    client
        .get_deployment_group()
        .application_name(application)
        .deployment_group_name(deployment_group)
        .send()
        .await
        .map_err(|e| {
            classify("codedeploy:GetDeploymentGroup", e, |e| match e {
                GetDeploymentGroupError::ApplicationDoesNotExistException(_) => missing_application(application),
                GetDeploymentGroupError::DeploymentGroupDoesNotExistException(_) => missing_group(deployment_group),
                _ => None,
            })
        })
}

/// ListDeployments of the statuses CodeDeploy is not done with: the group's active deployments.
pub(crate) async fn active_deployment_ids(
    client: &aws_sdk_codedeploy::Client,
    application: &str,
    deployment_group: &str,
) -> Result<Vec<String>, Error> {
    use aws_sdk_codedeploy::types::DeploymentStatus as Status;
    let active = [Status::Created, Status::Queued, Status::InProgress, Status::Baking, Status::Ready];
    let out = client
        .list_deployments()
        .application_name(application)
        .deployment_group_name(deployment_group)
        .set_include_only_statuses(Some(active.to_vec()))
        .send()
        .await
        .map_err(|e| classify("codedeploy:ListDeployments", e, |_| None))?;
    Ok(out.deployments().to_vec())
}

/// The deployment's status in the domain's terms; one this version does not know (or none)
/// is an error, never a guess.
fn status_of(
    deployment_id: &str,
    info: Option<&aws_sdk_codedeploy::types::DeploymentInfo>,
) -> Result<DeploymentStatus, Error> {
    let status = info.and_then(|i| i.status()).map(|s| s.as_str()).unwrap_or_default();
    DeploymentStatus::parse(status).ok_or_else(|| Error::Aws {
        operation: "codedeploy:GetDeployment",
        retryable: false,
        source: format!(
            "deployment {deployment_id} has status `{status}`, which this version of greenlight does not know; upgrade greenlight"
        )
        .into(),
    })
}

pub(crate) fn missing_application(application: &str) -> Option<Specific> {
    Specific::not_found(ResourceKind::Application, application, "check `codedeploy.application` in the manifest")
}

pub(crate) fn missing_group(group: &str) -> Option<Specific> {
    Specific::not_found(ResourceKind::DeploymentGroup, group, "check `codedeploy.deployment_group` in the manifest")
}

impl Deployments for CodeDeployDeployments {
    async fn create(
        &self,
        application: &str,
        deployment_group: &str,
        appspec: &AppSpec,
        description: &str,
    ) -> Result<String, Error> {
        let revision = RevisionLocation::builder()
            .revision_type(RevisionLocationType::AppSpecContent)
            .app_spec_content(AppSpecContent::builder().content(&appspec.content).sha256(&appspec.sha256).build())
            .build();
        let out = self
            .client
            .create_deployment()
            .application_name(application)
            .deployment_group_name(deployment_group)
            .revision(revision)
            .description(description)
            .send()
            .await
            .map_err(|e| {
                classify("codedeploy:CreateDeployment", e, |e| match e {
                    CreateDeploymentError::DeploymentLimitExceededException(_) => {
                        Some(Specific::DeploymentInProgress { group: deployment_group.into() })
                    }
                    CreateDeploymentError::ApplicationDoesNotExistException(_) => missing_application(application),
                    CreateDeploymentError::DeploymentGroupDoesNotExistException(_) => missing_group(deployment_group),
                    _ => None,
                })
            })?;
        Ok(out.deployment_id().unwrap_or_default().to_string())
    }

    async fn state(&self, deployment_id: &str) -> Result<DeploymentState, Error> {
        let out = self.get_deployment(deployment_id).await?;
        let info = out.deployment_info();
        Ok(DeploymentState {
            id: deployment_id.to_string(),
            status: status_of(deployment_id, info)?,
            error_message: info.and_then(|i| i.error_information()).and_then(|e| e.message()).map(str::to_string),
        })
    }

    async fn info(&self, deployment_id: &str) -> Result<DeploymentInfo, Error> {
        let out = self.get_deployment(deployment_id).await?;
        let info = out.deployment_info();
        let appspec = info
            .and_then(|i| i.revision())
            .and_then(|r| r.app_spec_content())
            .and_then(|c| c.content())
            .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok());
        let task_definition_arn = appspec
            .as_ref()
            .and_then(|a| a.pointer("/Resources/0/TargetService/Properties/TaskDefinition"))
            .and_then(|v| v.as_str())
            .map(str::to_string);
        Ok(DeploymentInfo {
            id: deployment_id.to_string(),
            application: info.and_then(|i| i.application_name()).unwrap_or_default().to_string(),
            deployment_group: info.and_then(|i| i.deployment_group_name()).unwrap_or_default().to_string(),
            status: status_of(deployment_id, info)?,
            task_definition_arn,
        })
    }

    async fn report_hook(&self, deployment_id: &str, hook_execution_id: &str, succeeded: bool) -> Result<(), Error> {
        let status = if succeeded { LifecycleEventStatus::Succeeded } else { LifecycleEventStatus::Failed };
        self.client
            .put_lifecycle_event_hook_execution_status()
            .deployment_id(deployment_id)
            .lifecycle_event_hook_execution_id(hook_execution_id)
            .status(status)
            .send()
            .await
            .map_err(|e| {
                classify("codedeploy:PutLifecycleEventHookExecutionStatus", e, |e| match e {
                    PutLifecycleEventHookExecutionStatusError::DeploymentDoesNotExistException(_) => {
                        Specific::not_found(ResourceKind::Deployment, deployment_id, "")
                    }
                    _ => None,
                })
            })?;
        Ok(())
    }

    async fn continue_deployment(&self, deployment_id: &str) -> Result<(), Error> {
        self.client
            .continue_deployment()
            .deployment_id(deployment_id)
            .deployment_wait_type(DeploymentWaitType::ReadyWait)
            .send()
            .await
            .map_err(|e| classify("codedeploy:ContinueDeployment", e, |_| None))?;
        Ok(())
    }

    async fn stop(&self, deployment_id: &str) -> Result<bool, Error> {
        let result =
            self.client.stop_deployment().deployment_id(deployment_id).auto_rollback_enabled(true).send().await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error().is_some_and(StopDeploymentError::is_deployment_already_completed_exception) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify("codedeploy:StopDeployment", e, |e| match e {
                StopDeploymentError::DeploymentDoesNotExistException(_) => {
                    Specific::not_found(ResourceKind::Deployment, deployment_id, "")
                }
                _ => None,
            })),
        }
    }

    async fn active_with_description(
        &self,
        application: &str,
        deployment_group: &str,
        description: &str,
    ) -> Result<Vec<String>, Error> {
        let ids = active_deployment_ids(&self.client, application, deployment_group).await?;
        let mut found = Vec::new();
        for id in &ids {
            let info = self.get_deployment(id).await?;
            if info.deployment_info().and_then(|i| i.description()) == Some(description) {
                found.push(id.clone());
            }
        }
        Ok(found)
    }

    async fn group_settings(
        &self,
        application: &str,
        deployment_group: &str,
    ) -> Result<DeploymentGroupSettings, Error> {
        let out = get_deployment_group(&self.client, application, deployment_group).await?;
        let info = out.deployment_group_info();
        let ready =
            info.and_then(|i| i.blue_green_deployment_configuration()).and_then(|b| b.deployment_ready_option());
        let ecs = info.and_then(|i| i.ecs_services().first());
        Ok(DeploymentGroupSettings {
            action_on_ready_timeout: ready.and_then(|r| r.action_on_timeout()).map(|a| a.as_str().to_string()),
            ready_wait_minutes: ready.map(|r| r.wait_time_in_minutes()),
            ecs_cluster: ecs.and_then(|e| e.cluster_name()).map(str::to_string),
            ecs_service: ecs.and_then(|e| e.service_name()).map(str::to_string),
        })
    }
}
