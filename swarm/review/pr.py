"""`swarm apply --branch NAME --pr`: push the applied branch and open a pull request with `gh`.

The pull request's body is the run's report (report.md). `gh` is the user's
own, with their login: swarm only runs it, and refuses plainly when it is not
on PATH.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from swarm.errors import ApplyRefused, GitError
from swarm.git.repo import GitRepo
from swarm.run.records import RunRecords


@dataclass
class PullRequest:
    """Where the branch went and what `gh` answered (its last line is the pull request's address)."""

    remote: str
    branch: str
    base: str
    url: str


def need_gh() -> str:
    """The `gh` program, or an ApplyRefused saying how to get one (checked before anything is applied)."""
    gh = shutil.which("gh")
    if gh is None:
        raise ApplyRefused("--pr needs GitHub's `gh` on PATH (https://cli.github.com); without it, "
                           "`swarm apply --branch NAME` and push the branch yourself")
    return gh


def _remote(repo: GitRepo, current: str | None) -> str:
    remote = repo.git("config", f"branch.{current}.remote", check=False) if current else ""
    remotes = repo.git("remote").split()
    if remote and remote in remotes:
        return remote
    if "origin" in remotes:
        return "origin"
    if len(remotes) == 1:
        return remotes[0]
    raise ApplyRefused("--pr: cannot tell which remote to push to (none named origin); "
                       "`git remote add origin URL`, or push the branch yourself")


def open_pull_request(repo: GitRepo, records: RunRecords, branch: str, title: str) -> PullRequest:
    """Push `branch` to the current branch's remote and open a pull request on the current branch."""
    gh = need_gh()
    current = repo.git("symbolic-ref", "-q", "--short", "HEAD", check=False) or None
    remote = _remote(repo, current)
    try:
        repo.git("push", "--set-upstream", remote, f"refs/heads/{branch}:refs/heads/{branch}")
    except GitError as e:
        raise ApplyRefused(f"branch {branch} is made, but pushing it to {remote} failed: {e.stderr}") from None
    body = records.dir / "report.md"
    args = [gh, "pr", "create", "--head", branch, "--title", title]
    if current:
        args += ["--base", current]
    args += ["--body-file", str(body)] if body.exists() else ["--body", f"swarm run {records.run_id}"]
    done = subprocess.run(args, cwd=repo.root, capture_output=True, text=True)
    if done.returncode != 0:
        raise ApplyRefused(f"branch {branch} is pushed to {remote}, but `gh pr create` failed: "
                           f"{(done.stderr or done.stdout).strip()}; open the pull request yourself")
    lines = done.stdout.strip().splitlines()
    return PullRequest(remote=remote, branch=branch, base=current or "", url=lines[-1] if lines else "")
