"""A worktree's Python tests the worktree, even with the project installed editable in the user's venv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EDITABLE_PYPROJECT, git
from swarm.env.python import python_env



@pytest.fixture(scope="module")
def editable(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A src-layout package committed in a repository and installed editable in its own venv."""
    repo = tmp_path_factory.mktemp("editable") / "repo"
    (repo / "src" / "shadowpkg").mkdir(parents=True)
    (repo / "pyproject.toml").write_text(EDITABLE_PYPROJECT)
    (repo / "src" / "shadowpkg" / "__init__.py").write_text("WHERE = 'user checkout'\n")
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "pkg")
    venv = repo.parent / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-e", str(repo)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot install an editable package here (no build backend from the registry?): "
                    f"{proc.stderr.strip()[-300:]}")
    return repo, venv


def test_editable_install_is_found_and_shadowed_in_a_worktree(editable, tmp_path):
    repo, venv = editable
    path = f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"
    env = python_env(repo, path)
    assert env.roots == ("src",)
    assert "shadowed" in env.describe() and "src/" in env.describe()

    worktree = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "--detach", str(worktree), "HEAD")
    (worktree / "src" / "shadowpkg" / "__init__.py").write_text("WHERE = 'worktree'\n")
    probe = ["python", "-c", "import shadowpkg; print(shadowpkg.WHERE)"]
    plain = subprocess.run(probe, cwd=worktree, env={"PATH": path}, capture_output=True, text=True)
    assert plain.stdout.strip() == "user checkout"  # the problem: the user's checkout is imported
    shadowed = subprocess.run(probe, cwd=worktree, capture_output=True, text=True,
                              env={"PATH": path, "PYTHONPATH": env.pythonpath(worktree) or ""})
    assert shadowed.stdout.strip() == "worktree"


def test_a_python_without_the_project_shadows_nothing(editable):
    repo, _ = editable
    env = python_env(repo, str(Path(sys.executable).parent))
    assert env.roots == ()
    assert env.pythonpath(Path("/w"), "keep") == "keep"
    assert "not installed in editable mode" in env.describe()
