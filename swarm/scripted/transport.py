"""The HTTP side of the scripted model: a threaded server, JSON replies and the SSE stream.

Nothing here knows what a reply says; `ScriptedServer._handle` decides that.
"""

from __future__ import annotations

import json
import socket
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from swarm.scripted.server import ScriptedServer

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               500: "api_error", 529: "overloaded_error"}


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # The default backlog of 5 makes bursts of parallel agents wait on SYN retries.
    request_queue_size = 128
    owner: "ScriptedServer"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (a cancelled agent, a killed run) is normal here, not worth a traceback.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so httpx can keep pooled connections alive between turns.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the second
    # waits for the client's delayed ACK (~40 ms a request on keep-alive).
    disable_nagle_algorithm = True
    server: HTTPServer

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
            self.send_json(404, error_body(404, f"no route for POST {self.path}"))
            return
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body is not an object")
        except ValueError as exc:
            self.send_json(400, error_body(400, f"invalid JSON body: {exc}"))
            return
        self.server.owner._handle(self, body)

    def _send_head(self, status: int, headers: dict[str, str]) -> None:
        # 529 has no stdlib reason phrase; give it the one the API uses.
        self.send_response(status, "Overloaded" if status == 529 else None)
        for key, value in {"request-id": f"req_{uuid.uuid4().hex[:24]}", **headers}.items():
            self.send_header(key, value)
        self.end_headers()

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self._send_head(
            status, {"content-type": "application/json", "content-length": str(len(data)), **(headers or {})}
        )
        self.wfile.write(data)

    def send_events(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        # Chunked encoding keeps the connection reusable without knowing the length up front.
        self._send_head(200, {"content-type": "text/event-stream", "cache-control": "no-cache",
                              "transfer-encoding": "chunked"})
        for name, data in events:
            chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def drop(self) -> None:
        # Simulate a dead peer: no status line at all, just a closed socket.
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def stream_events(message: dict[str, Any], partial_json: dict[int, str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The SSE sequence the API sends for `message`, one delta per block.

    `partial_json` gives the raw input text of tool calls cut off mid-input (by index).
    """
    partial_json = partial_json or {}
    start = dict(message, content=[], stop_reason=None, stop_sequence=None)
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {"message": start}), ("ping", {})]
    for index, block in enumerate(message["content"]):
        deltas: list[dict[str, Any]] = []
        kind = block.get("type")
        if kind == "text":
            head: dict[str, Any] = {"type": "text", "text": ""}
            deltas.append({"type": "text_delta", "text": block.get("text", "")})
        elif kind == "thinking":
            head = {"type": "thinking", "thinking": "", "signature": ""}
            if block.get("thinking"):
                deltas.append({"type": "thinking_delta", "thinking": block["thinking"]})
            deltas.append({"type": "signature_delta", "signature": block.get("signature", "")})
        elif kind == "tool_use":
            head = dict(block, input={})
            raw = partial_json.get(index, json.dumps(block.get("input", {})))
            deltas.append({"type": "input_json_delta", "partial_json": raw})
        else:
            head = block
        events.append(("content_block_start", {"index": index, "content_block": head}))
        events += [("content_block_delta", {"index": index, "delta": delta}) for delta in deltas]
        events.append(("content_block_stop", {"index": index}))
    final = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    if message.get("stop_details"):
        final["stop_details"] = message["stop_details"]
    usage = {"output_tokens": message["usage"]["output_tokens"]}
    events += [("message_delta", {"delta": final, "usage": usage}), ("message_stop", {})]
    # Every data payload repeats its event name as "type", as the API's do.
    return [(name, {"type": name, **data}) for name, data in events]
