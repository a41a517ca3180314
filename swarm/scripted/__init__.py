"""A scripted model that speaks the Anthropic Messages API on 127.0.0.1.

The offline demo and every test point a real `anthropic` client at this
server (``base_url=server.url``), so the SDK's own request building, retries,
streaming parser and error mapping all run; only the model is fake.

A script is a plain JSON-loadable dict::

    {"workers": {"core": [{"content": [...blocks...], "delay": 0.2}, ...]},
     "planner": {"subtasks": [...]},      # input of the forced submit_plan call
     "synthesizer": [...turns...], "resolver": [...turns...],
     "delay": 0.0}                        # default delay before every reply

Which turn answers a request is decided by the request alone (role from the
first user message / tools, turn index = number of assistant messages), so
the server keeps no conversation state and concurrent agents cannot interfere.

Run standalone with ``python -m swarm.scripted SCRIPT.json [--port N]``.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["ScriptedServer", "load_script", "main"]

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                500: "api_error", 529: "overloaded_error"}
_THREAD_MESSAGE = "thread_unsupported_request: this endpoint does not support server-side threads"
_FALLBACK_SYNTHESIS = {"summary": "No further changes.", "contradictions": []}


def load_script(path: str | Path) -> dict[str, Any]:
    """Read a script from a JSON file."""
    with open(path, encoding="utf-8") as fh:
        script = json.load(fh)
    if not isinstance(script, dict):
        raise ValueError(f"{path}: a script must be a JSON object")
    return script


def _tokens(value: Any) -> int:
    # Roughly four characters a token: good enough for budgets and displays.
    return len(json.dumps(value)) // 4 + 1


def _first_user_text(messages: list[Any]) -> str:
    for message in messages:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        for block in content or []:
            if isinstance(block, dict) and block.get("type") == "text":
                return str(block.get("text", ""))
        return ""
    return ""


def _route(body: dict[str, Any]) -> tuple[str, str | None, int]:
    """Return (role, subtask key or None, turn index) for a request body."""
    messages = body.get("messages") or []
    turn = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant")
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool" and choice.get("name") == "submit_plan":
        return "planner", None, turn
    first_line = _first_user_text(messages).strip().splitlines()[:1]
    line = first_line[0].strip() if first_line else ""
    if line.startswith("Subtask:"):
        return "worker", line[len("Subtask:"):].strip(), turn
    if any(isinstance(t, dict) and t.get("name") == "submit_synthesis" for t in body.get("tools") or []):
        return ("resolver" if line.startswith("Resolve conflict") else "synthesizer"), None, turn
    return "unknown", None, turn


def _tool_use(name: str, input_: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": name, "input": input_}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # The default backlog of 5 makes bursts of parallel agents wait on SYN retries.
    request_queue_size = 128
    owner: ScriptedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (a cancelled agent, a killed run) is normal here, not worth a traceback.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so httpx can keep pooled connections alive between turns.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the second
    # waits for the client's delayed ACK (~40 ms a request on keep-alive).
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # the demo's terminal belongs to the UI, not to access logs

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, add=False)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if self.path.split("?", 1)[0].rstrip("/") != "/v1/messages":
            self._send_json(404, _error_body(404, f"no route for POST {self.path}"))
            return
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body is not an object")
        except ValueError as exc:
            self._send_json(400, _error_body(400, f"invalid JSON body: {exc}"))
            return
        self.server.owner._handle(self, body)

    def _send_head(self, status: int, headers: dict[str, str]) -> None:
        # 529 has no stdlib reason phrase; give it the one the API uses.
        self.send_response(status, "Overloaded" if status == 529 else None)
        for key, value in {"request-id": f"req_{uuid.uuid4().hex[:24]}", **headers}.items():
            self.send_header(key, value)
        self.end_headers()

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self._send_head(
            status, {"content-type": "application/json", "content-length": str(len(data)), **(headers or {})}
        )
        self.wfile.write(data)

    def _send_events(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        # Chunked encoding keeps the connection reusable without knowing the length up front.
        self._send_head(200, {"content-type": "text/event-stream", "cache-control": "no-cache",
                              "transfer-encoding": "chunked"})
        for name, data in events:
            chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def _drop(self) -> None:
        # Simulate a dead peer: no status line at all, just a closed socket.
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def _stream_events(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The SSE sequence the API sends for `message`, one delta per block."""
    start = dict(message, content=[], stop_reason=None, stop_sequence=None)
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {"message": start}), ("ping", {})]
    for index, block in enumerate(message["content"]):
        if block.get("type") == "text":
            head: dict[str, Any] = {"type": "text", "text": ""}
            delta: dict[str, Any] | None = {"type": "text_delta", "text": block.get("text", "")}
        elif block.get("type") == "tool_use":
            head = dict(block, input={})
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block.get("input", {}))}
        else:
            head, delta = block, None
        events.append(("content_block_start", {"index": index, "content_block": head}))
        if delta is not None:
            events.append(("content_block_delta", {"index": index, "delta": delta}))
        events.append(("content_block_stop", {"index": index}))
    final = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    usage = {"output_tokens": message["usage"]["output_tokens"]}
    events += [("message_delta", {"delta": final, "usage": usage}), ("message_stop", {})]
    # Every data payload repeats its event name as "type", as the API's do.
    return [(name, {"type": name, **data}) for name, data in events]


class ScriptedServer:
    """An in-process HTTP server that answers Messages API calls from a script.

    Use as a context manager (``with ScriptedServer(script) as server:``) or
    call `start` / `stop`. All observation attributes are safe to read from
    any thread while requests are being served.
    """

    def __init__(
        self, script: dict[str, Any], *, refuse_threads: bool = True, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.script = script
        self.refuse_threads = refuse_threads
        self._address = (host, port)
        self._lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
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

    def start(self) -> ScriptedServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        httpd = _HTTPServer(self._address, _Handler)
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

    def __enter__(self) -> ScriptedServer:
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

        Each record has role, key, turn, body, headers, status, start, end
        and in_flight (requests being handled when it arrived, itself included).
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

    def inject(
        self, status: int, *, count: int = 1, retry_after: float | None = None, subtask: str | None = None
    ) -> None:
        """Fail the next `count` matching requests with HTTP `status`.

        `subtask` limits the fault to that worker's requests. `status=0`
        closes the connection without any response. Faults queue in order.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        fault = {"status": status, "count": count, "retry_after": retry_after, "subtask": subtask}
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

    def _handle(self, handler: _Handler, body: dict[str, Any]) -> None:
        role, key, turn = _route(body)
        record: dict[str, Any] = {
            "role": role, "key": key, "turn": turn, "body": body,
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
            if fault is not None:
                record["status"] = fault["status"]
                if fault["status"] == 0:
                    handler._drop()
                    return
                headers = {} if fault["retry_after"] is None else {"retry-after": f"{fault['retry_after']:g}"}
                handler._send_json(fault["status"], _error_body(fault["status"], "injected fault"), headers)
                return
            if refuse:
                record["status"] = 400
                payload = _error_body(400, _THREAD_MESSAGE)
                # error.details.error_code lets the SDK raise ThreadUnsupportedRequestError.
                payload["error"]["details"] = {"error_code": "thread_unsupported_request"}
                handler._send_json(400, payload)
                return
            try:
                content, delay = self._reply_content(role, key, turn)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                # A malformed script is a test bug: say so, and tell the SDK not to retry it.
                record["status"] = 500
                payload = _error_body(500, f"bad script for {role} {key or ''} turn {turn}: {exc!r}")
                handler._send_json(500, payload, {"x-should-retry": "false"})
                return
            if delay > 0:
                time.sleep(delay)  # inside the in-flight window, so tests can see overlap
            message = self._message(body, content)
            record["status"] = 200
            if body.get("stream"):
                handler._send_events(_stream_events(message))
            else:
                handler._send_json(200, message)
        finally:
            with self._lock:
                record["end"] = time.monotonic()
                self._in_flight -= 1
                if role == "worker" and key is not None:
                    self._keys_in_flight[key] -= 1
                    if self._keys_in_flight[key] <= 0:
                        del self._keys_in_flight[key]

    def _reply_content(self, role: str, key: str | None, turn: int) -> tuple[list[dict[str, Any]], float]:
        """The content blocks for this request and the delay before sending them."""
        default_delay = float(self.script.get("delay", 0.0) or 0.0)
        if role == "planner":
            # A list of plans answers the planner's rounds in order (a repair round gets the next one).
            plans = self.script.get("planner", {"subtasks": []})
            if isinstance(plans, list):
                plans = plans[min(turn, len(plans) - 1)]
            return [_tool_use("submit_plan", copy.deepcopy(plans))], default_delay
        if role == "worker":
            workers = self.script.get("workers", {})
            if key not in workers:
                return [{"type": "text", "text": f"No script for subtask {key}."}], default_delay
            turns = workers[key]
        elif role in ("synthesizer", "resolver"):
            turns = self.script.get(role, [])
        else:
            return [{"type": "text", "text": "No script for this request."}], default_delay
        if turn >= len(turns):
            if role == "worker":
                return [{"type": "text", "text": "Done."}], default_delay
            return [_tool_use("submit_synthesis", dict(_FALLBACK_SYNTHESIS))], default_delay
        entry = turns[turn]
        blocks = copy.deepcopy(entry.get("content", []))
        for block in blocks:
            # Fresh ids every time: the SDK and the agents pair tool_result by id.
            if block.get("type") == "tool_use" and not block.get("id"):
                block["id"] = f"toolu_{uuid.uuid4().hex[:24]}"
                block.setdefault("input", {})
        return blocks, float(entry.get("delay", default_delay) or 0.0)

    def _message(self, body: dict[str, Any], content: list[dict[str, Any]]) -> dict[str, Any]:
        created, read = self._cache_usage(body)
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "scripted"),
            "content": content,
            "stop_reason": "tool_use" if any(b.get("type") == "tool_use" for b in content) else "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": _tokens(body.get("messages", [])),
                "output_tokens": _tokens(content),
                "cache_creation_input_tokens": created,
                "cache_read_input_tokens": read,
            },
        }

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


def main(argv: list[str] | None = None) -> int:
    """Serve a script until interrupted; the first stdout line is the URL."""
    parser = argparse.ArgumentParser(prog="python -m swarm.scripted", description=__doc__.splitlines()[0])
    parser.add_argument("script", help="path to a JSON script")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: any free port)")
    args = parser.parse_args(argv)
    server = ScriptedServer(load_script(args.script), port=args.port).start()
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
