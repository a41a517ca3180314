"""The worktree's tools: confinement, the sandboxed shell, no leaked processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest

from swarm.agent.tools import Toolbox
from swarm.env.allowlist import scrubbed_env
from swarm.env.shell import sandbox_available


def call(box: Toolbox, name: str, **inputs):
    return asyncio.run(box.call(name, inputs))


def test_file_tools_answer_with_worktree_relative_paths(tmp_path):
    box = Toolbox(tmp_path, scrubbed_env())
    assert not call(box, "write", file_path="src/a.py", content="x = 1\n").is_error
    assert call(box, "glob", pattern="**/*.py").content == "src/a.py"
    assert call(box, "grep", pattern="x = ").content == "src/a.py:1:x = 1"
    outcome = call(box, "edit", file_path="src/a.py", old_string="nope", new_string="y")
    assert outcome.is_error and "not found" in outcome.content
    assert call(box, "nonsense").is_error


def test_concurrent_toolboxes_each_work_in_their_own_worktree(tmp_path):
    """The tool objects are shared by every Toolbox of the process: each call still acts in its own
    worktree, however the calls of many agents interleave (on the loop and on worker threads)."""
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "own.txt").write_text(f"only in {name}\n")
    boxes = {name: Toolbox(tmp_path / name, scrubbed_env()) for name in ("a", "b", "c")}

    async def agent(name: str, box: Toolbox) -> list:
        outcomes = []
        for i in range(6):
            outcomes.append(await box.call("write", {"file_path": f"w{i}.txt", "content": f"{name}{i}\n"}))
            outcomes.append(await box.call("read", {"file_path": "own.txt"}))
            outcomes.append(await box.call("bash", {"command": "cat own.txt; pwd"}) if sandbox_available()
                            else await box.call("glob", {"pattern": "own.txt"}))
        return outcomes

    async def everyone() -> dict:
        results = await asyncio.gather(*(agent(n, b) for n, b in boxes.items()))
        return dict(zip(boxes, results))

    for name, outcomes in asyncio.run(everyone()).items():
        assert not any(o.is_error for o in outcomes), [o.content for o in outcomes if o.is_error]
        assert all(f"only in {name}" in o.content for o in outcomes[1::3])
        assert sorted(p.name for p in (tmp_path / name).glob("w*.txt")) == [f"w{i}.txt" for i in range(6)]
        assert (tmp_path / name / "w5.txt").read_text() == f"{name}5\n"
    assert call(boxes["a"], "read", file_path=str(tmp_path / "b" / "own.txt")).is_error  # not b's worktree


def test_shell_kills_background_jobs_and_times_out(tmp_path):
    box = Toolbox(tmp_path, scrubbed_env())
    marker = f"swarm-test-sleep-{os.getpid()}"
    began = time.monotonic()
    outcome = call(box, "bash", command=f"exec -a {marker} sleep 60 & echo started")
    assert outcome.content.strip() == "started" and time.monotonic() - began < 10
    time.sleep(0.2)
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 1
    outcome = call(box, "bash", command="sleep 30", timeout_ms=300)
    assert outcome.is_error and "timed out" in outcome.content
    failing = call(box, "bash", command="echo oops; exit 4")
    assert failing.is_error and "oops" in failing.content and "exit code 4" in failing.content


def test_shell_env_is_scrubbed(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-should-not-leak")
    monkeypatch.setenv("SWARM_SECRETS", "MY_TOKEN")
    monkeypatch.setenv("MY_TOKEN", "hidden-value")
    box = Toolbox(tmp_path, scrubbed_env(("MY_TOKEN",)))
    out = call(box, "bash", command="env").content
    assert "sk-should-not-leak" not in out and "ANTHROPIC" not in out and "hidden-value" not in out
    assert "PATH=" in out


@pytest.mark.skipif(not sandbox_available(), reason="bubblewrap is not installed or not permitted here "
                    "(apt-get install bubblewrap); the shell then runs unsandboxed and says so")
def test_sandboxed_shell_writes_only_inside_the_worktree(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    probe = Path(__file__).resolve().parents[1] / ".pytest_cache" / f"sandbox-probe-{os.getpid()}"
    probe.mkdir(parents=True, exist_ok=True)
    try:
        box = Toolbox(work, scrubbed_env())
        outcome = call(box, "bash", command=f"echo in > inside.txt; echo out > {probe}/outside.txt")
        assert outcome.is_error and "Read-only file system" in outcome.content
        assert (work / "inside.txt").read_text() == "in\n"
        assert not (probe / "outside.txt").exists()
        temp = call(box, "bash", command=f"echo t > {tmp_path}/tmp-escape.txt")
        assert temp.is_error and not (tmp_path / "tmp-escape.txt").exists(), temp
        # The command's own temporary folder (TMPDIR) is writable, and is gone afterwards.
        scratch = call(box, "bash", command='echo s > "$TMPDIR/s.txt" && cat "$TMPDIR/s.txt" && echo "$TMPDIR"')
        assert not scratch.is_error and scratch.content.startswith("s\n"), scratch
        assert not Path(scratch.content.split()[-1]).exists()
    finally:
        probe.rmdir()


def test_the_tools_an_agent_sees_before_its_worktree_exists_are_the_worktrees_own(tmp_path):
    """An agent's first request goes out while its worktree is made (OpeningTools); its tool definitions must
    be byte for byte those of the worktree's Toolbox, or the prompt cache of the shared prefix would miss."""
    from swarm.agent.tools import tool_definitions

    box = Toolbox(tmp_path, scrubbed_env())
    assert list(tool_definitions()) == box.definitions()
    assert [d["name"] for d in box.definitions()] == ["read", "write", "edit", "glob", "grep", "bash"]
