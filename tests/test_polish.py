"""Help that reads whole, in the order of a day's use; a refused review choice prints the command that works."""

from __future__ import annotations

import json
import re
import shlex

from conftest import git, swarm, write_plan

CONFLICTING = [
    {"id": "left", "title": "Return 10", "command": "sed -i 's/return 1/return 10/' a.py"},
    {"id": "right", "title": "Return 20", "command": "sed -i 's/return 1/return 20/' a.py"},
    {"id": "bee", "title": "Edit b", "command": "sed -i 's/return 2/return 22/' b.py"},
]


def test_help_shows_run_task_first_and_summaries_whole(make_repo):
    repo = make_repo({"a.py": "A = 1\n"})
    out = swarm(repo, "--help", env={"COLUMNS": "80"}).stdout
    typical = out.split("Typical use:")[1].strip().splitlines()
    assert typical[0].strip().startswith('swarm run "TASK"')
    commands = out.split("Commands:")[1]
    assert "..." not in commands
    assert "Show the state of each subtask of RUN (default: the latest run)." in " ".join(commands.split())
    names = [line.split()[0] for line in commands.splitlines() if re.match(r"^  \S", line)]
    assert names[:3] == ["run", "plan", "watch"] and set(names) >= {"continue", "apply", "show", "runs"}


def test_a_refused_keep_prints_the_exact_command_that_works(make_repo, tmp_path):
    repo = make_repo({"a.py": "def a():\n    return 1\n", "b.py": "def b():\n    return 2\n"})
    plan = write_plan(tmp_path / "plan.json", {"task": "Edits", "subtasks": CONFLICTING})
    rid = json.loads(swarm(repo, "run", "--plan", str(plan), "--json").stdout)["run_id"]
    refused = swarm(repo, "review", "--keep", "left", "--keep", "right")
    assert refused.returncode == 1
    command = re.search(r"`(swarm review [^`]+)`", refused.stderr)
    assert command, refused.stderr
    assert command.group(1) == f"swarm review {rid} --keep right"
    works = swarm(repo, *shlex.split(command.group(1))[1:])
    assert works.returncode == 0, works.stderr
    assert git(repo, "show", f"swarm/{rid}/reviewed:a.py") == "def a():\n    return 20"


def test_config_help_lists_every_setting_aligned_within_80_columns(make_repo):
    from swarm.settings import SETTINGS

    out = swarm(make_repo({"a.py": "x = 1\n"}), "config", "--help", env={"COLUMNS": "80"}).stdout
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    starts = {name: next(line for line in lines if line.strip().startswith(name + " ")) for name in SETTINGS}
    columns = {len(line) - len(line.lstrip()[len(name):].lstrip()) for name, line in starts.items()}
    assert len(columns) == 1  # every help text starts in the same column, the longest name's included
