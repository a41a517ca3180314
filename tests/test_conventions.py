"""Conventions: a user-level config file below the repository's, `swarm clean` on the latest run by default."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import git, swarm, write_plan


def test_user_config_applies_below_the_repository_config(make_repo):
    repo = make_repo({"pyproject.toml": "[project]\nname = 'x'\n\n[tool.swarm]\nconcurrency = 3\n"})
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "swarm" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("concurrency = 9\nmax_turns = 7\n")
    settings = json.loads(swarm(repo, "config", "--json").stdout)
    assert settings["concurrency"] == {"value": 3, "source": "pyproject.toml [tool.swarm]"}  # the repository wins
    assert settings["max_turns"] == {"value": 7, "source": str(user)}

    user.write_text("max_turnz = 7\n")
    bad = swarm(repo, "config")
    assert bad.returncode == 2 and str(user) in bad.stderr and "max_turnz" in bad.stderr


def test_clean_defaults_to_the_latest_run(make_repo, tmp_path):
    repo = make_repo({"a.py": "A = 1\n"})
    plan = {"task": "t", "subtasks": [{"id": "one", "title": "One", "command": "echo 1 > one.txt"}]}
    rid = json.loads(swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", plan)), "--json").stdout)["run_id"]
    refused = swarm(repo, "clean")
    assert refused.returncode == 1 and rid in refused.stderr  # unapplied work is kept without --force
    assert swarm(repo, "apply").returncode == 0
    cleaned = swarm(repo, "clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert f"cleaned {rid}" in cleaned.stdout and git(repo, "branch", "--list", "swarm/*") == ""
