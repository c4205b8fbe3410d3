"""The emulation's fault injection, seen through boto3 (botocore's own parsing and retry
classification): each kind answers as the AWS documentation says the service answers."""

from __future__ import annotations

import json
import os
import sys
import time
import unittest
from typing import Any

import botocore.config
import botocore.exceptions

from checks.emulation import EmulationTest


class FaultsTest(EmulationTest):
    def setUp(self) -> None:
        self.control("DELETE")

    def control(self, method: str, body: dict[str, Any] | None = None) -> Any:
        return self.route(method, "faults", body)

    def error(self, call: Any) -> botocore.exceptions.ClientError:
        with self.assertRaises(botocore.exceptions.ClientError) as caught:
            call()
        return caught.exception

    def test_throttle_is_each_service_s_spelling_and_botocore_retries_it(self) -> None:
        self.control("POST", {"rules": [{"action": "*", "kind": "throttle", "times": None}]})
        ddb = self.error(lambda: self.client("dynamodb").list_tables())
        self.assertEqual(ddb.response["Error"]["Code"], "ProvisionedThroughputExceededException")
        self.assertEqual(ddb.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        sns = self.error(lambda: self.client("sns").publish(TopicArn="arn:aws:sns:us-east-1:123456789012:t", Message="m"))
        self.assertEqual(sns.response["Error"]["Code"], "ThrottlingException")
        self.assertEqual(sns.response["Error"]["Message"], "Rate exceeded")
        self.assertEqual(sns.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        ecs = self.error(lambda: self.client("ecs").list_clusters())
        self.assertEqual(ecs.response["Error"]["Code"], "ThrottlingException")
        self.assertEqual(ecs.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        # botocore's standard retry mode reads all three as throttling and tries again.
        retried = self.error(lambda: self.client("ecs", retries={"total_max_attempts": 3, "mode": "standard"}).list_clusters())
        self.assertEqual(retried.response["ResponseMetadata"]["RetryAttempts"], 2)

    def test_server_error_is_a_500_with_the_service_s_code(self) -> None:
        self.control("POST", {"rules": [{"action": "*", "kind": "server_error", "times": None}]})
        for service, call, code in [
            ("dynamodb", "list_tables", "InternalServerError"),
            ("ecs", "list_clusters", "ServerException"),
            ("sns", "list_topics", "InternalError"),
            ("ssm", "describe_parameters", "InternalServerError"),
            ("codedeploy", "list_applications", "InternalFailure"),
        ]:
            e = self.error(getattr(self.client(service), call))
            self.assertEqual((service, e.response["Error"]["Code"]), (service, code))
            self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 500)

    def test_a_caller_prefix_matches_every_function_and_nothing_else(self) -> None:
        self.control("POST", {"rules": [{"caller": "greenlight-*", "action": "ecs:*", "kind": "server_error", "times": None}]})
        self.error(lambda: self.client("ecs", "greenlight-finish").list_clusters())
        self.error(lambda: self.client("ecs", "greenlight-prepare").list_clusters())
        self.client("ecs", "testing").list_clusters()
        self.client("ssm", "greenlight-finish").describe_parameters()

    def test_nth_and_times_pick_the_calls_and_only_the_named_caller_s(self) -> None:
        self.control("POST", {"rules": [{"caller": "greenlight-finish", "action": "ecs:ListClusters", "kind": "server_error", "nth": 2, "times": 2}]})
        finish, prepare = self.client("ecs", "greenlight-finish"), self.client("ecs", "greenlight-prepare")
        outcomes = []
        for _ in range(5):
            prepare.list_clusters()
            try:
                finish.list_clusters()
                outcomes.append("ok")
            except botocore.exceptions.ClientError:
                outcomes.append("fault")
        self.client("ecs", "greenlight-finish").list_task_definitions()
        self.assertEqual(outcomes, ["ok", "fault", "fault", "ok", "ok"])
        report = self.control("GET")
        self.assertEqual(report["calls"]["greenlight-finish"]["ecs:ListClusters"], 5)
        self.assertEqual(report["calls"]["greenlight-prepare"]["ecs:ListClusters"], 5)
        self.assertEqual(report["calls"]["greenlight-finish"]["ecs:ListTaskDefinitions"], 1)
        self.assertEqual([(i["caller"], i["action"]) for i in report["injected"]], [("greenlight-finish", "ecs:ListClusters")] * 2)
        self.assertEqual(report["rules"][0]["injected"], 2)

    def test_a_share_is_repeatable_for_a_seed(self) -> None:
        def run() -> list[bool]:
            self.control("DELETE")
            self.control("POST", {"rules": [{"action": "ssm:*", "kind": "throttle", "share": 0.3, "seed": 7}]})
            ssm, out = self.client("ssm"), []
            for _ in range(40):
                try:
                    ssm.describe_parameters()
                    out.append(True)
                except botocore.exceptions.ClientError:
                    out.append(False)
            return out

        first, second = run(), run()
        self.assertEqual(first, second)
        self.assertTrue(0 < first.count(False) < 40, first)

    def test_reset_drops_the_connection_before_anything_is_applied(self) -> None:
        ssm = self.client("ssm")
        self.control("POST", {"rules": [{"action": "ssm:PutParameter", "kind": "reset"}]})
        with self.assertRaises((botocore.exceptions.ConnectionClosedError, botocore.exceptions.EndpointConnectionError)):
            ssm.put_parameter(Name="/reset", Value="v", Type="String")
        self.assertEqual(self.error(lambda: ssm.get_parameter(Name="/reset")).response["Error"]["Code"], "ParameterNotFound")

    def test_delay_outlasts_the_read_timeout_and_the_call_still_lands(self) -> None:
        ssm = self.client("ssm", read_timeout=0.3)
        self.control("POST", {"rules": [{"action": "ssm:PutParameter", "kind": "delay", "delay_s": 1.0}]})
        with self.assertRaises(botocore.exceptions.ReadTimeoutError):
            ssm.put_parameter(Name="/late", Value="v", Type="String")
        deadline = time.monotonic() + 10
        while True:
            try:
                self.assertEqual(ssm.get_parameter(Name="/late")["Parameter"]["Value"], "v")
                break
            except botocore.exceptions.ClientError:
                self.assertLess(time.monotonic(), deadline, "the delayed call never landed")
                time.sleep(0.1)

    def test_lambda_refuses_an_invoke_payload_that_is_not_json(self) -> None:
        # Not the fault injection's, but the same front of the emulation: Invoke's payload check.
        lam = self.client("lambda")
        for payload in [b"PUSH web:v2", b'{"tag": "\xfe\xff"}']:
            e = self.error(lambda p=payload: lam.invoke(FunctionName="greenlight-none", Payload=p))
            self.assertEqual(e.response["Error"]["Code"], "InvalidRequestContentException")
            self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 400)

    def test_an_error_answers_in_the_service_s_words_and_botocore_does_not_retry_it(self) -> None:
        message = "Too many concurrent attempts to create a new revision of the specified family."
        self.control("POST", {"rules": [{"caller": "greenlight-prepare", "action": "ecs:RegisterTaskDefinition", "kind": "error", "status": 400, "code": "ClientException", "message": message}]})
        ecs = self.client("ecs", retries={"total_max_attempts": 3, "mode": "standard"})

        def register() -> Any:
            return ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "web:1", "memory": 512}])

        e = self.error(register)
        self.assertEqual(e.response["Error"]["Code"], "ClientException")
        self.assertEqual(e.response["Error"]["Message"], message)
        self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        # A ClientException is not among the errors botocore retries: one attempt, one fault.
        self.assertEqual(e.response["ResponseMetadata"]["RetryAttempts"], 0)
        self.assertEqual(self.control("GET")["calls"]["greenlight-prepare"]["ecs:RegisterTaskDefinition"], 1)
        self.assertEqual(register()["taskDefinition"]["revision"], 1)

    def test_a_function_past_its_timeout_is_killed_and_the_next_invocation_starts_a_new_one(self) -> None:
        function = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sleepy_function.py")
        self.post("functions", {"name": "greenlight-sleepy", "command": [sys.executable, function], "env": {}, "timeout_s": 1})
        lam = self.client("lambda", read_timeout=30)
        first = json.loads(lam.invoke(FunctionName="greenlight-sleepy", Payload=b'{"sleep": 0}')["Payload"].read())
        timed_out = lam.invoke(FunctionName="greenlight-sleepy", Payload=b'{"sleep": 30}')
        self.assertEqual(timed_out.get("FunctionError"), "Unhandled")
        error = json.loads(timed_out["Payload"].read())
        self.assertEqual(error["errorType"], "Sandbox.Timedout")
        self.assertIn("Task timed out after 1.00 seconds", error["errorMessage"])
        state = self.get("state")["functions"]["greenlight-sleepy"]
        self.assertEqual(state["timeouts"], 1)
        self.assertNotIn(first["pid"], state["pids"], "the environment that timed out was reset")
        with self.assertRaises(ProcessLookupError):
            os.kill(first["pid"], 0)
        again = json.loads(lam.invoke(FunctionName="greenlight-sleepy", Payload=b'{"sleep": 0}')["Payload"].read())
        self.assertNotEqual(again["pid"], first["pid"], "a new environment answers")

    def test_a_slack_outage_answers_its_status_until_it_ends(self) -> None:
        self.assertEqual(self.post("slack-outage", {"status": 503})["status"], 503)
        self.assertEqual(self.post("slack/hook", {"text": "hello"}).get("http_status"), 503)
        self.assertEqual(self.get("state")["slack"], {"outage": 503, "refused": 1})
        self.assertNotIn({"text": "hello"}, [m["payload"] for m in self.get("slack")])
        self.assertEqual(self.post("slack-outage", {"status": 200}).get("http_status"), 400)
        self.post("slack-outage", {"status": None})
        self.post("slack/hook", {"text": "back"})
        self.assertIn({"text": "back"}, [m["payload"] for m in self.get("slack")])
        # An outage of two posts: the third goes through.
        self.post("slack-outage", {"status": 503, "times": 2})
        answers = [self.post("slack/hook", {"text": f"try {n}"}) for n in range(3)]
        answers = [a.get("http_status") if isinstance(a, dict) else 200 for a in answers]
        self.assertEqual(answers, [503, 503, 200])
        self.assertEqual(self.get("state")["slack"]["outage"], None)
        self.assertEqual(self.post("slack-outage", {"status": 503, "times": 0}).get("http_status"), 400)

    def test_bad_rules_are_refused_and_change_nothing(self) -> None:
        for rule in [{"kind": "melt"}, {"kind": "throttle", "nth": 0}, {"kind": "delay"}, {"kind": "throttle", "share": 2}, {"kind": "throttle", "when": 1}, {"kind": "error"}, {"kind": "error", "status": 200, "code": "X"}]:
            answer = self.control("POST", {"rules": [rule]})
            self.assertEqual(answer.get("http_status"), 400, (rule, answer))
        self.assertEqual(self.control("GET")["rules"], [])
        self.client("ssm").describe_parameters()


if __name__ == "__main__":
    unittest.main()
