"""The environment handed to agents' tools and commands: an allowlist, and the redaction of the rest.

Everything swarm runs in a worktree (the agent's bash, command subtasks,
setup, test runs) gets only:

    PATH, LANG, LC_*, TERM, TZ          from swarm's own environment
    HOME, TMPDIR                        private folders, made per command (swarm.env.shell)
    SWARM_WORKTREE, SWARM_SUBTASK, ...  the worktree's own variables
    the worktree `env`                  from [tool.swarm.worktree]
    names in the `pass_env` setting     the user's explicit choice (SWARM_PASS_ENV)

Every other variable is withheld. A withheld value can still reach output by
another road (a file, `/proc/<pid>/environ` where no sandbox hides it), so
`redact` replaces the values that look like secrets with `[redacted]`
before tool output goes to the model and before anything is written to a
record or a terminal.
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable, Mapping

from swarm.env.policy import current_policy

__all__ = ["ALLOWED", "pass_env_names", "redact", "scrubbed_env", "secret_names", "tool_env", "withheld_values"]

ALLOWED = ("PATH", "LANG", "TERM", "TZ")
_ALLOWED_PREFIXES = ("LC_",)
# Names that say "secret": their values are redacted whatever they look like.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|PASSPHRASE|CRED|AUTH|PRIVATE|COOKIE|SIGNATURE|DSN|SESSION_ID",
                          re.IGNORECASE)
REDACTED = "[redacted]"


def secret_names() -> tuple[str, ...]:
    """Variables named in the `secrets` setting of the run in progress (swarm.env.policy): always redacted."""
    return current_policy().secrets


def pass_env_names() -> tuple[str, ...]:
    """Variables named in the `pass_env` setting: passed to tools as they are."""
    return current_policy().pass_env


def _allowed(name: str, passed: Iterable[str]) -> bool:
    if name.startswith("ANTHROPIC_") or name in secret_names():
        return False  # never, not even through pass_env
    return name in ALLOWED or name.startswith(_ALLOWED_PREFIXES) or name in passed


def tool_env(extra: Mapping[str, str] | None = None, *, pass_env: Iterable[str] = (),
             source: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allowlisted environment for a tool: PATH, LANG/LC_*, TERM, TZ, `pass_env` names, then `extra`.

    `extra` (the worktree's SWARM_* variables and its `env`) is added as given; swarm's own SWARM_*
    settings are not passed. HOME and TMPDIR are not here:
    `run_shell` makes private ones for every command.
    """
    source = os.environ if source is None else source
    passed = {*pass_env_names(), *pass_env}
    env = {k: v for k, v in source.items() if _allowed(k, passed)}
    env.setdefault("PATH", os.defpath)
    env.update(extra or {})
    return env


def scrubbed_env(extra_secrets: tuple[str, ...] = ()) -> dict[str, str]:
    """The allowlisted environment (`tool_env`), minus `extra_secrets` even when `pass_env` names them."""
    return {k: v for k, v in tool_env().items() if k not in extra_secrets}


def _path_like(value: str) -> bool:
    return all(part.startswith(("/", "~", ".")) or part == "" for part in value.split(os.pathsep))


def _looks_secret(name: str, value: str, named: set[str]) -> bool:
    if name in named or name.startswith("ANTHROPIC_") and _SECRET_NAME.search(name):
        return len(value) >= 4
    if _SECRET_NAME.search(name) and not _path_like(value):
        return len(value) >= 6
    # Any other withheld value is redacted when it has the shape of a token: long, one word, not a path,
    # letters and digits mixed. Ordinary words and paths stay, so diffs and file names read as they are.
    return (len(value) >= 20 and not any(c.isspace() for c in value) and not _path_like(value)
            and any(c.isalpha() for c in value) and any(c.isdigit() for c in value))


_LAST: list[Any] = [None, []]  # the key of the last withheld_values() of os.environ, and its answer


def withheld_values(source: Mapping[str, str] | None = None) -> list[str]:
    """The values redact removes: of withheld variables that look like secrets, longest first.

    For os.environ the answer is kept until the environment or the run's settings change: every
    tool result and record line is redacted, and scanning the environment each time was the
    biggest CPU cost of a run with many agents.
    """
    if source is None:
        raw = getattr(os.environ, "_data", None)  # CPython's bytes mapping: hashing it needs no decoding
        key = (current_policy().secrets, current_policy().pass_env, frozenset(raw.items())) if raw is not None \
            else None
        if key is not None and _LAST[0] == key:
            return list(_LAST[1])
        values = _withheld(os.environ)
        if key is not None:
            _LAST[:] = [key, values]
        return values
    return _withheld(source)


def _withheld(source: Mapping[str, str]) -> list[str]:
    named = set(secret_names())
    passed = set(pass_env_names())
    values = {v for k, v in source.items()
              if (k in named or not _allowed(k, passed)) and _looks_secret(k, v, named)}
    # An allowed value is never a secret (a PATH entry, a locale) even if a withheld variable repeats it.
    values -= {v for k, v in source.items() if _allowed(k, passed) and k not in named}
    return sorted(values, key=len, reverse=True)


def redact(text: str, values: list[str] | None = None) -> str:
    """`text` with every withheld secret value replaced by `[redacted]`."""
    for value in withheld_values() if values is None else values:
        if value in text:
            text = text.replace(value, REDACTED)
    return text
