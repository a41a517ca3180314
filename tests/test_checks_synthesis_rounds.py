"""Every synthesis round's contradictions stay in result.json and report.md, and each finding reaches
the synthesizer with its subtasks' summaries and the hunks in its files."""

from __future__ import annotations

import json

from conftest import git, swarm, text, tool, turn, write_plan

BASE = {
    "pkg/__init__.py": "",
    "pkg/util.py": "def helper(x):\n    return x * 2\n",
    "pkg/calc.py": "def total(items):\n    return sum(items)\n",
    "pkg/app.py": "def main():\n    return 0\n",
}
PLAN = {"task": "Rename helper and total; add callers", "shared": "helper becomes double, total becomes add_up.",
        "subtasks": [
            {"id": "rename", "instructions": "Rename helper to double and total to add_up.",
             "files": ["pkg/util.py", "pkg/calc.py"]},
            {"id": "feature", "instructions": "Add callers in app and report.", "files": ["pkg/app.py", "pkg/report.py"]}]}
FIRST = {"description": "feature calls helper, which rename renamed to double", "subtasks": ["rename", "feature"],
         "resolution": "app.py calls double"}
SECOND = {"description": "feature imports total, which rename renamed to add_up", "subtasks": ["feature", "rename"],
          "resolution": "report.py imports add_up"}


def submit(summary: str, contradictions: list) -> dict:
    return tool("submit_synthesis", summary=summary, contradictions=contradictions)


def test_two_rounds_both_show_up_and_findings_carry_summaries_and_hunks(make_repo, scripted, tmp_path):
    repo = make_repo(BASE)
    script = {
        "workers": {
            "rename": [turn(tool("write", file_path="pkg/util.py", content="def double(x):\n    return x * 2\n")),
                       turn(tool("write", file_path="pkg/calc.py", content="def add_up(items):\n    return sum(items)\n")),
                       turn(text("Renamed helper to double and total to add_up."))],
            "feature": [turn(tool("write", file_path="pkg/app.py",
                                  content="from pkg.util import helper\n\n\ndef main():\n    return helper(1)\n")),
                        turn(tool("write", file_path="pkg/report.py",
                                  content="from pkg.calc import total\n\n\ndef report(xs):\n    return total(xs)\n")),
                        turn(text("Added main calling helper, and report calling total."))]},
        "synthesizer": [
            # Round 1 fixes only one of the two contradictions, so the re-check sends it back.
            turn(tool("write", file_path="pkg/app.py",
                      content="from pkg.util import double\n\n\ndef main():\n    return double(1)\n")),
            turn(submit("Fixed app.py.", [FIRST])),
            turn(tool("write", file_path="pkg/report.py",
                      content="from pkg.calc import add_up\n\n\ndef report(xs):\n    return add_up(xs)\n")),
            turn(submit("Fixed report.py.", [FIRST, SECOND])),
        ],
    }
    server = scripted(script)
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", PLAN)), "--json", server=server)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["synthesis"]["rounds"] == 2 and len(result["synthesis"]["commits"]) == 2
    assert result["contradictions"] == [{**FIRST, "status": "fixed", "round": 1},
                                        {**SECOND, "status": "fixed", "round": 2}]
    assert result["findings"] == []
    report = (repo / ".swarm/runs" / result["run_id"] / "report.md").read_text()
    assert "(round 1) feature calls helper" in report and "(round 2) feature imports total" in report

    requests = [r["body"] for r in server.requests if r["role"] == "synthesizer"]
    first = requests[0]["messages"][0]["content"][0]["text"]
    findings = first.split("Findings of the mechanical checks", 1)[1].split("The merged change", 1)[0]
    assert "rename said: Renamed helper to double" in findings
    assert "feature said: Added main calling helper" in findings
    assert "hunks in pkg/app.py:" in findings and "+    return helper(1)" in findings
    # The second round's message names the finding that remained, with its hunks.
    later = json.dumps(requests[-1]["messages"])
    assert "This is round 2" in later and "total" in later and "hunks in pkg/report.py" in later
    assert "add_up" in git(repo, "show", f"{result['merged_branch']}:pkg/report.py")
