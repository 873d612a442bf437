"""A fake Slack Web API over real HTTP on 127.0.0.1:0 that records every call and can be scripted."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from aiohttp import web

T = TypeVar("T")


@dataclass
class Call:
    """One request the fake received on /api/<method>."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    at: float
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)


@dataclass
class ResponsePost:
    """One POST to a response_url the fake serves."""

    response_id: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float


@dataclass
class _Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class FakeSlack:
    """Slack's Web API on loopback: start(), point a WebClient at base_url, assert on calls."""

    def __init__(
        self,
        *,
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        team_id: str = "T0001",
        app_id: str = "A0001",
    ) -> None:
        self.bot_user_id = bot_user_id
        self.permalink_base = "https://fake.slack.com/archives"
        self.bot_id = bot_id
        self.team_id = team_id
        self.app_id = app_id
        self.calls: list[Call] = []
        self.responses: list[ResponsePost] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        # Scripted conversations: channel id → its members and whether it is private (see `join`).
        self.conversations: dict[str, _Conversation] = {}
        # Unscripted channels are public and everybody in `everyone` is a member (older scenarios need no
        # scripting); set False to make every unscripted channel unknown, as a strict workspace would.
        self.open_channels = True
        self.everyone: list[str] = [f"U{n}" for n in range(1, 1000)]
        self._heard: set[str] = set()
        self.channel_errors: dict[str, str] = {}
        self._scripts: dict[str, deque[_Scripted]] = defaultdict(deque)
        self._delays: dict[str, float] = {}
        self._drops: dict[str, int] = {}
        self.socket_acks: list[dict[str, Any]] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._envelopes = itertools.count(1)
        self._lock = threading.Lock()
        self._last_ts = 0.0
        self._port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        ready = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_site())
            except BaseException as exc:  # reported to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-slack", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    async def _start_site(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{response_id}", self._handle_response_url)
        app.router.add_get("/socket", self._handle_socket)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    def stop(self) -> None:
        loop, runner = self._loop, self._runner
        if loop is None or runner is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(runner), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = self._runner = None

    async def _close(self, runner: web.AppRunner) -> None:
        with self._lock:
            sockets = list(self._sockets)
        for ws in sockets:
            await ws.close()
        await runner.cleanup()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/"

    @property
    def base_url(self) -> str:
        return f"{self.url}api/"

    def response_url(self, response_id: str = "r1") -> str:
        return f"{self.url}response/{response_id}"

    # -- scripting -----------------------------------------------------------------------------

    def script(
        self,
        method: str,
        body: dict[str, Any],
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` with this body instead of the normal answer."""
        with self._lock:
            for _ in range(times):
                self._scripts[method].append(_Scripted(status, dict(body), dict(headers or {})))

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls with 429 + Retry-After, as Slack does."""
        self.script(
            method,
            {"ok": False, "error": "ratelimited"},
            status=429,
            headers={"Retry-After": str(retry_after)},
            times=times,
        )

    def fail(self, method: str, error: str = "not_in_channel", *, times: int = 1) -> None:
        """Answer the next `times` calls with {"ok": false, "error": error} (HTTP 200)."""
        self.script(method, {"ok": False, "error": error}, times=times)

    def delay(self, method: str, seconds: float) -> None:
        """Make every call of `method` take at least this long (0 removes the delay)."""
        with self._lock:
            self._delays[method] = seconds

    def drop_after(self, method: str, *, times: int = 1) -> None:
        """Carry out the next `times` calls of `method`, then close the connection instead of answering."""
        with self._lock:
            self._drops[method] = self._drops.get(method, 0) + times

    def join(self, channel: str, *users: str, private: bool = False) -> None:
        """Script a conversation: these users are its members (added to any already scripted)."""
        with self._lock:
            known = self.conversations.get(channel)
            if known is None:
                known = self.conversations[channel] = _Conversation(private=private)
            known.private = private
            known.members.extend(user for user in users if user not in known.members)

    def leave(self, channel: str, user: str) -> None:
        with self._lock:
            known = self.conversations.get(channel)
            if known is not None and user in known.members:
                known.members.remove(user)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.responses.clear()
            self.messages.clear()
            self._scripts.clear()
            self._delays.clear()
            self.channel_errors.clear()
            self.conversations.clear()
            self._heard.clear()
        self.open_channels = True

    # -- inspection ----------------------------------------------------------------------------

    def calls_to(self, method: str, *, ok_only: bool = False) -> list[Call]:
        with self._lock:
            found = [c for c in self.calls if c.method == method]
        if ok_only:
            found = [c for c in found if c.status == 200 and c.response.get("ok")]
        return found

    def posts(self) -> list[Call]:
        """Successful chat.postMessage calls, in order."""
        return self.calls_to("chat.postMessage", ok_only=True)

    def responses_to(self, response_id: str) -> list[ResponsePost]:
        with self._lock:
            return [r for r in self.responses if r.response_id == response_id]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The current state of a posted (and maybe updated) message."""
        with self._lock:
            found = self.messages.get((channel, ts))
            return dict(found) if found is not None else None

    def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0, interval: float = 0.01) -> T:
        """Poll `predicate` until it returns something truthy and return that; fail with AssertionError at the deadline.

        A predicate may answer None for "not yet", so `wait_for(lambda: store.triage_at(...))` gives a str.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"condition not met within {timeout}s; calls: {self.summary()}")
            time.sleep(interval)

    async def wait_for_async(
        self, predicate: Callable[[], T | None], timeout: float = 5.0, interval: float = 0.01
    ) -> T:
        """wait_for for code whose work runs on the test's own event loop."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"condition not met within {timeout}s; calls: {self.summary()}")
            await asyncio.sleep(interval)

    def summary(self) -> list[str]:
        with self._lock:
            return [f"{c.method}:{c.status}" for c in self.calls] + [
                f"response/{r.response_id}" for r in self.responses
            ]

    # -- HTTP handlers -------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = dict(request.query)
        raw = await request.read()
        if raw:
            args.update(_parse_body(raw, request.content_type))
        headers = dict(request.headers)
        call = Call(method=method, args=args, headers=headers, at=time.time())
        with self._lock:
            self.calls.append(call)
            if isinstance(args.get("channel"), str) and args["channel"]:
                self._heard.add(args["channel"])
            delay = self._delays.get(method, 0.0)
            scripted = self._scripts[method].popleft() if self._scripts.get(method) else None
            drop = self._drops.get(method, 0) > 0
            if drop:
                self._drops[method] -= 1
        if delay:
            await asyncio.sleep(delay)
        if scripted is not None:
            status, body, extra = scripted.status, scripted.body, scripted.headers
        else:
            status, extra = 200, {}
            body = self._answer(method, args, headers)
        call.status, call.response = status, body
        if drop:
            # The call took effect; the caller never hears so (a connection lost on the way back).
            if request.transport is not None:
                request.transport.close()
            raise ConnectionResetError("dropped by the fake")
        return web.json_response(body, status=status, headers=extra)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = _parse_body(raw, request.content_type) if raw else {}
        post = ResponsePost(request.match_info["response_id"], body, dict(request.headers), time.time())
        with self._lock:
            self.responses.append(post)
        return web.Response(text="ok")

    async def _handle_socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        with self._lock:
            self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": self.app_id}})
        async for frame in ws:
            if frame.type.name == "TEXT":
                with self._lock:
                    self.socket_acks.append(json.loads(frame.data))
        with self._lock:
            self._sockets.remove(ws)
        return ws

    # -- Socket Mode ---------------------------------------------------------------------------

    @property
    def socket_connections(self) -> int:
        with self._lock:
            return len(self._sockets)

    def socket_send(self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0) -> str:
        """Push one envelope (events_api, slash_commands, interactive) to the connected app."""
        envelope_id = f"env-{next(self._envelopes)}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "",
            "payload": payload,
        }
        with self._lock:
            ws = self._sockets[-1]
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(ws.send_json(envelope), self._loop).result(5)
        return envelope_id

    def socket_ack(self, envelope_id: str) -> dict[str, Any] | None:
        with self._lock:
            return next((ack for ack in self.socket_acks if ack.get("envelope_id") == envelope_id), None)

    # -- default answers -----------------------------------------------------------------------

    def _answer(self, method: str, args: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        token = headers.get("Authorization", "").removeprefix("Bearer ").strip() or args.get("token")
        if not token:
            return {"ok": False, "error": "not_authed"}
        handler = _ANSWERS.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        return handler(self, args)

    def _next_ts(self) -> str:
        with self._lock:
            now = max(time.time(), self._last_ts + 0.000001)
            self._last_ts = now
        return f"{now:.6f}"

    def _channel_error(self, args: dict[str, Any]) -> dict[str, Any] | None:
        channel = str(args.get("channel", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        error = self.channel_errors.get(channel)
        return {"ok": False, "error": error} if error else None

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.com/",
            "team": "Fake Team",
            "user": "triage-bot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "is_enterprise_install": False,
        }

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        error = self._channel_error(args)
        if error:
            return error
        channel, ts = str(args["channel"]), self._next_ts()
        message = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "ts": ts,
            "text": args.get("text", ""),
            "blocks": _as_list(args.get("blocks")),
        }
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        metadata = args.get("metadata")
        if metadata:
            message["metadata"] = json.loads(metadata) if isinstance(metadata, str) else metadata
        with self._lock:
            self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        """conversations.history / conversations.replies: the channel's (or thread's) messages, newest first."""
        error = self._channel_error(args)
        if error:
            return error
        channel, thread = str(args["channel"]), args.get("ts")
        oldest = float(args.get("oldest") or 0)
        with self._lock:
            found = [
                dict(m) for (c, ts), m in self.messages.items()
                if c == channel and float(ts) >= oldest
                and (m.get("thread_ts") == thread or ts == thread if thread else "thread_ts" not in m)
            ]
        if not args.get("include_all_metadata"):
            for message in found:
                message.pop("metadata", None)
        found.sort(key=lambda m: float(m["ts"]), reverse=True)
        return {"ok": True, "messages": found, "has_more": False}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        error = self._channel_error(args)
        if error:
            return error
        key = (str(args["channel"]), str(args.get("ts", "")))
        with self._lock:
            message = self.messages.get(key)
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            message.update(text=args.get("text", message["text"]), blocks=_as_list(args.get("blocks")))
            message["edited"] = {"user": self.bot_user_id, "ts": f"{time.time():.6f}"}
            copy = dict(message)
        return {"ok": True, "channel": key[0], "ts": key[1], "text": copy["text"], "message": copy}

    def _permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        """chat.getPermalink: a link to a message the fake holds (message_not_found otherwise)."""
        error = self._channel_error(args)
        if error:
            return error
        channel, ts = str(args["channel"]), str(args.get("message_ts", ""))
        with self._lock:
            known = (channel, ts) in self.messages
        if not known:
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": channel, "permalink": f"{self.permalink_base}/{channel}/p{ts.replace('.', '')}"}

    def _post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        error = self._channel_error(args)
        if error:
            return error
        if not args.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _delete(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel", "")), str(args.get("ts", "")))
        with self._lock:
            if self.messages.pop(key, None) is None:
                return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": key[0], "ts": key[1]}

    def _usergroup_users(self, args: dict[str, Any]) -> dict[str, Any]:
        group = str(args.get("usergroup", ""))
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[group])}

    # -- membership ----------------------------------------------------------------------------------

    def _conversation(self, channel: str) -> _Conversation | None:
        """The scripted conversation, or in open mode an unscripted public channel everyone is in."""
        with self._lock:
            known = self.conversations.get(channel)
            if known is not None:
                return _Conversation(private=known.private, members=list(known.members))
        if self.open_channels and channel:
            return _Conversation(private=False, members=list(self.everyone))
        return None

    def _members(self, args: dict[str, Any]) -> dict[str, Any]:
        """conversations.members, paginated with `cursor` and `limit` as Slack does."""
        found = self._conversation(str(args.get("channel", "")))
        if found is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, **_page(found.members, args, "members")}

    def _user_conversations(self, args: dict[str, Any]) -> dict[str, Any]:
        """users.conversations for `user`: the channels of the asked types it is a member of, paginated."""
        user = str(args.get("user", ""))
        if not user:
            return {"ok": False, "error": "user_not_found"}
        types = set(str(args.get("types") or "public_channel").split(","))
        with self._lock:
            scripted = {
                c: _Conversation(private=v.private, members=list(v.members)) for c, v in self.conversations.items()
            }
            heard = set(self._heard) | {c for c, _ in self.messages}
        channels: list[dict[str, Any]] = []
        for channel, conv in sorted(scripted.items()):
            kind = "private_channel" if conv.private else "public_channel"
            if user in conv.members and kind in types:
                channels.append({"id": channel, "is_private": conv.private, "is_channel": not conv.private})
        if self.open_channels and "public_channel" in types and user in self.everyone:
            for channel in sorted(heard - set(scripted)):
                if not channel.startswith("D"):
                    channels.append({"id": channel, "is_private": False, "is_channel": True})
        return {"ok": True, **_page(channels, args, "channels")}

    def _conversation_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        found = self._conversation(channel)
        if found is None:
            return {"ok": False, "error": "channel_not_found"}
        return {
            "ok": True,
            "channel": {"id": channel, "is_channel": not found.private, "is_group": found.private,
                        "is_private": found.private, "is_im": False, "is_mpim": False},
        }

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        return self._view(args)

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("user_id"):
            return {"ok": False, "error": "invalid_arguments"}
        return self._view(args)

    def _view(self, args: dict[str, Any]) -> dict[str, Any]:
        """views.open / views.publish: echo the view back with an id, as Slack does."""
        view = args.get("view")
        parsed = json.loads(view) if isinstance(view, str) else view
        if not isinstance(parsed, dict) or "type" not in parsed:
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "view": {"id": f"V{len(self.calls):06d}", "team_id": self.team_id, **parsed}}

    def _connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self._port}/socket"}

    def _ok(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}


_ANSWERS: dict[str, Callable[[FakeSlack, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": FakeSlack._auth_test,
    "chat.postMessage": FakeSlack._post_message,
    "chat.update": FakeSlack._update,
    "conversations.history": FakeSlack._history,
    "conversations.replies": FakeSlack._history,
    "chat.postEphemeral": FakeSlack._post_ephemeral,
    "chat.getPermalink": FakeSlack._permalink,
    "chat.delete": FakeSlack._delete,
    "usergroups.users.list": FakeSlack._usergroup_users,
    "conversations.members": FakeSlack._members,
    "users.conversations": FakeSlack._user_conversations,
    "conversations.info": FakeSlack._conversation_info,
    "reactions.add": FakeSlack._ok,
    "views.open": FakeSlack._views_open,
    "views.publish": FakeSlack._views_publish,
    "apps.connections.open": FakeSlack._connections_open,
    "api.test": FakeSlack._ok,
}


@dataclass
class _Conversation:
    private: bool = False
    members: list[str] = field(default_factory=list)


def _page(items: list[Any], args: dict[str, Any], key: str) -> dict[str, Any]:
    """One page of `items` after `cursor` (an offset here), with next_cursor as Slack gives it."""
    try:
        start = int(str(args.get("cursor") or "0"))
        limit = max(1, min(int(str(args.get("limit") or "100")), 1000))
    except ValueError:
        start, limit = 0, 100
    page = items[start : start + limit]
    more = start + limit < len(items)
    return {key: page, "response_metadata": {"next_cursor": str(start + limit) if more else ""}}


def _parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    text = raw.decode("utf-8", errors="replace")
    if content_type == "application/json":
        parsed = json.loads(text)
        return parsed if isinstance(parsed, dict) else {"_body": parsed}
    return dict(parse_qsl(text, keep_blank_values=True))


def _as_list(blocks: Any) -> list[Any]:
    """Blocks arrive as a list in JSON bodies and as a JSON string in form bodies."""
    if isinstance(blocks, str):
        parsed = json.loads(blocks) if blocks else []
        return parsed if isinstance(parsed, list) else []
    return list(blocks) if isinstance(blocks, list) else []


def main() -> None:
    """Run the fake on its own (benchmarks, manual runs): prints its base URL, serves until killed."""
    import signal

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    fake = FakeSlack().start()
    print(fake.base_url, flush=True)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    fake.stop()


if __name__ == "__main__":
    main()
