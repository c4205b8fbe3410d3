"""Amazon SES (API v2) as the emulation answers it, seen through boto3: SendEmail is refused
from a sender that is not a verified identity and accepted from one that is (the SES Developer
Guide, "Verified identities": SES sends only from verified addresses or domains, and rejects
the rest with MessageRejected); what was sent can be read back; the call is counted as the IAM
action `ses:SendEmail` and can be throttled as SES throttles it (`ThrottlingException`,
"Maximum sending rate exceeded": "Errors related to the sending quotas for your Amazon SES
account")."""

from __future__ import annotations

import unittest
from typing import Any

import botocore.exceptions

from checks.emulation import EmulationTest


def email(sender: str, to: str) -> dict[str, Any]:
    return {
        "FromEmailAddress": sender,
        "Destination": {"ToAddresses": [to]},
        "Content": {"Simple": {"Subject": {"Data": "approve web v2?"}, "Body": {"Text": {"Data": "links"}}}},
    }


class SesTest(EmulationTest):
    def test_only_a_verified_sender_sends_and_what_it_sent_is_kept(self) -> None:
        ses = self.client("sesv2", caller="greenlight-request-approval")
        with self.assertRaises(botocore.exceptions.ClientError) as refused:
            ses.send_email(**email("nobody@unverified.example", "alice@example.com"))
        self.assertEqual(refused.exception.response["Error"]["Code"], "MessageRejected")
        ses.create_email_identity(EmailIdentity="approvals@greenlight.example")
        sent = ses.send_email(**email("approvals@greenlight.example", "alice@example.com"))
        self.assertTrue(sent["MessageId"])
        kept = [e for e in self.route("GET", "emails", None) if e["to"] == ["alice@example.com"]]
        self.assertEqual(len(kept), 1, kept)
        self.assertEqual((kept[0]["from"], kept[0]["subject"], kept[0]["body"]), ("approvals@greenlight.example", "approve web v2?", "links"))
        calls = self.route("GET", "faults", None)["calls"]["greenlight-request-approval"]
        self.assertEqual(calls["ses:SendEmail"], 2, calls)

    def test_a_throttle_is_ses_s_throttling_exception(self) -> None:
        ses = self.client("sesv2", caller="greenlight-request-approval")
        ses.create_email_identity(EmailIdentity="approvals@greenlight.example")
        self.route("POST", "faults", {"rules": [{"caller": "greenlight-request-approval", "action": "ses:SendEmail", "kind": "throttle"}]})
        try:
            with self.assertRaises(botocore.exceptions.ClientError) as throttled:
                ses.send_email(**email("approvals@greenlight.example", "bob@example.com"))
            error = throttled.exception.response
            self.assertEqual(error["Error"]["Code"], "ThrottlingException")
            self.assertEqual(error["Error"]["Message"], "Maximum sending rate exceeded")
            self.assertEqual(error["ResponseMetadata"]["HTTPStatusCode"], 400)
        finally:
            self.route("DELETE", "faults", None)


if __name__ == "__main__":
    unittest.main()
