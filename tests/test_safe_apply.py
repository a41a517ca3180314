"""Safe apply: blocking findings stop `swarm apply` (and fail `swarm run`), advisory ones are listed;
`--force`, `--branch NAME` and `--pr` through the CLI against real repositories."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

from conftest import git, swarm, write_plan

BROKEN = {"lib/__init__.py": "", "lib/util.py": "def helper():\n    return 1\n",
          "lib/far/__init__.py": "", "lib/far/away.py": "from lib.util import helper\n", "a.py": "A = 1\n"}
# One subtask renames helper; nothing updates its user: a call to a name defined nowhere.
RENAME = [{"id": "rename", "title": "Rename helper", "command": "sed -i 's/helper/assist/' lib/util.py"}]
# A change outside the subtask's scope: an advisory finding only.
OUT_OF_SCOPE = [{"id": "wide", "title": "Edit a", "files": ["lib/**"], "command": "echo 'A = 2' > a.py"}]


def run(repo: Path, tmp_path: Path, subtasks: list[dict]) -> tuple[int, dict, str]:
    plan = write_plan(tmp_path / "plan.json", {"task": "Tidy the helpers", "subtasks": subtasks})
    proc = swarm(repo, "run", "--plan", str(plan), "--json")
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def test_apply_refuses_a_symbol_contradiction_then_force_applies_and_says_so(make_repo, tmp_path):
    repo = make_repo(BROKEN)
    head = git(repo, "rev-parse", "HEAD")
    code, result, err = run(repo, tmp_path, RENAME)
    assert result["state"] == "done" and any(f["kind"] == "symbol" for f in result["findings"])
    assert code == 1 and "blocking finding" in err  # the run's own checks call it broken
    # Its header and `swarm status` say so too, not a bare "done" (result.json's state stays `done`).
    status = swarm(repo, "status")
    assert f"run {result['run_id']}: done, 1 blocking finding(s) left" in status.stdout, status.stdout
    summary = swarm(repo, "run", "--plan", str(tmp_path / "plan.json"))
    assert summary.returncode == 1 and ": done, 1 blocking finding(s) left" in summary.stdout, summary.stdout

    refused = swarm(repo, "apply")
    assert refused.returncode == 1
    assert "1 blocking finding" in refused.stderr and "symbol:" in refused.stderr and "--force" in refused.stderr
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "status", "--porcelain") == ""
    assert not (repo / ".swarm/runs" / result["run_id"] / "applied.json").exists()

    forced = swarm(repo, "apply", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "despite 1 blocking finding" in forced.stderr
    message = git(repo, "log", "-1", "--format=%B")
    assert "Applied with --force despite 1 blocking finding(s):" in message and "- symbol:" in message
    assert git(repo, "rev-parse", "HEAD^") == head and "assist" in (repo / "lib/util.py").read_text()


def test_advisory_findings_are_listed_and_do_not_block(make_repo, tmp_path):
    repo = make_repo(BROKEN)
    code, result, _ = run(repo, tmp_path, OUT_OF_SCOPE)
    assert [f["kind"] for f in result["findings"]] == ["scope"] and code == 0
    done = swarm(repo, "apply")
    assert done.returncode == 0, done.stderr
    assert "note: scope:" in done.stderr and (repo / "a.py").read_text() == "A = 2\n"


def test_dropping_the_broken_subtask_in_review_unblocks_apply(make_repo, tmp_path):
    repo = make_repo(BROKEN)
    run(repo, tmp_path, RENAME + [{"id": "docs", "title": "Docs", "command": "echo docs > NOTES.md"}])
    assert swarm(repo, "review", "--drop", "rename").returncode == 0
    done = swarm(repo, "apply")
    assert done.returncode == 0, done.stderr
    assert (repo / "NOTES.md").exists() and "helper" in (repo / "lib/util.py").read_text()


def test_branch_puts_one_commit_on_a_new_branch_and_leaves_head_and_files_alone(make_repo, tmp_path):
    repo = make_repo(BROKEN)
    head = git(repo, "rev-parse", "HEAD")
    (repo / "lib/util.py").write_text("def helper():\n    return 1  # mine, uncommitted\n")
    run(repo, tmp_path, OUT_OF_SCOPE)
    done = swarm(repo, "apply", "--branch", "feature/tidy")
    assert done.returncode == 0, done.stderr
    assert "new branch feature/tidy" in done.stdout
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "symbolic-ref", "--short", "HEAD") == "main"
    assert (repo / "a.py").read_text() == "A = 1\n"
    assert "mine, uncommitted" in (repo / "lib/util.py").read_text()
    assert git(repo, "rev-parse", "feature/tidy^") == head
    assert git(repo, "diff", "--name-only", head, "feature/tidy") == "a.py"
    # A taken name is bad input: exit 2.
    again = swarm(repo, "apply", "--branch", "feature/tidy")
    assert again.returncode == 2 and "that branch exists" in again.stderr


def test_pr_pushes_the_branch_and_opens_a_pull_request_whose_body_is_the_report(make_repo, tmp_path):
    repo = make_repo(BROKEN)
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(repo, "remote", "add", "origin", str(remote))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "gh-calls.json"
    gh = bin_dir / "gh"
    # A stand-in for GitHub's gh: records its arguments and the body it was given, answers with an address.
    gh.write_text("#!/usr/bin/env python3\nimport json, sys\nargs = sys.argv[1:]\n"
                  "body = open(args[args.index('--body-file') + 1]).read()\n"
                  f"json.dump({{'args': args, 'body': body}}, open({str(calls)!r}, 'w'))\n"
                  "print('https://github.example/o/r/pull/7')\n")
    gh.chmod(gh.stat().st_mode | stat.S_IEXEC)
    code, result, _ = run(repo, tmp_path, OUT_OF_SCOPE)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = swarm(repo, "apply", "--branch", "tidy", "--pr", env=env)
    assert done.returncode == 0, done.stderr
    assert "pull request: https://github.example/o/r/pull/7" in done.stdout
    assert git(remote, "rev-parse", "tidy") == git(repo, "rev-parse", "tidy")
    recorded = json.loads(calls.read_text())
    assert recorded["args"][:2] == ["pr", "create"]
    assert recorded["args"][recorded["args"].index("--head") + 1] == "tidy"
    assert recorded["args"][recorded["args"].index("--base") + 1] == "main"
    report = (repo / ".swarm/runs" / result["run_id"] / "report.md").read_text()
    assert recorded["body"] == report and result["run_id"] in report


def test_pr_without_gh_or_branch_says_what_to_do(make_repo, tmp_path):
    repo = make_repo(BROKEN)
    run(repo, tmp_path, OUT_OF_SCOPE)
    no_branch = swarm(repo, "apply", "--pr")
    assert no_branch.returncode == 2 and "--pr needs --branch NAME" in no_branch.stderr
    only_git = tmp_path / "only-git"
    only_git.mkdir()
    (only_git / "git").symlink_to(shutil.which("git"))
    no_gh = swarm(repo, "apply", "--branch", "x", "--pr", env={"PATH": str(only_git)})
    assert no_gh.returncode == 1 and "needs GitHub's `gh` on PATH" in no_gh.stderr
    assert not git(repo, "branch", "--list", "x")
