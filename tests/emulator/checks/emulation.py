"""What the boto3 checks share: one emulation per test class, boto3 clients for it, and its
control routes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from typing import Any

import boto3
import botocore.config

EMULATOR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class EmulationTest(unittest.TestCase):
    endpoint = ""
    process: subprocess.Popen[bytes]
    tmp: tempfile.TemporaryDirectory[str]

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.TemporaryDirectory()
        ready = os.path.join(cls.tmp.name, "ready.json")
        env = dict(os.environ, PYTHONPATH=EMULATOR)
        log = open(os.path.join(cls.tmp.name, "emulator.log"), "wb")  # noqa: SIM115 - closed with the process
        cls.process = subprocess.Popen([sys.executable, "-m", "greenlight_emulator", "--ready-file", ready], env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while not os.path.exists(ready):
            if cls.process.poll() is not None or time.monotonic() > deadline:
                with open(os.path.join(cls.tmp.name, "emulator.log")) as f:
                    raise RuntimeError(f.read())
            time.sleep(0.05)
        with open(ready) as f:
            cls.endpoint = json.load(f)["endpoint"]

    @classmethod
    def tearDownClass(cls) -> None:
        cls.process.terminate()
        cls.process.wait(timeout=30)
        cls.tmp.cleanup()

    def client(self, service: str, caller: str = "greenlight-prepare", **config: Any) -> Any:
        config.setdefault("retries", {"total_max_attempts": 1, "mode": "standard"})
        cfg = botocore.config.Config(**config)
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=caller,
            aws_secret_access_key="testing",
            config=cfg,
        )

    def post(self, route: str, body: dict[str, Any]) -> Any:
        return self.route("POST", route, body)

    def get(self, route: str) -> Any:
        return self.route("GET", route, None)

    def route(self, method: str, route: str, body: dict[str, Any] | None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.endpoint}/greenlight-emulator/{route}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            answer = json.loads(e.read())
            return {"http_status": e.code, **(answer if isinstance(answer, dict) else {"answer": answer})}
