"""The model client, built from the environment as the SDK reads it.

The client is the SDK's `AsyncAnthropic`: it honours `ANTHROPIC_API_KEY`,
`ANTHROPIC_AUTH_TOKEN` and `ANTHROPIC_BASE_URL`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from swarm.errors import ConfigError

if TYPE_CHECKING:  # importing the SDK costs over a second; commands that never call a model skip it
    from anthropic import AsyncAnthropic

    from swarm.plan.spec import Plan


def make_client(*, base_url: str | None = None, api_key: str | None = None, max_retries: int = 4,
                timeout: float = 600.0) -> "AsyncAnthropic":
    """Build the client; arguments left out come from the environment as the SDK reads it."""
    from anthropic import AsyncAnthropic

    kwargs: dict[str, Any] = {"max_retries": max_retries, "timeout": timeout}
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
