"""Which AWS API calls each function makes: the emulation's stand-in for IAM.

Lambda gives each function its own role's credentials; the emulation gives each function process
an access key id equal to its function name. Every AWS request is signed with SigV4, whose
credential scope names the key and the signing service (`Credential=<key>/<date>/<region>/
<service>/aws4_request`), and the operation is in `X-Amz-Target` (JSON protocols), in the path
(RPCv2 CBOR; REST protocols by method and path, e.g. SES v2) or in the form body's `Action`
(query protocol, e.g. SNS). For the services
greenlight calls, the signing name is the IAM service prefix, so `<service>:<Operation>` is the
IAM action the call needs.

With `GREENLIGHT_AWS_CALLS_DIR` set, each new (caller, action) pair is appended to
`<dir>/calls-<pid>.tsv`; `cargo xtask test` checks them against each function's declared calls
(`[package.metadata.greenlight] aws-calls` in its Cargo.toml), the list Terraform's policies are
tested against.

The same middleware counts every call and injects the faults set through the control routes
(see faults.py).
"""

from __future__ import annotations

import io
import os
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

from . import faults
from .faults import Faults

CBOR_OPERATION = "/operation/"

# REST protocols name the operation by method and path: the ones greenlight's functions call.
# SES API v2 (docs.aws.amazon.com/ses/latest/APIReference-V2): SendEmail is
# `POST /v2/email/outbound-emails`, CreateEmailIdentity `POST /v2/email/identities`.
REST_OPERATIONS = {
    ("POST", "/v2/email/outbound-emails"): "SendEmail",
    ("POST", "/v2/email/identities"): "CreateEmailIdentity",
}


def caller_and_service(authorization: str) -> tuple[str, str] | None:
    """The access key id and signing service of a SigV4 `Authorization` header."""
    marker = "Credential="
    start = authorization.find(marker)
    if start < 0:
        return None
    scope = authorization[start + len(marker) :].split(",", 1)[0].strip().split("/")
    if len(scope) != 5:
        return None
    return scope[0], scope[3]


def operation(environ: dict[str, Any], body: bytes) -> str | None:
    target = str(environ.get("HTTP_X_AMZ_TARGET") or "")
    if target:
        return target.rsplit(".", 1)[-1]
    path = str(environ.get("PATH_INFO", ""))
    rest = REST_OPERATIONS.get((str(environ.get("REQUEST_METHOD", "")), path.rstrip("/")))
    if rest:
        return rest
    if CBOR_OPERATION in path:
        return path.rsplit("/", 1)[-1]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        action = urllib.parse.parse_qs(body.decode(errors="replace")).get("Action")
        return action[0] if action else None
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    return query[0] if query else None


class Recorder:
    def __init__(self, directory: str | None, faults: Faults):
        self.faults = faults
        self.path = os.path.join(directory, f"calls-{os.getpid()}.tsv") if directory else None
        if directory:
            os.makedirs(directory, exist_ok=True)
        self.seen: set[tuple[str, str]] = set()
        self.lock = threading.Lock()

    def middleware(self, app: Callable[..., Any]) -> Callable[..., Any]:
        def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            found = caller_and_service(environ.get("HTTP_AUTHORIZATION", ""))
            if found:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = environ["wsgi.input"].read(length) if length else b""
                environ["wsgi.input"] = io.BytesIO(body)
                op = operation(environ, body)
                if op:
                    action = f"{found[1]}:{op}"
                    self.record(found[0], action)
                    rule = None if CBOR_OPERATION in environ.get("PATH_INFO", "") else self.faults.decide(found[0], action)
                    if rule is not None:
                        return faults.apply(rule, found[1], environ, start_response, app)
            return app(environ, start_response)

        return wsgi

    def record(self, caller: str, action: str) -> None:
        with self.lock:
            if (caller, action) in self.seen:
                return
            self.seen.add((caller, action))
            if self.path:
                with open(self.path, "a") as f:
                    f.write(f"{caller}\t{action}\n")

    def calls(self) -> dict[str, list[str]]:
        with self.lock:
            out: dict[str, list[str]] = {}
            for caller, action in sorted(self.seen):
                out.setdefault(caller, []).append(action)
            return out
