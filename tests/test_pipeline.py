"""`swarm run --plan` end to end: real repositories, the real CLI (in process, and in a subprocess where the
process boundary matters), the scripted model server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import git, swarm, swarm_process, text, tool, turn, write_plan

MODULES = {f"pkg/mod{i}.py": f"def func{i}():\n    return {i}\n" for i in range(4)}
MODULES["README.md"] = "# pkg\n"


def four_way(delay: float = 0.4) -> tuple[dict, dict]:
    plan = {"task": "Rename funcN to compute_N", "shared": "New names: compute_<n>.",
            "subtasks": [{"id": f"m{i}", "title": f"Rename in mod{i}", "instructions": f"Rename func{i}.",
                          "files": [f"pkg/mod{i}.py"]} for i in range(4)]}
    script = {"workers": {f"m{i}": [
        turn(text("Looking."), tool("read", file_path=f"pkg/mod{i}.py"), delay=delay),
        turn(tool("edit", file_path=f"pkg/mod{i}.py", old_string=f"def func{i}(", new_string=f"def compute_{i}("),
             delay=delay),
        turn(text(f"Renamed func{i} to compute_{i}."), delay=delay),
    ] for i in range(4)}}
    return plan, script


def test_four_agents_run_at_once_and_merge(make_repo, scripted, tmp_path):
    repo = make_repo(MODULES)
    head_before = git(repo, "rev-parse", "HEAD")
    plan, script = four_way()
    server = scripted(script)
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json", server=server)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)

    # All four agents were in flight at the same time.
    assert server.max_concurrent_keys == 4
    assert result["state"] == "done"
    assert [s["state"] for s in result["subtasks"]] == ["done"] * 4
    assert all(s["merged"] for s in result["subtasks"])
    merged = result["merged_branch"]
    assert merged == f"swarm/{result['run_id']}/merged"
    for i in range(4):
        assert f"def compute_{i}(" in git(repo, "show", f"{merged}:pkg/mod{i}.py")
        sub = result["subtasks"][i]
        assert sub["files_changed"] == [f"pkg/mod{i}.py"]
        assert sub["summary"] == f"Renamed func{i} to compute_{i}."
        # One commit per subtask on its own branch, with a clear author and message.
        log = git(repo, "log", "-1", "--format=%an|%s", sub["branch"])
        assert log == f"swarm|swarm(m{i}): Rename in mod{i}"

    # The user's branch, index and working tree are untouched.
    assert git(repo, "rev-parse", "HEAD") == head_before
    assert git(repo, "symbolic-ref", "--short", "HEAD") == "main"
    assert git(repo, "status", "--porcelain") == ""
    assert (repo / "pkg/mod0.py").read_text() == MODULES["pkg/mod0.py"]
    assert ".swarm/" in (repo / ".git/info/exclude").read_text().splitlines()

    # Worktrees live outside the checkout, under the cache folder.
    worktrees = git(repo, "worktree", "list", "--porcelain")
    paths = [Path(line.split(" ", 1)[1]) for line in worktrees.splitlines() if line.startswith("worktree ")]
    assert len(paths) == 5
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "swarm" / "worktrees"
    assert all(cache in p.parents for p in paths[1:])

    # The records DESIGN.md lists, and result.json's keys.
    run_dir = repo / ".swarm" / "runs" / result["run_id"]
    for name in ("plan.json", "events.jsonl", "report.md", "result.json"):
        assert (run_dir / name).is_file(), name
    assert sorted(p.name for p in (run_dir / "transcripts").iterdir()) == [f"m{i}.jsonl" for i in range(4)] + [
        "synthesis.jsonl"]
    assert json.loads((run_dir / "result.json").read_text()) == result
    for key in ("run_id", "state", "base_commit", "merged_branch", "merged_commit", "subtasks", "conflicts",
                "findings", "contradictions", "usage", "timings"):
        assert key in result
    for key in ("id", "state", "branch", "commit", "files_changed", "merged", "summary", "usage", "seconds"):
        assert key in result["subtasks"][0]
    assert set(result["timings"]) >= {"plan", "worktrees", "agents", "merge", "checks", "synthesis", "total"}
    assert result["usage"]["input_tokens"] > 0
    # Every worker sent the same cache-marked system prompt and tools, so all but the first read the cache.
    assert result["usage"]["cache_read_input_tokens"] > 0
    diff = json.loads((run_dir / "diffs" / "m2.json").read_text())
    assert diff["files"][0]["path"] == "pkg/mod2.py" and diff["files"][0]["hunks"][0]["added"] == 1
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert {"state", "tool", "turn", "merge", "run"} <= {e["type"] for e in events}


def test_first_requests_share_a_cached_prefix(make_repo, scripted, tmp_path):
    repo = make_repo(MODULES)
    plan, script = four_way(delay=0.0)
    server = scripted(script)
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), server=server)
    assert proc.returncode == 0, proc.stderr
    firsts = [r["body"] for r in server.requests if r["turn"] == 0 and r["role"] == "worker"]
    assert len(firsts) == 4
    prefixes = {json.dumps([b["system"], b["tools"]], sort_keys=True) for b in firsts}
    assert len(prefixes) == 1
    body = firsts[0]
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert [t["name"] for t in body["tools"]] == ["read", "write", "edit", "glob", "grep", "bash"]
    assert body["messages"][0]["content"][0]["text"].startswith("Subtask: ")
    # Server-side threads are never used, so endpoints that refuse them work.
    assert all("thread" not in r["body"] for r in server.requests)
    assert server.thread_refusals == 0


def test_command_subtask_and_a_failing_one(make_repo, scripted, tmp_path):
    repo = make_repo(MODULES)
    plan = {"task": "Generate files", "subtasks": [
        {"id": "gen", "title": "Generate", "command": "mkdir -p out && echo generated > out/data.txt",
         "files": ["out/**"]},
        {"id": "broken", "title": "Fails", "command": "echo about to fail; exit 3"},
    ]}
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json")
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    gen, broken = result["subtasks"]
    assert gen["state"] == "done" and gen["merged"] and gen["files_changed"] == ["out/data.txt"]
    assert git(repo, "show", f"{result['merged_branch']}:out/data.txt") == "generated"
    assert broken["state"] == "failed" and "exited 3" in broken["error"]
    assert not broken["merged"]
    assert result["state"] == "failed"


def test_conflicting_subtask_is_left_out_and_reported(make_repo, scripted, tmp_path):
    repo = make_repo(MODULES)
    plan = {"task": "Edit", "subtasks": [
        {"id": "left", "instructions": "Return 10.", "files": ["pkg/mod0.py"]},
        {"id": "right", "instructions": "Return 20.", "files": ["pkg/mod0.py"]},
        {"id": "other", "instructions": "Edit README.", "files": ["README.md"]},
    ]}

    def edit_to(value: str) -> list:
        return [turn(tool("edit", file_path="pkg/mod0.py", old_string="return 0", new_string=f"return {value}")),
                turn(text(f"Now returns {value}."))]

    server = scripted({"workers": {"left": edit_to("10"), "right": edit_to("20"), "other": [
        turn(tool("write", file_path="README.md", content="# pkg\n\nDocumented.\n")), turn(text("Docs."))]}})
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json", server=server)
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    states = {s["id"]: s for s in result["subtasks"]}
    assert states["left"]["merged"] and states["other"]["merged"]
    assert not states["right"]["merged"] and states["right"]["state"] == "done"
    [conflict] = result["conflicts"]
    assert {k: conflict[k] for k in ("file", "subtasks", "resolved")} == \
        {"file": "pkg/mod0.py", "subtasks": ["left", "right"], "resolved": False}
    # The scripted resolver leaves the markers: its attempt is kept, with why it was refused.
    assert "markers" in conflict["rejected"] and conflict["attempt_branch"].endswith("/_resolver-right")
    assert result["findings"][0]["kind"] == "conflict"
    merged = result["merged_branch"]
    assert "return 10" in git(repo, "show", f"{merged}:pkg/mod0.py")
    assert "Documented." in git(repo, "show", f"{merged}:README.md")
    assert "conflict" in proc.stderr and "pkg/mod0.py" in proc.stderr
    report = (repo / ".swarm/runs" / result["run_id"] / "report.md").read_text()
    assert "pkg/mod0.py" in report and "left, right" in report


def test_file_tools_cannot_leave_the_worktree(make_repo, scripted, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret\n")
    repo = make_repo(MODULES)
    os.symlink(outside, repo / "escape")
    git(repo, "add", "escape")
    git(repo, "commit", "-q", "-m", "add a symlink")
    attempts = [
        tool("write", file_path="../outside/dotdot.txt", content="x"),
        tool("write", file_path=str(outside / "absolute.txt"), content="x"),
        tool("write", file_path="escape/through-link.txt", content="x"),
        tool("read", file_path="escape/secret.txt"),
        tool("edit", file_path="../outside/secret.txt", old_string="top", new_string="no"),
    ]
    server = scripted({"workers": {"evil": [turn(*attempts), turn(text("Tried."))]}})
    plan = {"task": "Probe", "subtasks": [{"id": "evil", "instructions": "Probe the sandbox."}]}
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json", server=server)
    assert proc.returncode == 0, proc.stderr
    second = [r for r in server.requests if r["key"] == "evil" and r["turn"] == 1][0]["body"]
    results = second["messages"][-1]["content"]
    assert len(results) == len(attempts)
    for result in results:
        assert result.get("is_error") is True, result
        assert "outside" in json.dumps(result["content"])
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "top secret\n"
    assert "top secret" not in json.dumps(second)


def test_agent_shell_has_no_anthropic_variables_and_secrets_stay_out_of_records(make_repo, scripted, tmp_path):
    repo = make_repo(MODULES)
    server = scripted({"workers": {"env": [
        turn(tool("bash", command="env | sort > env.txt; echo key=$ANTHROPIC_API_KEY")),
        turn(text("Dumped the environment."))]}})
    plan = {"task": "Env", "subtasks": [{"id": "env", "instructions": "Dump env."}]}
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json", server=server,
                 env={"ANTHROPIC_EXTRA_SETTING": "also-hidden"})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    env_dump = git(repo, "show", f"{result['merged_branch']}:env.txt")
    assert "PATH=" in env_dump
    assert "ANTHROPIC" not in env_dump
    tool_result = [r for r in server.requests if r["key"] == "env" and r["turn"] == 1][0]["body"]
    assert "key=\\n" in json.dumps(tool_result["messages"][-1]["content"]) or \
        "key=" in json.dumps(tool_result["messages"][-1]["content"])
    for path in (repo / ".swarm").rglob("*"):
        if path.is_file():
            assert "sk-test-secret-key-123456" not in path.read_text(errors="replace"), path


def test_layered_plan_dependent_sees_its_dependencies(make_repo, scripted, tmp_path):
    repo = make_repo(MODULES)
    plan = {"task": "Layers", "subtasks": [
        {"id": "a", "instructions": "Add a.txt", "files": ["a.txt"]},
        {"id": "b", "instructions": "Add b.txt", "files": ["b.txt"]},
        {"id": "c", "instructions": "Combine", "files": ["c.txt"], "depends_on": ["a", "b"]},
    ]}
    server = scripted({"delay": 0.2, "workers": {
        "a": [turn(tool("write", file_path="a.txt", content="A\n")), turn(text("a"))],
        "b": [turn(tool("write", file_path="b.txt", content="B\n")), turn(text("b"))],
        "c": [turn(tool("bash", command="cat a.txt b.txt > c.txt")), turn(text("c"))]}})
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json", server=server)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert git(repo, "show", f"{result['merged_branch']}:c.txt") == "A\nB"
    starts = {r["key"]: r["start"] for r in server.requests if r["turn"] == 0}
    ends = {r["key"]: r["end"] for r in server.requests}
    assert starts["c"] > max(ends["a"], ends["b"])
    assert result["subtasks"][2]["files_changed"] == ["c.txt"]


def test_turn_limit_and_api_errors_fail_only_their_subtask(make_repo, scripted, tmp_path):
    repo = make_repo(MODULES)
    plan, script = four_way(delay=0.0)
    script["workers"]["m1"] = [turn(tool("glob", pattern="**/*.py"))] * 5
    server = scripted(script)
    # A request refused for one subtask fails that subtask (a 401 stops the whole run: tests/test_models.py).
    server.inject(400, subtask="m2")
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json",
                 "--max-turns", "3", server=server)
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    states = {s["id"]: s for s in result["subtasks"]}
    # Out of turns is incomplete: its work is kept on its branch, out of the merge.
    assert states["m1"]["state"] == "incomplete" and "3 turns" in states["m1"]["error"]
    assert not states["m1"]["merged"]
    assert states["m2"]["state"] == "failed" and "400" in states["m2"]["error"]
    assert states["m0"]["merged"] and states["m3"]["merged"]


@pytest.mark.parametrize("plan, message", [
    ({"task": "t", "subtasks": [{"id": "a", "instructions": "x"}, {"id": "a", "instructions": "y"}]},
     "duplicate subtask id 'a'"),
    ({"task": "t", "subtasks": [{"id": "a", "instructions": "x", "depends_on": ["zz"]}]},
     "depends on unknown subtask 'zz'"),
    ({"task": "t", "subtasks": [{"id": "a", "instructions": "x", "depends_on": ["b"]},
                                {"id": "b", "instructions": "y", "depends_on": ["a"]}]}, "dependency cycle: a -> b -> a"),
    ({"task": "t", "subtasks": [{"id": "Bad_Id", "instructions": "x"}]}, "must match"),
    ({"task": "t", "subtasks": []}, "'subtasks' must be a non-empty list"),
])
def test_invalid_plans_exit_2_with_a_clear_message(make_repo, tmp_path, plan, message):
    repo = make_repo(MODULES)
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not (repo / ".swarm").exists()


def test_bad_input_is_explained(make_repo, tmp_path):
    repo = make_repo(MODULES)
    (tmp_path / "plan.toml").write_text("task = 'x'\n[[subtasks]]\nid = 'a'\ninstructions = 'do'\n")
    # Through the process boundary: the exit code a shell sees, one line and no traceback.
    proc = swarm_process(repo, "run", "--plan", str(tmp_path / "plan.toml"))
    assert proc.returncode == 2 and "ANTHROPIC_API_KEY" in proc.stderr and "Traceback" not in proc.stderr
    proc = swarm(repo, "run", "--plan", str(tmp_path / "missing.json"))
    assert proc.returncode == 2 and "cannot read plan file" in proc.stderr
    (tmp_path / "broken.json").write_text("{not json")
    proc = swarm(repo, "run", "--plan", str(tmp_path / "broken.json"))
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr
    proc = swarm(tmp_path, "run", "--plan", str(tmp_path / "plan.toml"))
    assert proc.returncode != 0 and "not inside a git repository" in proc.stderr


def test_status_then_clean(make_repo, scripted, tmp_path):
    repo = make_repo(MODULES)
    plan, script = four_way(delay=0.0)
    server = scripted(script)
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json", server=server)
    run_id = json.loads(proc.stdout)["run_id"]

    status = swarm(repo, "status")
    assert status.returncode == 0
    assert run_id in status.stdout and status.stdout.count("done") >= 4
    data = json.loads(swarm(repo, "status", run_id[:15], "--json").stdout)
    assert [s["state"] for s in data["subtasks"]] == ["done"] * 4

    cleaned = swarm(repo, "clean", run_id, "--force")
    assert cleaned.returncode == 0, cleaned.stderr
    assert git(repo, "branch", "--list", "swarm/*") == ""
    assert list((Path(os.environ["XDG_CACHE_HOME"]) / "swarm" / "worktrees").glob("*/" + run_id)) == []
    # What is left are the pool's slots, detached, for the next run; `clean --pool` empties it.
    slots = git(repo, "worktree", "list", "--porcelain").split("\n\n")[1:]
    assert slots and all("/_pool/slot-" in s and "detached" in s for s in slots)
    emptied = swarm(repo, "clean", "--pool")
    assert emptied.returncode == 0 and f"{len(slots)} worktree(s) removed" in emptied.stdout, emptied.stderr
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    missing = swarm(repo, "status", run_id)
    assert missing.returncode == 2 and "no swarm runs" in missing.stderr


def test_settings_travel_as_values_not_through_the_environment(make_repo, scripted, tmp_path, monkeypatch):
    """A `secrets` setting from pyproject hides the variable from the tools and its value from the records,
    and the run leaves os.environ as it found it; undocumented SWARM_RUN_* variables change nothing."""
    repo = make_repo({**MODULES, "pyproject.toml": "[tool.swarm]\nsecrets = ['DB_PASSWORD']\nsandbox = 'auto'\n"})
    monkeypatch.setenv("DB_PASSWORD", "hunter2-very-secret")
    before = dict(os.environ)
    server = scripted({"workers": {"s": [
        turn(tool("bash", command="echo pw=[$DB_PASSWORD] > pw.txt")),
        turn(text("Done; the password was hunter2-very-secret."))]}})
    plan = {"task": "Secrets", "subtasks": [{"id": "s", "instructions": "Write pw.txt."}]}
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json", server=server,
                 env={"SWARM_RUN_ON_FAILURE": "no-such-policy", "SWARM_RUN_CONCURRENCY": "0"})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert git(repo, "show", f"{result['merged_branch']}:pw.txt") == "pw=[]"
    assert result["on_failure"] == "best-effort"
    assert "hunter2-very-secret" not in proc.stdout
    for path in (repo / ".swarm").rglob("*"):
        if path.is_file():
            assert "hunter2-very-secret" not in path.read_text(errors="replace"), path
    assert dict(os.environ) == before


def test_result_json_reads_back_as_a_run_result_with_every_key(make_repo, scripted, tmp_path):
    from swarm.run.records import RunRecords
    from swarm.run.result import RunResult

    repo = make_repo(MODULES)
    plan, script = four_way(delay=0)
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json",
                 server=scripted(script))
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    on_disk = json.loads((repo / ".swarm" / "runs" / printed["run_id"] / "result.json").read_text())
    assert printed == on_disk
    for key in ("run_id", "state", "base_commit", "merged_branch", "merged_commit", "subtasks", "conflicts",
                "findings", "contradictions", "usage", "timings"):
        assert key in on_disk, key
    for key in ("id", "state", "branch", "commit", "files_changed", "merged", "summary", "usage", "seconds"):
        assert all(key in s for s in on_disk["subtasks"]), key
    result = RunResult.read(RunRecords(repo, printed["run_id"]))
    assert result is not None and result.to_dict() == on_disk
    assert [s.id for s in result.subtasks] == ["m0", "m1", "m2", "m3"] and result.exit_code == 0
    assert result.subtask("m2").files_changed == ["pkg/mod2.py"] and result.subtask("m2").turns == 3
