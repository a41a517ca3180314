"""Running one shell command for an agent, a command subtask, setup or a test run.

Each command runs in a fresh shell in its own process group, inside a
bubblewrap sandbox where one works (writes confined to the worktree, no
network), and everything it started is killed when it returns. Output goes to a
file, not a pipe, so a background job cannot keep the call waiting.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_TIMEOUT", "OUTPUT_LIMIT", "ShellResult", "run_shell", "sandbox_available", "sandbox_note",
           "shell_argv"]

OUTPUT_LIMIT = 30_000
DEFAULT_TIMEOUT = 120.0
# Written by tests an agent runs; never part of its change.
_QUIET_ENV = {"PYTHONDONTWRITEBYTECODE": "1", "PYTEST_ADDOPTS": "-p no:cacheprovider", "GIT_TERMINAL_PROMPT": "0"}


@functools.cache
def sandbox_available() -> bool:
    """Whether bubblewrap can confine a shell on this machine (some hosts refuse user namespaces)."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False
    try:
        probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--unshare-net", "true"],
                               capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def sandbox_note(sandbox: bool = True) -> str:
    """What the start of a run says about the agents' shell; `sandbox=False` is the user's `sandbox = off`."""
    if not sandbox:
        return "bash is NOT sandboxed (sandbox = off): commands can write outside the worktree"
    if sandbox_available():
        return "bash runs in a bubblewrap sandbox: writes only inside the worktree, no network"
    return "bash is NOT sandboxed here (bubblewrap missing or refused): commands can write outside the worktree"


def shell_argv(command: str, workdir: Path, scratch: Path | None = None, *, sandbox: bool = True) -> list[str]:
    """The argv that runs `command` in `workdir`, sandboxed when possible (and not turned off by `sandbox`).

    Inside the sandbox everything is visible read-only (a virtualenv or a checkout under /tmp included);
    only the worktree and `scratch`, the command's own temporary folder (its TMPDIR), are writable.
    """
    shell = ["/bin/bash", "--noprofile", "--norc", "-c", command]
    if not (sandbox and sandbox_available()):
        return shell
    wd = str(workdir)
    binds = ["--bind", wd, wd]
    if scratch is not None:
        binds += ["--bind", str(scratch), str(scratch)]
    return ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", *binds,
            "--unshare-net", "--unshare-pid", "--die-with-parent", "--chdir", wd, *shell]


@dataclass
class ShellResult:
    output: str
    exit_code: int
    timed_out: bool = False


async def run_shell(command: str, workdir: Path, env: dict[str, str], timeout: float = DEFAULT_TIMEOUT, *,
                    sandbox: bool = True) -> ShellResult:
    """Run one shell command; kill its whole process group when it ends or times out.

    `sandbox=False` (the setting `sandbox = off`) runs it unconfined even where bubblewrap works."""
    # Output goes to a file, not a pipe: a background job holding a pipe open would
    # keep the call waiting for EOF long after the shell itself has exited.
    with tempfile.TemporaryFile() as sink, tempfile.TemporaryDirectory(prefix="swarm-sh-") as scratch:
        proc = await asyncio.create_subprocess_exec(
            *shell_argv(command, workdir, Path(scratch), sandbox=sandbox), cwd=workdir,
            env={**env, **_QUIET_ENV, "TMPDIR": scratch},
            stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
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
        sink.seek(0)
        out = sink.read()
    text = out.decode(errors="replace")
    if len(text) > OUTPUT_LIMIT:
        text = f"[output truncated to the last {OUTPUT_LIMIT} characters]\n" + text[-OUTPUT_LIMIT:]
    return ShellResult(text, proc.returncode if proc.returncode is not None else -1, timed_out)
