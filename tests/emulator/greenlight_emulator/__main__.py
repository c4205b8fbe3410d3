"""`python -m greenlight_emulator --ready-file PATH [--time-scale F] [--hook-timeout S]`

Starts moto (with greenlight's extensions) and the load balancer on 127.0.0.1, writes the ready
file (JSON: endpoint, production and test URLs, pid) once everything answers, and runs until
SIGTERM / SIGINT or until its parent process dies; then it stops every process it started.

Control routes, beside the AWS API on the same port:
  POST /greenlight-emulator/functions   {"name", "command": [...], "env": {}, "timeout_s", "region"}
  POST /greenlight-emulator/behaviours  {"<digest>": {"mode": "healthy|error|slow|hang|wrong_version|flapping", ...}}
  POST /greenlight-emulator/seed        a short environment description (see seed.py)
  GET  /greenlight-emulator/state       functions, deployments and what each port serves
  GET  /greenlight-emulator/notifications   every message published to an SNS topic
  GET  /greenlight-emulator/calls   the AWS API calls each caller made (see calls.py)
  POST /greenlight-emulator/slack/<hook>    a fake Slack webhook (incoming webhook, response_url)
  GET  /greenlight-emulator/slack           what was posted to it
  ANY  /lambda-url/<function>/<path>        a function URL (payload format 2.0)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from typing import Any, Callable

CONTROL = "/greenlight-emulator/"
# A Lambda function URL: `<endpoint>/lambda-url/<function>/<path>` reaches <function> with the
# function URL event (payload format 2.0), as https://<id>.lambda-url.<region>.on.aws/<path> does.
FUNCTION_URL = "/lambda-url/"


def main() -> int:
    p = argparse.ArgumentParser(prog="greenlight_emulator")
    p.add_argument("--ready-file", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--time-scale", type=float, default=float(os.environ.get("GREENLIGHT_EMULATOR_TIME_SCALE", "0.01")))
    p.add_argument("--hook-timeout", type=float, default=None, help="seconds a hook may take to report (default: 1 hour, scaled)")
    p.add_argument("--detached", action="store_true", help="keep running when the starting process exits")
    args = p.parse_args()

    state_dir = os.path.dirname(os.path.abspath(args.ready_file))
    os.makedirs(state_dir, exist_ok=True)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

    from moto.moto_api._internal.models import moto_api_backend
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    from . import calls, cbor, codedeploy, lambdas, seed, sfn
    from .loadbalancer import Behaviours, LoadBalancer

    functions = lambdas.Functions(state_dir)
    lambdas.patch_moto_invoke(functions)
    sfn.patch_stop_execution()
    engine = codedeploy.Engine(codedeploy.Settings(args.time_scale, args.hook_timeout), functions.invoke_async)
    codedeploy.install(engine)
    behaviours = Behaviours()
    lb = LoadBalancer(behaviours)
    recorder = calls.Recorder(os.environ.get("GREENLIGHT_AWS_CALLS_DIR"))

    endpoint_box: dict[str, str] = {}

    def control(app: Callable[..., Any]) -> Callable[..., Any]:
        def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            path = environ.get("PATH_INFO", "")
            if path.startswith(FUNCTION_URL):
                return function_url(environ, start_response)
            if not path.startswith(CONTROL):
                return app(environ, start_response)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
            try:
                status, result = route(path[len(CONTROL) :], environ["REQUEST_METHOD"], body)
            except (KeyError, ValueError, TypeError) as e:
                status, result = "400 Bad Request", {"error": f"{type(e).__name__}: {e}"}
            except Exception as e:
                status, result = "500 Internal Server Error", {"error": f"{type(e).__name__}: {e}"}
            out = json.dumps(result, default=str).encode()
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
            return [out]

        return wsgi

    slack_messages: list[dict[str, Any]] = []

    def function_url(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        import base64
        import urllib.parse
        import uuid as _uuid

        rest = environ["PATH_INFO"][len(FUNCTION_URL) :]
        name, _, sub = rest.partition("/")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        query = environ.get("QUERY_STRING", "")
        try:
            body_text, b64 = raw.decode(), False
        except UnicodeDecodeError:
            body_text, b64 = base64.b64encode(raw).decode(), True
        event = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/" + sub,
            "rawQueryString": query,
            "headers": headers,
            "queryStringParameters": {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()} or None,
            "requestContext": {
                "accountId": "anonymous",
                "apiId": name,
                "domainName": f"{name}.lambda-url.us-east-1.on.aws",
                "domainPrefix": name,
                "http": {"method": environ["REQUEST_METHOD"], "path": "/" + sub, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": headers.get("user-agent", "")},
                "requestId": str(_uuid.uuid4()),
                "routeKey": "$default",
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
                "timeEpoch": int(time.time() * 1000),
            },
            "body": body_text,
            "isBase64Encoded": b64,
        }
        error, result = functions.invoke(name, json.dumps(event).encode())
        if error:
            out = result or b'{"message":"Internal Server Error"}'
            start_response("502 Bad Gateway", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
            return [out]
        resp = json.loads(result or b"{}")
        body = resp.get("body") or ""
        data = base64.b64decode(body) if resp.get("isBase64Encoded") else body.encode()
        status = int(resp.get("statusCode", 200))
        from http import HTTPStatus

        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Status"
        hdrs = [(k, str(v)) for k, v in (resp.get("headers") or {}).items() if k.lower() != "content-length"]
        start_response(f"{status} {phrase}", hdrs + [("Content-Length", str(len(data)))])
        return [data]

    def route(name: str, method: str, body: dict[str, Any]) -> tuple[str, Any]:
        if name.startswith("slack/") and method == "POST":
            # A fake Slack: the incoming webhook and response_url both land here.
            slack_messages.append({"hook": name[len("slack/") :], "payload": body})
            return "200 OK", "ok"
        if name == "slack" and method == "GET":
            return "200 OK", slack_messages
        if name == "functions" and method == "POST":
            fn = functions.register(
                body["name"], list(body["command"]), dict(body.get("env", {})), body.get("region", "us-east-1"), float(body.get("timeout_s", 60))
            )
            return "200 OK", {"name": fn.name, "arn": fn.arn, "runtime_api": f"127.0.0.1:{fn.server.server_address[1]}"}
        if name == "behaviours" and method == "POST":
            for digest, behaviour in body.items():
                behaviours.set(digest, behaviour)
            return "200 OK", {"ok": True}
        if name == "seed" and method == "POST":
            seeded = seed.seed(endpoint_box["endpoint"], body)
            # One data plane: it serves the first seeded service (or the one that asks for it).
            if body.get("bind_load_balancer", True):
                lb.bind(seeded["listeners"]["production"], seeded["listeners"]["test"], seeded["region"])
                seeded.update({"production_url": lb.url("production"), "test_url": lb.url("test")})
            return "200 OK", seeded
        if name == "calls" and method == "GET":
            return "200 OK", recorder.calls()
        if name == "notifications" and method == "GET":
            from moto.sns.models import sns_backends

            sent = []
            for region_backends in sns_backends.values():
                for backend in region_backends.values():
                    for arn, topic in backend.topics.items():
                        for message_id, message, subject, _attrs, _group in topic.sent_notifications:
                            sent.append({"topic_arn": arn, "message_id": message_id, "subject": subject, "message": message})
            return "200 OK", sent
        if name == "state" and method == "GET":
            serving = {}
            for which in ("production", "test"):
                tg, app = lb.route(which)
                serving[which] = {"target_group": tg, "image": app.image if app else None}
            deployments = {
                i: {
                    "status": lc.deployment.status,
                    "created_at": lc.created_at,
                    "events": {e["lifecycleEventName"]: e["status"] for e in lc.events},
                }
                for i, lc in engine.lifecycles.items()
            }
            return "200 OK", {"functions": functions.state(), "serving": serving, "deployments": deployments}
        return "404 Not Found", {"error": f"no control route {method} {CONTROL}{name}"}

    app = control(recorder.middleware(cbor.middleware(DomainDispatcherApplication(create_backend_app))))
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)
    port = server.server_address[1]
    endpoint = f"http://127.0.0.1:{port}"
    endpoint_box["endpoint"] = endpoint
    # Step Functions' interpreter calls Lambda through this server at MOTO_PORT.
    os.environ["MOTO_PORT"] = str(port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    moto_api_backend.set_config({"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    parent = os.getppid()

    ready = {
        "endpoint": endpoint,
        "production_url": lb.url("production"),
        "test_url": lb.url("test"),
        "pid": os.getpid(),
        "time_scale": args.time_scale,
    }
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump(ready, f)
    os.replace(tmp, args.ready_file)
    print(json.dumps(ready), flush=True)

    while not stop.is_set():
        if not args.detached and os.getppid() != parent:  # the test run that started us is gone
            break
        stop.wait(0.5)

    functions.stop_all()
    lb.stop()
    server.shutdown()
    try:
        os.remove(args.ready_file)
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
