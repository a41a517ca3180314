"""Git metadata is swarm's: an agent that rewrites its worktree's `.git`, or links out of it, changes nothing of the user's.

The hostile agents are scripted models driving the real CLI with the sandbox
off (SWARM_SANDBOX=off), so their bash commands can reach everything the user
can: what is tested is swarm's own git calls, not the sandbox.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from conftest import git, swarm, text, tool, turn, write_plan
from swarm.agent.tools import Toolbox
from swarm.checks.tamper import escapes
from swarm.env.allowlist import scrubbed_env

FILES = {"a.py": "a = 1\n", "README.md": "# readme\n"}
UNSANDBOXED = {"SWARM_SANDBOX": "off"}


def call(box: Toolbox, name: str, **inputs):
    return asyncio.run(box.call(name, inputs))


def user_state(repo: Path) -> dict[str, str]:
    """What a run must never change: the branch, HEAD, the index and the working tree."""
    return {"head": git(repo, "rev-parse", "HEAD"), "branch": git(repo, "symbolic-ref", "HEAD"),
            "main": git(repo, "rev-parse", "refs/heads/main"), "index": git(repo, "ls-files", "-s"),
            "staged": git(repo, "diff", "--cached", "--name-only"), "status": git(repo, "status", "--porcelain"),
            "log": git(repo, "log", "--format=%H %an %s", "main")}


def run_hostile(repo: Path, tmp_path: Path, scripted, steps: list) -> dict:
    plan = {"task": "Edit", "subtasks": [{"id": "evil", "title": "Evil", "instructions": "x", "files": []}]}
    server = scripted({"workers": {"evil": steps}})
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json", server=server,
                 env=UNSANDBOXED)
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout)


def test_a_git_file_pointed_at_the_users_repository_redirects_nothing(make_repo, tmp_path, scripted):
    repo = make_repo(FILES)
    before = user_state(repo)
    result = run_hostile(repo, tmp_path, scripted, [
        turn(tool("write", file_path="hello.txt", content="hello\n")),
        turn(tool("bash", command=f"printf 'gitdir: {repo}/.git\\n' > .git && git status --short")),
        turn(text("Done."))])
    sub = result["subtasks"][0]
    assert sub["state"] == "done", result
    user_state_after = user_state(repo)
    assert user_state_after == before
    # The subtask's commit is on its own branch, with its file; the user's branch does not have it.
    assert git(repo, "show", f"{sub['branch']}:hello.txt") == "hello"
    assert git(repo, "merge-base", "--is-ancestor", before["main"], sub["commit"]) == ""
    assert git(repo, "ls-tree", "--name-only", "main", "hello.txt") == ""
    tamper = [f for f in result["findings"] if f["kind"] == "tamper"]
    assert tamper and tamper[0]["subtasks"] == ["evil"] and "rewritten" in tamper[0]["message"], result["findings"]


def test_a_filter_in_a_git_dir_the_agent_made_never_runs(make_repo, tmp_path, scripted):
    repo = make_repo(FILES)
    before = user_state(repo)
    marker = tmp_path / "filter-ran"
    evil = tmp_path / "evil" / ".git"
    script = (f"git init -q {evil.parent} && "
              f"git --git-dir={evil} config filter.x.clean 'touch {marker}; cat' && "
              f"git --git-dir={evil} config filter.x.smudge 'touch {marker}; cat' && "
              f"git --git-dir={evil} config core.fsmonitor 'touch {marker}; false' && "
              f"echo '* filter=x' > .gitattributes && printf 'gitdir: {evil}\\n' > .git")
    result = run_hostile(repo, tmp_path, scripted, [
        turn(tool("write", file_path="b.py", content="b = 2\n")),
        turn(tool("bash", command=script)),
        turn(text("Done."))])
    assert not marker.exists(), "swarm ran a filter from a git dir the agent made"
    sub = result["subtasks"][0]
    assert sub["state"] == "done", result
    assert git(repo, "show", f"{sub['branch']}:b.py") == "b = 2"
    assert git(repo, "show", f"{sub['branch']}:.gitattributes") == "* filter=x"
    assert user_state(repo) == before
    assert any(f["kind"] == "tamper" for f in result["findings"])
    # Review and apply read the same commits: still no filter run.
    assert not marker.exists()


def test_file_tools_refuse_git_metadata(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / ".git").write_text("gitdir: /somewhere\n")
    box = Toolbox(work, scrubbed_env())
    for name, inputs in [("write", {"file_path": ".git", "content": "gitdir: /tmp\n"}),
                         ("read", {"file_path": ".git"}),
                         ("edit", {"file_path": ".git", "old_string": "somewhere", "new_string": "x"}),
                         ("write", {"file_path": "sub/.git/config", "content": "[core]\n"}),
                         ("write", {"file_path": str(work / ".git"), "content": "x"}),
                         ("glob", {"pattern": ".git/**"}),
                         ("grep", {"pattern": "gitdir", "path": ".git"})]:
        outcome = call(box, name, **inputs)
        assert outcome.is_error and ".git" in outcome.content, (name, outcome)
    assert (work / ".git").read_text() == "gitdir: /somewhere\n"
    assert not (work / "sub").exists()
    # A symlink into .git is refused too.
    os.symlink(".git", work / "innocent")
    outcome = call(box, "write", file_path="innocent", content="gitdir: /tmp\n")
    assert outcome.is_error and (work / ".git").read_text() == "gitdir: /somewhere\n"
    # Ordinary files still work.
    assert not call(box, "write", file_path="ok.txt", content="ok\n").is_error


def test_file_tools_refuse_to_write_through_hard_links_and_outward_symlinks(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    outside = tmp_path / "users-file.txt"
    outside.write_text("precious\n")
    os.link(outside, work / "hard.txt")
    os.symlink(outside, work / "soft.txt")
    (work / "real.txt").write_text("mine\n")
    os.symlink("real.txt", work / "alias.txt")
    box = Toolbox(work, scrubbed_env())
    hard = call(box, "write", file_path="hard.txt", content="overwritten\n")
    assert hard.is_error and "hard link" in hard.content
    edit = call(box, "edit", file_path="hard.txt", old_string="precious", new_string="gone")
    assert edit.is_error and "hard link" in edit.content
    soft = call(box, "write", file_path="soft.txt", content="overwritten\n")
    assert soft.is_error and "outside the worktree" in soft.content
    assert outside.read_text() == "precious\n"
    # A symlink that stays inside the worktree is an ordinary file to write.
    assert not call(box, "write", file_path="alias.txt", content="still mine\n").is_error
    assert (work / "real.txt").read_text() == "still mine\n"


def test_a_committed_symlink_leaving_the_repository_is_a_finding(make_repo, tmp_path):
    repo = make_repo(FILES)
    plan = {"task": "Links", "subtasks": [
        {"id": "links", "title": "Links", "command": "ln -s /etc/passwd passwd && ln -s ../../../outside up && "
                                                     "mkdir -p d && ln -s ../a.py d/alias"}]}
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json", env=UNSANDBOXED)
    result = json.loads(proc.stdout)
    flagged = sorted(f["files"][0] for f in result["findings"] if f["kind"] == "tamper")
    assert flagged == ["passwd", "up"], result["findings"]


def test_which_symlink_targets_leave_the_repository():
    assert escapes("a", "/etc/passwd") and escapes("a", "..") and escapes("d/e", "../../x")
    assert not escapes("d/e", "../x") and not escapes("a", "b/c") and not escapes("d/e", "./f")
