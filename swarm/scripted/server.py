"""The scripted Messages-API server: faults, records, and one reply per request."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
import uuid
from collections import Counter
from typing import Any

from swarm.scripted.current import Rules, cut_tool_input, tokens
from swarm.scripted.script import Turn, first_user_text, route, scripted_turn
from swarm.scripted.transport import Handler, HTTPServer, error_body, stream_events

THREAD_MESSAGE = "thread_unsupported_request: this endpoint does not support server-side threads"


class ScriptedServer:
    """An in-process HTTP server that answers Messages API calls from a script.

    By default it plays the current model (`swarm.scripted.current`); `current=False`
    gives a lenient endpoint that accepts any request and returns the script's
    blocks as they are. Use as a context manager (``with ScriptedServer(script) as
    server:``) or call `start` / `stop`. All observation attributes are safe to read
    from any thread while requests are being served.
    """

    def __init__(self, script: dict[str, Any], *, refuse_threads: bool = True, current: bool = True,
                 context_window: int | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.script = script
        self.refuse_threads = refuse_threads
        self.current = current
        self.rules = Rules(context_window if context_window is not None else script.get("context_window"))
        self._address = (host, port)
        self._lock = threading.Lock()
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._records: list[dict[str, Any]] = []
        self._faults: list[dict[str, Any]] = []
        self._cache_seen: set[str] = set()
        self._in_flight = 0
        self._keys_in_flight: Counter[str] = Counter()
        self._max_in_flight = 0
        self._max_concurrent_keys = 0
        self._thread_refusals = 0

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> "ScriptedServer":
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        httpd = HTTPServer(self._address, Handler)
        httpd.owner = self
        self._httpd = httpd
        # A short poll interval keeps stop() (and so every test teardown) quick.
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="scripted-model", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open (keep-alive) connection."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        # Idle keep-alive handlers would otherwise block in readline forever.
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "ScriptedServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL for the SDK, e.g. ``http://127.0.0.1:43121``."""
        if self._httpd is None:
            raise RuntimeError("ScriptedServer is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A snapshot of every request seen so far, in arrival order.

        Each record has role, key, turn, body, headers, status, error (the message of a
        refused request), start, end and in_flight (requests being handled when it
        arrived, itself included).
        """
        with self._lock:
            return [dict(r) for r in self._records]

    @property
    def max_in_flight(self) -> int:
        """The most requests ever handled at once."""
        with self._lock:
            return self._max_in_flight

    @property
    def max_concurrent_keys(self) -> int:
        """The most distinct worker subtask ids ever in flight at once."""
        with self._lock:
            return self._max_concurrent_keys

    @property
    def thread_refusals(self) -> int:
        """How many requests were refused for carrying a `thread` field."""
        with self._lock:
            return self._thread_refusals

    def in_flight_samples(self) -> list[int]:
        """For each request in arrival order, the in-flight count when it arrived."""
        with self._lock:
            return [r["in_flight"] for r in self._records]

    def inject(self, status: int, *, count: int = 1, retry_after: float | None = None, subtask: str | None = None,
               headers: dict[str, str] | None = None) -> None:
        """Fail the next `count` matching requests with HTTP `status`.

        `subtask` limits the fault to that worker's requests. `status=0`
        closes the connection without any response. Faults queue in order.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        fault = {"status": status, "count": count, "retry_after": retry_after, "subtask": subtask,
                 "headers": dict(headers or {})}
        with self._lock:
            self._faults.append(fault)

    # -- request handling ------------------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def _take_fault(self, role: str, key: str | None) -> dict[str, Any] | None:
        # Caller holds the lock, so two requests can never consume one fault.
        for fault in self._faults:
            if fault["subtask"] is None or (role == "worker" and fault["subtask"] == key):
                fault["count"] -= 1
                if fault["count"] <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _handle(self, handler: Handler, body: dict[str, Any]) -> None:
        role, key, turn = route(body)
        record: dict[str, Any] = {
            "role": role, "key": key, "turn": turn, "body": body, "error": None,
            "headers": {k.lower(): v for k, v in handler.headers.items()},
            "status": None, "start": time.monotonic(), "end": None,
        }
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            record["in_flight"] = self._in_flight
            if role == "worker" and key is not None:
                self._keys_in_flight[key] += 1
                self._max_concurrent_keys = max(self._max_concurrent_keys, len(self._keys_in_flight))
            self._records.append(record)
            fault = self._take_fault(role, key)
            refuse = fault is None and self.refuse_threads and "thread" in body
            if refuse:
                self._thread_refusals += 1
        try:
            self._answer(handler, body, record, fault, refuse)
        finally:
            with self._lock:
                record["end"] = time.monotonic()
                self._in_flight -= 1
                if role == "worker" and key is not None:
                    self._keys_in_flight[key] -= 1
                    if self._keys_in_flight[key] <= 0:
                        del self._keys_in_flight[key]

    def _refuse(self, handler: Handler, record: dict[str, Any], status: int, message: str,
                headers: dict[str, str] | None = None, details: dict[str, Any] | None = None) -> None:
        record["status"], record["error"] = status, message
        payload = error_body(status, message)
        if details:
            payload["error"]["details"] = details
        handler.send_json(status, payload, headers)

    def _answer(self, handler: Handler, body: dict[str, Any], record: dict[str, Any],
                fault: dict[str, Any] | None, refuse: bool) -> None:
        role, key, turn = record["role"], record["key"], record["turn"]
        if fault is not None:
            if fault["status"] == 0:
                record["status"] = 0
                handler.drop()
                return
            headers = dict(fault["headers"])
            if fault["retry_after"] is not None:
                headers["retry-after"] = f"{fault['retry_after']:g}"
            self._refuse(handler, record, fault["status"], "injected fault", headers)
            return
        if refuse:
            # error.details.error_code lets the SDK raise ThreadUnsupportedRequestError.
            self._refuse(handler, record, 400, THREAD_MESSAGE, details={"error_code": "thread_unsupported_request"})
            return
        first_user = first_user_text(body.get("messages") or [])
        if self.current:
            problem = self.rules.check(body, first_user)
            if problem:
                self._refuse(handler, record, 400, problem)
                return
        try:
            scripted = scripted_turn(self.script, role, key, turn)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            # A malformed script is a test bug: say so, and tell the SDK not to retry it.
            self._refuse(handler, record, 500, f"bad script for {role} {key or ''} turn {turn}: {exc!r}",
                         {"x-should-retry": "false"})
            return
        if scripted.delay > 0:
            time.sleep(scripted.delay)  # inside the in-flight window, so tests can see overlap
        message, partial = self._message(body, first_user, scripted, turn)
        record["status"] = 200
        if body.get("stream"):
            handler.send_events(stream_events(message, partial))
        else:
            handler.send_json(200, message)

    def _message(self, body: dict[str, Any], first_user: str, scripted: Turn,
                 turn: int) -> tuple[dict[str, Any], dict[int, str]]:
        content = scripted.content
        if self.current:
            content = self.rules.shape(body, first_user, content, turn)
        uses_tools = any(b.get("type") == "tool_use" for b in content)
        stop = scripted.stop or ("tool_use" if uses_tools else "end_turn")
        limit = int(body.get("max_tokens") or 0)
        partial: dict[int, str] = {}
        output_tokens = tokens(content)
        if scripted.needs_tokens is not None:
            if limit < scripted.needs_tokens:
                stop = "max_tokens"
            else:
                output_tokens = scripted.needs_tokens
        if stop in ("max_tokens", "model_context_window_exceeded"):
            content, partial = _cut(content)
            output_tokens = limit if stop == "max_tokens" else output_tokens
        message: dict[str, Any] = {
            "id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant",
            "model": body.get("model", "scripted"), "content": content, "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": tokens(body.get("messages", [])), "output_tokens": output_tokens},
        }
        if stop == "refusal":
            message["stop_details"] = {"type": "refusal", "category": None,
                                       "explanation": scripted.refusal or "This request was declined."}
        created, read = self._cache_usage(body)
        message["usage"].update(cache_creation_input_tokens=created, cache_read_input_tokens=read)
        if self.current:
            self.rules.remember(content)
        return message, partial

    def _cache_usage(self, body: dict[str, Any]) -> tuple[int, int]:
        """(cache_creation, cache_read) tokens, simulating prompt caching.

        The cached prefix is tools then system (the API's order), up to and
        including the last element marked with cache_control.
        """
        system = body.get("system") or []
        # A plain-string system prompt cannot carry cache_control, but it is still part of the prefix.
        system_blocks = system if isinstance(system, list) else [{"type": "text", "text": system}]
        elements = list(body.get("tools") or []) + list(system_blocks)
        marked = [i for i, e in enumerate(elements) if isinstance(e, dict) and e.get("cache_control")]
        if not marked:
            return 0, 0
        prefix = json.dumps(elements[: marked[-1] + 1], sort_keys=True)
        digest = hashlib.sha256(prefix.encode()).hexdigest()
        amount = len(prefix) // 4
        with self._lock:
            if digest in self._cache_seen:
                return 0, amount
            self._cache_seen.add(digest)
        return amount, 0


def _cut(content: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """The reply cut off by the output limit: up to the last tool call, whose input stops halfway."""
    calls = [i for i, b in enumerate(content) if b.get("type") == "tool_use"]
    if calls:
        last = calls[-1]
        block, raw = cut_tool_input(content[last])
        return [*content[:last], block], {last: raw}
    if content and content[-1].get("type") == "text":
        text = str(content[-1].get("text", ""))
        return [*content[:-1], dict(content[-1], text=text[: max(1, len(text) // 2)])], {}
    return content, {}
