"""A test command as swarm runs it: its words, the variables set before it, and what kind of runner it is.

A command is an argv (`-- python -m pytest tests`) or a string that is split
like a shell would (`--matrix "PYTHONPATH=src python3.12 -m pytest"`);
leading `NAME=value` words become environment variables, as in a shell.
Three kinds:

- pytest (a word `pytest`/`py.test`, or `-m pytest`): swarm splits the suite
  itself, through its pytest plugin, and reads a JUnit XML file per shard;
- a command with `{shard}`/`{shards}` placeholders, for runners that split
  themselves (`{shard}` counts from 1); `{junit}` names a file where the
  runner may write JUnit XML for swarm to read;
- anything else runs once, in one worktree.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from swarm.errors import ConfigError

_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
PLACEHOLDERS = ("{shard}", "{shards}", "{junit}")


@dataclass
class TestCommand:
    """One command to run in shards; `text` is how the user wrote it."""

    __test__ = False  # not a pytest test class

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    text: str = ""
    label: str = ""
    cwd: str = ""  # relative to the repository root, mirrored in each worktree

    @property
    def is_pytest(self) -> bool:
        return self._pytest_end() is not None

    @property
    def self_splitting(self) -> bool:
        """Whether the command splits itself through `{shard}`/`{shards}`."""
        return any(p in word for word in self.argv for p in PLACEHOLDERS[:2])

    @property
    def writes_junit(self) -> bool:
        return any("{junit}" in word for word in self.argv)

    @property
    def key(self) -> str:
        """What the durations file keys this command's suite by."""
        return f"{self.cwd or '.'}: {self.text}"

    @property
    def pytest_args(self) -> list[str]:
        """The words after the one that names pytest (empty for another runner)."""
        end = self._pytest_end()
        return self.argv[end:] if end is not None else []

    def _pytest_end(self) -> int | None:
        """The index just past the word that names pytest, or None for another runner."""
        for i, word in enumerate(self.argv):
            if Path(word).name in ("pytest", "py.test"):
                return i + 1
            if word == "-m" and i + 1 < len(self.argv) and self.argv[i + 1] == "pytest":
                return i + 2
        return None

    def shard_argv(self, index: int, shards: int, junit: Path) -> list[str]:
        """The argv of shard `index` (from 0): placeholders filled, and a JUnit file for pytest."""
        words = [w.replace("{shards}", str(shards)).replace("{shard}", str(index + 1)).replace("{junit}", str(junit))
                 for w in self.argv]
        if self.is_pytest and not self.writes_junit:
            words.append(f"--junitxml={junit}")  # the last --junitxml wins, so a user's own one is overridden
        return words

    def collect_argv(self) -> list[str]:
        return [*self.argv, "--collect-only", "-q"]

    def rerun(self, ids: list[str]) -> str | None:
        """A command line that runs just `ids`, for pytest commands."""
        end = self._pytest_end()
        if end is None or not ids:
            return None
        prefix = [f"{k}={v}" for k, v in self.env.items()]
        return shlex.join([*prefix, *self.argv[:end], *ids])


def parse_command(cmd: list[str] | str, *, cwd: str = "", user_dir: Path | None = None) -> TestCommand:
    """Make a TestCommand from an argv or a shell-like string.

    A relative program path (`.venv/bin/python`) is resolved against
    `user_dir`, where the user typed it: the interpreter is the user's tool,
    and an untracked folder like `.venv/` does not exist in a worktree.
    """
    text = cmd if isinstance(cmd, str) else shlex.join(cmd)
    try:
        words = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
    except ValueError as e:
        raise ConfigError(f"cannot split the test command {cmd!r}: {e}; check its quotes") from None
    env: dict[str, str] = {}
    while words and _ASSIGNMENT.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if not words:
        raise ConfigError("no test command: give one after `--`, e.g. `swarm test -- python -m pytest`")
    program = words[0]
    if "/" in program and not Path(program).is_absolute() and user_dir is not None:
        words[0] = str((user_dir / program).resolve())
    return TestCommand(argv=words, env=env, text=text, cwd=cwd)


def label_commands(commands: list[TestCommand]) -> None:
    """Give each command of a matrix a short distinct label (its program's name); a single command gets none."""
    if len(commands) < 2:
        return
    seen: dict[str, int] = {}
    for command in commands:
        base = Path(command.argv[0]).name
        if command.env:
            base = " ".join(f"{k}={v}" for k, v in command.env.items()) + " " + base
        seen[base] = seen.get(base, 0) + 1
        command.label = base if seen[base] == 1 else f"{base} #{seen[base]}"
