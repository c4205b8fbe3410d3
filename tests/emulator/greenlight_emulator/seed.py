"""Seeding: one call builds a realistic environment from a short description, through the
emulator's own AWS API (as a deploy of the ecs-service Terraform module would): ECR images,
cluster, a CODE_DEPLOY-controlled Fargate service running blue, the load balancer with its
production and test listeners and two target groups, the CodeDeploy application and deployment
group, CloudWatch alarms, the manifest parameter, a secret, the ledger table and the topic.
Seeding a second service with `"bind_load_balancer": false` leaves the local data plane on the
first one."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import boto3

from . import ACCOUNT_ID


def client(endpoint: str, service: str, region: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def seed(endpoint: str, d: dict[str, Any]) -> dict[str, Any]:
    region = d.get("region", "us-east-1")
    name = d["service"]
    cluster = d.get("cluster", name)
    repository = d.get("repository", name)
    container = d.get("container", name)
    port = int(d.get("port", 8080))
    tags = d.get("tags", ["v1"])
    live = d.get("live", tags[0])
    c = lambda s: client(endpoint, s, region)  # noqa: E731

    ecr = c("ecr")
    repo_uri = ecr.create_repository(repositoryName=repository)["repository"]["repositoryUri"]
    digests = {}
    for tag in tags:
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"digest": "sha256:" + hashlib.sha256(f"{repository}:{tag}:config".encode()).hexdigest(), "size": 1},
                # moto derives the image digest from the layer digests: one layer per tag.
                "layers": [
                    {
                        "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "digest": "sha256:" + hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest(),
                        "size": 1,
                    }
                ],
            }
        )
        image = ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag)["image"]
        digests[tag] = image["imageId"]["imageDigest"]
    images = {t: f"{repo_uri}@{dg}" for t, dg in digests.items()}

    sm = c("secretsmanager")
    secret_arn = sm.create_secret(Name=f"{name}/database-url", SecretString="postgres://db")["ARN"]
    # greenlight's own secrets: where Slack messages go, and the keys requests are signed with.
    greenlight_secrets = {}
    for key, value in (d.get("greenlight_secrets") or {}).items():
        greenlight_secrets[key] = sm.create_secret(Name=f"greenlight/{key}", SecretString=value)["ARN"]
    iam = c("iam")
    roles = {}
    for role in ("task", "execution", "codedeploy"):
        principal = "codedeploy.amazonaws.com" if role == "codedeploy" else "ecs-tasks.amazonaws.com"
        doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": principal}, "Action": "sts:AssumeRole"}]}
        roles[role] = iam.create_role(RoleName=f"{name}-{role}", AssumeRolePolicyDocument=json.dumps(doc))["Role"]["Arn"]

    ec2 = c("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{az}")["Subnet"]["SubnetId"]
        for i, az in ((1, "a"), (2, "b"))
    ]
    sg = ec2.create_security_group(GroupName=f"{name}-tasks", Description="tasks", VpcId=vpc)["GroupId"]

    elb = c("elbv2")
    lb_arn = elb.create_load_balancer(Name=f"{name}-alb", Subnets=subnets, SecurityGroups=[sg], Type="application")[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    tgs = {}
    for colour in ("blue", "green"):
        tgs[colour] = elb.create_target_group(
            Name=f"{name}-{colour}", Protocol="HTTP", Port=port, VpcId=vpc, TargetType="ip", HealthCheckPath="/health"
        )["TargetGroups"][0]["TargetGroupArn"]
    listeners = {}
    for which, lport in (("production", 80), ("test", 8080)):
        listeners[which] = elb.create_listener(
            LoadBalancerArn=lb_arn,
            Protocol="HTTP",
            Port=lport,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tgs["blue"]}],
        )["Listeners"][0]["ListenerArn"]

    ecs = c("ecs")
    cluster_arn = ecs.create_cluster(clusterName=cluster, settings=[{"name": "containerInsights", "value": "enabled"}])["cluster"]["clusterArn"]
    td_arn = ecs.register_task_definition(
        family=name,
        taskRoleArn=roles["task"],
        executionRoleArn=roles["execution"],
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        containerDefinitions=[
            {
                "name": container,
                "image": images[live],
                "memory": 512,
                "essential": True,
                "portMappings": [{"containerPort": port, "protocol": "tcp"}],
                "secrets": [{"name": "DATABASE_URL", "valueFrom": secret_arn}],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {"awslogs-group": f"/ecs/{name}", "awslogs-region": region, "awslogs-stream-prefix": "ecs"},
                },
                "healthCheck": {"command": ["CMD-SHELL", "curl -sf localhost/health"], "interval": 30, "timeout": 5, "retries": 3},
                "linuxParameters": {"capabilities": {"drop": ["ALL"]}},
            }
        ],
        tags=[{"key": "service", "value": name}],
    )["taskDefinition"]["taskDefinitionArn"]
    network = {"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg], "assignPublicIp": "DISABLED"}}
    service_arn = ecs.create_service(
        cluster=cluster,
        serviceName=name,
        taskDefinition=td_arn,
        desiredCount=2,
        launchType="FARGATE",
        deploymentController={"type": "CODE_DEPLOY"},
        networkConfiguration=network,
        loadBalancers=[{"targetGroupArn": tgs["blue"], "containerName": container, "containerPort": port}],
    )["service"]["serviceArn"]
    blue = ecs.create_task_set(
        cluster=cluster,
        service=name,
        taskDefinition=td_arn,
        launchType="FARGATE",
        networkConfiguration=network,
        loadBalancers=[{"targetGroupArn": tgs["blue"], "containerName": container, "containerPort": port}],
    )["taskSet"]["taskSetArn"]
    ecs.update_service_primary_task_set(cluster=cluster, service=name, primaryTaskSet=blue)

    cw = c("cloudwatch")
    alarms = d.get("alarms", [])
    for alarm in alarms:
        cw.put_metric_alarm(
            AlarmName=alarm,
            Namespace="AWS/ApplicationELB",
            MetricName="HTTPCode_Target_5XX_Count",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=5,
            ComparisonOperator="GreaterThanThreshold",
        )

    application = d.get("application", name)
    group = d.get("deployment_group", name)
    cd = c("codedeploy")
    cd.create_application(applicationName=application, computePlatform="ECS")
    cd.create_deployment_group(
        applicationName=application,
        deploymentGroupName=group,
        serviceRoleArn=roles["codedeploy"],
        deploymentConfigName="CodeDeployDefault.ECSAllAtOnce",
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        blueGreenDeploymentConfiguration={
            "deploymentReadyOption": {
                "actionOnTimeout": "STOP_DEPLOYMENT" if d.get("approval") else "CONTINUE_DEPLOYMENT",
                "waitTimeInMinutes": int(d.get("ready_wait_minutes", 60)) if d.get("approval") else 0,
            },
            "terminateBlueInstancesOnDeploymentSuccess": {
                "action": "TERMINATE",
                "terminationWaitTimeInMinutes": int(d.get("termination_wait_minutes", 0)),
            },
        },
        loadBalancerInfo={
            "targetGroupPairInfoList": [
                {
                    "targetGroups": [{"name": f"{name}-blue"}, {"name": f"{name}-green"}],
                    "prodTrafficRoute": {"listenerArns": [listeners["production"]]},
                    "testTrafficRoute": {"listenerArns": [listeners["test"]]},
                }
            ]
        },
        ecsServices=[{"serviceName": name, "clusterName": cluster}],
        autoRollbackConfiguration={
            "enabled": True,
            "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"],
        },
        alarmConfiguration={"enabled": bool(alarms), "alarms": [{"name": a} for a in alarms]},
    )

    parameter = d.get("manifest_parameter", "/greenlight/manifest")
    if "manifest" in d:
        c("ssm").put_parameter(Name=parameter, Value=json.dumps(d["manifest"]), Type="String", Overwrite=True)
    table = d.get("table", "greenlight-ledger")
    ddb = c("dynamodb")
    if table not in ddb.list_tables()["TableNames"]:
        ddb.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            BillingMode="PAY_PER_REQUEST",
        )
    topic_arn = c("sns").create_topic(Name=d.get("topic", "greenlight-notifications"))["TopicArn"]

    return {
        "region": region,
        "account": ACCOUNT_ID,
        "digests": digests,
        "images": images,
        "repository_uri": repo_uri,
        "cluster": cluster,
        "cluster_arn": cluster_arn,
        "service": name,
        "service_arn": service_arn,
        "container": container,
        "port": port,
        "task_definition_arn": td_arn,
        "blue_task_set_arn": blue,
        "target_groups": tgs,
        "listeners": listeners,
        "load_balancer_arn": lb_arn,
        "application": application,
        "deployment_group": group,
        "alarms": alarms,
        "secret_arn": secret_arn,
        "greenlight_secrets": greenlight_secrets,
        "manifest_parameter": parameter,
        "table": table,
        "topic_arn": topic_arn,
        "subnets": subnets,
        "security_groups": [sg],
    }
