"""A fake Slack: the incoming webhook and an interaction's `response_url` (posts land here and
are kept), an outage (every post answers an HTTP error status), and the one Web API method
greenlight reads, `usergroups.users.list`.

The Web API answers as Slack documents it: HTTP 200 with `{"ok": true, "users": [...]}`, or
`{"ok": false, "error": ...}`: `not_authed` without a token, `invalid_auth` with a wrong one,
`no_such_subteam` for an unknown group. The token comes as `Authorization: Bearer <token>`.
"""

from __future__ import annotations

from typing import Any


class FakeSlack:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        # While set, every post answers this status (an outage) and keeps nothing.
        self.outage: int | None = None
        # How many more posts the outage refuses (None: every one until it is ended).
        self.outage_left: int | None = None
        self.refused = 0
        # The workspace's user groups (id → member user ids) and the bot token that may read them.
        self.groups: dict[str, list[str]] = {}
        self.bot_token: str | None = None
        self.api_calls = 0

    def post(self, hook: str, body: Any) -> tuple[str, Any]:
        """A webhook post. Slack's webhooks tell errors by HTTP status."""
        if self.outage is not None:
            self.refused += 1
            status = self.outage
            if self.outage_left is not None:
                self.outage_left -= 1
                if self.outage_left == 0:
                    self.outage = self.outage_left = None
            return f"{status} Slack Unavailable", {"error": "slack is down"}
        self.messages.append({"hook": hook, "payload": body})
        return "200 OK", "ok"

    def set_outage(self, body: dict[str, Any]) -> dict[str, Any]:
        """`{"status": 503}`: every post answers it from now on; `{"status": 503, "times": 2}`:
        the next two posts only; `{"status": null}`: back."""
        status = body.get("status")
        if status is not None and not 400 <= int(status) <= 599:
            raise ValueError("slack-outage: `status` is an HTTP error status (400-599), or null to end the outage")
        times = body.get("times")
        if times is not None and int(times) < 1:
            raise ValueError("slack-outage: `times` is how many posts fail (at least 1), or absent for every post")
        self.outage = None if status is None else int(status)
        self.outage_left = None if times is None else int(times)
        return {"status": self.outage, "times": self.outage_left, "refused": self.refused}

    def set_groups(self, body: dict[str, Any]) -> dict[str, Any]:
        """`{"bot_token": "xoxb-…", "groups": {"S…": ["U…", …]}}`: the workspace's user groups."""
        groups = body.get("groups", {})
        if not isinstance(groups, dict) or not all(isinstance(m, list) for m in groups.values()):
            raise ValueError("slack-groups: `groups` maps a user group id to a list of user ids")
        self.groups = {str(g): [str(u) for u in members] for g, members in groups.items()}
        self.bot_token = body.get("bot_token")
        return {"groups": len(self.groups)}

    def api(self, method: str, query: dict[str, str], authorization: str) -> tuple[str, Any]:
        self.api_calls += 1
        if method != "usergroups.users.list":
            return "200 OK", {"ok": False, "error": "unknown_method"}
        token = authorization[len("Bearer ") :] if authorization.startswith("Bearer ") else ""
        if not token:
            return "200 OK", {"ok": False, "error": "not_authed"}
        if token != self.bot_token:
            return "200 OK", {"ok": False, "error": "invalid_auth"}
        members = self.groups.get(query.get("usergroup", ""))
        if members is None:
            return "200 OK", {"ok": False, "error": "no_such_subteam"}
        return "200 OK", {"ok": True, "users": members}

    def state(self) -> dict[str, Any]:
        return {"outage": self.outage, "refused": self.refused}
