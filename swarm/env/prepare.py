"""Making a checked-out worktree a development environment: ports, variables, copy, link, setup.

`prepare_worktree` applies a `WorktreeRecipe` to one worktree on this machine
and returns the environment everything run there gets: the allowlisted base,
the recipe's `env`, SWARM_WORKTREE / SWARM_SUBTASK / SWARM_PORT (the first of
a reserved block) and, when the user's Python has this repository installed
in editable mode, a PYTHONPATH that puts the worktree's own package roots
first. `setup` runs sandboxed; a slot whose stamp (in its git admin folder,
where an agent cannot write) matches the commands and lockfiles skips it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from swarm.env.ports import PortBlock, reserve_ports
from swarm.env.python import PythonEnv
from swarm.env.recipe import WorktreeRecipe, copy_and_link
from swarm.env.sandbox import Sandbox
from swarm.env.shell import run_shell
from swarm.errors import SwarmError

SETUP_TIMEOUT = 1800.0
STAMP = "swarm-setup"
_SHOWN = 4000  # characters of a failing setup command's output in the subtask's error


class SetupFailed(SwarmError):
    """A `setup` command of the worktree recipe failed; the message carries its output."""


@dataclass
class Prepared:
    """A worktree made ready: its environment, its ports (held until `release`), and what was done."""

    env: dict[str, str]
    ports: PortBlock
    steps: list[str] = field(default_factory=list)

    def release(self) -> None:
        self.ports.release()


def worktree_env(base: dict[str, str], recipe: WorktreeRecipe, python: PythonEnv | None, worktree: Path,
                 subtask: str, port: int) -> dict[str, str]:
    """The environment of everything run in `worktree`: base, recipe `env`, SWARM_*, shadowing PYTHONPATH."""
    env = {**base, **recipe.env, "SWARM_WORKTREE": str(worktree), "SWARM_SUBTASK": subtask,
           "SWARM_PORT": str(port), "SWARM_PORTS": str(recipe.ports)}
    if python is not None:
        path = python.pythonpath(worktree, env.get("PYTHONPATH"))
        if path:
            env["PYTHONPATH"] = path
    return env


SetupLog = Callable[[str, str, int, float], None]  # command, output, exit code, seconds


async def prepare_worktree(recipe: WorktreeRecipe, python: PythonEnv | None, *, source: Path, worktree: Path,
                           subtask: str, base_env: dict[str, str], ports_dir: Path, stamp_dir: Path | None,
                           common_dir: Path | None = None, log: SetupLog | None = None) -> Prepared:
    """Reserve ports, build the environment, copy and link, run `setup` unless this slot already did."""
    ports = reserve_ports(ports_dir, recipe.ports)
    try:
        env = worktree_env(base_env, recipe, python, worktree, subtask, ports.first)
        steps = copy_and_link(recipe, source, worktree, common_dir)
        if recipe.setup:
            steps += await _setup(recipe, worktree, env, stamp_dir, log)
    except BaseException:
        ports.release()
        raise
    return Prepared(env, ports, steps)


async def _setup(recipe: WorktreeRecipe, worktree: Path, env: dict[str, str], stamp_dir: Path | None,
                 log: SetupLog | None) -> list[str]:
    key = recipe.setup_key(worktree)
    stamp = stamp_dir / STAMP if stamp_dir is not None else None
    if stamp is not None and stamp.is_file() and stamp.read_text().strip() == key:
        return ["setup skipped: this slot ran it for the same lockfiles"]
    if stamp is not None:
        stamp.unlink(missing_ok=True)
    for command in recipe.setup:
        began = time.monotonic()
        result = await run_shell(command, worktree, env, SETUP_TIMEOUT, sandbox=Sandbox(worktree))
        if log is not None:
            log(command, result.output, result.exit_code, time.monotonic() - began)
        if result.exit_code != 0 or result.timed_out:
            how = "timed out" if result.timed_out else f"exited {result.exit_code}"
            tail = result.output[-_SHOWN:].strip()
            raise SetupFailed(f"worktree setup `{command}` {how}:\n{tail}")
    if stamp is not None:
        stamp.write_text(key + "\n")
    return [f"setup ran {len(recipe.setup)} command(s)"]
