"""`swarm review`: findings first, the diff by subtask with attribution, selections, `-i`, and the HTML page.

Runs are made by the real CLI in a subprocess (command subtasks, no model
needed); review commands run through click's CliRunner on the same repository.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import git, swarm, write_plan
from swarm.cli import main

FILES = {
    "a.py": "def a():\n    return 1\n",
    "b.py": 'def b():\n    """Doc\n    string."""\n    return 2\n',
    "long.py": "".join(f"line{i} = {i}\n" for i in range(1, 31)),
    "README.md": "# readme\n\nline\n",
}


def run_plan(repo: Path, tmp_path: Path, subtasks: list[dict], task: str = "Edits") -> dict:
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", {"task": task, "subtasks": subtasks})),
                 "--json")
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def cli(repo: Path, *args: str, input: str | None = None):
    return CliRunner().invoke(main, ["-C", str(repo), *args], input=input)


THREE = [
    {"id": "alpha", "title": "Edit a", "command": "sed -i 's/return 1/return 10/' a.py"},
    {"id": "beta", "title": "Edit b", "command": "sed -i 's/return 2/return 20/' b.py && echo new > new.txt"},
    {"id": "docs", "title": "Docs", "command": "printf '# readme\\n\\nline\\n\\nMore docs.\\n' > README.md"},
]

CONFLICTING = [
    {"id": "left", "title": "Return 10", "command": "sed -i 's/return 1/return 10/' a.py"},
    {"id": "right", "title": "Return 20", "command": "sed -i 's/return 1/return 20/' a.py"},
    {"id": "bee", "title": "Edit b", "command": "sed -i 's/return 2/return 22/' b.py"},
]


def untouched(repo: Path, head: str) -> None:
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""
    assert (repo / "a.py").read_text() == FILES["a.py"]


def test_review_shows_findings_first_then_each_hunk_with_its_subtask(make_repo, tmp_path):
    repo = make_repo(FILES)
    result = run_plan(repo, tmp_path, CONFLICTING)
    out = cli(repo, "review")
    assert out.exit_code == 0, out.output
    text = out.output
    # Findings and conflicts come before the diff.
    assert text.index("checks and findings") < text.index("@@")
    assert "conflict a.py: left and right (right left out of the merged result)" in text
    # Each subtask's section, each hunk labelled with its subtask, the left-out one marked.
    assert " left  @@ -1,2 +1,2 @@" in text and "+    return 10" in text
    assert " right  @@ -1,2 +1,2 @@" in text and "+    return 20" in text
    assert "left out by a conflict with left" in text and "CONFLICT" in text
    assert " bee  @@ -1,4 +1,4 @@" in text
    assert text.index("+    return 10") < text.index("+    return 20") < text.index("+    return 22")

    only_bee = cli(repo, "review", result["run_id"], "--subtask", "bee")
    assert "+    return 22" in only_bee.output and "+    return 10" not in only_bee.output
    only_a = cli(repo, "review", "--file", "a.py")
    assert "+    return 10" in only_a.output and "+    return 22" not in only_a.output
    nothing = cli(repo, "review", "--file", "nowhere/")
    assert "no changes match" in nothing.output
    bad = cli(repo, "review", "--subtask", "nosuch")
    assert bad.exit_code == 2 and "left, right, bee" in bad.output


def test_drop_a_subtask_builds_the_reviewed_branch_and_touches_nothing_else(make_repo, tmp_path):
    repo = make_repo(FILES)
    head = git(repo, "rev-parse", "HEAD")
    result = run_plan(repo, tmp_path, THREE)
    rid = result["run_id"]
    out = cli(repo, "review", "--drop", "beta")
    assert out.exit_code == 0, out.output
    assert "kept alpha, docs; dropped beta" in out.output
    reviewed = f"swarm/{rid}/reviewed"
    assert git(repo, "show", f"{reviewed}:a.py") == "def a():\n    return 10"
    assert "More docs." in git(repo, "show", f"{reviewed}:README.md")
    assert "return 2" in git(repo, "show", f"{reviewed}:b.py")
    assert git(repo, "ls-tree", "--name-only", reviewed, "new.txt") == ""
    # One commit on the base, holding exactly the kept changes.
    assert git(repo, "rev-parse", f"{reviewed}^") == result["base_commit"]
    assert git(repo, "diff", "--name-only", result["base_commit"], reviewed).split() == ["README.md", "a.py"]
    record = json.loads((repo / ".swarm/runs" / rid / "review.json").read_text())
    assert record["kept"] == ["alpha", "docs"] and record["reviewed_commit"] == git(repo, "rev-parse", reviewed)
    untouched(repo, head)

    # The review now shows what is dropped; a name that matches nothing is an input error.
    shown = cli(repo, "review")
    assert "reviewed: kept alpha, docs; dropped beta" in shown.output and "dropped" in shown.output
    bad = cli(repo, "review", "--drop", "gamma")
    assert bad.exit_code == 2 and "no subtask or changed file" in bad.output and "alpha, beta, docs" in bad.output

    # Files and globs: drop one file of a subtask, or keep only some files.
    assert cli(repo, "review", "--drop", "new.txt").exit_code == 0
    assert "return 20" in git(repo, "show", f"{reviewed}:b.py")
    assert git(repo, "ls-tree", "--name-only", reviewed, "new.txt") == ""
    assert cli(repo, "review", "--keep", "*.py").exit_code == 0
    assert git(repo, "diff", "--name-only", result["base_commit"], reviewed).split() == ["a.py", "b.py"]

    # --reset forgets the review.
    assert "forgotten" in cli(repo, "review", "--reset").output
    assert not (repo / ".swarm/runs" / rid / "review.json").exists()
    assert git(repo, "branch", "--list", reviewed) == ""
    untouched(repo, head)


def test_interactive_walk_keeps_and_drops_hunk_by_hunk(make_repo, tmp_path):
    repo = make_repo(FILES)
    run = run_plan(repo, tmp_path, [
        {"id": "nums", "title": "Two far-apart edits",
         "command": "sed -i 's/^line2 = 2$/line2 = 200/; s/^line28 = 28$/line28 = 2800/' long.py"},
        {"id": "docs", "title": "Docs", "command": "echo more >> README.md"},
    ])
    reviewed = f"swarm/{run['run_id']}/reviewed"
    out = cli(repo, "review", "-i", input="y\nn\nq\n")
    assert out.exit_code == 0, out.output
    assert "(1/3) keep this hunk from nums" in out.output and "(2/3)" in out.output
    assert "stopped: the 1 hunk(s) not answered are kept" in out.output
    text = git(repo, "show", f"{reviewed}:long.py")
    assert "line2 = 200" in text and "line28 = 28\n" in text + "\n" and "2800" not in text
    assert "more" in git(repo, "show", f"{reviewed}:README.md")
    record = json.loads((repo / ".swarm/runs" / run["run_id"] / "review.json").read_text())
    assert record["dropped_hunks"] == ["nums:long.py#2"]

    # Narrowed to a file, with help and a bad answer on the way; 'd' drops the rest of the file.
    out = cli(repo, "review", "-i", "--file", "long.py", input="?\nmaybe\nd\n")
    assert "y - keep this hunk" in out.output and "(2/2)" not in out.output
    assert git(repo, "show", f"{reviewed}:long.py") == FILES["long.py"].rstrip("\n")
    assert "more" in git(repo, "show", f"{reviewed}:README.md")


def test_a_subtask_left_out_by_a_conflict_can_be_chosen_instead(make_repo, tmp_path):
    repo = make_repo(FILES)
    run = run_plan(repo, tmp_path, CONFLICTING)
    reviewed = f"swarm/{run['run_id']}/reviewed"
    out = cli(repo, "review", "--keep", "right", "--keep", "bee")
    assert out.exit_code == 0, out.output
    assert "chosen over the merge: right" in out.output
    assert git(repo, "show", f"{reviewed}:a.py") == "def a():\n    return 20"
    assert "return 22" in git(repo, "show", f"{reviewed}:b.py")
    both = cli(repo, "review", "--keep", "left", "--keep", "right")
    assert both.exit_code == 1 and "right still conflicts with what is kept, in a.py; drop left" in both.output


def test_synthesis_edits_and_dependencies(make_repo, tmp_path):
    repo = make_repo(FILES)
    run = run_plan(repo, tmp_path, [
        {"id": "base-fn", "title": "Rename a", "command": "sed -i 's/def a/def first/' a.py"},
        {"id": "caller", "title": "Use it", "command": "echo 'from a import first' > use.py",
         "depends_on": ["base-fn"]},
    ])
    rid, merged = run["run_id"], run["merged_branch"]
    # A synthesis pass commits on top of the merged branch.
    work = tmp_path / "synth"
    git(repo, "worktree", "add", "-q", "--detach", str(work), merged)
    (work / "b.py").write_text(FILES["b.py"].replace("return 2", "return first()"))
    git(work, "commit", "-qam", "swarm synthesis: make b use the renamed function")
    git(repo, "update-ref", f"refs/heads/{merged}", git(work, "rev-parse", "HEAD"))
    git(repo, "worktree", "remove", "--force", str(work))

    shown = cli(repo, "review", "--no-pager")
    assert " synthesis  @@ -1,4 +1,4 @@" in shown.output and "+    return first()" in shown.output
    assert " caller  @@ -0,0 +1 @@" in shown.output

    reviewed = f"swarm/{rid}/reviewed"
    out = cli(repo, "review", "--drop", "synthesis")
    assert out.exit_code == 0, out.output
    assert git(repo, "show", f"{reviewed}:b.py") == FILES["b.py"].rstrip("\n")
    assert "def first" in git(repo, "show", f"{reviewed}:a.py")

    # Dropping what another subtask builds on: taken out, and the user is told.
    out = cli(repo, "review", "--drop", "base-fn", "--drop", "synthesis")
    assert out.exit_code == 0, out.output
    assert "caller depends on base-fn, which is dropped" in out.output
    assert git(repo, "show", f"{reviewed}:a.py") == FILES["a.py"].rstrip("\n")
    assert git(repo, "show", f"{reviewed}:use.py") == "from a import first"


def test_renames_binary_files_and_unusual_names(make_repo, tmp_path):
    repo = make_repo({**FILES, "my notes.txt": "hello\n", "café.txt": "café\n"})
    run = run_plan(repo, tmp_path, [
        {"id": "ren", "title": "Rename", "command": "mv 'my notes.txt' 'our notes.txt' && echo more >> 'our notes.txt'"},
        {"id": "bin", "title": "Binary", "command": "printf '\\000\\001binary' > blob.bin && echo plus >> café.txt"},
    ])
    reviewed = f"swarm/{run['run_id']}/reviewed"
    shown = cli(repo, "review")
    assert "our notes.txt (renamed from my notes.txt)" in shown.output and "binary file blob.bin" in shown.output
    assert cli(repo, "review", "--drop", "blob.bin").exit_code == 0
    names = git(repo, "ls-tree", "-r", "--name-only", "-z", reviewed).split("\0")
    assert "blob.bin" not in names and "our notes.txt" in names and "café.txt" in names
    assert git(repo, "show", f"{reviewed}:café.txt") == "café\nplus"
    # Dropping the renamed file's only hunk keeps the rename; dropping the file undoes it.
    assert cli(repo, "review", "-i", "--subtask", "ren", input="n\n").exit_code == 0
    assert git(repo, "show", f"{reviewed}:our notes.txt") == "hello"
    assert cli(repo, "review", "--drop", "our notes.txt", "--drop", "café.txt").exit_code == 0
    names = git(repo, "ls-tree", "-r", "--name-only", "-z", reviewed).split("\0")
    assert "my notes.txt" in names and "our notes.txt" not in names and "blob.bin" in names
    assert git(repo, "show", f"{reviewed}:café.txt") == "café"


def test_checks_re_run_on_the_reviewed_result(make_repo, tmp_path):
    repo = make_repo(FILES)
    run_plan(repo, tmp_path, [
        {"id": "alpha", "title": "Edit a", "files": ["a.py"],
         "command": "sed -i 's/return 1/return 10/' a.py && echo stray > stray.txt"},
        {"id": "docs", "title": "Docs", "files": ["README.md"], "command": "echo more >> README.md"},
    ])
    before = cli(repo, "review")
    assert "scope" in before.output and "stray.txt" in before.output
    out = cli(repo, "review", "--drop", "stray.txt")
    assert out.exit_code == 0, out.output
    assert "checks re-run on the reviewed result: 0 finding(s)" in out.output
    after = cli(repo, "review")
    assert "(checks re-run on the reviewed result)" in after.output and "✓ scope" in after.output
    assert "outside" not in after.output.split("subtasks")[0]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_html_report_renders_in_a_real_browser(make_repo, tmp_path):
    repo = make_repo(FILES)
    run = run_plan(repo, tmp_path, CONFLICTING, task="Make the functions return bigger numbers")
    # Findings and contradictions as the checks and the synthesis pass record them.
    result_path = repo / ".swarm/runs" / run["run_id"] / "result.json"
    result = json.loads(result_path.read_text())
    result["findings"].append({"kind": "scope", "subtasks": ["bee"], "files": ["b.py"],
                               "message": "bee changed b.py, outside its declared files"})
    result["contradictions"] = [{"description": "left and right disagree on the value of a()",
                                 "subtasks": ["left", "right"], "resolution": "kept left's 10",
                                 "status": "fixed"}]
    result_path.write_text(json.dumps(result))
    page = tmp_path / "review.html"
    out = cli(repo, "review", "--html", str(page))
    assert out.exit_code == 0, out.output
    source = page.read_text()
    # Self-contained: nothing is fetched from elsewhere.
    assert not re.search(r"<script[^>]+src=|<link |@import|url\(|https?://", source)

    profile = tmp_path / "chromium-profile"
    dom = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-2000:]
    shown = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom.stdout)).replace("&gt;", ">")
    for sid in ("left", "right", "bee"):
        assert f"change-{sid}" in dom.stdout  # a section per subtask
    assert "Make the functions return bigger numbers" in shown
    assert "bee changed b.py, outside its declared files" in shown
    assert "left and right disagree on the value of a()" in shown and "kept left's 10" in shown
    assert "left out: conflicts with left" in shown
    assert "return 10" in shown and "return 20" in shown and "return 22" in shown
    assert re.search(r"left @@ -1,2 \+1,2 @@", shown)
    assert '<span class="k">def</span>' in dom.stdout  # syntax colouring

    png = tmp_path / "review.png"
    shot = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
                           "--window-size=1280,1000", page.as_uri()], capture_output=True, text=True, timeout=90)
    assert shot.returncode == 0, shot.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
