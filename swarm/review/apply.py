"""`swarm apply`: the reviewed result (or the merged one) onto the user's branch, as one commit or staged.

Everything is worked out in memory before the user's checkout is touched:
the new tree comes from the run's change (base -> result) merged three-way
onto the current HEAD with `git merge-tree`, so a branch that moved since the
run began is handled, and a conflict is reported with nothing changed. Then
`git read-tree -m -u` moves the index and working tree from HEAD to the new
tree (it keeps the user's other uncommitted changes, and refuses rather than
overwrite one), and the branch ref moves with a check of its old value. The
commit is the user's: their name and signing settings; commit hooks do not
run (use `--stage` and commit yourself to run them).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from swarm.errors import ApplyRefused, BadInput, GitError
from swarm.git import refs
from swarm.git.index import tree_of, user_commit
from swarm.git.repo import GitRepo
from swarm.review.gate import Gate, result_findings
from swarm.review.rebuild import load_reviewed
from swarm.run.records import RunRecords, utc_now
from swarm.run.result import RunResult
from swarm.review.selection import SYNTHESIS


@dataclass
class Applied:
    """What `apply` did: the commit made (None when staged), where, and from what."""

    commit: str | None
    branch: str | None
    files: list[str]
    source: str  # "reviewed" or "merged"
    source_commit: str
    kept: list[str]
    gate: Gate
    forced: bool = False
    new_branch: str | None = None  # `--branch NAME`: the branch made, the checkout left alone


def _source(repo: GitRepo, records: RunRecords, result: RunResult) -> tuple[str, str, list[str], str]:
    """(commit, "reviewed"|"merged", subtasks it holds, what was dropped) for this run."""
    merged_branch = result.merged_branch or refs.merged_branch(records.run_id)
    merged = repo.resolve(merged_branch) if repo.branch_exists(merged_branch) else result.merged_commit
    if not merged:
        raise ApplyRefused(f"run {records.run_id} has no merged result to apply (its branches are gone)")
    reviewed = load_reviewed(repo, records)
    if reviewed is None and records.read_json("review.json"):
        raise ApplyRefused(f"the reviewed branch of run {records.run_id} is gone or was moved; review again "
                           f"(`swarm review {records.run_id} --drop ...`) or `swarm review --reset` to apply the "
                           "merged result")
    if reviewed is not None:
        if reviewed.get("source_commit") != merged:
            raise ApplyRefused(f"the merged branch {merged_branch} changed since your review (new synthesis "
                               "edits?); review again, or `swarm review --reset` to apply the merged result")
        return reviewed["reviewed_commit"], "reviewed", list(reviewed.get("kept", [])), \
            reviewed.get("description", "")
    kept = [s.id for s in result.subtasks if s.merged]
    if repo.git("log", "--first-parent", "--format=%s", f"{result.base_commit}..{merged}",
                "--grep=^swarm synthesis:"):
        kept.append(SYNTHESIS)
    return merged, "merged", kept, ""


def _message(records: RunRecords, result: RunResult, kept: list[str], description: str,
             subject: str | None, forced: list[str]) -> str:
    titles = {s["id"]: s.get("title") or "" for s in (records.read_json("plan.json") or {}).get("subtasks", [])}
    if subject is None:
        task = (result.task or "").strip().splitlines()
        subject = task[0] if task else f"swarm run {records.run_id}"
        if len(subject) > 72:
            subject = subject[:69] + "..."
    lines = [subject, "", f"Applied from swarm run {records.run_id}.", "", "Subtasks:"]
    for owner in kept:
        title = "edits made after the merge to keep the subtasks consistent" if owner == SYNTHESIS \
            else titles.get(owner, "")
        lines.append(f"- {owner}" + (f": {title}" if title else ""))
    if description:
        lines += ["", f"Review: {description}"]
    if forced:
        lines += ["", f"Applied with --force despite {len(forced)} blocking finding(s):"]
        lines += [f"- {line}" for line in forced]
    return "\n".join(lines) + "\n"


def _dirty_paths(repo: GitRepo) -> set[str]:
    """Paths with uncommitted changes: staged, unstaged or untracked (both names of a rename)."""
    out = repo.git("status", "--porcelain=v1", "-z", "--untracked-files=all")
    entries = out.split("\0")
    paths: set[str] = set()
    i = 0
    while i < len(entries):
        entry = entries[i]
        if len(entry) > 3:
            paths.add(entry[3:])
            if entry[0] in "RC":  # the original name follows as its own entry
                i += 1
                if i < len(entries):
                    paths.add(entries[i])
        i += 1
    return paths


def _changed(repo: GitRepo, old: str, new: str) -> list[str]:
    out = repo.git("diff", "--name-only", "-z", "--no-renames", old, new)
    return sorted(p for p in out.split("\0") if p)


def _target_tree(repo: GitRepo, base: str, head: str, source: str) -> str:
    """The tree of HEAD with the run's change (base -> source) merged in."""
    if head == base:
        return tree_of(repo, source)
    # merge-tree finds the merge base itself (git 2.39 has no --merge-base): a stand-in for HEAD whose
    # parent is the run's base makes that base the merge base, so only the run's change is brought over,
    # even when HEAD does not descend from it.
    stand_in = asyncio.run(repo.commit_tree(tree_of(repo, head), [base], "swarm apply: current HEAD"))
    outcome = asyncio.run(repo.merge_tree(stand_in, source))
    if not outcome.clean:
        files = ", ".join(outcome.conflicted_files) or "(see git's message)"
        raise ApplyRefused(
            f"your branch changed since the run began, and its changes conflict with the run's in: {files}. "
            f"Nothing was changed. To resolve by hand: `git diff {base[:10]} {source[:10]} | git apply -3`, "
            "then fix the conflict markers and commit")
    return outcome.tree


def apply_run(repo: GitRepo, records: RunRecords, *, stage: bool = False, message: str | None = None,
              force: bool = False, new_branch: str | None = None) -> Applied:
    """Bring a run's result onto the current branch (a commit, or only staged), or onto a new branch; record it.

    Refused, with nothing changed, while blocking findings remain (swarm.review.gate), unless `force`:
    then the commit message lists them.
    """
    rid = records.run_id
    ref = _new_branch_ref(repo, new_branch) if new_branch else None  # bad input first: exit 2, before anything
    result = RunResult.read(records)
    if result is None:
        raise ApplyRefused(f"run {rid} has no result yet (still running, or killed); wait for it to end or "
                           f"`swarm resume {rid}`")
    if not repo.has_commits():
        raise ApplyRefused("your repository has no commit to apply onto")
    source, kind, kept, description = _source(repo, records, result)
    gate = Gate.of(result_findings(result, load_reviewed(repo, records) if kind == "reviewed" else None))
    if gate.blocking and not force:
        listed = "".join(f"\n  ! {line}" for line in gate.lines("blocking"))
        raise ApplyRefused(f"run {rid} has {len(gate.blocking)} blocking finding(s); nothing was changed:{listed}"
                           f"\nFix them (`swarm continue {rid} SUBTASK TEXT`), leave their subtask out "
                           f"(`swarm review {rid} --drop ID`), or `swarm apply {rid} --force` to apply anyway")
    forced = gate.lines("blocking") if force else []
    base, head = result.base_commit, repo.resolve("HEAD")
    previous = records.read_json("applied.json")
    if ref is None and previous and previous.get("commit") and \
            not repo.git("rev-list", "-n", "1", previous["commit"], "--not", head, check=False):
        raise ApplyRefused(f"run {rid} is already applied: {previous['commit'][:10]} on your branch")
    if tree_of(repo, source) == tree_of(repo, base):
        raise ApplyRefused(f"nothing to apply: the {kind} result of run {rid} changes nothing")
    tree = _target_tree(repo, base, head, source)
    files = _changed(repo, head, tree)
    if not files:
        raise ApplyRefused(f"nothing to apply: your branch already has the changes of run {rid}")
    text = _message(records, result, kept, description, message, forced)
    if ref is not None:
        # A branch of its own: one commit on HEAD, made in memory; the checkout and current branch stay as they are.
        commit = user_commit(repo, tree, [head], text)
        try:
            repo.git("update-ref", "-m", f"swarm apply {rid}", ref, commit, "")
        except GitError:
            raise ApplyRefused(f"branch {new_branch} appeared while applying; nothing was changed") from None
        return _record(records, Applied(commit=commit, branch=ref, files=files, source=kind, source_commit=source,
                                        kept=kept, gate=gate, forced=force, new_branch=new_branch), head, stage)
    clashing = sorted(_dirty_paths(repo) & set(files))
    if clashing:
        raise ApplyRefused(f"your uncommitted changes touch files the run changes: {', '.join(clashing)}. "
                           "Nothing was changed. Commit or stash them (`git stash`), then `swarm apply` again")
    branch = repo.git("symbolic-ref", "-q", "HEAD", check=False) or None
    if stage:
        _move_checkout(repo, head, tree)
        commit = None
    else:
        commit = user_commit(repo, tree, [head], text)
        _move_checkout(repo, head, commit)
        try:
            if branch:
                repo.git("update-ref", "-m", f"swarm apply {rid}", branch, commit, head)
            else:
                repo.git("update-ref", "--no-deref", "-m", f"swarm apply {rid}", "HEAD", commit, head)
        except GitError:
            _move_checkout(repo, commit, head)  # the branch moved under us: put the checkout back
            raise ApplyRefused("your branch moved while applying; nothing was changed, try again") from None
    return _record(records, Applied(commit=commit, branch=branch, files=files, source=kind, source_commit=source,
                                    kept=kept, gate=gate, forced=force), head, stage)


def branch_has_changes(repo: GitRepo, records: RunRecords) -> bool:
    """Whether HEAD already holds every change of the run's result (`swarm apply` would have nothing to apply)."""
    result = RunResult.read(records)
    if result is None or not repo.has_commits():
        return False
    try:
        source, _, _, _ = _source(repo, records, result)
        if tree_of(repo, source) == tree_of(repo, result.base_commit):
            return False  # a result that changes nothing: not "applied"
        head = repo.resolve("HEAD")
        return not _changed(repo, head, _target_tree(repo, result.base_commit, head, source))
    except (ApplyRefused, GitError):
        return False


def unapplied_advice(repo: GitRepo, records: RunRecords, rescue: str) -> str:
    """What `swarm clean` says of a run with unapplied branches: apply it first, or, when your branch already
    has its changes, that it can go with --force."""
    rid = records.run_id
    if branch_has_changes(repo, records):
        return (f"your branch already has the changes of run {rid} (`swarm apply` has nothing to apply); "
                f"`swarm clean {rid} --force` removes it ({rescue})")
    return f"`swarm apply {rid}` first, or --force ({rescue})"


def _new_branch_ref(repo: GitRepo, name: str) -> str:
    """refs/heads/NAME for `--branch NAME`, refused when the name is not a branch name or is taken."""
    if repo.git("check-ref-format", "--branch", name, check=False) != name or name.startswith("-"):
        raise BadInput(f"--branch {name}: not a valid branch name (see `git check-ref-format --help`); name another")
    if repo.branch_exists(name):
        raise BadInput(f"--branch {name}: that branch exists; name a new one")
    return f"refs/heads/{name}"


def _record(records: RunRecords, done: Applied, head: str, stage: bool) -> Applied:
    records.write_json("applied.json", {"run_id": records.run_id, "applied": utc_now(), "commit": done.commit,
                                        "staged": stage, "branch": done.branch, "new_branch": done.new_branch,
                                        "head_before": head, "source": done.source, "forced": done.forced,
                                        "source_commit": done.source_commit, "kept": done.kept,
                                        "files": done.files})
    records.event("applied", commit=done.commit, staged=stage, source=done.source, files=done.files,
                  forced=done.forced, branch=done.branch)
    return done


def _move_checkout(repo: GitRepo, old: str, new: str) -> None:
    """Move the index and working tree from `old` to `new`, like a checkout; all or nothing."""
    try:
        repo.git("read-tree", "-m", "-u", old, new)
    except GitError as e:
        raise ApplyRefused(f"git refused to update your working tree, nothing was changed: {e.stderr}") from None
