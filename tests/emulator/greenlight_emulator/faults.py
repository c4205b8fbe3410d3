"""Faults injected into the AWS API, per operation and per caller.

A rule names a caller (a function name, as `calls.py` reads it from the SigV4 credential scope;
`greenlight-*` for every name with that prefix; or `*`), an action (`<service>:<Operation>`, `<service>:*` or `*`) and a kind. It makes the
`nth` matching call fail and the `times - 1` after it (`times: null`: every one from the nth), or
instead each matching call with probability `share` (a `random.Random(seed)` per rule, so a run
is repeatable).

The kinds answer as AWS documents it:

- `throttle`: HTTP 400 `ThrottlingException`, the common error every AWS query and JSON API
  lists ("The request was denied due to request throttling"). Where a service spells it its own
  way, its spelling: DynamoDB `ProvisionedThroughputExceededException` (HTTP 400, "The request
  was denied due to request throttling", Error handling with DynamoDB). SNS answers Publish over
  its rate with `ThrottlingException` "Rate exceeded" (the SNS troubleshooting guide's "An error
  occurred (ThrottlingException) when calling the publish operation: Rate exceeded"); its
  modelled `ThrottledException` (`Throttled`, HTTP 429) is not among Publish's errors. SES
  answers a send over its quota with `ThrottlingException` "Maximum sending rate exceeded"
  ("Errors related to the sending quotas for your Amazon SES account").
- `server_error`: HTTP 500, the common `InternalFailure`; DynamoDB `InternalServerError`, ECS and
  ECR `ServerException`, SNS `InternalError`, Secrets Manager `InternalServiceError`, SSM
  `InternalServerError` (each service's API reference, "Errors").
- `delay`: the call is held `delay_s` seconds and then served: a slow answer past the client's
  timeout whose effect still lands, as a real request that reached AWS does.
- `error`: an error AWS answers in its own words, the rule's `status`, `code` and `message`: for
  a service's own conditions, such as ECS's `ClientException` (HTTP 400) "Too many concurrent
  attempts to create a new revision of the specified family." to a RegisterTaskDefinition made
  while other revisions of the family are being registered (ClientException is among
  RegisterTaskDefinition's errors in the ECS API reference; the message is ECS's).
- `reset`: the connection is dropped before anything is answered or applied: shut down at once
  (the client reads end of stream where the answer should be) and reset (SO_LINGER 0) when the
  server closes it.

Every call is counted per (caller, action), and every injected fault, so a test can tell that
the fault it set was reached. The body shapes follow the protocols: JSON protocols answer
`{"__type": code, "message": ...}` with `x-amzn-ErrorType`; the query protocol (SNS) answers an
`ErrorResponse` XML document. RPCv2 CBOR (CloudWatch) is served without faults.
"""

from __future__ import annotations

import enum
import json
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

THROTTLE_CODES = {"dynamodb": ("ProvisionedThroughputExceededException", 400)}
THROTTLE_MESSAGES = {"ses": "Maximum sending rate exceeded"}
SERVER_ERROR_CODES = {
    "dynamodb": "InternalServerError",
    "ecs": "ServerException",
    "ecr": "ServerException",
    "sns": "InternalError",
    "secretsmanager": "InternalServiceError",
    "ssm": "InternalServerError",
}
QUERY_PROTOCOL = {"sns"}


class Kind(enum.Enum):
    THROTTLE = "throttle"
    SERVER_ERROR = "server_error"
    DELAY = "delay"
    RESET = "reset"
    ERROR = "error"


@dataclass
class Rule:
    id: int
    caller: str
    action: str
    kind: Kind
    nth: int = 1
    times: int | None = 1
    share: float | None = None
    seed: int = 0
    delay_s: float = 0.0
    status: int = 0
    code: str = ""
    message: str = ""
    seen: int = 0
    injected: int = 0
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def parse(cls, id: int, body: dict[str, Any]) -> Rule:
        known = {"caller", "action", "kind", "nth", "times", "share", "seed", "delay_s", "status", "code", "message"}
        unknown = set(body) - known
        if unknown:
            raise ValueError(f"fault rule: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
        kind = Kind(body["kind"])
        nth = int(body.get("nth", 1))
        times = body.get("times", 1)
        share = body.get("share")
        if nth < 1:
            raise ValueError("fault rule: `nth` counts from 1")
        if times is not None and int(times) < 1:
            raise ValueError("fault rule: `times` is at least 1, or null for every call from the nth")
        if share is not None and not 0.0 < float(share) <= 1.0:
            raise ValueError("fault rule: `share` is a probability in (0, 1]")
        if kind is Kind.DELAY and float(body.get("delay_s", 0)) <= 0:
            raise ValueError("fault rule: a `delay` needs `delay_s` > 0")
        if kind is Kind.ERROR and not (400 <= int(body.get("status", 0)) <= 599 and body.get("code")):
            raise ValueError("fault rule: an `error` needs `status` (400-599) and `code`")
        seed = int(body.get("seed", 0))
        return cls(
            id=id,
            caller=str(body.get("caller", "*")),
            action=str(body.get("action", "*")),
            kind=kind,
            nth=nth,
            times=None if times is None else int(times),
            share=None if share is None else float(share),
            seed=seed,
            delay_s=float(body.get("delay_s", 0)),
            status=int(body.get("status", 0)),
            code=str(body.get("code", "")),
            message=str(body.get("message", "")),
            rng=random.Random(seed),
        )

    def matches(self, caller: str, action: str) -> bool:
        if self.caller.endswith("*"):
            if not caller.startswith(self.caller[:-1]):
                return False
        elif self.caller != caller:
            return False
        if self.action in ("*", action):
            return True
        return self.action.endswith(":*") and action.split(":", 1)[0] == self.action[:-2]

    def fires(self) -> bool:
        """Counts one matching call; whether it fails."""
        self.seen += 1
        if self.share is not None:
            hit = self.rng.random() < self.share
        else:
            hit = self.seen >= self.nth and (self.times is None or self.seen < self.nth + self.times)
        if hit:
            self.injected += 1
        return hit

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "caller": self.caller,
            "action": self.action,
            "kind": self.kind.value,
            "nth": self.nth,
            "times": self.times,
            "share": self.share,
            "seed": self.seed,
            "delay_s": self.delay_s,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "seen": self.seen,
            "injected": self.injected,
        }


class Faults:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: list[Rule] = []
        self.next_id = 1
        self.calls: dict[tuple[str, str], int] = {}
        self.injected: list[dict[str, Any]] = []

    def add(self, body: dict[str, Any]) -> dict[str, Any]:
        rules = body.get("rules")
        if not isinstance(rules, list) or not rules:
            raise ValueError('POST faults takes {"rules": [{"caller", "action", "kind", ...}, ...]}')
        with self.lock:
            added = []
            for r in rules:
                rule = Rule.parse(self.next_id, dict(r))
                self.next_id += 1
                self.rules.append(rule)
                added.append(rule.id)
        return {"added": added}

    def clear(self) -> dict[str, Any]:
        """Removes every rule and forgets the counts."""
        with self.lock:
            self.rules.clear()
            self.calls.clear()
            self.injected.clear()
        return {"ok": True}

    def report(self) -> dict[str, Any]:
        with self.lock:
            calls: dict[str, dict[str, int]] = {}
            for (caller, action), n in sorted(self.calls.items()):
                calls.setdefault(caller, {})[action] = n
            return {"rules": [r.describe() for r in self.rules], "calls": calls, "injected": list(self.injected)}

    def decide(self, caller: str, action: str) -> Rule | None:
        """Counts the call; the rule whose fault it gets, if any (the first that fires)."""
        with self.lock:
            self.calls[(caller, action)] = self.calls.get((caller, action), 0) + 1
            for rule in self.rules:
                if rule.matches(caller, action) and rule.fires():
                    self.injected.append({"rule": rule.id, "caller": caller, "action": action, "kind": rule.kind.value, "at": time.time()})
                    return rule
        return None


def error_response(service: str, rule: Rule) -> tuple[str, list[tuple[str, str]], bytes]:
    """The status line, headers and body of the error `rule` answers for `service`."""
    if rule.kind is Kind.THROTTLE:
        code, status = THROTTLE_CODES.get(service, ("ThrottlingException", 400))
        message = THROTTLE_MESSAGES.get(service, "Rate exceeded")
    elif rule.kind is Kind.ERROR:
        code, status, message = rule.code, rule.status, rule.message
    else:
        code, status = SERVER_ERROR_CODES.get(service, "InternalFailure"), 500
        message = "We encountered an internal error. Please try again."
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    request_id = f"greenlight-fault-{time.time_ns()}"
    if service in QUERY_PROTOCOL:
        body = (
            '<ErrorResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>'
            + ("Sender" if status < 500 else "Receiver")
            + f"</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    else:
        body = json.dumps({"__type": code, "message": message}).encode()
        content_type = "application/x-amz-json-1.0" if service == "dynamodb" else "application/x-amz-json-1.1"
        headers = [("Content-Type", content_type), ("x-amzn-ErrorType", code), ("x-amzn-RequestId", request_id)]
    headers.append(("Content-Length", str(len(body))))
    return f"{status} {reason}", headers, body


def reset(environ: dict[str, Any]) -> None:
    """Drops the request's connection with nothing answered: shut down now, RST on close."""
    sock: socket.socket | None = environ.get("werkzeug.socket")
    if sock is None:
        raise RuntimeError("a reset fault needs werkzeug's socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.shutdown(socket.SHUT_RDWR)


class ConnectionReset(ConnectionError):
    """Raised after a reset: the server treats it as a dropped connection and writes nothing more."""


def apply(
    rule: Rule, service: str, environ: dict[str, Any], start_response: Callable[..., Any], app: Callable[..., Any]
) -> Any:
    """Answers the call as `rule` says."""
    if rule.kind is Kind.DELAY:
        time.sleep(rule.delay_s)
        return app(environ, start_response)
    if rule.kind is Kind.RESET:
        reset(environ)
        raise ConnectionReset(f"fault {rule.id}: connection reset")
    status, headers, body = error_response(service, rule)
    start_response(status, headers)
    return [body]
