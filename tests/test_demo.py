"""`swarm demo` runs the whole pipeline offline and says plainly that the model is scripted."""

from __future__ import annotations

import json
import subprocess

from conftest import git, swarm


def test_demo_offline(tmp_path):
    target = tmp_path / "sample"
    proc = swarm(tmp_path, "demo", "--dir", str(target))
    assert proc.returncode == 0, proc.stderr
    assert "SCRIPTED model served on http://127.0.0.1:" in proc.stderr
    assert "34 passed" in proc.stdout
    assert "merged branch: swarm/" in proc.stdout
    result = json.loads(next((target / ".swarm" / "runs").iterdir()).joinpath("result.json").read_text())
    assert [s["state"] for s in result["subtasks"]] == ["done"] * 5
    assert len(result["subtasks"]) >= 4
    merged = result["merged_branch"]
    assert "def fetch_item(" in git(target, "show", f"{merged}:inventory/storage.py")
    old_names = subprocess.run(["git", "grep", "-n", "-e", "get_item", "-e", "price_with_tax", merged, "--",
                                "inventory", "tests"], cwd=target, capture_output=True, text=True)
    assert old_names.returncode == 1, old_names.stdout
    assert "storage.fetch_item(" in git(target, "show", f"{merged}:inventory/reports.py")
    # The sample's own checkout is untouched: still the original names.
    assert "def get_item(" in (target / "inventory" / "storage.py").read_text()


def test_demo_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    proc = swarm(tmp_path, "demo", "--dir", str(tmp_path / "full"))
    assert proc.returncode == 2 and "not empty" in proc.stderr
