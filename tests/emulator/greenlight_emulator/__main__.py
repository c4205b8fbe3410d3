"""`python -m greenlight_emulator --ready-file PATH [--time-scale F] [--hook-timeout S]`

Starts moto (with greenlight's extensions) and the load balancer on 127.0.0.1, writes the ready
file (JSON: endpoint, production and test URLs, pid) once everything answers, and runs until
SIGTERM / SIGINT or until its parent process dies; then it stops every process it started.

Control routes, beside the AWS API on the same port:
  POST /greenlight-emulator/functions   {"name", "command": [...], "env": {}, "timeout_s", "region"}
  POST /greenlight-emulator/behaviours  {"<digest>": {"mode": "healthy|error|slow|hang|wrong_version|flapping", ...}}
  POST /greenlight-emulator/seed        a short environment description (see seed.py)
  GET  /greenlight-emulator/state       functions (invocations, errors, timeouts, pids), deployments,
                                        what each port serves, the fake Slack's outage, what each
                                        EventBridge rule matched and delivered to Lambda (see events.py)
  GET  /greenlight-emulator/notifications   every message published to an SNS topic
  GET  /greenlight-emulator/calls   the AWS API calls each caller made (see calls.py)
  POST /greenlight-emulator/faults  {"rules": [{"caller", "action", "kind", "nth", "times", "share", "seed", "delay_s",
                                                 "status", "code", "message"}]}
  GET  /greenlight-emulator/faults  the rules, every call counted per caller and action, every fault injected
  DELETE /greenlight-emulator/faults    removes every rule and forgets the counts (see faults.py)
  POST /greenlight-emulator/slack/<hook>    a fake Slack webhook (incoming webhook, response_url)
  GET  /greenlight-emulator/slack           what was posted to it
  POST /greenlight-emulator/slack-groups    {"bot_token", "groups": {"S…": ["U…"]}}: the workspace's user groups
  GET  /greenlight-emulator/slack-api/usergroups.users.list?usergroup=S…   Slack's Web API method (Bearer token)
  POST /greenlight-emulator/slack-outage    {"status": 503}: every post to Slack answers that ({"status": 503, "times": 2}:
                                            the next two only); {"status": null}: back
  ANY  /lambda-url/<function>/<path>        a function URL (payload format 2.0)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading


def main() -> int:
    p = argparse.ArgumentParser(prog="greenlight_emulator")
    p.add_argument("--ready-file", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--time-scale", type=float, default=float(os.environ.get("GREENLIGHT_EMULATOR_TIME_SCALE", "0.01")))
    p.add_argument("--hook-timeout", type=float, default=None, help="seconds a hook may take to report (default: 1 hour, scaled)")
    p.add_argument("--retry-time-scale", type=float, default=1.0, help="multiplies the state machine's Retry waits (see sfn.py)")
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

    from . import calls, cbor, codedeploy, events, faults, lambdas, sfn
    from .control import Control
    from .loadbalancer import Behaviours, LoadBalancer

    functions = lambdas.Functions(state_dir)
    lambdas.patch_moto_invoke(functions)
    deliveries = events.install(functions)
    sfn.patch_stop_execution()
    sfn.scale_retry_waits(args.retry_time_scale)
    engine = codedeploy.Engine(codedeploy.Settings(args.time_scale, args.hook_timeout), functions.invoke_async)
    codedeploy.install(engine)
    lb = LoadBalancer(behaviours := Behaviours())
    recorder = calls.Recorder(os.environ.get("GREENLIGHT_AWS_CALLS_DIR"), faults.Faults())
    ctl = Control(functions, behaviours, lb, recorder, engine, deliveries)

    moto_app = DomainDispatcherApplication(create_backend_app)
    app = ctl.wsgi(recorder.middleware(lambdas.invoke_payload_check(cbor.middleware(moto_app))))
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)
    port = server.server_address[1]
    endpoint = f"http://127.0.0.1:{port}"
    ctl.endpoint = endpoint
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
