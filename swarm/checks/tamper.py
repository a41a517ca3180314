"""Agents reaching past their worktree: a `.git` file they changed, a symlink they committed that leaves the repository.

swarm puts a worktree's `.git` file back before it commits, and says so in
the commit (`Swarm-Tamper:` trailer, see GitRepo.commit_all): each such
commit of a subtask is a finding. A symlink a subtask added whose target is
absolute or climbs out of the repository is one too: it would make anyone
who follows it (a tool, a build, the user) read or write outside.
"""

from __future__ import annotations

import posixpath

from swarm.checks.context import CheckContext
from swarm.checks.model import Finding
from swarm.git.repo import TAMPER_TRAILER

KIND = "tamper"


def escapes(link: str, target: str) -> bool:
    """Whether a symlink at repository path `link` pointing at `target` leads outside the repository."""
    if target.startswith("/"):
        return True
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(link), target))
    return resolved == ".." or resolved.startswith("../")


def check(ctx: CheckContext) -> list[Finding]:
    """One finding per restored `.git` file and per committed symlink that leaves the repository."""
    findings = []
    for change in ctx.changes:
        for line in "\n".join(ctx.messages(change.start_commit, change.commit)).splitlines():
            if line.startswith(TAMPER_TRAILER):
                findings.append(Finding(KIND, [change.id], [".git"],
                                        f"{change.id} changed its worktree's git metadata: "
                                        f"{line[len(TAMPER_TRAILER):].strip()}"))
        for f in change.changed:
            if not f.get("symlink") or f["status"] == "removed":
                continue
            target = ctx.text(change.commit, f["path"])
            if target is not None and escapes(f["path"], target):
                findings.append(Finding(KIND, [change.id], [f["path"]],
                                        f"{change.id} committed a symlink {f['path']} -> {target} that points "
                                        "outside the repository"))
    return findings
