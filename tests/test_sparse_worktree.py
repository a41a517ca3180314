"""Sparse worktrees in large repositories: only the scope is on disk, yet every tracked file is reachable."""

from __future__ import annotations

import json
import subprocess

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


def test_the_sparse_set_is_cone_mode_and_the_index_stays_small(make_repo, tmp_path):
    """Cone lines for the scope's folders (a file's scope: its folder); a folder left out is one entry of
    the worktree's index; materialising a file brings its folder in and keeps the agent's edits."""
    import asyncio

    from swarm.env.sparse import cone_folders, cone_lines, materialise, sparse_patterns
    from swarm.git.repo import GitRepo

    tracked = ["README.md", "src/core/a.py", "src/core/deep/b.py", "src/other/c.py", "docs/guide.md", "lib/u.py"]
    lines = sparse_patterns(["src/core/**", "lib/u.py", "new/file.txt"], "See docs/guide.md.", tracked)
    assert lines == ["/*", "!/*/", "/src/", "!/src/*/", "/docs/", "/lib/", "/new/", "/src/core/"]
    assert cone_folders(lines) == {"docs", "lib", "new", "src/core"}
    assert cone_lines({"src", "src/core"}) == ["/*", "!/*/", "/src/"]  # a folder inside another is in it
    assert sparse_patterns(["**/*.py"], None, tracked) == ["/*"]
    assert sparse_patterns(["*.md"], None, tracked) == ["/*", "!/*/"]

    files = {p: f"# {p}\n" for p in tracked} | {f"data/f{i}.txt": "x\n" for i in range(50)}
    root = make_repo(files)
    repo = GitRepo(root)
    path = tmp_path / "wt"
    start = repo.resolve("HEAD")
    runner = asyncio.run(repo.worktrees.add(path, start, branch="swarm/t/one",
                                            sparse=sparse_patterns(["src/core/**"], None, tracked)))
    assert (path / "src/core/deep/b.py").is_file() and (path / "README.md").is_file()
    assert not (path / "data").exists() and not (path / "src/other").exists()
    listed = subprocess.run([*runner.argv(["ls-files", "--sparse"])], cwd=path, capture_output=True,
                            text=True).stdout.split()
    assert "data/" in listed and not any(p.startswith("data/f") for p in listed)  # one entry for 50 files
    (path / "src/core/a.py").write_text("edited\n")
    admin = repo.worktrees.admin_dir(path)
    assert asyncio.run(materialise(runner, admin, ["src/other/c.py"], folders=False)) == ["src/other/c.py"]
    assert (path / "src/other/c.py").read_text() == "# src/other/c.py\n"
    assert (path / "src/core/a.py").read_text() == "edited\n"  # the agent's edit is kept
    commit = asyncio.run(repo.commit_all(path, "edit"))
    changed = subprocess.run(["git", "diff", "--name-only", start, commit], cwd=root, capture_output=True,
                             text=True).stdout.split()
    assert changed == ["src/core/a.py"]  # nothing left out reads as deleted
