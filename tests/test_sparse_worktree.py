"""Sparse worktrees in large repositories: only the scope is on disk, yet every tracked file is reachable."""

from __future__ import annotations

import json

from conftest import git, swarm, text, tool, turn, write_plan

FILES = {"README.md": "readme\n", "setup.cfg": "[x]\n", "src/core/a.py": "A = 1\n", "src/other/b.py": "B = 2\n",
         "docs/guide.md": "the guide text\n", "lib/util.py": "UTIL = 3\n", **{f"data/f{i}.txt": f"{i}\n" for i in range(8)}}


def test_a_tracked_file_outside_the_sparse_set_is_read_by_the_file_tools(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    plan = write_plan(tmp_path / "plan.json", {
        "task": "t", "shared": "Follow the conventions in docs/guide.md.",
        "subtasks": [{"id": "core", "title": "core", "instructions": "work",
                      "files": ["src/core/**", "before.txt", "after.txt"]}]})
    server = scripted({"workers": {"core": [
        turn(tool("bash", command="find . -path ./.git -prune -o -type f -print | sort > before.txt")),
        turn(tool("read", file_path="src/other/b.py")),
        turn(tool("bash", command="echo 'lib/**' > .swarm-want")),
        turn(tool("bash", command="cat lib/util.py src/other/b.py > after.txt")),
        turn(text("Done."))]}})
    out = swarm(repo, "run", "--plan", str(plan), "--json", server=server,
                env={"SWARM_SPARSE_THRESHOLD": "5", "SWARM_WORKTREE_POOL": "1"})
    assert out.returncode == 0, out.stdout + out.stderr
    sub = json.loads(out.stdout)["subtasks"][0]
    before = git(repo, "show", f"{sub['commit']}:before.txt").splitlines()
    # the scope, the top-level files and what `shared` names; nothing else was written
    assert {"./README.md", "./setup.cfg", "./src/core/a.py", "./docs/guide.md"} <= set(before)
    assert not any(p.startswith(("./data/", "./lib/", "./src/other/")) for p in before)
    results = [block for r in server.requests if r["role"] == "worker" for m in r["body"]["messages"]
               if m["role"] == "user" and isinstance(m["content"], list) for block in m["content"]
               if block.get("type") == "tool_result"]
    assert any("B = 2" in json.dumps(b["content"]) and not b.get("is_error") for b in results)
    assert any("checked out 1 file(s) you asked for" in json.dumps(b["content"]) for b in results)
    assert git(repo, "show", f"{sub['commit']}:after.txt") == "UTIL = 3\nB = 2"
    # files never checked out are not deletions: the commit changes only what the agent wrote
    assert sub["files_changed"] == ["after.txt", "before.txt"]
    assert git(repo, "ls-tree", "-r", "--name-only", sub["commit"]).count("data/f") == 8

    # The same pool slot, taken next by a subtask whose scope is the whole tree, holds every file again.
    full = write_plan(tmp_path / "full.json", {"task": "t", "subtasks": [
        {"id": "all", "title": "all", "command": "ls data lib src/other > seen.txt", "files": ["**"]}]})
    out = swarm(repo, "run", "--plan", str(full), "--json", env={"SWARM_SPARSE_THRESHOLD": "5", "SWARM_WORKTREE_POOL": "1"})
    assert out.returncode == 0, out.stdout + out.stderr
    seen = git(repo, "show", f"{json.loads(out.stdout)['subtasks'][0]['commit']}:seen.txt")
    assert "f7.txt" in seen and "util.py" in seen and "b.py" in seen


def test_the_synthesizer_works_in_a_sparse_worktree_of_the_changes_and_reads_any_file(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    plan = write_plan(tmp_path / "plan.json", {"task": "t", "subtasks": [
        {"id": "core", "title": "core", "instructions": "work", "files": ["src/core/**"]}]})
    server = scripted({"workers": {"core": [
        turn(tool("edit", file_path="src/core/a.py", old_string="A = 1", new_string="A = 10")), turn(text("Done."))]},
        "synthesizer": [
            turn(tool("bash", command="find . -path ./.git -prune -o -type f -print | sort")),
            turn(tool("read", file_path="lib/util.py")),
            turn(tool("submit_synthesis", summary="Nothing to fix.", contradictions=[]))]})
    out = swarm(repo, "run", "--plan", str(plan), "--json", server=server, env={"SWARM_SPARSE_THRESHOLD": "5"})
    assert out.returncode == 0, out.stdout + out.stderr
    last = [r for r in server.requests if r["role"] == "synthesizer"][-1]
    results = [block for m in last["body"]["messages"] if m["role"] == "user" and isinstance(m["content"], list)
               for block in m["content"] if block.get("type") == "tool_result"]
    listing, read = json.dumps(results[0]["content"]), json.dumps(results[1]["content"])
    # what the merge changed and the top-level files are there; nothing else was checked out ...
    assert "./src/core/a.py" in listing and "./README.md" in listing
    assert "./data/" not in listing and "./lib/util.py" not in listing
    # ... and a tracked file outside that set is read all the same
    assert "UTIL = 3" in read and not results[1].get("is_error")
    assert json.loads(out.stdout)["synthesis"]["summary"] == "Nothing to fix."
