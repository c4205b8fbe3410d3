"""A fake Slack: the incoming webhook and an interaction's `response_url` (posts land here and
are kept), an outage (every post answers an HTTP error status), and the Web API methods
greenlight calls with the bot token: `usergroups.users.list`, `chat.postMessage`, `chat.update`.

The Web API answers as Slack documents it (api.slack.com/methods): HTTP 200 with `{"ok": true,
...}`, or `{"ok": false, "error": ...}`: `not_authed` without a token, `invalid_auth` with a
wrong one; `no_such_subteam` for an unknown group; `channel_not_found` for a channel the bot is
not in; `no_text` for a message with neither `text` nor `blocks`; `message_not_found` for an
update naming no message of the channel. `chat.postMessage` answers the channel's id and the new
message's `ts`; `chat.update` replaces its text and blocks (both methods take JSON, Slack's
`application/json` content type). The token comes as `Authorization: Bearer <token>`. Messages
posted through the Web API are kept with `hook` `chat.postMessage` (`thread_ts` when a reply),
their `ts`, and every version `chat.update` made of them (`updates`).
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
        # The channels the bot is in (chat.postMessage to any other is channel_not_found).
        self.channels: set[str] = set()
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
        channels = body.get("channels", [])
        if not isinstance(channels, list):
            raise TypeError("slack-groups: `channels` lists the channel ids the bot is in")
        self.channels = {str(c) for c in channels}
        return {"groups": len(self.groups), "channels": len(self.channels)}

    def api(self, method: str, query: dict[str, str], authorization: str, body: dict[str, Any] | None = None) -> tuple[str, Any]:
        """A Web API call: arguments in the query string (GET) or the JSON body (POST)."""
        self.api_calls += 1
        methods = {
            "usergroups.users.list": self.users_list,
            "chat.postMessage": self.post_message,
            "chat.update": self.update,
        }
        call = methods.get(method)
        if call is None:
            return "200 OK", {"ok": False, "error": "unknown_method"}
        token = authorization[len("Bearer ") :] if authorization.startswith("Bearer ") else ""
        if not token:
            return "200 OK", {"ok": False, "error": "not_authed"}
        if token != self.bot_token:
            return "200 OK", {"ok": False, "error": "invalid_auth"}
        return "200 OK", call({**query, **(body or {})})

    def users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        members = self.groups.get(str(args.get("usergroup", "")))
        if members is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": members}

    def post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        ts = f"1700000000.{len(self.messages) + 1:06d}"
        payload = {k: v for k, v in args.items() if k not in ("channel", "thread_ts")}
        message: dict[str, Any] = {"hook": "chat.postMessage", "channel": channel, "ts": ts, "payload": payload, "updates": []}
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        self.messages.append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": payload}

    def update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        for message in self.messages:
            if message.get("hook") == "chat.postMessage" and message["channel"] == channel and message["ts"] == ts:
                new = {k: v for k, v in args.items() if k not in ("channel", "ts")}
                message["updates"].append(new)
                message["payload"] = new
                return {"ok": True, "channel": channel, "ts": ts, "text": new.get("text", "")}
        return {"ok": False, "error": "message_not_found"}

    def state(self) -> dict[str, Any]:
        return {"outage": self.outage, "refused": self.refused}
