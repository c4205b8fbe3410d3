"""The emulation's control routes (`/greenlight-emulator/…`), beside the AWS API on the same
port: register functions, set behaviours, seed, and read what happened."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from . import calls, codedeploy, events, function_url, seed
from .lambdas import Functions
from .loadbalancer import Behaviours, LoadBalancer
from .slack import FakeSlack

PREFIX = "/greenlight-emulator/"


class Control:
    def __init__(
        self,
        functions: Functions,
        behaviours: Behaviours,
        lb: LoadBalancer,
        recorder: calls.Recorder,
        engine: codedeploy.Engine,
        deliveries: events.Deliveries,
    ) -> None:
        self.functions = functions
        self.behaviours = behaviours
        self.lb = lb
        self.recorder = recorder
        self.engine = engine
        self.deliveries = deliveries
        # Set once the server listens: seeding goes through the emulator's own AWS API.
        self.endpoint = ""
        self.slack = FakeSlack()

    def wsgi(self, app: Callable[..., Any]) -> Callable[..., Any]:
        """`app` (the AWS API) behind the control routes and the function URLs."""

        def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            path = environ.get("PATH_INFO", "")
            if path.startswith(function_url.PREFIX):
                return function_url.handle(self.functions, environ, start_response)
            if not path.startswith(PREFIX):
                return app(environ, start_response)
            if path.startswith(PREFIX + "slack-api/"):
                # Slack's Web API: arguments in the query string or a JSON body, the token in
                # Authorization.
                query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
                length = int(environ.get("CONTENT_LENGTH") or 0)
                args = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
                method = path[len(PREFIX + "slack-api/") :]
                status, result = self.slack.api(method, query, environ.get("HTTP_AUTHORIZATION", ""), args)
                out = json.dumps(result).encode()
                start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
                return [out]
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
            try:
                status, result = self.route(path[len(PREFIX) :], environ["REQUEST_METHOD"], body)
            except (KeyError, ValueError, TypeError) as e:
                status, result = "400 Bad Request", {"error": f"{type(e).__name__}: {e}"}
            except Exception as e:  # noqa: BLE001 - a control route answers every failure with a 500 naming it
                status, result = "500 Internal Server Error", {"error": f"{type(e).__name__}: {e}"}
            out = json.dumps(result, default=str).encode()
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
            return [out]

        return handle

    def route(self, name: str, method: str, body: dict[str, Any]) -> tuple[str, Any]:
        routes: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {
            ("POST", "functions"): self.register,
            ("POST", "behaviours"): self.set_behaviours,
            ("POST", "seed"): self.seed,
            ("GET", "calls"): lambda _: self.recorder.calls(),
            ("POST", "faults"): self.recorder.faults.add,
            ("GET", "faults"): lambda _: self.recorder.faults.report(),
            ("DELETE", "faults"): lambda _: self.recorder.faults.clear(),
            ("GET", "notifications"): lambda _: self.notifications(),
            ("GET", "emails"): lambda _: self.emails(),
            ("GET", "state"): lambda _: self.state(),
            ("GET", "slack"): lambda _: self.slack.messages,
            ("POST", "slack-outage"): self.slack.set_outage,
            ("POST", "slack-groups"): self.slack.set_groups,
        }
        if name.startswith("slack/") and method == "POST":
            # The incoming webhook and response_url both land here.
            return self.slack.post(name[len("slack/") :], body)
        handler = routes.get((method, name))
        if handler is None:
            return "404 Not Found", {"error": f"no control route {method} {PREFIX}{name}"}
        return "200 OK", handler(body)

    def register(self, body: dict[str, Any]) -> dict[str, Any]:
        fn = self.functions.register(
            body["name"], list(body["command"]), dict(body.get("env", {})), body.get("region", "us-east-1"), float(body.get("timeout_s", 60))
        )
        return {"name": fn.name, "arn": fn.arn}

    def set_behaviours(self, body: dict[str, Any]) -> dict[str, Any]:
        for digest, behaviour in body.items():
            self.behaviours.set(digest, behaviour)
        return {"ok": True}

    def seed(self, body: dict[str, Any]) -> dict[str, Any]:
        seeded = seed.seed(self.endpoint, body)
        # One data plane: it serves the first seeded service (or the one that asks for it).
        if body.get("bind_load_balancer", True):
            self.lb.bind(seeded["listeners"]["production"], seeded["listeners"]["test"], seeded["region"])
            seeded.update({"production_url": self.lb.url("production"), "test_url": self.lb.url("test")})
        return seeded

    def notifications(self) -> list[dict[str, Any]]:
        from moto.sns.models import sns_backends

        sent = []
        for region_backends in sns_backends.values():
            for backend in region_backends.values():
                for arn, topic in backend.topics.items():
                    for message_id, message, subject, _attrs, _group in topic.sent_notifications:
                        sent.append({"topic_arn": arn, "message_id": message_id, "subject": subject, "message": message})
        return sent

    def emails(self) -> list[dict[str, Any]]:
        """What SES sent (SendEmail), oldest first: sender, recipients, subject, body."""
        from moto.ses.models import ses_backends

        sent = []
        for region_backends in ses_backends.values():
            for backend in region_backends.values():
                for m in backend.sent_messages:
                    to = list(getattr(m, "destinations", {}).get("ToAddresses", []))
                    sent.append({"from": m.source, "to": to, "subject": getattr(m, "subject", ""), "body": getattr(m, "body", "")})
        return sent

    def state(self) -> dict[str, Any]:
        serving = {}
        for which in ("production", "test"):
            tg, app = self.lb.route(which)
            serving[which] = {"target_group": tg, "image": app.image if app else None}
        deployments = {
            i: {
                "status": lc.deployment.status,
                "created_at": lc.created_at,
                "events": {e["lifecycleEventName"]: e["status"] for e in lc.events},
            }
            for i, lc in self.engine.lifecycles.items()
        }
        return {
            "functions": self.functions.state(),
            "serving": serving,
            "deployments": deployments,
            "slack": self.slack.state(),
            "events": self.deliveries.state(),
        }
