"""`swarm continue`: a follow-up to one subtask's agent reaches a new merged commit, through the CLI against the
scripted model (which refuses a thinking block sent back altered)."""

from __future__ import annotations

import json

from conftest import git, swarm, text, tool, turn, write_plan

FILES = {"app.py": "def greet():\n    return 'hi'\n", "README.md": "# app\n"}
PLAN = {"task": "Greet loudly", "subtasks": [
    {"id": "greet", "title": "Loud greeting", "instructions": "Make greet() return 'HI'.", "files": ["app.py"]},
    {"id": "notes", "title": "Notes", "command": "echo notes > NOTES.md"}]}
SCRIPT = {"workers": {"greet": [
    # the first session
    turn(text("Editing app.py."), tool("edit", file_path="app.py", old_string="'hi'", new_string="'HI'")),
    turn(text("greet() now returns 'HI'.")),
    # the follow-up: turn numbers go on from the conversation's
    turn(text("Adding wave()."), tool("edit", file_path="app.py", old_string="    return 'HI'\n",
                                      new_string="    return 'HI'\n\n\ndef wave():\n    return 'bye'\n")),
    turn(text("Added wave().")),
]}}


def test_a_follow_up_edit_reaches_the_new_merged_commit(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    server = scripted(SCRIPT)
    first = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", PLAN)), "--json", server=server)
    assert first.returncode == 0, first.stderr
    before = json.loads(first.stdout)
    rid = before["run_id"]
    old = {s["id"]: s["commit"] for s in before["subtasks"]}

    done = swarm(repo, "continue", "greet", "Also add wave() returning 'bye'.", "--json", server=server)
    assert done.returncode == 0, done.stderr
    after = json.loads(done.stdout)
    assert after["run_id"] == rid and after["state"] == "done"
    assert after["merged_commit"] != before["merged_commit"]
    merged = git(repo, "show", f"{after['merged_commit']}:app.py")
    assert "return 'HI'" in merged and "def wave():" in merged
    assert git(repo, "rev-parse", f"swarm/{rid}/merged") == after["merged_commit"]
    assert git(repo, "show", f"{after['merged_commit']}:NOTES.md") == "notes"
    new = {s["id"]: s for s in after["subtasks"]}
    assert new["notes"]["commit"] == old["notes"]  # the other subtask is kept, not run again
    assert git(repo, "rev-parse", f"{new['greet']['commit']}^") == old["greet"]  # on its branch, after its work
    assert new["greet"]["summary"] == "Added wave()."

    # The whole conversation went back: the first message, the earlier turns (thinking signed), then the text.
    asked = [r for r in server.requests if "Also add wave()" in json.dumps(r["body"].get("messages", []))]
    assert asked and all(r["status"] == 200 for r in asked)
    messages = asked[0]["body"]["messages"]
    assert [m["role"] for m in messages][:4] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["content"].startswith("Subtask: greet") and asked[0]["turn"] == 2
    assert any(b["type"] == "thinking" and b["signature"] for b in messages[1]["content"])

    records = json.loads((repo / ".swarm/runs" / rid / "followups.json").read_text())
    assert [(r["subtask"], r["previous_merged_commit"], r["merged_commit"]) for r in records] == \
        [("greet", before["merged_commit"], after["merged_commit"])]
    shown = swarm(repo, "show", "greet")
    assert "Also add wave()" in shown.stdout and "Added wave()." in shown.stdout


def test_continue_refuses_a_command_subtask_and_an_unknown_one(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    server = scripted(SCRIPT)
    swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", PLAN)), server=server)
    command = swarm(repo, "continue", "notes", "More notes", server=server)
    assert command.returncode == 2 and "runs a command" in command.stderr
    unknown = swarm(repo, "continue", "nope", "x", server=server)
    assert unknown.returncode == 2 and "no subtask 'nope'" in unknown.stderr and "Traceback" not in unknown.stderr


def test_fresh_starts_the_subtask_over_with_its_instructions_and_the_text(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    server = scripted(SCRIPT)
    before = json.loads(swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", PLAN)), "--json",
                              server=server).stdout)
    rid = before["run_id"]
    done = swarm(repo, "continue", "--fresh", rid, "greet", "Shout even louder.", "--json", server=server)
    assert done.returncode == 0, done.stderr
    after = json.loads(done.stdout)
    greet = next(s for s in after["subtasks"] if s["id"] == "greet")
    assert git(repo, "rev-parse", f"{greet['commit']}^") == before["base_commit"]  # from where it began
    firsts = [json.dumps(r["body"]["messages"][0]["content"]) for r in server.requests
              if r["role"] == "worker" and r["turn"] == 0 and r["key"] == "greet"]
    assert len(firsts) == 2 and "Shout even louder." in firsts[1] and "Make greet() return 'HI'." in firsts[1]
    transcripts = repo / ".swarm/runs" / rid / "transcripts"
    assert (transcripts / "greet.1.jsonl").exists()  # the first conversation is kept beside the new one
    assert "Shout even louder." in (transcripts / "greet.jsonl").read_text()
    [record] = json.loads((repo / ".swarm/runs" / rid / "followups.json").read_text())
    assert record["fresh"] is True and record["previous_subtask_commit"] == \
        next(s for s in before["subtasks"] if s["id"] == "greet")["commit"]
