"""`swarm demo` runs the whole pipeline offline, says plainly that the model is scripted, and shows synthesis
fixing what git merged cleanly: the reports and cli subtasks each add their own `format_money` helper."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import GIT_ENV, git, swarm


@dataclass
class Demo:
    target: Path
    proc: subprocess.CompletedProcess[str]
    run: Path
    result: dict[str, Any]

    @property
    def merged(self) -> str:
        return self.result["merged_branch"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """One demo run shared by the tests below (the autouse env isolation is per test, so it is done here)."""
    home = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "SWARM_"))}
    env.update(GIT_ENV, XDG_CACHE_HOME=str(home / "xdg-cache"))
    target = home / "sample"
    proc = subprocess.run([sys.executable, "-m", "swarm", "demo", "--dir", str(target)], cwd=home, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    run = next((target / ".swarm" / "runs").iterdir())
    return Demo(target, proc, run, json.loads((run / "result.json").read_text()))


def test_demo_offline(demo):
    assert "SCRIPTED model served on http://127.0.0.1:" in demo.proc.stderr
    assert "sample's tests on the merged branch: 34 passed" in demo.proc.stdout
    assert "merged branch: swarm/" in demo.proc.stdout
    assert [s["state"] for s in demo.result["subtasks"]] == ["done"] * 5
    assert "def fetch_item(" in git(demo.target, "show", f"{demo.merged}:inventory/storage.py")
    old_names = subprocess.run(["git", "grep", "-n", "-e", "get_item", "-e", "price_with_tax", demo.merged, "--",
                                "inventory", "tests"], cwd=demo.target, capture_output=True, text=True)
    assert old_names.returncode == 1, old_names.stdout
    assert "storage.fetch_item(" in git(demo.target, "show", f"{demo.merged}:inventory/reports.py")
    # The sample's own checkout is untouched: still the original names.
    assert "def get_item(" in (demo.target / "inventory" / "storage.py").read_text()


def _definitions(target: Path, commit: str) -> list[str]:
    """The files of `commit` that define a top-level format_money."""
    out = subprocess.run(["git", "grep", "-l", "-e", "^def format_money", commit, "--", "inventory"],
                         cwd=target, capture_output=True, text=True)
    return sorted(line.split(":", 1)[1] for line in out.stdout.splitlines())


def test_demo_synthesis_keeps_one_format_money(demo):
    # The checks saw the helper twice in the plain merge, and the synthesizer was told.
    first = json.loads((demo.run / "transcripts" / "synthesis.jsonl").read_text().splitlines()[0])["content"]
    assert "[duplicate] (reports, cli)" in first and "format_money" in first
    head = git(demo.target, "rev-parse", demo.merged)
    assert demo.result["synthesis"]["commits"] == [head]
    assert git(demo.target, "log", "-1", "--format=%s", head).startswith("swarm synthesis: ")
    assert _definitions(demo.target, f"{head}^") == ["inventory/cli.py", "inventory/reports.py"]
    # Its own commit moves the helper into pricing and rewrites both callers.
    touched = git(demo.target, "show", "--name-only", "--format=", head).splitlines()
    assert sorted(touched) == ["inventory/cli.py", "inventory/pricing.py", "inventory/reports.py"]
    assert _definitions(demo.target, head) == ["inventory/pricing.py"]
    for module in ("cli", "reports"):
        assert "pricing.format_money(" in git(demo.target, "show", f"{head}:inventory/{module}.py")
    [contradiction] = demo.result["contradictions"]
    assert sorted(contradiction["subtasks"]) == ["cli", "reports"]
    assert "format_money" in contradiction["description"] and "pricing" in contradiction["resolution"]
    assert "synthesis: 1 contradiction(s) listed, 1 edit commit(s)" in demo.proc.stderr


def test_demo_synthesis_leaves_no_findings(demo):
    assert demo.result["findings"] == []
    assert [c["status"] for c in demo.result["contradictions"]] == ["fixed"]


def test_demo_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    proc = swarm(tmp_path, "demo", "--dir", str(tmp_path / "full"))
    assert proc.returncode == 2 and "not empty" in proc.stderr
