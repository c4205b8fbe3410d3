"""The fake Slack's Web API answers `usergroups.users.list` as Slack documents it: HTTP 200 and
`ok` false with `not_authed`, `invalid_auth` or `no_such_subteam`, else the group's user ids."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from checks.emulation import EmulationTest


class SlackWebApi(EmulationTest):
    def call(self, query: str, token: str | None) -> Any:
        req = urllib.request.Request(f"{self.endpoint}/greenlight-emulator/slack-api/usergroups.users.list?{query}")
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
