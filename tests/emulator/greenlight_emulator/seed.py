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


class _Seeder:
    """One service's environment, built concern by concern through the emulator's AWS API."""

    def __init__(self, endpoint: str, d: dict[str, Any]) -> None:
        self.d = d
        self.endpoint = endpoint
        self.region: str = d.get("region", "us-east-1")
        self.name: str = d["service"]
        self.cluster: str = d.get("cluster", self.name)
        self.repository: str = d.get("repository", self.name)
        self.container: str = d.get("container", self.name)
        self.port = int(d.get("port", 8080))

    def c(self, service: str) -> Any:
        return client(self.endpoint, service, self.region)

    def images(self) -> tuple[str, dict[str, str]]:
        """ECR: one image per tag; the repository URI and the digests by tag."""
        repository = self.repository
        ecr = self.c("ecr")
        repo_uri: str = ecr.create_repository(repositoryName=repository)["repository"]["repositoryUri"]
        digests: dict[str, str] = {}
        for tag in self.d.get("tags", ["v1"]):
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
        return repo_uri, digests

    def secrets(self) -> tuple[str, dict[str, str]]:
        """The service's secret, and greenlight's own: where Slack messages go, and the keys
        requests are signed with."""
        sm = self.c("secretsmanager")
        secret_arn: str = sm.create_secret(Name=f"{self.name}/database-url", SecretString="postgres://db")["ARN"]
        greenlight_secrets = {}
        for key, value in (self.d.get("greenlight_secrets") or {}).items():
            greenlight_secrets[key] = sm.create_secret(Name=f"greenlight/{key}", SecretString=value)["ARN"]
        return secret_arn, greenlight_secrets

    def roles(self) -> dict[str, str]:
        iam = self.c("iam")
        roles = {}
        for role in ("task", "execution", "codedeploy"):
            principal = "codedeploy.amazonaws.com" if role == "codedeploy" else "ecs-tasks.amazonaws.com"
            doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": principal}, "Action": "sts:AssumeRole"}]}
            roles[role] = iam.create_role(RoleName=f"{self.name}-{role}", AssumeRolePolicyDocument=json.dumps(doc))["Role"]["Arn"]
        return roles

    def network(self) -> tuple[str, list[str], str]:
        """A VPC, two subnets and the tasks' security group."""
        ec2 = self.c("ec2")
        vpc: str = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{self.region}{az}")["Subnet"]["SubnetId"]
            for i, az in ((1, "a"), (2, "b"))
        ]
        sg: str = ec2.create_security_group(GroupName=f"{self.name}-tasks", Description="tasks", VpcId=vpc)["GroupId"]
        return vpc, subnets, sg

    def load_balancer(self, vpc: str, subnets: list[str], sg: str) -> tuple[str, dict[str, str], dict[str, str]]:
        """The ALB, the blue and green target groups, the production and test listeners."""
        name = self.name
        elb = self.c("elbv2")
        lb_arn: str = elb.create_load_balancer(Name=f"{name}-alb", Subnets=subnets, SecurityGroups=[sg], Type="application")[
            "LoadBalancers"
        ][0]["LoadBalancerArn"]
        tgs = {}
        for colour in ("blue", "green"):
            tgs[colour] = elb.create_target_group(
                Name=f"{name}-{colour}", Protocol="HTTP", Port=self.port, VpcId=vpc, TargetType="ip", HealthCheckPath="/health"
            )["TargetGroups"][0]["TargetGroupArn"]
        listeners = {}
        for which, lport in (("production", 80), ("test", 8080)):
            listeners[which] = elb.create_listener(
                LoadBalancerArn=lb_arn,
                Protocol="HTTP",
                Port=lport,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": tgs["blue"]}],
            )["Listeners"][0]["ListenerArn"]
        return lb_arn, tgs, listeners

    def service(self, image: str, roles: dict[str, str], secret_arn: str, subnets: list[str], sg: str, blue_tg: str) -> dict[str, str]:
        """The cluster, the task definition, the CODE_DEPLOY-controlled service and its blue task set."""
        name, cluster, container, port, region = self.name, self.cluster, self.container, self.port, self.region
        ecs = self.c("ecs")
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
                    "image": image,
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
            loadBalancers=[{"targetGroupArn": blue_tg, "containerName": container, "containerPort": port}],
        )["service"]["serviceArn"]
        blue = ecs.create_task_set(
            cluster=cluster,
            service=name,
            taskDefinition=td_arn,
            launchType="FARGATE",
            networkConfiguration=network,
            loadBalancers=[{"targetGroupArn": blue_tg, "containerName": container, "containerPort": port}],
        )["taskSet"]["taskSetArn"]
        ecs.update_service_primary_task_set(cluster=cluster, service=name, primaryTaskSet=blue)
        return {"cluster_arn": cluster_arn, "task_definition_arn": td_arn, "service_arn": service_arn, "blue_task_set_arn": blue}

    def alarms(self) -> list[str]:
        cw = self.c("cloudwatch")
        alarms: list[str] = self.d.get("alarms", [])
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
        return alarms

    def codedeploy(self, roles: dict[str, str], listeners: dict[str, str], alarms: list[str]) -> tuple[str, str]:
        """The ECS application and its blue/green deployment group."""
        d, name, cluster = self.d, self.name, self.cluster
        application: str = d.get("application", name)
        group: str = d.get("deployment_group", name)
        cd = self.c("codedeploy")
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
        return application, group

    def greenlight(self) -> tuple[str, str, str]:
        """greenlight's own: the manifest parameter, the ledger table and the topic."""
        d = self.d
        parameter: str = d.get("manifest_parameter", "/greenlight/manifest")
        if "manifest" in d:
            self.c("ssm").put_parameter(Name=parameter, Value=json.dumps(d["manifest"]), Type="String", Overwrite=True)
        table: str = d.get("table", "greenlight-ledger")
        ddb = self.c("dynamodb")
        if table not in ddb.list_tables()["TableNames"]:
            ddb.create_table(
                TableName=table,
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                BillingMode="PAY_PER_REQUEST",
            )
        topic_arn: str = self.c("sns").create_topic(Name=d.get("topic", "greenlight-notifications"))["TopicArn"]
        # The approval emails' sender, verified in SES (v2 CreateEmailIdentity): SES refuses
        # SendEmail from an identity that is not verified (MessageRejected).
        if d.get("email_from"):
            self.c("sesv2").create_email_identity(EmailIdentity=d["email_from"])
        return parameter, table, topic_arn


def seed(endpoint: str, d: dict[str, Any]) -> dict[str, Any]:
    s = _Seeder(endpoint, d)
    repo_uri, digests = s.images()
    images = {t: f"{repo_uri}@{dg}" for t, dg in digests.items()}
    live = d.get("live", d.get("tags", ["v1"])[0])
    secret_arn, greenlight_secrets = s.secrets()
    roles = s.roles()
    vpc, subnets, sg = s.network()
    lb_arn, tgs, listeners = s.load_balancer(vpc, subnets, sg)
    service = s.service(images[live], roles, secret_arn, subnets, sg, tgs["blue"])
    alarms = s.alarms()
    application, group = s.codedeploy(roles, listeners, alarms)
    parameter, table, topic_arn = s.greenlight()
    return {
        "region": s.region,
        "account": ACCOUNT_ID,
        "digests": digests,
        "images": images,
        "repository_uri": repo_uri,
        "cluster": s.cluster,
        "cluster_arn": service["cluster_arn"],
        "service": s.name,
        "service_arn": service["service_arn"],
        "container": s.container,
        "port": s.port,
        "task_definition_arn": service["task_definition_arn"],
        "blue_task_set_arn": service["blue_task_set_arn"],
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
