"""What the environment of a run's tools may hold, as a value: sandbox mode, network, pass_env, secrets, worktrees.

A run builds one `EnvPolicy` from its settings (swarm.config.RunOptions) and
installs it for its own work with `use_policy`; the tools, the sandbox, the
allowlist and the records' redaction read it with `current_policy()`. The
policy lives in a context variable, so it follows the run's asyncio tasks and
worker threads and nothing is written into `os.environ`. Outside a run (a
review, `swarm doctor`) the policy comes from the SWARM_* variables, as the
settings would.
"""

from __future__ import annotations

import contextvars
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Mapping

SANDBOX_MODES = ("auto", "require", "off")


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


@dataclass(frozen=True)
class EnvPolicy:
    """The settings that shape what an agent's tools see."""

    sandbox: str = "auto"
    network: bool = False
    pass_env: tuple[str, ...] = ()
    secrets: tuple[str, ...] = field(default=())
    worktrees: str | None = None

    @classmethod
    def from_environ(cls, env: Mapping[str, str] | None = None) -> "EnvPolicy":
        """The policy the SWARM_* variables describe (what a run's settings would give without files)."""
        env = os.environ if env is None else env
        mode = env.get("SWARM_SANDBOX", "auto").strip().lower()
        if mode in ("0", "no", "false", "none"):
            mode = "off"
        elif mode in ("1", "on", "yes", "true", "required"):
            mode = "require"
        return cls(sandbox=mode if mode in SANDBOX_MODES else "auto",
                   network=env.get("SWARM_NETWORK", "").strip().lower() in ("1", "on", "yes", "true"),
                   pass_env=_names(env.get("SWARM_PASS_ENV", "")), secrets=_names(env.get("SWARM_SECRETS", "")),
                   worktrees=env.get("SWARM_WORKTREES") or None)


_CURRENT: contextvars.ContextVar[EnvPolicy | None] = contextvars.ContextVar("swarm_env_policy", default=None)


def current_policy() -> EnvPolicy:
    """The policy of the run in progress, else the one the SWARM_* variables describe."""
    return _CURRENT.get() or EnvPolicy.from_environ()


@contextmanager
def use_policy(policy: EnvPolicy) -> Iterator[EnvPolicy]:
    """Make `policy` the current one for the code inside (and the tasks and threads it starts)."""
    token = _CURRENT.set(policy)
    try:
        yield policy
    finally:
        _CURRENT.reset(token)
