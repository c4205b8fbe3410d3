"""EventBridge as greenlight's orchestrator uses it: ECR's push events on the default event bus,
and a rule that delivers them to a Lambda function.

- ECR sends an `ECR Image Action` event when each image push completes ("Amazon ECR events and
  EventBridge", Amazon ECR User Guide): source `aws.ecr`, a `detail` with `result` SUCCESS,
  `repository-name`, `image-digest`, `action-type` PUSH and `image-tag`. Here every successful
  PutImage (a push, or a new tag for an image the repository has) puts that event on the
  account's default bus, where moto matches it against the rules.
- moto delivers matched events to CloudWatch Logs, SQS, archives and other buses only. A Lambda
  target is invoked asynchronously ("Lambda and EventBridge": EventBridge invokes the function
  asynchronously), with the event itself in its documented structure ("AWS service event
  metadata", EventBridge User Guide): `version`, `id` (a version 4 UUID), `detail-type`,
  `source`, `account`, `time` (a timestamp such as `2019-11-16T01:54:34Z`), `region`,
  `resources` and `detail`; moto's `ingestion-time` is not part of it.

- ECR's `imagePushedAt` is "the date and time, expressed in standard JavaScript date format, at
  which the current image was pushed" (DescribeImages' ImageDetail): milliseconds. moto keeps
  whole seconds, which would make two pushes in one second tie; here it keeps milliseconds.

What each rule matched and which events went to which function are kept for the state route.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from typing import Any

from .lambdas import Functions

DOCUMENTED = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")


def documented(event: dict[str, Any]) -> dict[str, Any]:
    """The event as EventBridge delivers it: the documented fields, `time` as a timestamp."""
    out = {k: event[k] for k in DOCUMENTED if k in event}
    when = out.get("time")
    if isinstance(when, (int, float)):
        out["time"] = datetime.datetime.fromtimestamp(when, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


class Deliveries:
    """Per rule: how many events it matched, and each delivery to a Lambda target."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.matched: dict[str, int] = {}
        self.delivered: list[dict[str, Any]] = []

    def match(self, rule: str) -> None:
        with self.lock:
            self.matched[rule] = self.matched.get(rule, 0) + 1

    def deliver(self, rule: str, target: str, event: dict[str, Any]) -> None:
        with self.lock:
            self.delivered.append({"rule": rule, "target": target, "event": event})

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {"matched": dict(self.matched), "delivered": list(self.delivered)}


def ecr_push_event(repository: str, digest: str, tag: str | None) -> dict[str, Any]:
    """PutEvents' entry for ECR's event of a completed push."""
    detail: dict[str, Any] = {"result": "SUCCESS", "repository-name": repository, "image-digest": digest, "action-type": "PUSH"}
    if tag:
        detail["image-tag"] = tag
    # No `Time`: moto stamps the event with the current time (a number, which its own target
    # templates need); `documented` writes it as EventBridge does.
    return {"Source": "aws.ecr", "DetailType": "ECR Image Action", "Detail": json.dumps(detail)}


def install(functions: Functions) -> Deliveries:
    """Patches moto: PutImage emits ECR's push event; rules deliver to Lambda targets."""
    from moto.ecr.models import ECRBackend, Image
    from moto.events.models import Rule, events_backends
    from moto.utilities.arns import parse_arn

    deliveries = Deliveries()
    image_init = Image.__init__

    def image_pushed_now(self: Any, *args: Any, **kwargs: Any) -> None:
        image_init(self, *args, **kwargs)
        self.image_pushed_at = round(time.time(), 3)

    Image.__init__ = image_pushed_now  # type: ignore[method-assign]
    put_image = ECRBackend.put_image

    def put_image_and_tell(self: Any, repository_name: str, image_manifest: str, image_tag: str, *args: Any, **kwargs: Any) -> Any:
        image = put_image(self, repository_name, image_manifest, image_tag, *args, **kwargs)
        entry = ecr_push_event(repository_name, image.get_image_digest(), image_tag)
        events_backends[self.account_id][self.region_name].put_events([entry])
        return image

    send_to_targets = Rule.send_to_targets
    sending = threading.Lock()

    def send_and_invoke(self: Any, event: Any, transform_input: bool = True) -> None:
        functions_ = [t for t in self.targets if parse_arn(t["Arn"]).service == "lambda"]
        others = [t for t in self.targets if t not in functions_]
        if others:
            # moto's own delivery, to the targets it knows (it refuses any other kind).
            with sending:
                targets, self.targets = self.targets, others
                try:
                    send_to_targets(self, event, transform_input)
                finally:
                    self.targets = targets
        if not self.event_pattern.matches_event(event):
            return
        deliveries.match(self.name)
        for target in functions_:
            payload = documented(event)
            deliveries.deliver(self.name, target["Arn"], payload)
            functions.invoke_async(target["Arn"], json.dumps(payload).encode())

    ECRBackend.put_image = put_image_and_tell  # type: ignore[method-assign]
    Rule.send_to_targets = send_and_invoke  # type: ignore[method-assign, assignment]
    return deliveries
