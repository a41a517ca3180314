"""What one `swarm test` shares (the commit, the pool, the records, the console), and starting a shard's process.

A shard is an asyncio subprocess in its own process group, its output going
to a log file; on timeout or cancel, and once it ends, the whole group is
killed, so nothing a test started outlives its shard.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swarm.errors import TestCommandError
from swarm.git.repo import GitRepo
from swarm.ui.progress import Progress
from swarm.run.records import new_run_id
from swarm.testrun.balance import DurationStore
from swarm.testrun.command import TestCommand
from swarm.testrun.pool import WorktreePool, slot_env

PLUGIN_MODULE = "swarm_test_shard"
KEEP_RECORDS = 20


class Tail:
    """New complete lines of a file that another process appends to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1
        self.offset += end
        events = []
        for line in data[:end].splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class Invocation:
    """What every command of one `swarm test` shares: the commit, the pool, the records, the console."""

    repo: GitRepo
    commit: str
    pool: WorktreePool
    records: Path
    progress: Progress
    env: dict[str, str]
    timeout: float | None
    store: DurationStore
    plugin_dir: Path

    def pytest_env(self, command: TestCommand, mode: str, shard: int, events: Path,
                   plan: Path | None = None) -> dict[str, str]:
        env = {**self.env, **command.env}
        if not command.is_pytest:
            return env
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.plugin_dir), env.get("PYTHONPATH")]))
        env["PYTEST_PLUGINS"] = ",".join(filter(None, [env.get("PYTEST_PLUGINS"), PLUGIN_MODULE]))
        env.update(SWARM_SHARD_MODE=mode, SWARM_SHARD_INDEX=str(shard), SWARM_SHARD_EVENTS=str(events),
                   SWARM_SHARD_CHECKOUT=str(self.repo.root))
        if plan is not None:
            env["SWARM_SHARD_PLAN"] = str(plan)
        return env

    async def spawn(self, argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[int | None, float]:
        """Run one process to its end (or the timeout); return its exit code (None: timed out) and seconds."""
        started = time.monotonic()
        env = slot_env(self.repo.root, self.pool.dir, cwd, env)
        with open(log, "wb") as out:
            try:
                proc = await asyncio.create_subprocess_exec(*argv, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                            stdout=out, stderr=asyncio.subprocess.STDOUT,
                                                            start_new_session=True)
            except (FileNotFoundError, PermissionError) as e:
                raise TestCommandError(f"cannot run {argv[0]!r}: {e.strerror}; check the command and your PATH") \
                    from None
            try:
                code: int | None = await asyncio.wait_for(proc.wait(), self.timeout)
            except asyncio.TimeoutError:
                code = None
            finally:
                _kill_group(proc.pid)  # what the tests left running, or everything on timeout/cancel
                if proc.returncode is None:
                    await asyncio.shield(proc.wait())
        return code, time.monotonic() - started


def install_plugin(pool: WorktreePool) -> Path:
    """Copy the shard plugin where shards import it from (a folder holding only it)."""
    folder = pool.dir / "plugin"
    folder.mkdir(parents=True, exist_ok=True)
    text = (Path(__file__).with_name("shard_plugin.py")).read_text(encoding="utf-8")
    target = folder / f"{PLUGIN_MODULE}.py"
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    return folder


def new_records_dir(root: Path) -> Path:
    """`.swarm/tests/<id>/` for one `swarm test`; older ones beyond the last few are removed."""
    base = root / ".swarm" / "tests"
    base.mkdir(parents=True, exist_ok=True)
    for old in sorted(p for p in base.iterdir() if p.is_dir())[:-KEEP_RECORDS]:
        shutil.rmtree(old, ignore_errors=True)
    path = base / new_run_id()
    path.mkdir()
    return path
