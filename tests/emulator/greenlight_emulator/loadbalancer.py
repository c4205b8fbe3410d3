"""The load balancer's data plane: a production port and a test port that forward to whatever
moto's ELBv2 listener forwards to (listener → target group → the ECS task set registered with
that target group → that task set's app). CodeDeploy's lifecycle switches the listeners, so the
ports switch with them.

Each task set's app is a small local HTTP service started on first use. It runs the image of
its task definition, and behaves as the scenario set for that image digest: healthy, error
(HTTP 500), slow, hang, wrong_version or flapping. Every app answers `/version` with the image
it runs (or, for wrong_version, the image it pretends to run).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import ACCOUNT_ID

BEHAVIOURS = ("healthy", "error", "slow", "hang", "wrong_version", "flapping")


class Behaviours:
    def __init__(self) -> None:
        self.by_digest: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def set(self, digest: str, behaviour: dict[str, Any]) -> None:
        mode = behaviour.get("mode", "healthy")
        if mode not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {mode!r}; use one of {', '.join(BEHAVIOURS)}")
        with self.lock:
            self.by_digest[digest] = dict(behaviour, mode=mode)

    def get(self, digest: str) -> dict[str, Any]:
        with self.lock:
            return dict(self.by_digest.get(digest, {"mode": "healthy"}))


class App:
    """The service as one task set runs it."""

    def __init__(self, image: str, behaviours: Behaviours):
        self.image = image
        self.digest = image.split("@", 1)[1] if "@" in image else ""
        self.behaviours = behaviours
        self.requests = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._serve()

            def do_HEAD(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self._serve()

            def _serve(self) -> None:
                b = app.behaviours.get(app.digest)
                with app.lock:
                    app.requests += 1
                    n = app.requests
                mode = b["mode"]
                if mode == "hang":
                    time.sleep(float(b.get("hang_s", 3600)))
                if mode == "slow":
                    time.sleep(float(b.get("delay_ms", 2000)) / 1000)
                image = b.get("image", "wrong-version") if mode == "wrong_version" else app.image
                status = 200
                if mode == "error" or (mode == "flapping" and n % 2 == 0):
                    status = 500
                if self.path.startswith("/version"):
                    digest = image.split("@", 1)[1] if "@" in image else ""
                    body = json.dumps({"image": image, "digest": digest}).encode()
                else:
                    body = json.dumps({"status": "ok" if status == 200 else "error", "image": image}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        return Handler


class LoadBalancer:
    """Production and test ports in front of moto's listeners."""

    def __init__(self, behaviours: Behaviours):
        self.behaviours = behaviours
        self.listeners: dict[str, str] = {}  # "production" / "test" -> listener ARN
        self.region = "us-east-1"
        self.apps: dict[str, App] = {}  # task set ARN -> app
        self.lock = threading.Lock()
        self.production = self._serve("production")
        self.test = self._serve("test")

    def bind(self, production_listener_arn: str, test_listener_arn: str, region: str) -> None:
        self.listeners = {"production": production_listener_arn, "test": test_listener_arn}
        self.region = region

    def url(self, which: str) -> str:
        server = self.production if which == "production" else self.test
        return f"http://127.0.0.1:{server.server_address[1]}"

    def stop(self) -> None:
        for s in (self.production, self.test):
            s.shutdown()
        for app in list(self.apps.values()):
            app.stop()

    def route(self, which: str) -> tuple[str | None, App | None]:
        """(target group ARN, app) the listener forwards to now."""
        from moto.ecs.models import ecs_backends
        from moto.elbv2.models import elbv2_backends

        arn = self.listeners.get(which)
        if not arn:
            return None, None
        elbv2 = elbv2_backends[ACCOUNT_ID][self.region]
        try:
            listener = elbv2.describe_listeners(None, [arn])[0]
        except Exception:  # noqa: BLE001 - a listener deleted meanwhile serves nothing
            return None, None
        action = listener.default_actions[0].data if listener.default_actions else {}
        tg = action.get("TargetGroupArn") or next(
            (t["TargetGroupArn"] for t in action.get("ForwardConfig", {}).get("TargetGroups", [])), None
        )
        ecs = ecs_backends[ACCOUNT_ID][self.region]
        live: set[str] = set()
        found: App | None = None
        for service in ecs.services.values():
            for ts in service.task_sets:
                live.add(ts.task_set_arn)
                lbs = [lb for lb in ts.load_balancers if lb.get("targetGroupArn") == tg]
                if found is None and lbs:
                    td = ecs.describe_task_definition(ts.task_definition)
                    found = self._app_for(ts.task_set_arn, td, lbs[0].get("containerName"))
        self._forget_apps_except(live)
        return tg, found

    def _app_for(self, task_set_arn: str, task_definition: Any, container: str | None) -> App:
        with self.lock:
            app = self.apps.get(task_set_arn)
            if app is None:
                containers = task_definition.container_definitions
                chosen = next((c for c in containers if c.get("name") == container), containers[0])
                image = chosen.get("image", "")
                app = App(image, self.behaviours)
                self.apps[task_set_arn] = app
            return app

    def _forget_apps_except(self, live: set[str]) -> None:
        with self.lock:
            for arn in [a for a in self.apps if a not in live]:
                self.apps.pop(arn).stop()

    def _serve(self, which: str) -> ThreadingHTTPServer:
        lb = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._forward()

            def do_HEAD(self) -> None:
                self._forward()

            def do_POST(self) -> None:
                self._forward()

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                _, app = lb.route(which)
                if app is None:
                    return self._reply(503, b'{"error":"no healthy target"}')
                conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=3600)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    self._reply(resp.status, data, resp.getheader("Content-Type") or "application/json")
                except OSError:
                    self._reply(502, b'{"error":"target unreachable"}')
                finally:
                    conn.close()

            def _reply(self, status: int, data: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server
