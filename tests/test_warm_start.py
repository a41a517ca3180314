"""The warm start (swarm.warm): a model command forked by a process that has the SDK imported behaves as the
same command started cold: the caller's arguments, folder, environment, terminal, exit code and signals;
the caller's death is the command's; swarm's code is read afresh; no secret stays in the warm process."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import git, read_terminal, swarm, text, tool, turn, wait_for, write_plan

ROOT = Path(__file__).resolve().parents[1]
SECRET = "sk-test-secret-key-123456"


class Warm:
    """A warm process for one test: its own socket folder, stopped at the end."""

    def __init__(self, tmp_path: Path, extra: dict[str, str] | None = None) -> None:
        self.env = {**os.environ, "SWARM_WARM_START": "1", "SWARM_WARM_IDLE": "120",
                    "XDG_RUNTIME_DIR": str(tmp_path / "rt"), **(extra or {})}
        (tmp_path / "rt").mkdir(mode=0o700, exist_ok=True)
        self.cwd = tmp_path
        self.socket = Path(self.python("from swarm import warm; print(warm.socket_path())").stdout.strip())

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", code], cwd=self.cwd, env=self.env, capture_output=True,
                              text=True, check=True)

    def start(self) -> "Warm":
        self.python("from swarm import warm; warm.spawn_server()")
        wait_for(self.listening, 60)
        return self

    def listening(self) -> bool:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(self.socket))
            except OSError:
                return False
        return True

    @property
    def pid(self) -> int:
        return int(Path(f"{self.socket}.lock").read_text().split()[0])

    def children(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == self.pid:
                    found.append(int(entry.name))
        return found

    def stop(self) -> None:
        try:
            pid = self.pid
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError, IndexError):
            return
        wait_for(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
                 .rsplit(")", 1)[1].split()[0], 20)


@pytest.fixture
def warm(tmp_path):
    started: list[Warm] = []

    def make(extra: dict[str, str] | None = None) -> Warm:
        w = Warm(tmp_path, extra).start()
        started.append(w)
        return w

    yield make
    for w in started:
        w.stop()


def run(repo: Path, env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "swarm", *args], cwd=cwd or repo, env=env, capture_output=True,
                          text=True, timeout=120)


def model_env(base: dict[str, str], server) -> dict[str, str]:
    return {**base, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": SECRET}


def command_plan(tmp_path: Path) -> Path:
    return write_plan(tmp_path / "c.json", {"task": "Cmd", "subtasks": [
        {"id": "c", "command": "echo hi > c.txt", "files": ["c.txt"]}]})


def served_warm(done: subprocess.CompletedProcess[str]) -> bool:
    """The run succeeded; whether the warm process ran it (result.json's `process`)."""
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["process"]["warm_start"]


@contextmanager
def warm_on_a_copy(tmp_path: Path, make_repo: Any) -> Iterator[tuple[Warm, Path, Path, Path]]:
    """A warm process serving a copy of swarm's source (for tests that change it), the copy's cli/run.py,
    a repository and a command plan for it; the warm process is stopped at the end."""
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "swarm", copy / "swarm", ignore=shutil.ignore_patterns("__pycache__"))
    w = Warm(tmp_path, {"PYTHONPATH": str(copy)}).start()
    try:
        yield w, copy / "swarm" / "cli" / "run.py", make_repo({"a.py": "x = 1\n"}), command_plan(tmp_path)
    finally:
        w.stop()


def edit_plan(tmp_path: Path) -> Path:
    return write_plan(tmp_path / "plan.json", {"task": "Two edits", "subtasks": [
        {"id": "a", "instructions": "Write a.txt.", "files": ["a.txt"]},
        {"id": "env", "command": "printf '%s' \"$WARM_PROBE\" > probe.txt", "files": ["probe.txt"]}]})


def test_a_run_served_warm_is_the_run_started_cold(make_repo, scripted, tmp_path, warm):
    w = warm()
    results = {}
    for mode in ("cold", "warm"):
        repo = make_repo({"pkg/m.py": "X = 1\n"}, name=f"repo-{mode}")
        server = scripted({"workers": {"a": [turn(tool("write", file_path="a.txt", content="from a\n")),
                                             turn(text("Wrote a.txt."))]}})
        env = model_env({**w.env, "SWARM_WARM_START": "0" if mode == "cold" else "1",
                         "WARM_PROBE": f"probe-{mode}", "SWARM_PASS_ENV": "WARM_PROBE"}, server)
        # from a folder inside the repository, as a user would: the command finds the repository from its cwd
        done = run(repo, env, "run", "--plan", str(edit_plan(tmp_path)), "--json", cwd=repo / "pkg")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)  # stdout is the caller's: result.json, whole
        results[mode] = result
        merged = result["merged_branch"]
        assert git(repo, "show", f"{merged}:a.txt") == "from a"
        assert git(repo, "show", f"{merged}:probe.txt") == f"probe-{mode}"  # the caller's environment
        assert "subtask(s) of \"Two edits\"" in done.stderr  # stderr too
    assert results["cold"]["process"]["warm_start"] is False
    assert results["warm"]["process"]["warm_start"] is True
    assert results["warm"]["process"]["peak_rss_mb"] > 20  # the child's own memory, the SDK's included
    assert [s["state"] for s in results["cold"]["subtasks"]] == [s["state"] for s in results["warm"]["subtasks"]]
    # The warm process keeps no secret: the credentials come with each command and leave with its child.
    environ = Path(f"/proc/{w.pid}/environ").read_bytes()
    assert SECRET.encode() not in environ and b"ANTHROPIC_API_KEY" not in environ


def test_exit_codes_and_one_line_errors_come_through(make_repo, scripted, tmp_path, warm):
    w = warm()
    repo = make_repo({"a.py": "x = 1\n"})
    missing = run(repo, w.env, "run", "--plan", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr, missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1 and "nope.json" in missing.stderr
    failing = write_plan(tmp_path / "fail.json", {"task": "Fail", "subtasks": [
        {"id": "bad", "command": "exit 3", "files": ["x.txt"]}]})
    failed = run(repo, model_env(w.env, scripted({})), "run", "--plan", str(failing), "--json")
    assert failed.returncode == 1, failed.stderr
    assert json.loads(failed.stdout)["process"]["warm_start"] is True
    assert json.loads(failed.stdout)["subtasks"][0]["state"] == "failed"


def _slow_run(repo: Path, tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    plan = write_plan(tmp_path / "slow.json", {"task": "Slow", "subtasks": [{"id": "slow", "instructions": "Edit."}]})
    return subprocess.Popen([sys.executable, "-m", "swarm", "run", "--plan", str(plan)], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


SLOW = {"workers": {"slow": [turn(tool("write", file_path="edit.txt", content="kept\n")),
                             turn(text("never sent"), delay=60)]}}


def test_ctrl_c_to_the_caller_stops_the_run_and_exits_130(make_repo, scripted, tmp_path, warm):
    w = warm()
    repo = make_repo({"a.py": "x = 1\n"})
    env = model_env({**w.env, "XDG_CACHE_HOME": str(tmp_path / "xdg-cache")}, scripted(SLOW))
    proc = _slow_run(repo, tmp_path, env)
    try:
        wait_for(lambda: any((tmp_path / "xdg-cache").rglob("edit.txt")))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "swarm resume" in err and "Traceback" not in err
    status = json.loads(swarm(repo, "status", "--json").stdout)
    assert status["state"] == "interrupted"


def test_killing_the_caller_kills_its_command_and_the_run_resumes(make_repo, scripted, tmp_path, warm):
    w = warm()
    repo = make_repo({"a.py": "x = 1\n"})
    server = scripted(SLOW)
    env = model_env({**w.env, "XDG_CACHE_HOME": str(tmp_path / "xdg-cache")}, server)
    proc = _slow_run(repo, tmp_path, env)
    try:
        wait_for(lambda: any((tmp_path / "xdg-cache").rglob("edit.txt")))
        children = w.children()
        assert len(children) == 1  # the command runs in the warm process's child, not in the caller
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    wait_for(lambda: not w.children(), 10)  # it died with its caller
    status = json.loads(swarm(repo, "status", "--json").stdout)
    assert status["state"] == "interrupted"
    assert w.listening()  # the warm process itself lives on for the next command


def test_a_terminal_stays_the_callers_terminal(make_repo, scripted, tmp_path, warm):
    w = warm()
    repo = make_repo({"a.py": "x = 1\n"})
    server = scripted({"workers": {"a": [turn(tool("write", file_path="a.txt", content="a\n"), delay=0.5),
                                         turn(text("Done."), delay=0.5)]}})
    plan = write_plan(tmp_path / "p.json", {"task": "T", "subtasks": [{"id": "a", "instructions": "Write."}]})
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "swarm", "run", "--plan", str(plan)], cwd=repo,
                            stdout=subprocess.PIPE, stderr=slave, text=True,
                            env={**model_env(w.env, server), "TERM": "xterm-256color", "COLUMNS": "80"})
    os.close(slave)
    screen, out = read_terminal(master, proc, 90)
    assert proc.returncode == 0, screen + out
    assert "\x1b[" in screen  # the live table drew on the terminal it was given
    assert re.search(r"run \d{8}-\d{6}-\w+", out)  # and the summary went to the pipe


def test_the_next_command_reads_swarms_code_afresh(make_repo, scripted, tmp_path):
    """A change to swarm's source between two commands is in the second, though the warm process started
    before it (its compiled copy of the module is not used once the file changed)."""
    with warm_on_a_copy(tmp_path, make_repo) as (w, module, repo, plan):
        first = run(repo, w.env, "run", "--plan", str(plan), "--json")
        assert served_warm(first)
        module.write_text(module.read_text().replace("preparing the run ...", "PREPARING AFRESH ..."))
        second = run(repo, w.env, "run", "--plan", str(plan), "--json")
        assert served_warm(second)
        assert "PREPARING AFRESH" in second.stderr and "PREPARING AFRESH" not in first.stderr


def test_an_unchanged_module_comes_compiled_from_the_warm_process(make_repo, tmp_path):
    """What the warm process compiled is used while the file's modification time and size are those it read
    (as Python's own .pyc check): an edit that keeps both (planted here on purpose) is not seen, which shows
    the command took the compiled copy instead of compiling the source again."""
    with warm_on_a_copy(tmp_path, make_repo) as (w, module, repo, plan):
        stat = module.stat()
        module.write_text(module.read_text().replace("preparing the run ...", "PREPARING ON DISK ..."))
        os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert module.stat().st_size == stat.st_size
        done = run(repo, w.env, "run", "--plan", str(plan), "--json")
        assert served_warm(done)
        assert "preparing the run ..." in done.stderr and "PREPARING ON DISK ..." not in done.stderr


def test_no_warm_process_where_the_socket_folder_is_not_private(make_repo, tmp_path):
    rt = tmp_path / "rt"
    (rt / "swarm").mkdir(parents=True)
    os.chmod(rt / "swarm", 0o777)
    env = {**os.environ, "SWARM_WARM_START": "1", "XDG_RUNTIME_DIR": str(rt)}
    found = subprocess.run([sys.executable, "-c", "from swarm import warm; print(warm.socket_path())"],
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert found == "None"
    repo = make_repo({"a.py": "x = 1\n"})
    plan = command_plan(tmp_path)
    done = run(repo, env, "run", "--plan", str(plan), "--json")
    assert not served_warm(done)
    time.sleep(1)
    assert list((rt / "swarm").iterdir()) == []  # nothing listens in a folder others can write


def test_a_cold_command_leaves_a_warm_process_that_exits_when_idle(make_repo, tmp_path):
    w = Warm(tmp_path, {"SWARM_WARM_IDLE": "3"})
    repo = make_repo({"a.py": "x = 1\n"})
    plan = command_plan(tmp_path)
    cold = run(repo, w.env, "run", "--plan", str(plan), "--json")
    assert not served_warm(cold)
    wait_for(w.listening, 60)  # left behind at the cold command's exit
    served = run(repo, w.env, "run", "--plan", str(plan), "--json")
    assert served_warm(served)
    wait_for(lambda: not w.socket.exists() and not Path(f"{w.socket}.lock").exists(), 30)  # idle: gone, tidy
    off = run(repo, {**w.env, "SWARM_WARM_START": "0"}, "run", "--plan", str(plan), "--json")
    assert not served_warm(off)
    time.sleep(2)
    assert not w.socket.exists()  # turned off: nothing left behind


def test_a_warm_process_that_runs_nothing_leaves_the_command_to_run_cold(make_repo, tmp_path):
    """Something listening on the socket that never forks the command (a warm process ending, a fork
    refused): the caller runs the command itself."""
    import threading

    w = Warm(tmp_path, {"SWARM_WARM_IDLE": "1"})  # the one the cold command leaves exits at once
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(w.socket))
    listener.listen(4)

    def refuse() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=refuse, daemon=True).start()
    try:
        repo = make_repo({"a.py": "x = 1\n"})
        plan = command_plan(tmp_path)
        done = run(repo, {**w.env, "SWARM_WARM_START": "1"}, "run", "--plan", str(plan), "--json")
        assert not served_warm(done)
    finally:
        listener.close()


def test_a_command_from_a_deleted_folder_says_so_in_one_line(tmp_path, warm):
    """The caller's folder is gone (deleted under the shell): exit 2, one line, warm start on or off."""
    w = warm()
    gone = tmp_path / "gone"
    script = (f"import os, subprocess, sys; os.mkdir({str(gone)!r}); os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); "
              "p = subprocess.run([sys.argv[1], '-c', 'from swarm.__main__ import entry; entry()', 'run', '--plan', "
              "'p.json'], capture_output=True, text=True); print(p.returncode); print(p.stderr)")
    for start in ("1", "0"):
        proc = subprocess.run([sys.executable, "-c", script, sys.executable], capture_output=True, text=True,
                              env={**w.env, "SWARM_WARM_START": start})
        out = proc.stdout.splitlines()
        assert out and out[0] == "2", proc.stdout + proc.stderr
        assert len([line for line in out[1:] if line.strip()]) == 1 and "no longer exists" in out[1], out
