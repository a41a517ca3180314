"""Running one shell command for an agent, a command subtask, setup or a test run.

Each command runs in a fresh shell in its own process group, inside the
bubblewrap sandbox (swarm.env.sandbox) where one works, with a private HOME
and TMPDIR made for it, and everything it started is killed when it returns.
Its output is read through a pipe into a bounded buffer that keeps the head
and the tail, so a command printing gigabytes costs a few kilobytes of memory
and no disk; a background job still holding the pipe cannot keep the call
waiting once the shell is gone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from swarm.env.sandbox import Sandbox, agent_shell_allowed, sandbox_available, sandbox_note

__all__ = ["DEFAULT_TIMEOUT", "MAX_TIMEOUT", "OUTPUT_LIMIT", "ShellResult", "agent_shell_allowed", "run_shell",
           "sandbox_available", "sandbox_note", "shell_argv"]

OUTPUT_LIMIT = 30_000  # bytes of output kept: the first and the last half
DEFAULT_TIMEOUT = 120.0
MAX_TIMEOUT = 600.0  # the most an agent may ask for one command (`timeout_ms`)
# After the shell ends, how long a job that escaped its group may hold the pipe before it is closed.
_DRAIN_GRACE = 1.0
# Written by tests an agent runs; never part of its change.
_QUIET_ENV = {"PYTHONDONTWRITEBYTECODE": "1", "PYTEST_ADDOPTS": "-p no:cacheprovider", "GIT_TERMINAL_PROMPT": "0"}


def shell_argv(command: str, workdir: Path, scratch: Path | None = None,
               sandbox: Sandbox | None = None) -> list[str]:
    """The argv that runs `command` in `workdir`, sandboxed when the setting and the machine allow."""
    shell = ["/bin/bash", "--noprofile", "--norc", "-c", command]
    if not (sandbox and sandbox_available()):
        return shell
    layout = sandbox or Sandbox(workdir)
    return layout.argv(shell, scratch or Path(tempfile.gettempdir()))


class BoundedOutput:
    """The first and last `limit // 2` bytes of a stream, and how many bytes it had in all."""

    def __init__(self, limit: int = OUTPUT_LIMIT) -> None:
        self.half = limit // 2
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.half:
                del self.tail[:len(self.tail) - self.half]

    def text(self) -> str:
        kept = len(self.head) + len(self.tail)
        if self.total <= kept:
            return (bytes(self.head) + bytes(self.tail)).decode(errors="replace")
        return (self.head.decode(errors="replace")
                + f"\n[... {self.total - kept} bytes left out of {self.total}; the first and last "
                  f"{self.half} are shown ...]\n" + self.tail.decode(errors="replace"))


class _Sink(asyncio.Protocol):
    def __init__(self, buffer: BoundedOutput, closed: asyncio.Future[None]) -> None:
        self.buffer = buffer
        self.closed = closed

    def data_received(self, data: bytes) -> None:
        self.buffer.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


@dataclass
class ShellResult:
    """A finished command: its (bounded) output, exit code, and whether it ran out of time."""

    output: str
    exit_code: int
    timed_out: bool = False
    output_bytes: int = 0


async def run_shell(command: str, workdir: Path, env: dict[str, str], timeout: float = DEFAULT_TIMEOUT,
                    *, sandbox: Sandbox | None = None, limit: int = OUTPUT_LIMIT) -> ShellResult:
    """Run one shell command; kill its whole process group when it ends or times out.

    `env` should come from `swarm.env.allowlist.tool_env`; a private HOME and TMPDIR are added here.
    """
    loop = asyncio.get_running_loop()
    buffer = BoundedOutput(limit)
    with tempfile.TemporaryDirectory(prefix="swarm-sh-") as scratch:
        home, tmp = Path(scratch) / "home", Path(scratch) / "tmp"
        home.mkdir()
        tmp.mkdir()
        read_fd, write_fd = os.pipe()
        closed: asyncio.Future[None] = loop.create_future()
        transport = None
        try:
            transport, _ = await loop.connect_read_pipe(lambda: _Sink(buffer, closed), os.fdopen(read_fd, "rb", 0))
            proc = await asyncio.create_subprocess_exec(
                *shell_argv(command, workdir, Path(scratch), sandbox), cwd=workdir,
                env={"SWARM_WORKTREE": str(workdir), **env, **_QUIET_ENV, "TMPDIR": str(tmp), "HOME": str(home)},
                stdin=subprocess.DEVNULL, stdout=write_fd, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            os.close(write_fd)  # the child holds its own copy; EOF comes when the last holder is gone
            if transport is None:
                os.close(read_fd)
        timed_out = False
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            timed_out = True
        finally:
            # Background jobs (`cmd &`) share the group; they must not outlive the call.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if proc.returncode is None:
                await proc.wait()
            try:
                await asyncio.wait_for(asyncio.shield(closed), _DRAIN_GRACE)
            except TimeoutError:
                pass  # a job that left the group still holds the pipe: stop listening to it
            assert transport is not None
            transport.close()
    code = proc.returncode if proc.returncode is not None else -1
    return ShellResult(buffer.text(), code, timed_out, buffer.total)
