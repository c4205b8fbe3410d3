"""ECR's push events through an EventBridge rule to a Lambda function, seen through boto3: the
event ECR documents for a completed push ("Amazon ECR events and EventBridge"), on the default
bus, delivered asynchronously to the rule's Lambda target in EventBridge's documented structure
("AWS service event metadata"); a rule whose pattern does not match delivers nothing."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from typing import Any

from checks.emulation import EmulationTest

ECR_PUSHES = {
    "source": ["aws.ecr"],
    "detail-type": ["ECR Image Action"],
    "detail": {"action-type": ["PUSH"], "result": ["SUCCESS"], "repository-name": ["shop"]},
}
ARN = "arn:aws:lambda:us-east-1:123456789012:function:greenlight-recorder"


class EventsTest(EmulationTest):
    def setUp(self) -> None:
        self.record = os.path.join(self.tmp.name, f"{self.id()}.jsonl")
        function = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recording_function.py")
        self.post("functions", {"name": "greenlight-recorder", "command": [sys.executable, function], "env": {"RECORD_TO": self.record}})
        self.events = self.client("events")
        self.ecr = self.client("ecr")

    def rule(self, name: str, pattern: dict[str, Any]) -> None:
        self.events.put_rule(Name=name, EventPattern=json.dumps(pattern))
        self.events.put_targets(Rule=name, Targets=[{"Id": "recorder", "Arn": ARN}])

    def push(self, repository: str, tag: str, layer: str) -> str:
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"digest": "sha256:" + "c" * 64, "size": 1},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": "sha256:" + layer * 64, "size": 1}],
            }
        )
        image = self.ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag)["image"]
        digest: str = image["imageId"]["imageDigest"]
        return digest

    def recorded(self, count: int) -> list[dict[str, Any]]:
        """The events the function was invoked with, once it has `count` (delivery is asynchronous)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if os.path.exists(self.record):
                with open(self.record) as f:
                    lines = [json.loads(line) for line in f if line.strip()]
                if len(lines) >= count:
                    return lines
            time.sleep(0.05)
        self.fail(f"the function was not invoked {count} time(s)")

    def test_a_push_reaches_the_rule_s_lambda_target_as_ecr_documents_its_event(self) -> None:
        self.ecr.create_repository(repositoryName="shop")
        self.rule("pushes", ECR_PUSHES)
        digest = self.push("shop", "v1", "a")
        [event] = self.recorded(1)
        self.assertEqual(sorted(event), sorted(["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"]))
        self.assertEqual((event["version"], event["source"], event["detail-type"]), ("0", "aws.ecr", "ECR Image Action"))
        self.assertEqual((event["account"], event["region"], event["resources"]), ("123456789012", "us-east-1", []))
        self.assertRegex(event["id"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
        self.assertRegex(event["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(
            event["detail"],
            {"result": "SUCCESS", "repository-name": "shop", "image-digest": digest, "action-type": "PUSH", "image-tag": "v1"},
        )
        # A new tag for the same image is a push of its own: another event, another id.
        self.ecr.put_image(repositoryName="shop", imageManifest=self.ecr.batch_get_image(repositoryName="shop", imageIds=[{"imageTag": "v1"}])["images"][0]["imageManifest"], imageTag="v1-again")
        second = self.recorded(2)[1]
        self.assertEqual((second["detail"]["image-digest"], second["detail"]["image-tag"]), (digest, "v1-again"))
        self.assertNotEqual(second["id"], event["id"])
        delivered = [d for d in self.get("state")["events"]["delivered"] if d["rule"] == "pushes"]
        self.assertEqual([d["target"] for d in delivered], [ARN, ARN])

    def test_push_times_have_javascript_s_millisecond_precision(self) -> None:
        self.ecr.create_repository(repositoryName="times")
        pushed = []
        for layer in "def":
            self.push("times", f"t-{layer}", layer)
        for detail in self.ecr.describe_images(repositoryName="times")["imageDetails"]:
            pushed.append(detail["imagePushedAt"].timestamp())
        self.assertEqual(len(set(pushed)), 3, f"three pushes in a row, three push times: {pushed}")
        self.assertTrue(all(abs(p * 1000 - round(p * 1000)) < 1e-3 for p in pushed), pushed)

    def test_a_rule_whose_pattern_does_not_match_delivers_nothing(self) -> None:
        self.ecr.create_repository(repositoryName="other")
        wrong = dict(ECR_PUSHES, detail={"action-type": ["Push"], "result": ["SUCCESS"], "repository-name": ["other"]})
        self.rule("wrong-case", wrong)
        self.rule("right", dict(ECR_PUSHES, detail={"action-type": ["PUSH"], "result": ["SUCCESS"], "repository-name": ["other"]}))
        self.push("other", "v1", "b")
        # Matching happens within PutImage: by now the state counts what each rule matched.
        matched = self.get("state")["events"]["matched"]
        self.assertEqual(matched.get("right"), 1)
        self.assertNotIn("wrong-case", matched)
        self.assertEqual(len(self.recorded(1)), 1, "only the matching rule invoked the function")
        self.assertTrue(all(re.match(r"^\d{4}-", e["time"]) for e in self.recorded(1)))
