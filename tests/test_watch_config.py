"""Live progress (a table on a terminal, lines elsewhere), `swarm watch` from another process, and settings."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
import time

from click.testing import CliRunner
from rich.console import Console

from conftest import read_terminal, swarm, text, tool, turn, write_plan
from swarm.cli import main
from swarm.config import load_config
from swarm.ui.progress import Progress

FILES = {"m0.py": "A = 1\n", "m1.py": "A = 1\n", ".gitignore": "*.log\n"}


# -- progress ------------------------------------------------------------------------------

def feed(progress: Progress) -> None:
    progress.begin("run test", ["core", "docs"])
    progress.state("core", "running")
    progress.activity("core", "turn", usage={"input_tokens": 1200, "output_tokens": 80, "cost_usd": 0.0048})
    progress.activity("core", "tool", name="edit", path="src/core.py", is_error=False)
    progress.state("docs", "running")
    progress.activity("docs", "tool", name="read", path="README.md", is_error=False)
    progress.state("core", "done", "1 file(s) changed in 0.4s", files_changed=["src/core.py"])


def test_a_terminal_gets_a_live_table_and_a_pipe_gets_plain_lines():
    screen = io.StringIO()
    with Progress(Console(file=screen, force_terminal=True, width=140)) as progress:
        assert progress.live
        feed(progress)
        progress.note("merging")
        progress._display.refresh()  # type: ignore[union-attr]
    shown = screen.getvalue()
    for header in ("subtask", "state", "turns", "files", "in/out", "cached", "cost", "time", "doing"):
        assert header in shown
    assert "tool: read" in shown and "$0.0048" in shown and "1200/80" in shown
    assert "total" in shown and "1 done" in shown and "1 running" in shown
    assert "merging" in shown
    # No plain state lines on a terminal.
    assert "core           running" not in shown and "docs           running" not in shown

    log = io.StringIO()
    with Progress(Console(file=log, width=140)) as progress:
        assert not progress.live
        feed(progress)
    lines = log.getvalue().splitlines()
    assert [line.split()[1:3] for line in lines] == [["core", "running"], ["docs", "running"], ["core", "done"]]
    assert "in/out" not in log.getvalue()


def test_swarm_run_in_a_terminal_draws_the_table(make_repo, tmp_path):
    repo = make_repo(FILES)
    plan = {"task": "t", "subtasks": [{"id": "gen", "title": "Generate", "command": "sleep 1; echo x > out.txt"}]}
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "swarm", "run", "--plan",
                             str(write_plan(tmp_path / "plan.json", plan)), "--json"],
                            cwd=repo, stdout=subprocess.PIPE, stderr=slave, env={**os.environ, "TERM": "xterm-256color",
                                                                                 "COLUMNS": "120"})
    os.close(slave)
    screen, out = read_terminal(master, proc, 60)
    assert proc.returncode == 0, screen
    assert "in/out" in screen and "gen" in screen and "running" in screen
    assert json.loads(out)["state"] == "done"  # stdout stays JSON


# -- watch ---------------------------------------------------------------------------------

def test_watch_follows_a_run_from_another_process_until_it_ends(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    plan = {"task": "Notes", "subtasks": [{"id": f"n{i}", "instructions": "Write notes."} for i in range(2)]}
    server = scripted({"workers": {f"n{i}": [
        turn(text("Starting."), tool("read", file_path=f"m{i}.py"), delay=2.5),
        turn(tool("write", file_path=f"notes/n{i}.md", content="# notes\n"),
             tool("write", file_path=f"debug-{i}.log", content="ignored\n"), delay=0.5),
        turn(tool("edit", file_path=f"m{i}.py", old_string="A = 1", new_string=f"A = {i + 2}"), delay=1.0),
        turn(text("Done."), delay=1.5),
    ] for i in range(2)}})
    env = {**os.environ, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sk-test-secret-key-123456"}
    runner = subprocess.Popen([sys.executable, "-m", "swarm", "run", "--plan",
                               str(write_plan(tmp_path / "plan.json", plan)), "--json"],
                              cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        runs = repo / ".swarm" / "runs"
        deadline = time.monotonic() + 30
        while not list(runs.glob("*/plan.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        watched = swarm(repo, "watch", timeout=90, env={"COLUMNS": "150"})
    finally:
        out, err = runner.communicate(timeout=90)
    assert runner.returncode == 0, err
    run_id = json.loads(out)["run_id"]
    assert watched.returncode == 0, watched.stderr
    shown = watched.stdout
    for i in range(2):
        assert f"n{i}" in shown
        assert any(f"n{i}" in line and "added" in line and f"notes/n{i}.md" in line for line in shown.splitlines())
        assert any(f"n{i}" in line and "modified" in line and f"m{i}.py" in line for line in shown.splitlines())
    assert ".log" not in shown  # ignored files are not reported
    assert ".git" not in shown.replace(".gitignore", "")
    assert f"run {run_id} done" in shown
    assert "checks: " in shown and "synthesis: the synthesizer reviews" in shown  # the phases, from the events
    assert "in/out" in shown and "synthesis" in shown  # the final table, with the synthesis pass


def test_watch_of_a_finished_run_prints_it_and_ends(make_repo, tmp_path):
    repo = make_repo(FILES)
    plan = {"task": "t", "subtasks": [{"id": "broken", "title": "Fails", "command": "exit 3"}]}
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json")
    assert proc.returncode == 1
    # Named, a finished run is shown and the watch ends (unnamed, watch waits for the next run).
    out = CliRunner().invoke(main, ["-C", str(repo), "watch", json.loads(proc.stdout)["run_id"]])
    assert out.exit_code == 1
    assert "broken" in out.output and "failed" in out.output and "run " in out.output


# -- config --------------------------------------------------------------------------------

def test_config_layers_and_sources(make_repo, tmp_path, monkeypatch):
    repo = make_repo({"pyproject.toml": "[project]\nname = 'x'\n\n[tool.swarm]\nconcurrency = 3\n"
                                        "model = 'claude-haiku-test'\nsecrets = ['DB_PASSWORD']\n"})
    (repo / ".swarm").mkdir()
    (repo / ".swarm" / "config.toml").write_text("max-turns = 12\nconcurrency = 4\non_failure = 'retry'\n")
    monkeypatch.setenv("SWARM_MAX_COST", "2.5")
    monkeypatch.setenv("SWARM_SANDBOX", "0")
    out = CliRunner().invoke(main, ["-C", str(repo), "config", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["concurrency"] == {"value": 4, "source": ".swarm/config.toml"}
    assert data["model"] == {"value": "claude-haiku-test", "source": "pyproject.toml [tool.swarm]"}
    assert data["secrets"] == {"value": ["DB_PASSWORD"], "source": "pyproject.toml [tool.swarm]"}
    assert data["max_turns"] == {"value": 12, "source": ".swarm/config.toml"}
    assert data["on_failure"]["value"] == "retry"
    assert data["max_cost"] == {"value": 2.5, "source": "env SWARM_MAX_COST"}
    assert data["sandbox"] == {"value": "off", "source": "env SWARM_SANDBOX"}
    assert data["test_command"] == {"value": None, "source": "default"}

    table = CliRunner().invoke(main, ["-C", str(repo), "config"])
    assert "env SWARM_MAX_COST" in table.output and ".swarm/config.toml" in table.output
    assert "test_command" in CliRunner().invoke(main, ["config", "--help"]).output

    config = load_config(repo).with_flags(concurrency=9, model=None)
    assert config.get("concurrency") == 9 and config.source("concurrency") == "flag --concurrency"
    assert config.get("model") == "claude-haiku-test" and config.source("model") == "pyproject.toml [tool.swarm]"


def test_bad_settings_name_where_they_are(make_repo, monkeypatch):
    repo = make_repo({"pyproject.toml": "[tool.swarm]\nconcurency = 3\n"})
    out = CliRunner().invoke(main, ["-C", str(repo), "config"])
    assert out.exit_code == 2 and "pyproject.toml [tool.swarm]: unknown setting 'concurency'" in out.output
    (repo / "pyproject.toml").write_text("[tool.swarm]\nconcurrency = 3\n")
    monkeypatch.setenv("SWARM_CONCURRENCY", "lots")
    out = CliRunner().invoke(main, ["-C", str(repo), "config"])
    assert out.exit_code == 2 and "env SWARM_CONCURRENCY: concurrency = 'lots' is not valid" in out.output
    monkeypatch.delenv("SWARM_CONCURRENCY")
    (repo / "pyproject.toml").write_text("[tool.swarm\n")
    out = CliRunner().invoke(main, ["-C", str(repo), "config"])
    assert out.exit_code == 2 and "is not valid TOML" in out.output
