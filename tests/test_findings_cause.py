"""Findings read like one cause each: links to one missing page are one finding, and a conflict tells what the
resolver tried, why it was refused, and how to take that attempt or resolve the file by hand."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from conftest import git, swarm, text, tool, turn, write_plan
from swarm.cli import main


def cli(repo: Path, *args: str):
    return CliRunner().invoke(main, ["-C", str(repo), *args])


def run_json(repo: Path, tmp_path: Path, plan: dict, server=None) -> dict:
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json", server=server)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


# -- links: one finding per missing target ---------------------------------------------------------------------

PAGES = {f"docs/p{i}.md": f"# Page {i}\n\nSome text.\n\nSee [setup](setup.md) first.\n" for i in range(1, 7)}


def test_six_pages_linking_to_a_renamed_page_are_one_finding_with_every_place(make_repo, tmp_path):
    repo = make_repo({"docs/setup.md": "# Setup\n", "docs/index.md": "[setup](setup.md)\n", **PAGES})
    result = run_json(repo, tmp_path, {"task": "Docs", "subtasks": [
        {"id": "move", "title": "Rename setup", "command": "mv docs/setup.md docs/install.md && "
                                                           "sed -i 's/setup.md/install.md/' docs/index.md"},
        {"id": "faq", "title": "Add a FAQ", "command": "printf '# FAQ\\n\\nRead\\n[the setup](setup.md#proxy).\\n'"
                                                       " > docs/faq.md"}]})
    links = [f for f in result["findings"] if f["kind"] == "link"]
    assert len(links) == 1, [f["message"] for f in links]
    [finding] = links
    assert finding["target"] == "docs/setup.md"
    assert finding["places"] == ["docs/faq.md:4", *(f"docs/p{i}.md:5" for i in range(1, 7))]
    assert finding["subtasks"] == ["move", "faq"]
    assert finding["removed_by"] == ["move"] and finding["linked_by"] == ["faq"]
    assert finding["files"] == ["docs/faq.md", *PAGES, "docs/setup.md"]
    message = finding["message"]
    assert "7 link(s)" in message and "docs/p6.md:5" in message and "move renamed it to docs/install.md" in message
    # The report and the review say it once too.
    report = (repo / ".swarm" / "runs" / result["run_id"] / "report.md").read_text()
    assert report.count("**link**") == 1
    shown = cli(repo, "review", "--no-pager").output
    assert shown.count("docs/setup.md is not in the merged tree") == 1


# -- conflicts: the resolver's refused attempt, and resolving by hand -------------------------------------------

CALC = {"pkg/__init__.py": "", "pkg/calc.py": "def total(items):\n    result = 0\n    for item in items:\n"
                                              "        result += item\n    return result\n"}
CALC_PLAN = {"task": "Improve total", "subtasks": [
    {"id": "doc", "instructions": "Document total.", "files": ["pkg/calc.py"]},
    {"id": "fast", "instructions": "Use sum().", "files": ["pkg/calc.py"]}]}


def submit(summary: str) -> dict:
    return tool("submit_synthesis", summary=summary, contradictions=[])


def calc_script(resolver: list) -> dict:
    return {"workers": {
        "doc": [turn(tool("edit", file_path="pkg/calc.py", old_string="def total(items):\n",
                          new_string='def total(items):\n    """Add up the items."""\n')), turn(text("Doc."))],
        "fast": [turn(tool("write", file_path="pkg/calc.py", content="def total(items):\n    return sum(items)\n")),
                 turn(text("Fast."))]},
        "resolver": resolver, "synthesizer": [turn(submit("Nothing to fix."))]}


def test_a_refused_resolution_is_kept_and_the_finding_says_why_and_where(make_repo, scripted, tmp_path):
    repo = make_repo(CALC)
    broken = 'def total(items):\n    """Add up the items."""\n    return sum(items\n'
    server = scripted(calc_script([turn(tool("write", file_path="pkg/calc.py", content=broken)),
                                   turn(submit("Combined both."))]))
    result = run_json(repo, tmp_path, CALC_PLAN, server)
    [conflict] = result["conflicts"]
    assert conflict["resolved"] is False and conflict["subtasks"] == ["doc", "fast"]
    assert conflict["rejected"].startswith("pkg/calc.py: does not parse")
    branch = f"swarm/{result['run_id']}/_resolver-fast"
    assert conflict["attempt_branch"] == branch and git(repo, "rev-parse", branch) == conflict["attempt"]
    assert git(repo, "show", f"{branch}:pkg/calc.py") + "\n" == broken
    assert len(git(repo, "log", "-1", "--format=%P", branch).split()) == 2  # a merge of both sides, as tried
    [finding] = [f for f in result["findings"] if f["kind"] == "conflict"]
    assert finding["rejected"] == conflict["rejected"] and finding["attempt_branch"] == branch
    for words in ("the resolver's attempt was refused (pkg/calc.py: does not parse", f"kept on {branch}",
                  "swarm review --keep resolver:pkg/calc.py", "swarm review --resolve pkg/calc.py"):
        assert words in finding["message"], finding["message"]
    # The merged branch holds no broken file; the review shows the attempt and why it was refused.
    assert "sum(items\n" not in git(repo, "show", f"{result['merged_branch']}:pkg/calc.py")
    shown = cli(repo, "review", "--no-pager")
    assert shown.exit_code == 0, shown.output
    assert "the resolver's refused attempts" in shown.output
    assert "pkg/calc.py: refused: does not parse" in shown.output
    assert "+    return sum(items" in shown.output

    # Taking the attempt puts it in the reviewed result, with fast's work; the re-run checks say it does not parse.
    taken = cli(repo, "review", "--keep", "resolver:pkg/calc.py")
    assert taken.exit_code == 0, taken.output
    reviewed = f"swarm/{result['run_id']}/reviewed"
    assert git(repo, "show", f"{reviewed}:pkg/calc.py") + "\n" == broken
    assert "pkg/calc.py as the resolver left it" in taken.output and "parse" in taken.output
    review_json = json.loads((repo / ".swarm" / "runs" / result["run_id"] / "review.json").read_text())
    assert review_json["kept"] == ["doc", "fast"] and review_json["taken"][0]["from"] == "resolver"


def test_a_markdown_heading_the_verifier_mistook_for_a_marker_can_be_taken(make_repo, scripted, tmp_path):
    repo = make_repo({"README.md": "# pkg\n\nInstall it.\n", "a.txt": "a\n"})
    resolution = "# pkg\n\nInstall\n=======\n\nWith pip or conda.\n"
    server = scripted({"resolver": [turn(tool("write", file_path="README.md", content=resolution)),
                                    turn(submit("Both ways."))],
                       "synthesizer": [turn(submit("Nothing to fix."))]})
    result = run_json(repo, tmp_path, {"task": "Docs", "subtasks": [
        {"id": "pip", "command": "printf '# pkg\\n\\nInstall with pip.\\n' > README.md"},
        {"id": "conda", "command": "printf '# pkg\\n\\nInstall with conda.\\n' > README.md && echo b > a.txt"}]},
        server)
    assert result["conflicts"][0]["rejected"] == "README.md: conflict markers are still there"
    taken = cli(repo, "review", "--keep", "resolver:README.md")
    assert taken.exit_code == 0, taken.output
    reviewed = f"swarm/{result['run_id']}/reviewed"
    assert git(repo, "show", f"{reviewed}:README.md") + "\n" == resolution
    assert git(repo, "show", f"{reviewed}:a.txt") == "b"  # conda's other change comes with it
    applied = cli(repo, "apply")
    assert applied.exit_code == 0, applied.output
    assert (repo / "README.md").read_text() == resolution

    # By hand, a heading's underline is no marker: only the lines that open or close a side are.
    repo = make_repo({"README.md": "# pkg\n\nInstall it.\n", "a.txt": "a\n"}, name="by-hand")
    result = run_json(repo, tmp_path, json.loads((tmp_path / "plan.json").read_text()), server)
    folder = Path(cli(repo, "review", "--resolve", "README.md").stdout.splitlines()[0])
    assert "<<<<<<< " in (folder / "README.md").read_text()
    (folder / "README.md").write_text(resolution)
    kept = cli(repo, "review", "--keep", "hand:README.md")
    assert kept.exit_code == 0, kept.output
    assert git(repo, "show", f"swarm/{result['run_id']}/reviewed:README.md") + "\n" == resolution


def test_a_conflict_resolved_by_hand_goes_into_the_reviewed_result_and_applies(make_repo, scripted, tmp_path):
    repo = make_repo(CALC)
    server = scripted(calc_script([turn(submit("These cannot be combined."))]))
    result = run_json(repo, tmp_path, CALC_PLAN, server)
    assert result["conflicts"][0]["rejected"] == "pkg/calc.py: conflict markers are still there"
    [finding] = [f for f in result["findings"] if f["kind"] == "conflict"]
    assert finding["resolve_by_hand"] == "swarm review --resolve pkg/calc.py"

    made = cli(repo, "review", "--resolve", "pkg/calc.py")
    assert made.exit_code == 0, made.output
    folder = Path(made.stdout.splitlines()[0])
    assert folder.is_dir() and not folder.is_relative_to(repo)
    marked = (folder / "pkg/calc.py").read_text()
    assert "<<<<<<<" in marked and '"""Add up the items."""' in marked and "return sum(items)" in marked

    # Not edited yet: refused in one line, saying what to do.
    early = cli(repo, "review", "--keep", "hand:pkg/calc.py")
    assert early.exit_code == 2 and "conflict markers are still there" in early.output
    assert "Traceback" not in early.output and len(early.output.strip().splitlines()) == 1
    # A symbolic link there (to a secret outside, say) is never followed into the result.
    secret = tmp_path / "credentials"
    secret.write_text("SECRET-TOKEN\n")
    (folder / "pkg/calc.py").unlink()
    (folder / "pkg/calc.py").symlink_to(secret)
    linked = cli(repo, "review", "--keep", "hand:pkg/calc.py")
    assert linked.exit_code == 2 and "symbolic link" in linked.output, linked.output
    (folder / "pkg/calc.py").unlink()
    (folder / "pkg/calc.py").write_text("def total(items):\n    return sum(items\n")
    broken = cli(repo, "review", "--keep", "hand:pkg/calc.py")
    assert broken.exit_code == 2 and "pkg/calc.py: does not parse" in broken.output, broken.output
    # Asking again finds the same worktree and leaves it as it is.
    (folder / "pkg/calc.py").write_text('def total(items):\n    """Add up the items."""\n    return sum(items)\n')
    again = cli(repo, "review", "--resolve", "pkg/calc.py")
    assert again.exit_code == 0 and Path(again.stdout.splitlines()[0]) == folder
    assert "return sum(items)\n" in (folder / "pkg/calc.py").read_text() and "<<<" not in (folder / "pkg/calc.py").read_text()

    kept = cli(repo, "review", "--keep", "hand:pkg/calc.py")
    assert kept.exit_code == 0, kept.output
    assert "pkg/calc.py resolved by hand" in kept.output
    head = git(repo, "rev-parse", "HEAD")
    applied = cli(repo, "apply")
    assert applied.exit_code == 0, applied.output
    assert git(repo, "rev-parse", "HEAD^") == head
    assert (repo / "pkg/calc.py").read_text() == 'def total(items):\n    """Add up the items."""\n    return sum(items)\n'
    cleaned = cli(repo, "clean")
    assert cleaned.exit_code == 0, cleaned.output
    assert not folder.exists()


def test_bad_conflict_choices_are_one_line_errors(make_repo, scripted, tmp_path):
    repo = make_repo(CALC)
    server = scripted(calc_script([turn(submit("These cannot be combined."))]))
    run_json(repo, tmp_path, CALC_PLAN, server)
    for args, words in ((["--resolve", "pkg/nothing.py"], "no open conflict"),
                        (["--keep", "hand:pkg/calc.py"], "swarm review --resolve pkg/calc.py"),
                        (["--keep", "resolver:pkg/__init__.py"], "no open conflict"),
                        (["--keep", "resolver:pkg/calc.py", "--drop", "fast"], "contradict")):
        out = cli(repo, "review", *args)
        assert out.exit_code == 2, (args, out.output)
        assert words in out.output and len(out.output.strip().splitlines()) == 1, out.output
