"""The HTML report shows each subtask's transcript, collapsed."""

from __future__ import annotations

import re

from conftest import swarm, text, tool, turn, write_plan

FILES = {"app.py": "def greet():\n    return 'hi'\n"}


def test_html_report_holds_each_transcript_collapsed(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    plan = {"task": "Greet loudly", "subtasks": [
        {"id": "greet", "title": "Loud", "instructions": "Make greet() return 'HI'.", "files": ["app.py"]},
        {"id": "notes", "title": "Notes", "command": "echo notes > NOTES.md"}]}
    server = scripted({"workers": {"greet": [
        turn(tool("edit", file_path="app.py", old_string="'hi'", new_string="'HI'")),
        turn(text("greet() returns <HI> now.")),
    ]}})
    assert swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", plan)), server=server).returncode == 0
    page = tmp_path / "review.html"
    assert swarm(repo, "review", "--html", str(page)).returncode == 0
    html = page.read_text()
    found = re.search(r'<details class="transcript" id="transcript-greet">(.*?)</details>', html, re.S)
    assert found, "no collapsed transcript for greet"
    assert "edit" in found.group(1) and "app.py" in found.group(1)
    assert "greet() returns &lt;HI&gt; now." in found.group(1)  # escaped, not markup
    assert 'id="transcript-notes"' in html and "echo notes" in html
    assert '<details open class="transcript"' not in html
