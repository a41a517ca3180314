"""A `test` finding answers the first two questions about it: was the base already red, and which copy of the
package did the tests import (the merged tree's, or the user's checkout through an editable install)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from conftest import EDITABLE_PYPROJECT, swarm, write_plan

TESTS = ("import shadowpkg\n\n\ndef test_value():\n    assert shadowpkg.value() == 1\n\n\n"
         "def test_already_red():\n    assert False\n\n\ndef test_also_red():\n    assert 1 == 2\n")
BREAK = {"task": "break it", "test_command": "python -m pytest -q tests",
         "subtasks": [{"id": "breaker", "title": "Break value",
                       "command": "sed -i 's/return 1/return 2/' src/shadowpkg/__init__.py"}]}


def _project(make_repo, tmp_path, *, editable: bool) -> tuple[Path, str]:
    """The package with one passing and two failing tests; a venv that runs pytest, with the package installed
    editable (a path .pth, as setuptools' lenient mode makes for a src layout) or not at all."""
    repo = make_repo({"pyproject.toml": EDITABLE_PYPROJECT, "src/shadowpkg/__init__.py": "def value():\n    return 1\n",
                      "tests/test_value.py": TESTS})
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "_dev.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    if editable:
        (site / "__editable__.shadowpkg-0.1.pth").write_text(f"{repo / 'src'}\n")
    return repo, f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"


def _test_finding(repo: Path, proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc.stderr  # blocking findings remain
    rid = proc.stdout and json.loads(proc.stdout)["run_id"]
    result = json.loads((repo / ".swarm/runs" / rid / "result.json").read_text())
    (finding,) = [f for f in result["findings"] if f["kind"] == "test"]
    return finding["message"]


def test_a_test_finding_counts_the_bases_failures_and_names_the_merged_trees_copy(make_repo, tmp_path):
    repo, path = _project(make_repo, tmp_path, editable=True)
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", BREAK)), "--json", env={"PATH": path})
    message = _test_finding(repo, proc)
    assert message.startswith("1 test(s) fail on the merged tree that did not fail on the base "
                              "(2 other(s) already failed on the base): tests/test_value.py::test_value"), message
    assert "; the tests imported shadowpkg from the merged tree's src/shadowpkg" in message, message


def test_a_test_finding_says_when_the_tests_imported_the_users_checkout(make_repo, tmp_path):
    repo, path = _project(make_repo, tmp_path, editable=False)
    # value() becomes 2 and its test expects 2: right on the merged tree, wrong against the checkout's copy.
    both = {**BREAK, "subtasks": [{**BREAK["subtasks"][0], "command": "sed -i 's/return 1/return 2/' "
                                   "src/shadowpkg/__init__.py && sed -i 's/== 1$/== 2/' tests/test_value.py"}]}
    # The user's PYTHONPATH points at the checkout, passed to the tools: nothing to shadow, the checkout is tested.
    env = {"PATH": path, "PYTHONPATH": str(repo / "src"), "SWARM_PASS_ENV": "PYTHONPATH"}
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", both)), "--json", env=env)
    message = _test_finding(repo, proc)
    assert f"the tests imported shadowpkg from your checkout ({repo / 'src' / 'shadowpkg'}), not from the " \
           "merged tree" in message, message
