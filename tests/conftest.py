"""Shared fixtures: real git repositories in tmp_path, the scripted Messages-API server, the CLI in this process
(`swarm`) or in a subprocess (`swarm_process`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from swarm.env.sandbox import bwrap_problem
from swarm.scripted import ScriptedServer

GIT_ENV = {"GIT_AUTHOR_NAME": "Test User", "GIT_AUTHOR_EMAIL": "user@example.test",
           "GIT_COMMITTER_NAME": "Test User", "GIT_COMMITTER_EMAIL": "user@example.test"}


TEST_SANDBOX = "auto" if bwrap_problem() is None else "off"


def pytest_report_header() -> str:
    return f"swarm sandbox for tests: {TEST_SANDBOX} ({bwrap_problem() or 'bubblewrap works'})"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No real credentials, and worktrees under this test's own folder."""
    for name in list(os.environ):
        if name.startswith(("ANTHROPIC_", "SWARM_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))  # no user config file of the machine's
    # The sandbox mode every test runs in, said explicitly: confined where bubblewrap works, else off
    # (tests of the sandbox itself set their own mode, and skip with a reason where bubblewrap is refused).
    monkeypatch.setenv("SWARM_SANDBOX", TEST_SANDBOX)
    # Every command starts cold and leaves no warm process behind; tests/test_warm_start.py tests that path.
    monkeypatch.setenv("SWARM_WARM_START", "0")
    for name, value in GIT_ENV.items():
        monkeypatch.setenv(name, value)


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=repo, check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """Make a git repository holding `files` in one commit on branch main."""

    def make(files: dict[str, str], name: str = "repo") -> Path:
        repo = tmp_path / name
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        for rel, text in files.items():
            path = repo / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "initial")
        return repo

    return make


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(script: dict[str, Any], **kwargs: Any) -> ScriptedServer:
        server = ScriptedServer(script, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def write_plan(path: Path, plan: dict[str, Any]) -> Path:
    path.write_text(json.dumps(plan))
    return path


def _cli_env(server: ScriptedServer | None, env: dict[str, str] | None) -> dict[str, str]:
    extra = {}
    if server is not None:
        extra["ANTHROPIC_BASE_URL"] = server.url
        extra["ANTHROPIC_API_KEY"] = "sk-test-secret-key-123456"
    extra.update(env or {})
    return extra


def swarm(repo: Path, *args: str, server: ScriptedServer | None = None, env: dict[str, str] | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the `swarm` CLI in this process, in `repo`: click's CliRunner over the real library.

    What a subprocess would show is kept: the exit code, stdout and stderr apart, and the traceback of an
    exception no error boundary caught (appended to stderr, as Python prints it). The process's environment
    and working directory are shared, so both are set for the call and put back after it. `timeout` is
    accepted for the subprocess form's sake; a test that needs one runs `swarm_process`.
    """
    from click.testing import CliRunner

    from swarm.cli import main

    here = os.getcwd()
    # A command may ignore Ctrl-C while it exits; in this process that would outlive it and be inherited by
    # every subprocess a later test starts (an ignored signal survives exec), so it is put back.
    sigint = signal.getsignal(signal.SIGINT)
    os.chdir(repo)
    try:
        result = CliRunner().invoke(main, list(args), env=_cli_env(server, env), prog_name="swarm")
    finally:
        os.chdir(here)
        signal.signal(signal.SIGINT, sigint)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return subprocess.CompletedProcess(["swarm", *args], result.exit_code, result.stdout, stderr)


def swarm_process(repo: Path, *args: str, server: ScriptedServer | None = None, env: dict[str, str] | None = None,
                  timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `swarm` CLI in a subprocess (`python -m swarm`) in `repo`: where the process boundary
    itself is tested (exit codes seen by a shell, signals, a fresh interpreter)."""
    return subprocess.run([sys.executable, "-m", "swarm", *args], cwd=repo, env={**os.environ, **_cli_env(server, env)},
                          capture_output=True, text=True, timeout=timeout)


def turn(*blocks: dict[str, Any], delay: float | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"content": list(blocks)}
    if delay is not None:
        entry["delay"] = delay
    return entry


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool(name: str, **inputs: Any) -> dict[str, Any]:
    return {"type": "tool_use", "name": name, "input": inputs}


# A src-layout package setuptools can install editable (tests of worktrees shadowing an editable install).
EDITABLE_PYPROJECT = """[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "shadowpkg"
version = "0.1"
"""


def load_corpus() -> Any:
    """scripts/corpus.py as a module (once per test session): the planted cases and how to run them."""
    import importlib.util

    if "corpus" not in sys.modules:
        spec = importlib.util.spec_from_file_location("corpus", Path(__file__).resolve().parents[1] / "scripts"
                                                      / "corpus.py")
        assert spec and spec.loader
        sys.modules["corpus"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["corpus"])
    return sys.modules["corpus"]


def wait_for(predicate: Callable[[], Any], seconds: float = 60) -> None:
    """Poll `predicate` every 0.1 s until it is true; fail the test after `seconds`."""
    import time

    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def read_terminal(master: int, proc: "subprocess.Popen[str]", seconds: float = 60) -> tuple[str, str]:
    """What `proc` wrote to the pseudo-terminal `master` until it ended (or `seconds`), and its stdout."""
    import select
    import time

    seen = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    out, _ = proc.communicate(timeout=30)
    os.close(master)
    return seen.decode(errors="replace"), out
