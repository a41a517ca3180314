"""The one glob dialect (swarm.globs) is git's `:(glob)` pathspec: checked against `git ls-files` itself."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from swarm import globs

FILES = [
    "a.py", "test_x.py", "README.md", "sp ace.txt", "a[1].txt", "st*r.txt", "é.py",
    "src/a.py", "src/b.txt", "src/test_y.py", "src/sub/deep.py", "src/sub/test_z.py", "src/sub/deeper/x.py",
    "srcx/a.py", "docs/a.md", "docs/guide/b.md", "a/b/c/d.txt", "pkg/mod01.py", "pkg/mod0.py",
]

PATTERNS = [
    "*.py", "src/*.py", "src", "src/", "src/*", "**/test_*.py", "src/**", "src/**/*.py", "**", "a/**/d.txt",
    "a/**/c/d.txt", "src/su?", "src/sub", "*", "src/**/", "?.py", "[ab].py", "[!a].py", "[^a]*.py", "docs/*.md",
    "a/*/c", "a/*", "**/deep.py", "sub", "src/sub/**", "README.md", "src/[st]*", "**/*.md", "sp ace.txt",
    "src**", "src/s**", "src/**deep.py", "**.py", "*/*.py", "src/*/deep.py", "**/b/**", "a[1].txt", "st\\*r.txt",
    "[a-b]*.py", "src/[[:alpha:]].py", "src/[[:digit:]x].py", "./src/*.py", "src//a.py", "src/./a.py",
    "src/sub/deep.py/", "pkg/mod0.py", "pkg/mod0*.py", "docs", "docs/**/*.md", "?.py", "??.py", "src/*/",
    "", ".", "SRC/a.py", "**/sub", "**/sub/**", "a/**/b/**", "*.txt", "src/sub/deeper",
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("globs")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for name in FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x\n")
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    return root


def git_lists(repo: Path, pattern: str) -> list[str]:
    out = subprocess.run(["git", "-c", "core.quotePath=false", "-C", str(repo), "ls-files", "-z", "--",
                          f":(glob){pattern}"], check=True, capture_output=True).stdout
    return sorted(p.decode() for p in out.split(b"\0") if p)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_pattern_matches_what_git_matches(repo: Path, pattern: str) -> None:
    assert len(PATTERNS) * len(FILES) >= 20
    assert sorted(globs.select([pattern] if pattern.strip() else ["."], FILES)) == git_lists(repo, pattern)


@pytest.mark.parametrize("pattern, path, covered", [
    ("src/*.py", "src/a.py", True), ("src/*.py", "src/sub/deep.py", False),
    ("**/test_*.py", "test_x.py", True), ("**/test_*.py", "a/b/test_x.py", True),
    ("*.md", "README.md", True), ("*.md", "docs/a.md", False),
    ("docs", "docs/a.md", True), ("src/**", "srcx/a.py", False), ("src/**", "src", False),
])
def test_the_rules_a_plan_writer_relies_on(pattern: str, path: str, covered: bool) -> None:
    assert globs.match(pattern, path) is covered


def test_blank_patterns_cover_nothing_in_a_list() -> None:
    assert not globs.match_any(["", "  "], "a.py")
    assert globs.match_any(["", "*.py"], "a.py")


def test_review_and_the_scope_check_read_a_glob_the_same_way(make_repo, tmp_path: Path) -> None:
    """`src/*.py` does not cover src/sub/deep.py: review --drop keeps it, the scope check flags it."""
    import json

    from click.testing import CliRunner

    from conftest import git, swarm, write_plan
    from swarm.cli import main

    repo = make_repo({"src/a.py": "a = 1\n", "src/sub/deep.py": "deep = 1\n", "README.md": "# r\n"})
    plan = {"task": "Edit", "subtasks": [
        {"id": "core", "title": "Edit src", "files": ["src/*.py"],
         "command": "sed -i 's/1/2/' src/a.py src/sub/deep.py"}]}
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json",
                 env={"SWARM_SANDBOX": "off"})
    assert proc.returncode in (0, 1), proc.stderr
    result = json.loads(proc.stdout)
    scope = [f for f in result["findings"] if f["kind"] == "scope"]
    assert [f["files"] for f in scope] == [["src/sub/deep.py"]]

    out = CliRunner().invoke(main, ["-C", str(repo), "review", "--drop", "src/*.py"])
    assert out.exit_code == 0, out.output
    reviewed = f"swarm/{result['run_id']}/reviewed"
    assert git(repo, "show", f"{reviewed}:src/a.py") == "a = 1"
    assert git(repo, "show", f"{reviewed}:src/sub/deep.py") == "deep = 2"
