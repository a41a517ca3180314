"""The synthesis pass end to end: the resolver merges a conflict, the synthesizer fixes a contradiction."""

from __future__ import annotations

import json

from conftest import git, swarm, text, tool, turn, write_plan

BASE = {
    "pkg/__init__.py": "",
    "pkg/util.py": "def helper(x):\n    return x * 2\n",
    "pkg/app.py": "from pkg.util import helper\n\n\ndef main():\n    return helper(1)\n",
    "pkg/calc.py": "def total(items):\n    result = 0\n    for item in items:\n        result += item\n    return result\n",
    "README.md": "# pkg\n",
}


def submit(summary: str, contradictions: list | None = None) -> dict:
    return tool("submit_synthesis", summary=summary, contradictions=contradictions or [])


def test_resolver_merges_a_conflict_and_a_failed_one_stays_reported(make_repo, scripted, tmp_path):
    repo = make_repo(BASE)
    plan = {"task": "Improve total", "subtasks": [
        {"id": "doc", "instructions": "Document total.", "files": ["pkg/calc.py"]},
        {"id": "fast", "instructions": "Use sum().", "files": ["pkg/calc.py"]}]}
    combined = 'def total(items):\n    """Add up the items."""\n    return sum(items)\n'
    script = {
        "workers": {
            "doc": [turn(tool("edit", file_path="pkg/calc.py", old_string="def total(items):\n",
                              new_string='def total(items):\n    """Add up the items."""\n')), turn(text("Doc."))],
            "fast": [turn(tool("write", file_path="pkg/calc.py",
                               content="def total(items):\n    return sum(items)\n")), turn(text("Fast."))]},
        "resolver": [turn(tool("read", file_path="pkg/calc.py")),
                     turn(tool("write", file_path="pkg/calc.py", content=combined)),
                     turn(submit("Kept the docstring from doc and sum() from fast."))],
        "synthesizer": [turn(submit("Nothing to fix."))],
    }
    server = scripted(script)
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", plan)), "--json", server=server)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["conflicts"] == [{"file": "pkg/calc.py", "subtasks": ["doc", "fast"], "resolved": True}]
    assert all(s["merged"] for s in result["subtasks"])
    merged = result["merged_branch"]
    assert git(repo, "show", f"{merged}:pkg/calc.py") + "\n" == combined
    resolver_request = [r for r in server.requests if r["role"] == "resolver"][0]["body"]
    first = resolver_request["messages"][0]["content"][0]["text"]
    assert first.startswith("Resolve conflict") and "<<<<<<<" in first and "Use sum()." in first
    log = git(repo, "log", "--format=%s|%p", merged).splitlines()
    resolution = [line for line in log if line.startswith("swarm: resolve conflict between doc and fast")]
    assert resolution and len(resolution[0].split("|")[1].split()) == 2  # a real merge commit

    # A resolver that gives up leaves markers: the conflict stays reported and nothing broken merges.
    repo2 = make_repo(BASE, name="repo2")
    script["resolver"] = [turn(submit("These cannot be combined."))]
    server = scripted(script)
    proc = swarm(repo2, "run", "--plan", str(tmp_path / "p.json"), "--json", server=server)
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    assert result["conflicts"][0]["resolved"] is False
    assert [s["merged"] for s in result["subtasks"]] == [True, False]
    assert "<<<<<<<" not in git(repo2, "show", f"{result['merged_branch']}:pkg/calc.py")


def test_synthesizer_fix_is_its_own_commit_and_checks_pass_after(make_repo, scripted, tmp_path):
    repo = make_repo(BASE)
    plan = {"task": "Rename helper to double and add a feature", "shared": "helper becomes double.",
            "subtasks": [
                {"id": "rename", "instructions": "Rename helper to double in util.", "files": ["pkg/util.py"]},
                {"id": "feature", "instructions": "Add main2 in app.", "files": ["pkg/app.py"]}]}
    script = {
        "workers": {
            "rename": [turn(tool("edit", file_path="pkg/util.py", old_string="def helper(", new_string="def double(")),
                       turn(text("Renamed helper to double."))],
            "feature": [turn(tool("edit", file_path="pkg/app.py", old_string="    return helper(1)\n",
                                  new_string="    return helper(1)\n\n\ndef main2():\n    return helper(2)\n")),
                        turn(text("Added main2, which calls helper."))]},
        "synthesizer": [
            turn(tool("grep", pattern="helper")),
            turn(tool("write", file_path="pkg/app.py",
                      content="from pkg.util import double\n\n\ndef main():\n    return double(1)\n\n\n"
                              "def main2():\n    return double(2)\n")),
            turn(submit("Updated app.py to the new name.", [
                {"description": "rename renamed helper to double; feature still calls helper",
                 "subtasks": ["rename", "feature"], "resolution": "app.py now imports and calls double"}])),
        ],
    }
    server = scripted(script)
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", plan)), "--json", server=server)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    synth_request = [r for r in server.requests if r["role"] == "synthesizer"][0]["body"]
    first = synth_request["messages"][0]["content"][0]["text"]
    assert "Subtasks: rename, feature" in first and "[symbol]" in first and "helper" in first
    merged = result["merged_branch"]
    head = git(repo, "log", "-1", "--format=%s", merged)
    assert head.startswith("swarm synthesis: Updated app.py")
    assert git(repo, "diff", "--name-only", f"{merged}~1", merged) == "pkg/app.py"
    assert "double(2)" in git(repo, "show", f"{merged}:pkg/app.py")
    assert result["contradictions"] == [{
        "description": "rename renamed helper to double; feature still calls helper",
        "subtasks": ["rename", "feature"], "resolution": "app.py now imports and calls double", "status": "fixed",
        "round": 1}]
    assert result["findings"] == []
    assert result["synthesis"]["commits"] and result["synthesis"]["rounds"] == 1
    report = (repo / ".swarm/runs" / result["run_id"] / "report.md").read_text()
    assert "double" in report and "fixed" in report
