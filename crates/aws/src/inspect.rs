//! What an operator reads about a live service (`greenlight status`): which target group each
//! of the deployment group's listeners forwards to (ELBv2), the ECS task sets behind them and
//! their task definitions, and the group's active deployments with their lifecycle events.

use greenlight_core::Error;
use greenlight_core::manifest::CodeDeployTarget;
use greenlight_core::ports::{Served, Traffic};

use crate::codedeploy::{active_deployment_ids, get_deployment, get_deployment_group};
use crate::error::classify;

/// A deployment group's traffic routes and the ECS service it deploys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Routes {
    pub cluster: String,
    pub service: String,
    pub production_listeners: Vec<String>,
    pub test_listeners: Vec<String>,
}

/// A target group a listener forwards to, with its weight (100 when it is the only one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub target_group_arn: String,
    pub weight: i32,
}

/// One ECS task set of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSet {
    pub arn: String,
    /// `PRIMARY`, `ACTIVE` or `DRAINING`.
    pub status: String,
    pub task_definition_arn: String,
    pub target_group_arns: Vec<String>,
}

/// An active deployment of the group and where its lifecycle stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveDeployment {
    pub id: String,
    pub status: String,
    pub description: Option<String>,
    /// `(lifecycle event, status)` in CodeDeploy's order.
    pub lifecycle: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Inspector {
    codedeploy: aws_sdk_codedeploy::Client,
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    ecs: aws_sdk_ecs::Client,
}

impl Inspector {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            codedeploy: aws_sdk_codedeploy::Client::new(config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(config),
            ecs: aws_sdk_ecs::Client::new(config),
        }
    }

    /// GetDeploymentGroup: the production and test listeners and the ECS service.
    pub async fn routes(&self, application: &str, deployment_group: &str) -> Result<Routes, Error> {
        let out = get_deployment_group(&self.codedeploy, application, deployment_group).await?;
        let Some(info) = out.deployment_group_info() else { return Ok(Routes::default()) };
        let pair = info.load_balancer_info().and_then(|l| l.target_group_pair_info_list().first());
        let listeners = |route: Option<&aws_sdk_codedeploy::types::TrafficRoute>| {
            route.map(|r| r.listener_arns().to_vec()).unwrap_or_default()
        };
        let ecs = info.ecs_services().first();
        Ok(Routes {
            cluster: ecs.and_then(|e| e.cluster_name()).unwrap_or_default().to_string(),
            service: ecs.and_then(|e| e.service_name()).unwrap_or_default().to_string(),
            production_listeners: listeners(pair.and_then(|p| p.prod_traffic_route())),
            test_listeners: listeners(pair.and_then(|p| p.test_traffic_route())),
        })
    }

    /// DescribeListeners: the target groups a listener's default action forwards to.
    pub async fn forwards(&self, listener_arn: &str) -> Result<Vec<Forward>, Error> {
        let out = self
            .elbv2
            .describe_listeners()
            .listener_arns(listener_arn)
            .send()
            .await
            .map_err(|e| classify("elasticloadbalancing:DescribeListeners", e, |_| None))?;
        let mut forwards = Vec::new();
        for action in out.listeners().iter().flat_map(|l| l.default_actions()) {
            let weighted: Vec<Forward> = action
                .forward_config()
                .map(|f| f.target_groups())
                .unwrap_or_default()
                .iter()
                .filter_map(|t| {
                    Some(Forward {
                        target_group_arn: t.target_group_arn()?.to_string(),
                        weight: t.weight().unwrap_or(1),
                    })
                })
                .collect();
            match (action.target_group_arn(), weighted.is_empty()) {
                (Some(arn), true) => forwards.push(Forward { target_group_arn: arn.to_string(), weight: 100 }),
                _ => forwards.extend(weighted),
            }
        }
        Ok(forwards)
    }

    /// DescribeServices: the service's task sets.
    pub async fn task_sets(&self, cluster: &str, service: &str) -> Result<Vec<TaskSet>, Error> {
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .map_err(|e| classify("ecs:DescribeServices", e, |_| None))?;
        Ok(out
            .services()
            .iter()
            .flat_map(|s| s.task_sets())
            .map(|t| TaskSet {
                arn: t.task_set_arn().unwrap_or_default().to_string(),
                status: t.status().unwrap_or_default().to_string(),
                task_definition_arn: t.task_definition().unwrap_or_default().to_string(),
                target_group_arns: t
                    .load_balancers()
                    .iter()
                    .filter_map(|l| l.target_group_arn())
                    .map(str::to_string)
                    .collect(),
            })
            .collect())
    }

    /// ListDeployments (the active statuses), then each one's GetDeployment and lifecycle events
    /// (ListDeploymentTargets, GetDeploymentTarget).
    pub async fn active_deployments(&self, application: &str, group: &str) -> Result<Vec<ActiveDeployment>, Error> {
        let mut found = Vec::new();
        for id in active_deployment_ids(&self.codedeploy, application, group).await? {
            let info = get_deployment(&self.codedeploy, &id).await?;
            let info = info.deployment_info();
            found.push(ActiveDeployment {
                lifecycle: self.lifecycle_events(&id).await?,
                id,
                status: info.and_then(|i| i.status()).map(|s| s.as_str().to_string()).unwrap_or_default(),
                description: info.and_then(|i| i.description()).map(str::to_string),
            });
        }
        Ok(found)
    }

    /// `(lifecycle event, status)` of a deployment, in CodeDeploy's order (ListDeploymentTargets,
    /// GetDeploymentTarget).
    pub async fn lifecycle_events(&self, deployment_id: &str) -> Result<Vec<(String, String)>, Error> {
        let targets = self
            .codedeploy
            .list_deployment_targets()
            .deployment_id(deployment_id)
            .send()
            .await
            .map_err(|e| classify("codedeploy:ListDeploymentTargets", e, |_| None))?;
        let Some(target) = targets.target_ids().first() else { return Ok(Vec::new()) };
        let out = self
            .codedeploy
            .get_deployment_target()
            .deployment_id(deployment_id)
            .target_id(target)
            .send()
            .await
            .map_err(|e| classify("codedeploy:GetDeploymentTarget", e, |_| None))?;
        let events =
            out.deployment_target().and_then(|t| t.ecs_target()).map(|t| t.lifecycle_events()).unwrap_or_default();
        Ok(events
            .iter()
            .map(|e| {
                (
                    e.lifecycle_event_name().unwrap_or_default().to_string(),
                    e.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                )
            })
            .collect())
    }
}

/// What production serves: the group's production listeners (GetDeploymentGroup), what each
/// forwards to (DescribeListeners), the task set behind each target group (DescribeServices) and
/// its task definition's images (DescribeTaskDefinition).
impl Traffic for Inspector {
    async fn production(&self, group: &CodeDeployTarget) -> Result<Vec<Served>, Error> {
        let routes = self.routes(&group.application, &group.deployment_group).await?;
        let task_sets = self.task_sets(&routes.cluster, &routes.service).await?;
        let mut served = Vec::new();
        for listener in &routes.production_listeners {
            let forwards = self.forwards(listener).await?;
            let total: i32 = forwards.iter().map(|f| f.weight).sum::<i32>().max(1);
            for forward in forwards {
                let task_set = task_sets.iter().find(|t| t.target_group_arns.contains(&forward.target_group_arn));
                let images = match task_set {
                    Some(t) => self.images_of(&t.task_definition_arn).await?,
                    None => Vec::new(),
                };
                served.push(Served {
                    target_group: forward.target_group_arn.clone(),
                    weight: forward.weight * 100 / total,
                    task_definition: task_set.map(|t| t.task_definition_arn.clone()),
                    images,
                });
            }
        }
        Ok(served)
    }
}

impl Inspector {
    /// DescribeTaskDefinition: the images of its containers.
    async fn images_of(&self, task_definition: &str) -> Result<Vec<String>, Error> {
        let out = self
            .ecs
            .describe_task_definition()
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|e| classify("ecs:DescribeTaskDefinition", e, |_| None))?;
        Ok(out
            .task_definition()
            .map(|td| td.container_definitions().iter().filter_map(|c| c.image()).map(str::to_string).collect())
            .unwrap_or_default())
    }
}
