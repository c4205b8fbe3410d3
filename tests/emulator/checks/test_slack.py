"""The fake Slack's Web API answers as Slack documents it (api.slack.com/methods): HTTP 200 and
`ok` false with `not_authed`, `invalid_auth`, `no_such_subteam`, `channel_not_found`, `no_text`
or `message_not_found`; else the group's user ids, or the message's channel and `ts`."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from checks.emulation import EmulationTest


class SlackWebApi(EmulationTest):
    def call(self, query: str, token: str | None, method: str = "usergroups.users.list", body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.endpoint}/greenlight-emulator/slack-api/{method}?{query}", data=data)
        if data is not None:
            req.add_header("Content-Type", "application/json; charset=utf-8")
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(req) as r:
            self.assertEqual(r.status, 200, "Slack's Web API tells errors in the body")
            return json.loads(r.read())

    def test_members_are_read_with_the_bot_token_only(self) -> None:
        self.post("slack-groups", {"bot_token": "xoxb-1", "groups": {"S0DEPLOYS": ["U0ALICE01", "U0BOB0001"]}})
        self.assertEqual(self.call("usergroup=S0DEPLOYS", "xoxb-1"), {"ok": True, "users": ["U0ALICE01", "U0BOB0001"]})
        self.assertEqual(self.call("usergroup=S0DEPLOYS", None), {"ok": False, "error": "not_authed"})
        self.assertEqual(self.call("usergroup=S0DEPLOYS", "xoxb-2"), {"ok": False, "error": "invalid_auth"})
        self.assertEqual(self.call("usergroup=S0NOTHERE", "xoxb-1"), {"ok": False, "error": "no_such_subteam"})

    def test_groups_must_map_to_lists_of_users(self) -> None:
        self.assertEqual(self.post("slack-groups", {"groups": {"S0DEPLOYS": "U0ALICE01"}}).get("http_status"), 400)

    def test_a_message_posted_with_the_bot_token_can_be_updated_and_replied_to(self) -> None:
        self.post("slack-groups", {"bot_token": "xoxb-1", "channels": ["C0DEPLOYS1"]})
        posted = self.call("", "xoxb-1", "chat.postMessage", {"channel": "C0DEPLOYS1", "text": "approve?", "blocks": []})
        self.assertTrue(posted["ok"], posted)
        self.assertEqual(posted["channel"], "C0DEPLOYS1")
        ts = posted["ts"]
        reply = self.call("", "xoxb-1", "chat.postMessage", {"channel": "C0DEPLOYS1", "text": "deployed", "thread_ts": ts})
        self.assertTrue(reply["ok"] and reply["ts"] != ts, reply)
        updated = self.call("", "xoxb-1", "chat.update", {"channel": "C0DEPLOYS1", "ts": ts, "text": "cancelled"})
        self.assertEqual((updated["ok"], updated["ts"]), (True, ts))
        kept = [m for m in self.get("slack") if m["hook"] == "chat.postMessage"]
        self.assertEqual([m["payload"]["text"] for m in kept], ["cancelled", "deployed"])
        self.assertEqual(kept[0]["updates"], [{"text": "cancelled"}])
        self.assertEqual(kept[1]["thread_ts"], ts)

    def test_web_api_messages_are_refused_as_slack_refuses_them(self) -> None:
        self.post("slack-groups", {"bot_token": "xoxb-1", "channels": ["C0DEPLOYS1"]})
        post = "chat.postMessage"
        self.assertEqual(self.call("", None, post, {"channel": "C0DEPLOYS1", "text": "x"})["error"], "not_authed")
        self.assertEqual(self.call("", "xoxb-1", post, {"channel": "C0ELSEWHERE", "text": "x"})["error"], "channel_not_found")
        self.assertEqual(self.call("", "xoxb-1", post, {"channel": "C0DEPLOYS1"})["error"], "no_text")
        missing = self.call("", "xoxb-1", "chat.update", {"channel": "C0DEPLOYS1", "ts": "1.2", "text": "x"})
        self.assertEqual(missing, {"ok": False, "error": "message_not_found"})
