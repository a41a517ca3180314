"""The first line of `swarm run --plan` comes before the model SDK is imported (it takes over a second)."""

from __future__ import annotations

import subprocess
import sys

from conftest import write_plan

PROBE = """
import sys
from pathlib import Path
from swarm.cli import main  # the whole command line, as `swarm` loads it
from swarm.config import run_options
from swarm.git.repo import GitRepo
from swarm.plan.make import make_plan
repo = GitRepo.discover('.')
options = run_options(repo.root, None)
plan, _, _ = make_plan(repo, None, sys.argv[1], None, 4, options.model, options=options)
print(len(plan.subtasks), 'anthropic' in sys.modules)
"""


def test_reading_a_plan_and_the_settings_does_not_import_the_sdk(make_repo, tmp_path):
    repo = make_repo({"a.py": "x = 1\n"})
    plan = write_plan(tmp_path / "plan.json", {"task": "t", "subtasks": [{"id": "a", "instructions": "do"}]})
    out = subprocess.run([sys.executable, "-c", PROBE, str(plan)], cwd=repo, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "False"]  # everything before the first line stays off the SDK


def test_help_does_not_import_the_sdk():
    out = subprocess.run([sys.executable, "-c", "import sys\nfrom swarm.cli import main\n"
                          "print('anthropic' in sys.modules)"], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
