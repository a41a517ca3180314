"""The environment handed to agents' tools and commands: the process's, minus secrets."""

from __future__ import annotations

import os


def secret_names() -> tuple[str, ...]:
    """Variables named in SWARM_SECRETS (comma-separated), kept from tools like ANTHROPIC_*."""
    return tuple(n.strip() for n in os.environ.get("SWARM_SECRETS", "").split(",") if n.strip())


def scrubbed_env(extra_secrets: tuple[str, ...] = ()) -> dict[str, str]:
    """The process environment without `ANTHROPIC_*`, SWARM_SECRETS' names and `extra_secrets`
    (a run passes its `secrets` setting here)."""
    hidden = set(secret_names()) | set(extra_secrets) | {"SWARM_SECRETS"}
    return {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_") and k not in hidden}
