"""A function for the emulation's EventBridge checks: it asks the Runtime API for work and
appends each event it is invoked with, as one JSON line, to the file `RECORD_TO` names."""

from __future__ import annotations

import json
import os
import urllib.request

API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/invocation"

while True:
    with urllib.request.urlopen(f"{API}/next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(r.read() or b"{}")
    with open(os.environ["RECORD_TO"], "a") as f:
        f.write(json.dumps(event) + "\n")
    urllib.request.urlopen(urllib.request.Request(f"{API}/{request_id}/response", data=b"{}", method="POST")).close()
