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
