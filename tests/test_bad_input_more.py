"""More bad input found in a user trial: each exits 2 with one line saying what to do, before anything is paid
for or changed; and the advice a command prints names commands that work."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from conftest import git, swarm, text, tool, turn, write_plan

FILES = {"a.py": "def a():\n    return 1\n", "README.md": "# readme\n"}
COMMANDS = {"task": "Bigger numbers", "subtasks": [
    {"id": "alpha", "title": "Edit a", "command": "sed -i 's/return 1/return 10/' a.py"}]}
MODEL_PLAN = {"task": "Write a.txt", "subtasks": [
    {"id": "one", "title": "Write a", "instructions": "Write a.txt", "files": ["a.txt"]}]}
WORKER = [turn(tool("write", file_path="a.txt", content="A\n")), turn(text("Wrote a.txt."))]


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def command_run(repo: Path, tmp_path: Path) -> str:
    """A finished run of one command subtask (no model): its id."""
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", COMMANDS)), "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["run_id"]


def test_output_files_in_a_missing_folder_are_refused_before_anything_is_done(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    rid = command_run(repo, tmp_path)
    missing = tmp_path / "nonexistent" / "dir"
    one_line_error(swarm(repo, "review", "--html", str(missing / "r.html")), "--html", "does not exist")
    one_line_error(swarm(repo, "review", rid, "--drop", "alpha", "--html", str(missing / "r.html")), "--html")
    assert not (repo / ".swarm/runs" / rid / "review.json").exists()  # nothing was chosen or built
    # The planner is not asked (nor paid) for a plan that could not be written.
    server = scripted({"planner": MODEL_PLAN})
    one_line_error(swarm(repo, "plan", "Write a.txt", "-o", str(missing / "p.json"), server=server),
                   "-o", "does not exist")
    assert server.requests == []
    # No shard runs for results that could not be written.
    marker = tmp_path / "ran"
    one_line_error(swarm(repo, "test", "--junit", str(missing / "j.xml"), "--", "touch", str(marker)), "--junit")
    assert not marker.exists()
    # A folder that exists still works, as before.
    assert swarm(repo, "review", "--html", str(tmp_path / "r.html")).returncode == 0
    assert (tmp_path / "r.html").is_file()


def test_bad_input_that_exited_1_now_exits_2(make_repo, tmp_path):
    repo = make_repo(FILES)
    rid = command_run(repo, tmp_path)
    one_line_error(swarm(repo, "apply", rid, "--branch", "main"), "--branch main", "exists", "new one")
    one_line_error(swarm(repo, "apply", rid, "--branch", "no..good"), "not a valid branch name")
    assert git(repo, "rev-list", "--count", "HEAD") == "1" and not (repo / ".swarm/runs" / rid / "applied.json").exists()
    one_line_error(swarm(repo, "run", "--plan", str(tmp_path / "plan.json"), "--base", "nosuchref"),
                   "--base nosuchref", "not a commit")
    line = one_line_error(swarm(repo, "review", rid, "--drop", "alpha", "--keep", "alpha"), "--drop", "--keep",
                          "contradict")
    assert "alpha" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "main")
    one_line_error(swarm(empty, "test", "--", "true"), "no commits", "commit your files first")


def test_clean_of_a_run_the_branch_already_has_suggests_force(make_repo, tmp_path):
    repo = make_repo(FILES)
    rid = command_run(repo, tmp_path)
    # The change brought over by hand (not by `swarm apply`): the branch has it, the run's branches are not on it.
    git(repo, "checkout", f"swarm/{rid}/merged", "--", "a.py")
    git(repo, "commit", "-q", "-m", "by hand")
    applied = swarm(repo, "apply", rid)
    assert applied.returncode == 1 and "already has the changes" in applied.stderr, applied.stderr
    proc = swarm(repo, "clean", rid)
    assert f"your branch already has the changes of run {rid}" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert f"`swarm clean {rid} --force`" in proc.stdout + proc.stderr
    assert f"`swarm apply {rid}` first" not in proc.stdout + proc.stderr
    assert swarm(repo, "clean", rid, "--force").returncode == 0


def test_a_budget_stop_says_resume_with_a_higher_ceiling_and_shows_the_ceiling(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    server = scripted({"workers": {"one": WORKER}})
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", MODEL_PLAN)), "--max-cost", "0.003",
                 server=server)
    assert proc.returncode == 3, proc.stderr
    rid = json.loads((repo / ".swarm/runs").joinpath(sorted(p.name for p in (repo / ".swarm/runs").iterdir())[-1],
                                                     "result.json").read_text())["run_id"]
    shown = proc.stdout + proc.stderr
    assert "$0.00 " not in shown and "$0.00)" not in shown and "$0.0030" in shown, shown
    nxt = [line for line in proc.stdout.splitlines() if line.startswith("next:")]
    assert nxt == [f"next: `swarm resume {rid} --max-cost <higher>` (than $0.0030)"], proc.stdout
    assert f"swarm apply {rid}" not in proc.stdout
    # The advice works: apply has nothing yet, resume with a higher ceiling finishes it.
    assert swarm(repo, "apply", rid).returncode == 1
    resumed = swarm(repo, "resume", rid, "--max-cost", "5", server=server)
    assert resumed.returncode == 0, resumed.stderr


def test_an_out_of_turns_subtask_names_a_resume_with_more_turns_that_works(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    server = scripted({"workers": {"one": WORKER}})
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", MODEL_PLAN)), "--max-turns", "1",
                 "--json", server=server)
    result = json.loads(proc.stdout)
    rid, error = result["run_id"], result["subtasks"][0]["error"]
    assert result["subtasks"][0]["state"] == "incomplete", result
    command = re.search(r"`(swarm resume \S+ --max-turns (\d+))`", error)
    assert command and f"swarm resume {rid} " in command.group(1) and int(command.group(2)) > 1, error
    resumed = swarm(repo, *command.group(1).split()[1:], "--json", server=server)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["subtasks"][0]["merged"]


def test_messages_name_the_command_or_problem_that_is_there(make_repo, tmp_path):
    repo = make_repo(FILES)
    command_run(repo, tmp_path)
    line = one_line_error(swarm(repo, "status", "nosuch"), "no run 'nosuch'", "`swarm runs`")
    assert "swarm status" not in line
    one_line_error(swarm(tmp_path, "-C", str(tmp_path / "nonexistent"), "status"), "nonexistent does not exist")
    plan = write_plan(tmp_path / "p.json", COMMANDS)
    line = one_line_error(swarm(repo, "run", "--plan", str(plan), "--each", "*.py"),
                          "--each and --plan do not go together")
    assert "TASK" not in line.split(":")[0]


def test_every_plan_problem_is_told_together_and_once(make_repo, tmp_path):
    repo = make_repo(FILES)
    plan = {"task": "T", "subtasks": [
        {"id": "a", "instructions": "A", "depends_on": ["b"]},
        {"id": "b", "instructions": "B", "depends_on": ["a", "ghost"]},
        {"id": "c"}, {"id": "c"}]}
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", plan)))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "depends on unknown subtask 'ghost'" in proc.stderr
    assert "dependency cycle: a -> b -> a" in proc.stderr, proc.stderr
    assert "duplicate subtask id 'c'" in proc.stderr
    assert proc.stderr.count("subtask 'c': needs 'instructions'") == 1, proc.stderr


def test_help_and_flags_that_go_together(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    assert "Usage: swarm resume [OPTIONS] [RUN]" in swarm(repo, "resume", "--help").stdout
    plan_help = " ".join(swarm(repo, "plan", "--help").stdout.split())
    assert re.search(r"--chunks N With --each: number of subtasks", plan_help), plan_help
    from swarm.model.catalog import DEFAULT_MODEL

    shown = json.loads(swarm(repo, "config", "--json").stdout)["model"]["value"]
    assert shown == DEFAULT_MODEL
    for command in ("run", "plan", "resume"):
        helped = " ".join(swarm(repo, command, "--help").stdout.split())
        assert f"built in: {DEFAULT_MODEL}" in helped and "built in: none" not in helped.split("--model")[1][:80]
    server = scripted({"planner": MODEL_PLAN})
    one_line_error(swarm(repo, "plan", "Write a.txt", "-o", str(tmp_path / "p.json"), "--chunks", "3",
                         server=server), "--chunks goes with --each")
    assert server.requests == [] and not (tmp_path / "p.json").exists()
    one_line_error(swarm(repo, "run", "Write a.txt", "--chunks", "3", server=server), "--chunks goes with --each")
    # With --each, --chunks is taken.
    each = swarm(repo, "plan", "Touch them", "-o", str(tmp_path / "e.json"), "--each", "*.py", "--chunks", "1")
    assert each.returncode == 0, each.stderr


def test_a_ctrl_c_stopped_run_says_resume_not_apply(make_repo, scripted, tmp_path):
    import os
    import signal
    import sys
    import time

    repo = make_repo(FILES)
    server = scripted({"workers": {"one": [turn(text("Thinking it over."), delay=30)]}})
    env = {**os.environ, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sk-test"}
    proc = subprocess.Popen([sys.executable, "-m", "swarm", "run", "--plan",
                             str(write_plan(tmp_path / "p.json", MODEL_PLAN))], cwd=repo, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            process_group=0)
    try:
        deadline = time.monotonic() + 60
        while not [r for r in server.requests if r["role"] == "worker"]:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    rid = re.search(r"`swarm resume (\S+)`", err).group(1)
    assert [line for line in out.splitlines() if line.startswith("next:")] == [f"next: `swarm resume {rid}`"], out


def test_a_scope_glob_that_matches_nothing_gets_a_note(make_repo, tmp_path):
    repo = make_repo({"src/a.py": "A = 1\n"})
    plan = write_plan(tmp_path / "p.json", {"task": "T", "subtasks": [
        {"id": "typo", "command": "true", "files": ["scr/**"]},
        {"id": "fine", "command": "true", "files": ["src/**", "docs/new.md"]}]})
    out = swarm(repo, "run", "--plan", str(plan))
    assert out.returncode == 0, out.stderr
    notes = [line for line in out.stderr.splitlines() if line.startswith("note: ")]
    assert notes == ["note: subtask typo: its scope 'scr/**' matches no file of " + notes[0].split(" of ")[1]]
    assert "(a typo? new files there are fine)" in notes[0]
