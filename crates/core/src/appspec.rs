//! The CodeDeploy AppSpec for an ECS blue/green deployment (version 0.0), as JSON.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::manifest::{CapacityProviderItem, Hook, NetworkConfiguration};

/// Everything an AppSpec names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppSpecInput {
    pub task_definition_arn: String,
    pub container_name: String,
    pub container_port: u16,
    pub platform_version: Option<String>,
    pub network_configuration: Option<NetworkConfiguration>,
    pub capacity_provider_strategy: Vec<CapacityProviderItem>,
    /// Lifecycle hooks and the Lambda function each invokes.
    pub hooks: Vec<(Hook, String)>,
}

/// A rendered AppSpec: the exact content CreateDeployment receives and its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppSpec {
    pub content: String,
    pub sha256: String,
}

impl AppSpec {
    pub fn render(input: &AppSpecInput) -> Self {
        let content = serde_json::to_string(&to_value(input)).unwrap_or_default();
        let sha256 = hex::encode(Sha256::digest(content.as_bytes()));
        Self { content, sha256 }
    }

    /// The AppSpec as a JSON object.
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.content).unwrap_or(Value::Null)
    }
}

fn to_value(i: &AppSpecInput) -> Value {
    let mut props = json!({
        "TaskDefinition": i.task_definition_arn,
        "LoadBalancerInfo": { "ContainerName": i.container_name, "ContainerPort": i.container_port },
    });
    if let Some(pv) = &i.platform_version {
        props["PlatformVersion"] = json!(pv);
    }
    if let Some(net) = &i.network_configuration {
        let mut awsvpc = json!({
            "Subnets": net.subnets,
            "AssignPublicIp": if net.assign_public_ip { "ENABLED" } else { "DISABLED" },
        });
        if !net.security_groups.is_empty() {
            awsvpc["SecurityGroups"] = json!(net.security_groups);
        }
        props["NetworkConfiguration"] = json!({ "AwsvpcConfiguration": awsvpc });
    }
    if !i.capacity_provider_strategy.is_empty() {
        props["CapacityProviderStrategy"] = i
            .capacity_provider_strategy
            .iter()
            .map(|c| json!({ "Base": c.base, "CapacityProvider": c.capacity_provider, "Weight": c.weight }))
            .collect();
    }
    let mut spec = json!({
        "version": 0.0,
        "Resources": [ { "TargetService": { "Type": "AWS::ECS::Service", "Properties": props } } ],
    });
    if !i.hooks.is_empty() {
        spec["Hooks"] = i.hooks.iter().map(|(hook, function)| json!({ hook.as_str(): function })).collect();
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> AppSpecInput {
        AppSpecInput {
            task_definition_arn: "arn:aws:ecs:us-east-1:111222333444:task-definition/web:2".into(),
            container_name: "web".into(),
            container_port: 80,
            platform_version: None,
            network_configuration: None,
            capacity_provider_strategy: Vec::new(),
            hooks: Vec::new(),
        }
    }

    #[test]
    fn minimal_appspec_and_its_hash() {
        let spec = AppSpec::render(&input());
        assert_eq!(
            spec.content,
            r#"{"version":0.0,"Resources":[{"TargetService":{"Type":"AWS::ECS::Service","Properties":{"TaskDefinition":"arn:aws:ecs:us-east-1:111222333444:task-definition/web:2","LoadBalancerInfo":{"ContainerName":"web","ContainerPort":80}}}}]}"#
        );
        assert_eq!(spec.sha256, hex::encode(Sha256::digest(spec.content.as_bytes())));
        assert_eq!(spec.sha256.len(), 64);
    }

    #[test]
    fn optional_properties_follow_the_documented_shape() {
        let spec = AppSpec::render(&AppSpecInput {
            platform_version: Some("LATEST".into()),
            network_configuration: Some(NetworkConfiguration {
                subnets: vec!["subnet-1234abcd".into()],
                security_groups: vec!["sg-12345678".into()],
                assign_public_ip: true,
            }),
            capacity_provider_strategy: vec![CapacityProviderItem {
                capacity_provider: "FARGATE_SPOT".into(),
                base: 1,
                weight: 2,
            }],
            hooks: vec![(Hook::AfterAllowTestTraffic, "greenlight-validate".into())],
            ..input()
        })
        .value();
        let props = &spec["Resources"][0]["TargetService"]["Properties"];
        assert_eq!(props["PlatformVersion"], "LATEST");
        assert_eq!(props["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"], "ENABLED");
        assert_eq!(props["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"][0], "sg-12345678");
        assert_eq!(
            props["CapacityProviderStrategy"][0],
            json!({"Base": 1, "CapacityProvider": "FARGATE_SPOT", "Weight": 2})
        );
        assert_eq!(spec["Hooks"], json!([{ "AfterAllowTestTraffic": "greenlight-validate" }]));
    }
}
