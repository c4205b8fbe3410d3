"""CodeDeploy's ECS blue/green lifecycle, added to moto's CodeDeploy backend.

moto records deployments that stay `Created` forever and lacks StopDeployment,
ContinueDeployment, PutLifecycleEventHookExecutionStatus, GetDeploymentTarget and
ListDeploymentTargets. Here CreateDeployment validates the group and the AppSpec as AWS does and
starts a background lifecycle, following AWS's documentation of ECS blue/green deployments:

BeforeInstall → Install (green task set) → AfterInstall → AllowTestTraffic (test listener →
green) → AfterAllowTestTraffic → Ready (with STOP_DEPLOYMENT: wait for ContinueDeployment, up to
the group's wait time, then stop) → BeforeAllowTraffic → AllowTraffic (production listener →
green) → AfterAllowTraffic → termination wait (ContinueDeployment with TERMINATION_WAIT ends it
early) → Succeeded: blue task set removed, green primary.

A hook invokes its Lambda function with {DeploymentId, LifecycleEventHookExecutionId} and waits
for PutLifecycleEventHookExecutionStatus. A Failed report, no report before the hook timeout, a
StopDeployment with autoRollbackEnabled or an alarm of the group's alarm configuration in ALARM
rolls back: traffic returns to blue, green is removed, and the deployment ends Failed or Stopped
with errorInformation and rollbackInfo. Every wait is multiplied by one time scale.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
import threading
import time
from collections.abc import Callable
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.core.utils import utcnow

from . import ACCOUNT_ID

HOOK_EVENTS = ("BeforeInstall", "AfterInstall", "AfterAllowTestTraffic", "BeforeAllowTraffic", "AfterAllowTraffic")
EVENTS = (
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "AllowTestTraffic",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
)
ACTIVE = ("Created", "Queued", "InProgress", "Baking", "Ready")


class Settings:
    def __init__(self, time_scale: float, hook_timeout_s: float | None):
        self.time_scale = time_scale
        # AWS gives a hook one hour to report.
        self.hook_timeout_s = hook_timeout_s if hook_timeout_s is not None else 3600 * time_scale


class RolledBack(Exception):
    def __init__(self, code: str, message: str, status: str = "Failed"):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _err(kind: str, message: str) -> JsonRESTError:
    return JsonRESTError(kind, message)


def _deployment_id() -> str:
    return "d-" + "".join(random.choices(string.ascii_uppercase + string.digits, k=9))


class Lifecycle:
    """One ECS blue/green deployment in flight."""

    def __init__(self, engine: Engine, deployment: Any, appspec: dict[str, Any], region: str):
        self.engine = engine
        self.deployment = deployment
        self.appspec = appspec
        self.region = region
        self.group = deployment.deployment_group
        # Wall-clock time CreateDeployment was received (the benchmark's push → deployment latency).
        self.created_at = time.time()
        self.events: list[dict[str, Any]] = [{"lifecycleEventName": e, "status": "Pending"} for e in EVENTS]
        self.error_information: dict[str, str] = {}
        self.rollback_info: dict[str, str] = {}
        self.continue_ready = threading.Event()
        self.continue_termination = threading.Event()
        self.waiting_for: str | None = None
        self.stop_request: tuple[bool, str] | None = None
        self.hooks: dict[str, dict[str, Any]] = {}
        self.target_status = "Pending"
        self.blue_tg: str | None = None
        self.green_tg: str | None = None
        self.blue_task_set: str | None = None
        self.green_task_set: str | None = None
        self.moved = {"test": False, "production": False}

    # --- moto state -----------------------------------------------------------------------

    @property
    def ecs(self) -> Any:
        from moto.ecs.models import ecs_backends

        return ecs_backends[ACCOUNT_ID][self.region]

    @property
    def elbv2(self) -> Any:
        from moto.elbv2.models import elbv2_backends

        return elbv2_backends[ACCOUNT_ID][self.region]

    def _service(self) -> tuple[str, str]:
        svc = self.group.ecs_services[0]
        return svc["clusterName"], svc["serviceName"]

    def _pair(self) -> dict[str, Any]:
        pair: dict[str, Any] = self.group.load_balancer_info["targetGroupPairInfoList"][0]
        return pair

    def _listener_target(self, arn: str) -> str | None:
        listener = self.elbv2.describe_listeners(None, [arn])[0]
        action = listener.default_actions[0].data
        target: str | None = action.get("TargetGroupArn") or action["ForwardConfig"]["TargetGroups"][0]["TargetGroupArn"]
        return target

    def _route(self, route: str, target_group: str) -> None:
        for arn in self._pair().get(route, {}).get("listenerArns", []):
            self.elbv2.modify_listener(arn, actions=[{"Type": "forward", "TargetGroupArn": target_group}])

    def _props(self) -> dict[str, Any]:
        props: dict[str, Any] = self.appspec["Resources"][0]["TargetService"]["Properties"]
        return props

    # --- bookkeeping ----------------------------------------------------------------------

    def event(self, name: str) -> dict[str, Any]:
        return next(e for e in self.events if e["lifecycleEventName"] == name)

    def set_status(self, status: str, target: str | None = None) -> None:
        with self.engine.lock:
            self.deployment.status = status
            self.target_status = target or {"Created": "Pending"}.get(status, status)
            overview = {k: 0 for k in ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Ready")}
            key = self.target_status if self.target_status in overview else "Failed"
            overview[key] = 1
            self.deployment.deployment_overview = overview
            if status in ("Succeeded", "Failed", "Stopped"):
                self.deployment.complete_time = utcnow()

    def _begin(self, name: str) -> None:
        e = self.event(name)
        e["status"], e["startTime"] = "InProgress", utcnow()

    def _end(self, name: str, status: str = "Succeeded", diagnostics: str | None = None) -> None:
        e = self.event(name)
        e["status"], e["endTime"] = status, utcnow()
        e.setdefault("startTime", e["endTime"])
        if diagnostics:
            e["diagnostics"] = {"errorCode": "ScriptFailed", "scriptName": "", "message": diagnostics, "logTail": ""}

    # --- waiting --------------------------------------------------------------------------

    def _check(self) -> None:
        """Raises when the deployment must stop: StopDeployment or an alarm in ALARM."""
        if self.stop_request is not None:
            rollback, _ = self.stop_request
            raise RolledBack("MANUAL_STOP", "The deployment was stopped by a user.", "Stopped") if rollback else _Stopped()
        alarm = self.engine.alarm_in_alarm(self.group, self.region)
        if alarm:
            raise RolledBack("ALARM_ACTIVE", f"One or more alarms have been activated: {alarm}")

    def _wait(self, until: Callable[[], bool], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._check()
            if until():
                return True
            time.sleep(0.02)
        self._check()
        return until()

    # --- the lifecycle --------------------------------------------------------------------

    def run(self) -> None:
        try:
            self.deployment.start_time = utcnow()
            self.set_status("InProgress")
            self._hook("BeforeInstall")
            self._install()
            self._hook("AfterInstall")
            self._allow_test_traffic()
            self._hook("AfterAllowTestTraffic")
            self._ready()
            self._hook("BeforeAllowTraffic")
            self._allow_traffic()
            self._hook("AfterAllowTraffic")
            self._terminate_blue()
            self.set_status("Succeeded")
        except RolledBack as rb:
            self._rollback(rb)
        except _Stopped:
            self._fail_remaining("Skipped")
            self.error_information = {"code": "MANUAL_STOP", "message": "The deployment was stopped by a user."}
            self.set_status("Stopped")
        except Exception as e:  # noqa: BLE001 - a bug here must not leave a deployment hanging
            self._rollback(RolledBack("INTERNAL_ERROR", f"An internal error occurred: {e}"))

    def _hook(self, name: str) -> None:
        function = self.engine.hook_function(self.appspec, name)
        if not function:
            e = self.event(name)
            e["status"] = "Skipped"
            return
        self._begin(name)
        execution_id = f"eyJ{''.join(random.choices(string.ascii_letters + string.digits, k=40))}"
        hook = {"event": name, "status": None}
        with self.engine.lock:
            self.hooks[execution_id] = hook
            self.engine.hook_index[execution_id] = self
        payload = json.dumps({"DeploymentId": self.deployment.deployment_id, "LifecycleEventHookExecutionId": execution_id})
        self.engine.invoke_async(function, payload.encode())
        if not self._wait(lambda: hook["status"] is not None, self.engine.settings.hook_timeout_s):
            self._end(name, "Failed", "The lifecycle event hook timed out before reporting its status.")
            raise RolledBack(
                "HOOK_EXECUTION_FAILURE",
                f"The deployment timed out while waiting for the {name} hook ({function}) to report its status.",
            )
        if hook["status"] != "Succeeded":
            self._end(name, "Failed", f"The {name} hook reported Failed.")
            raise RolledBack(
                "HOOK_EXECUTION_FAILURE",
                f"The deployment failed because the {name} lifecycle event hook ({function}) reported Failed.",
            )
        self._end(name)

    def _install(self) -> None:
        self._begin("Install")
        cluster, service = self._service()
        pair = self._pair()
        names = [tg["name"] for tg in pair["targetGroups"]]
        arns = [self.engine.target_group_arn(self.region, n) for n in names]
        prod = pair["prodTrafficRoute"]["listenerArns"][0]
        self.blue_tg = self._listener_target(prod)
        self.green_tg = next(a for a in arns if a != self.blue_tg)
        svc = self.ecs.describe_services(cluster, [service])[0][0]
        blue = next((ts for ts in svc.task_sets if ts.status == "PRIMARY"), None)
        self.blue_task_set = blue.task_set_arn if blue else None
        props = self._props()
        lb = props["LoadBalancerInfo"]
        network = props.get("NetworkConfiguration")
        network_configuration = (
            {
                "awsvpcConfiguration": {
                    "subnets": network["AwsvpcConfiguration"].get("Subnets", []),
                    "securityGroups": network["AwsvpcConfiguration"].get("SecurityGroups", []),
                    "assignPublicIp": network["AwsvpcConfiguration"].get("AssignPublicIp", "DISABLED"),
                }
            }
            if network
            else (blue.network_configuration if blue else None)
        )
        strategy = [
            {"capacityProvider": c["CapacityProvider"], "base": c.get("Base", 0), "weight": c.get("Weight", 1)}
            for c in props.get("CapacityProviderStrategy", [])
        ]
        green = self.ecs.create_task_set(
            service,
            cluster,
            props["TaskDefinition"],
            external_id=self.deployment.deployment_id,
            network_configuration=network_configuration,
            load_balancers=[
                {"targetGroupArn": self.green_tg, "containerName": lb["ContainerName"], "containerPort": int(lb["ContainerPort"])}
            ],
            launch_type=None if strategy else "FARGATE",
            capacity_provider_strategy=strategy or None,
            platform_version=props.get("PlatformVersion"),
        )
        self.green_task_set = green.task_set_arn
        # Green tasks take a while to start; thirty seconds, scaled.
        self._wait(lambda: False, 30 * self.engine.settings.time_scale)
        self._end("Install")

    def _settle(self) -> None:
        """A listener change takes effect over a few seconds (twenty, scaled)."""
        self._wait(lambda: False, 20 * self.engine.settings.time_scale)

    def _allow_test_traffic(self) -> None:
        self._begin("AllowTestTraffic")
        if self._pair().get("testTrafficRoute", {}).get("listenerArns"):
            assert self.green_tg is not None
            self._route("testTrafficRoute", self.green_tg)
            self.moved["test"] = True
            self._settle()
        self._end("AllowTestTraffic")

    def _ready(self) -> None:
        option = self.group.blue_green_deployment_configuration.get("deploymentReadyOption") or {}
        if option.get("actionOnTimeout") != "STOP_DEPLOYMENT":
            return
        minutes = float(option.get("waitTimeInMinutes") or 0)
        self.set_status("Ready", "Ready")
        self.waiting_for = "READY_WAIT"
        released = self._wait(self.continue_ready.is_set, minutes * 60 * self.engine.settings.time_scale)
        self.waiting_for = None
        if not released:
            raise RolledBack(
                "TIMEOUT",
                f"The deployment timed out while waiting for traffic to be rerouted ({minutes:g} minutes).",
                "Stopped",
            )
        self.set_status("InProgress")

    def _allow_traffic(self) -> None:
        self._begin("AllowTraffic")
        assert self.green_tg is not None
        self._route("prodTrafficRoute", self.green_tg)
        self.moved["production"] = True
        self._settle()
        self._end("AllowTraffic")

    def _terminate_blue(self) -> None:
        terminate = self.group.blue_green_deployment_configuration.get("terminateBlueInstancesOnDeploymentSuccess") or {}
        minutes = float(terminate.get("terminationWaitTimeInMinutes") or 0)
        self.waiting_for = "TERMINATION_WAIT"
        self._wait(self.continue_termination.is_set, minutes * 60 * self.engine.settings.time_scale)
        self.waiting_for = None
        cluster, service = self._service()
        assert self.green_task_set is not None
        self.ecs.update_service_primary_task_set(cluster, service, self.green_task_set)
        if self.blue_task_set:
            self.ecs.delete_task_set(cluster, service, self.blue_task_set)
        if self._pair().get("testTrafficRoute", {}).get("listenerArns"):
            # The test listener keeps pointing at the (now production) green target group.
            pass

    def _fail_remaining(self, status: str) -> None:
        for e in self.events:
            if e["status"] in ("Pending", "InProgress"):
                e["status"] = "Failed" if e["status"] == "InProgress" else status
                e.setdefault("endTime", utcnow())

    def _rollback(self, rb: RolledBack) -> None:
        """Traffic back to blue, green removed; ends Failed or Stopped."""
        self._fail_remaining("Skipped")
        try:
            if self.blue_tg:
                if self.moved["production"]:
                    self._route("prodTrafficRoute", self.blue_tg)
                if self.moved["test"]:
                    self._route("testTrafficRoute", self.blue_tg)
            if self.green_task_set:
                cluster, service = self._service()
                self.ecs.delete_task_set(cluster, service, self.green_task_set)
                if self.blue_task_set:
                    self.ecs.update_service_primary_task_set(cluster, service, self.blue_task_set)
            message = "Deployment rolled back: traffic returned to the original task set and the replacement task set was removed."
        except Exception as e:  # noqa: BLE001 - the deployment still ends, saying the rollback failed
            message = f"Rollback failed: {e}"
        self.error_information = {"code": rb.code, "message": rb.message}
        self.rollback_info = {"rollbackMessage": message}
        self.set_status(rb.status)


class _Stopped(Exception):
    """StopDeployment without rollback: the deployment stops where it is."""


class Engine:
    def __init__(self, settings: Settings, invoke_async: Callable[[str, bytes], None]):
        self.settings = settings
        self.invoke_async = invoke_async
        self.lock = threading.RLock()
        self.lifecycles: dict[str, Lifecycle] = {}
        self.hook_index: dict[str, Lifecycle] = {}

    @staticmethod
    def hook_function(appspec: dict[str, Any], event: str) -> str | None:
        for hook in appspec.get("Hooks") or []:
            if event in hook:
                return str(hook[event])
        return None

    @staticmethod
    def target_group_arn(region: str, name: str) -> str:
        from moto.elbv2.models import elbv2_backends

        for tg in elbv2_backends[ACCOUNT_ID][region].target_groups.values():
            if tg.name == name:
                return tg.arn
        raise _err("InvalidTargetGroupPairException", f"Target group {name} does not exist.")

    @staticmethod
    def alarm_in_alarm(group: Any, region: str) -> str | None:
        config = group.alarm_configuration
        if config is None:
            return None
        enabled = config.get("enabled") if isinstance(config, dict) else config.enabled
        alarms = config.get("alarms", []) if isinstance(config, dict) else config.alarms
        if not enabled:
            return None
        from moto.cloudwatch.models import cloudwatch_backends

        known = cloudwatch_backends[ACCOUNT_ID][region].alarms
        for a in alarms:
            alarm = known.get(a.get("name"))
            if alarm is not None and alarm.state_value == "ALARM":
                return str(a.get("name"))
        return None

    # --- CreateDeployment -----------------------------------------------------------------

    def validate(self, backend: Any, application_name: str, group_name: str, revision: dict[str, Any]) -> dict[str, Any]:
        """AWS's checks for an ECS blue/green CreateDeployment; returns the parsed AppSpec."""
        app = backend.get_application(application_name)
        group = backend.get_deployment_group(application_name, group_name)
        if app.compute_platform != "ECS":
            raise _err("InvalidComputePlatformException", f"Application {application_name} is not an ECS application.")
        style = group.deployment_style or {}
        if style.get("deploymentType") != "BLUE_GREEN" or style.get("deploymentOption") != "WITH_TRAFFIC_CONTROL":
            raise _err(
                "InvalidDeploymentStyleException",
                "An ECS deployment group must use deploymentType BLUE_GREEN with deploymentOption WITH_TRAFFIC_CONTROL.",
            )
        if not group.ecs_services:
            raise _err("InvalidECSServiceException", f"Deployment group {group_name} names no ECS service.")
        pairs = (group.load_balancer_info or {}).get("targetGroupPairInfoList") or []
        if not pairs or len(pairs[0].get("targetGroups", [])) != 2 or not pairs[0].get("prodTrafficRoute", {}).get("listenerArns"):
            raise _err(
                "InvalidTargetGroupPairException",
                "The deployment group needs one target group pair with two target groups and a production listener.",
            )
        region = backend.region_name
        for tg in pairs[0]["targetGroups"]:
            self.target_group_arn(region, tg["name"])
        from moto.ecs.models import ecs_backends

        ecs = ecs_backends[ACCOUNT_ID][region]
        svc_ref = group.ecs_services[0]
        services, _ = ecs.describe_services(svc_ref["clusterName"], [svc_ref["serviceName"]])
        if not services or (services[0].deployment_controller or {}).get("type") != "CODE_DEPLOY":
            raise _err(
                "InvalidECSServiceException",
                f"ECS service {svc_ref['serviceName']} does not exist or does not use the CODE_DEPLOY deployment controller.",
            )
        for d in backend.deployments.values():
            if d.deployment_group is group and d.status in ACTIVE:
                raise _err(
                    "DeploymentLimitExceededException",
                    f"The Deployment Group '{group_name}' already has an active Deployment '{d.deployment_id}'",
                )
        return self.parse_appspec(revision, ecs)

    @staticmethod
    def parse_appspec(revision: dict[str, Any], ecs: Any) -> dict[str, Any]:
        if (revision or {}).get("revisionType") != "AppSpecContent":
            raise _err("InvalidRevisionException", "An ECS deployment needs revisionType AppSpecContent.")
        content_info = revision.get("appSpecContent") or {}
        content = content_info.get("content") or ""
        sha = content_info.get("sha256")
        if sha and hashlib.sha256(content.encode()).hexdigest() != sha:
            raise _err("InvalidRevisionException", "The AppSpec content does not match its sha256.")
        try:
            spec = json.loads(content)
        except ValueError:
            import yaml

            try:
                spec = yaml.safe_load(content)
            except yaml.YAMLError as e:
                raise _err("InvalidRevisionException", f"The AppSpec is neither JSON nor YAML: {e}") from e
        try:
            props = spec["Resources"][0]["TargetService"]["Properties"]
            td_ref = props["TaskDefinition"]
            container = props["LoadBalancerInfo"]["ContainerName"]
            port = int(props["LoadBalancerInfo"]["ContainerPort"])
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise _err("InvalidRevisionException", f"The AppSpec lacks {e}: it needs Resources[0].TargetService.Properties with TaskDefinition and LoadBalancerInfo.") from e
        try:
            td = ecs.describe_task_definition(td_ref)
        except Exception as e:
            raise _err("InvalidRevisionException", f"The task definition {td_ref} in the AppSpec does not exist.") from e
        containers = {c.get("name"): c for c in td.container_definitions}
        if container not in containers:
            raise _err(
                "InvalidRevisionException",
                f"The container {container} in the AppSpec is not in task definition {td_ref} (it has {', '.join(containers)}).",
            )
        ports = [int(m.get("containerPort", 0)) for m in containers[container].get("portMappings", [])]
        if port not in ports:
            raise _err("InvalidRevisionException", f"Container {container} does not map port {port} (it maps {ports}).")
        checked: dict[str, Any] = spec
        return checked

    def start(self, backend: Any, deployment: Any, appspec: dict[str, Any]) -> None:
        lc = Lifecycle(self, deployment, appspec, backend.region_name)
        with self.lock:
            self.lifecycles[deployment.deployment_id] = lc
        threading.Thread(target=lc.run, name=f"deployment-{deployment.deployment_id}", daemon=True).start()

    def lifecycle(self, deployment_id: str) -> Lifecycle:
        lc = self.lifecycles.get(deployment_id)
        if lc is None:
            raise _err("DeploymentDoesNotExistException", f"The deployment {deployment_id} does not exist with the user or AWS account.")
        return lc


def install(engine: Engine) -> None:
    """Patches moto's CodeDeploy backend and responses."""
    from moto.codedeploy import responses as r
    from moto.codedeploy.models import CodeDeployBackend

    original_create = CodeDeployBackend.create_deployment

    def create_deployment(self: Any, application_name: str, deployment_group_name: str, revision: dict[str, Any], *args: Any, **kwargs: Any) -> str:
        appspec = engine.validate(self, application_name, deployment_group_name, revision)
        moto_id = original_create(self, application_name, deployment_group_name, revision, *args, **kwargs)
        deployment = self.deployments.pop(moto_id)
        deployment.deployment_id = _deployment_id()
        self.deployments[deployment.deployment_id] = deployment
        engine.start(self, deployment, appspec)
        deployment_id: str = deployment.deployment_id
        return deployment_id

    CodeDeployBackend.create_deployment = create_deployment  # type: ignore[method-assign]

    original_info = r._deployment_info

    def deployment_info(deployment: Any) -> dict[str, Any]:
        info = original_info(deployment)
        lc = engine.lifecycles.get(deployment.deployment_id)
        if lc is not None:
            info["errorInformation"] = dict(lc.error_information)
            info["rollbackInfo"] = dict(lc.rollback_info)
            info["instanceTerminationWaitTimeStarted"] = lc.waiting_for == "TERMINATION_WAIT"
        return info

    r._deployment_info = deployment_info

    original_group_info = r._deployment_group_info

    def deployment_group_info(group: Any) -> dict[str, Any]:
        info = original_group_info(group)
        config = group.alarm_configuration
        if isinstance(config, dict):
            info["alarmConfiguration"] = config
        elif config is not None:
            info["alarmConfiguration"] = {
                "enabled": config.enabled,
                "alarms": config.alarms,
                "ignorePollAlarmFailure": config.ignore_poll_alarm_failure,
            }
        return info

    # moto's own rendering takes its DeploymentGroup; ours reads the same object.
    r._deployment_group_info = deployment_group_info  # type: ignore[assignment]

    def stop_deployment(self: Any) -> ActionResult:
        lc = engine.lifecycle(self._get_param("deploymentId"))
        if lc.deployment.status not in ACTIVE:
            raise _err("DeploymentAlreadyCompletedException", f"The deployment {lc.deployment.deployment_id} has already completed.")
        rollback = bool(self._get_param("autoRollbackEnabled"))
        lc.stop_request = (rollback, "user")
        message = "Stopping Pending. Stopping to roll back deployment." if rollback else "Stopping Pending."
        return ActionResult({"status": "Pending", "statusMessage": message})

    def continue_deployment(self: Any) -> ActionResult:
        lc = engine.lifecycle(self._get_param("deploymentId"))
        wait_type = self._get_param("deploymentWaitType") or "READY_WAIT"
        if lc.waiting_for != wait_type:
            raise _err(
                "DeploymentIsNotInReadyStateException",
                f"The deployment {lc.deployment.deployment_id} is not waiting for {wait_type}.",
            )
        (lc.continue_ready if wait_type == "READY_WAIT" else lc.continue_termination).set()
        return ActionResult({})

    def put_lifecycle_event_hook_execution_status(self: Any) -> ActionResult:
        deployment_id = self._get_param("deploymentId")
        execution_id = self._get_param("lifecycleEventHookExecutionId")
        status = self._get_param("status")
        lc = engine.lifecycle(deployment_id)
        if status not in ("Succeeded", "Failed"):
            raise _err("InvalidLifecycleEventHookExecutionStatusException", f"Status {status} is not Succeeded or Failed.")
        with engine.lock:
            hook = lc.hooks.get(execution_id)
            if hook is None:
                raise _err(
                    "InvalidLifecycleEventHookExecutionIdException",
                    f"The lifecycle event hook execution {execution_id} is not part of deployment {deployment_id}.",
                )
            if hook["status"] is not None or lc.event(hook["event"])["status"] != "InProgress":
                raise _err("LifecycleEventAlreadyCompletedException", f"The lifecycle event {hook['event']} has already completed.")
            hook["status"] = status
        return ActionResult({"lifecycleEventHookExecutionId": execution_id})

    def _target(lc: Lifecycle) -> dict[str, Any]:
        cluster, service = lc._service()
        task_sets = []
        for arn, role in ((lc.blue_task_set, "BLUE"), (lc.green_task_set, "GREEN")):
            if arn:
                task_sets.append({"identifer": arn.split("/")[-1], "status": "ACTIVE", "trafficWeight": 0.0, "taskSetLabel": role})
        return {
            "deploymentTargetType": "ECSTarget",
            "ecsTarget": {
                "deploymentId": lc.deployment.deployment_id,
                "targetId": f"{cluster}:{service}",
                "targetArn": f"arn:aws:ecs:{lc.region}:{ACCOUNT_ID}:service/{cluster}/{service}",
                "lastUpdatedAt": utcnow(),
                "lifecycleEvents": [dict(e) for e in lc.events],
                "status": lc.target_status,
                "taskSetsInfo": task_sets,
            },
        }

    def get_deployment_target(self: Any) -> ActionResult:
        lc = engine.lifecycle(self._get_param("deploymentId"))
        target = _target(lc)
        if self._get_param("targetId") not in (None, target["ecsTarget"]["targetId"]):
            raise _err("DeploymentTargetDoesNotExistException", f"Target {self._get_param('targetId')} is not part of this deployment.")
        return ActionResult({"deploymentTarget": target})

    def list_deployment_targets(self: Any) -> ActionResult:
        lc = engine.lifecycle(self._get_param("deploymentId"))
        return ActionResult({"targetIds": [_target(lc)["ecsTarget"]["targetId"]]})

    def batch_get_deployment_targets(self: Any) -> ActionResult:
        lc = engine.lifecycle(self._get_param("deploymentId"))
        return ActionResult({"deploymentTargets": [_target(lc)]})

    r.CodeDeployResponse.stop_deployment = stop_deployment  # type: ignore[attr-defined]
    r.CodeDeployResponse.continue_deployment = continue_deployment  # type: ignore[attr-defined]
    r.CodeDeployResponse.put_lifecycle_event_hook_execution_status = put_lifecycle_event_hook_execution_status  # type: ignore[attr-defined]
    r.CodeDeployResponse.get_deployment_target = get_deployment_target  # type: ignore[attr-defined]
    r.CodeDeployResponse.list_deployment_targets = list_deployment_targets  # type: ignore[attr-defined]
    r.CodeDeployResponse.batch_get_deployment_targets = batch_get_deployment_targets  # type: ignore[attr-defined]
