"""A function for the emulation's Lambda checks: it asks the Runtime API for work and answers
each invocation `{"slept": s, "pid": ...}` after sleeping the payload's `sleep` seconds."""

from __future__ import annotations

import json
import os
import time
import urllib.request

API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/invocation"

while True:
    with urllib.request.urlopen(f"{API}/next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(r.read() or b"{}")
    seconds = float(event.get("sleep", 0))
    time.sleep(seconds)
    answer = json.dumps({"slept": seconds, "pid": os.getpid()}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{API}/{request_id}/response", data=answer, method="POST")).close()
