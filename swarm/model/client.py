"""The model client, built from the environment as the SDK reads it.

The client is the SDK's `AsyncAnthropic`: it honours `ANTHROPIC_API_KEY`,
`ANTHROPIC_AUTH_TOKEN` and `ANTHROPIC_BASE_URL`.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from swarm.errors import ConfigError

if TYPE_CHECKING:  # importing the SDK costs over a second; commands that never call a model skip it
    from anthropic import AsyncAnthropic

    from swarm.plan.spec import Plan


_SSL: dict[tuple[str | None, str | None], Any] = {}


def ssl_context() -> Any:
    """The SSL context the SDK's HTTP client makes for itself (httpx2's default, which reads SSL_CERT_FILE and
    SSL_CERT_DIR), made once per process and per those two variables: each one reads the system's
    certificates, 70 ms of a command's start. A command forked by the warm process finds it made."""
    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    if key not in _SSL:
        import httpx2

        _SSL[key] = httpx2.create_ssl_context()
    return _SSL[key]


def make_client(*, base_url: str | None = None, api_key: str | None = None, max_retries: int = 4,
                timeout: float = 600.0) -> "AsyncAnthropic":
    """Build the client; arguments left out come from the environment as the SDK reads it."""
    from anthropic import AsyncAnthropic, DefaultAsyncHttpxClient

    # The SDK's own HTTP client with its defaults (timeouts, limits, proxies from the environment).
    kwargs: dict[str, Any] = {"max_retries": max_retries, "timeout": timeout,
                              "http_client": DefaultAsyncHttpxClient(verify=ssl_context())}
    if base_url:
        kwargs["base_url"] = base_url
    if api_key:
        kwargs["api_key"] = api_key
    return AsyncAnthropic(**kwargs)


def model_client(base_url: str | None = None) -> "AsyncAnthropic | None":
    """The model client from the environment, or None when no endpoint is configured."""
    key = os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")
    url = base_url or os.environ.get("ANTHROPIC_BASE_URL")
    if not key and not url:
        return None
    # A local endpoint may need no key, but the SDK wants one to send.
    return make_client(base_url=url, api_key=None if key else "unused")


def need_client(plan: "Plan | None") -> "AsyncAnthropic | None":
    """The client, or a clear error when the plan needs a model and none is configured."""
    client = model_client()
    if client is None and (plan is None or any(not s.command for s in plan.subtasks)):
        raise ConfigError("no model endpoint: set ANTHROPIC_API_KEY (or ANTHROPIC_BASE_URL for a "
                          "local Messages-API server); try `swarm demo` to see swarm offline")
    return client


def rehearse() -> None:
    """One streamed request with a tool call and text, answered in memory (no network, no key): what the SDK
    builds only for a first request (the schemas of a streamed message, the tools' input parsing) is built.
    The warm process (swarm.warm) does this once, so every command it forks starts with it built."""
    import asyncio

    import httpx2
    from anthropic import AsyncAnthropic

    from swarm.scripted.transport import stream_events

    message = {"id": "msg_rehearsal", "type": "message", "role": "assistant", "model": "rehearsal",
               "content": [{"type": "text", "text": "."},
                           {"type": "tool_use", "id": "toolu_rehearsal", "name": "read", "input": {"file_path": "."}}],
               "stop_reason": "tool_use", "stop_sequence": None,
               "usage": {"input_tokens": 1, "output_tokens": 1, "cache_creation_input_tokens": 0,
                         "cache_read_input_tokens": 0}}
    body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in stream_events(message))

    def answer(request: Any) -> Any:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())

    async def once() -> None:
        transport = httpx2.MockTransport(answer)
        client = AsyncAnthropic(api_key="rehearsal", base_url="http://rehearsal.invalid", max_retries=0,
                                http_client=httpx2.AsyncClient(transport=transport))
        async with client.messages.stream(model="rehearsal", max_tokens=16, system=[{"type": "text", "text": "."}],
                                          messages=[{"role": "user", "content": "."}],
                                          tools=[{"name": "read", "description": ".", "input_schema": {
                                              "type": "object", "properties": {}}}]) as stream:
            final = await stream.get_final_message()
        [block.model_dump(exclude_none=True) for block in final.content]
        await client.close()

    asyncio.run(once())
