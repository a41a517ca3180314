"""What an agent names or says reaches a terminal escaped: no raw escape sequence, no forged line."""

from __future__ import annotations

import json

from conftest import swarm, text, tool, turn, write_plan
from swarm.ui.safe import safe, safe_line

ESC_NAME = "evil\x1b[2J\x1b]0;owned\x07.txt"
FORGED = "FORGED: all checks passed"
SUMMARY = f"Done.\x1b[31m red\x9b1m\u202egnp.exe\r\n{FORGED}"


def test_safe_shows_control_characters_and_keeps_markup_as_text():
    assert safe_line("a\x1b[31mb\nc\x9bd\u202ee\tf") == "a\\x1b[31mb\\nc\\x9bd\\u202ee\tf"
    assert safe("[red]not markup[/red]") == "\\[red]not markup\\[/red]"


def test_agent_text_is_escaped_in_run_status_and_review(make_repo, scripted, tmp_path):
    repo = make_repo({"a.py": "x = 1\n"})
    server = scripted({"workers": {"evil": [
        turn(tool("write", file_path=ESC_NAME, content="line with \x1b[2K an escape\n")),
        turn(text(SUMMARY))]}})
    plan = {"task": "Escape", "subtasks": [{"id": "evil", "instructions": "Be loud.", "files": ["*.txt"]}]}
    run = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), server=server)
    assert run.returncode == 0, run.stderr
    status = swarm(repo, "status")
    review = swarm(repo, "review")
    data = json.loads(swarm(repo, "status", "--json").stdout)
    assert data["subtasks"][0]["summary"].startswith("Done.\x1b[31m")  # the record keeps the data as it was
    for proc in (run, status, review):
        out = proc.stdout + proc.stderr
        assert "\x1b" not in out and "\x9b" not in out and "\u202e" not in out and "\r" not in out, out
        assert not any(line.strip().startswith(FORGED) for line in out.splitlines()), out
    assert "evil\\x1b[2J" in review.stdout and "\\x1b[2K" in review.stdout
