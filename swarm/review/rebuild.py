"""The reviewed result: a new commit on the run's base holding only the parts a review kept.

It starts from the merged branch as it is (conflict resolutions and synthesis
edits included) and takes the dropped parts out: each dropped subtask's own
diff, or its dropped files and hunks, is applied in reverse with `git apply
--cached --3way` on a temporary index, latest work first (the synthesis
edits, then subtasks in reverse plan order), so the three-way fallback copes
with whatever was merged around them. A subtask the merge left out (a
conflict) that the review keeps is then applied forward the same way. The
tree is committed on top of the base as `swarm/<run>/reviewed` and recorded
in `review.json`; the user's branch, index and working tree are not involved.

Working from the merged result rather than re-merging the kept branches keeps
what the run added on top of them: conflicts a resolver settled, synthesis
edits. When a dropped part is entangled with a kept one (a subtask built on
it, an edit on the same lines), the review says which and changes nothing.
"""

from __future__ import annotations

import asyncio
import shlex
from dataclasses import dataclass
from typing import Any

from swarm.errors import GitError, ReviewConflict
from swarm.git.index import ScratchIndex
from swarm.git.refs import reviewed_branch
from swarm.git.repo import GitRepo
from swarm.run.records import RunRecords, utc_now
from swarm.review.selection import Change, RunReview, Selection, describe, is_default


@dataclass
class Reviewed:
    """The commit a review produced and what it holds."""

    commit: str
    branch: str
    description: str
    findings: list[dict[str, Any]] | None = None  # from re-running the checks, when they ran


def _dropped_part(change: Change, selection: Selection) -> str:
    """The patch of what the selection takes out of a change that is in the merged result."""
    if not selection.keeps_owner(change.owner):
        return "".join(fp.text() for fp in change.files)
    parts = []
    for fp in change.files:
        if not selection.keeps_file(change.owner, fp.path):
            parts.append(fp.text())
        else:
            dropped = [h.index for h in fp.hunks if h.index not in selection.kept_hunks(change, fp)]
            if dropped:
                parts.append(fp.text(dropped, content_only=True))
    return "".join(parts)


def _kept_part(change: Change, selection: Selection) -> str:
    """The patch of what the selection keeps of a change, less the conflicted files it takes whole."""
    taken = selection.taken_paths()
    return "".join(fp.text(selection.kept_hunks(change, fp)) for fp in change.files
                   if selection.keeps_file(change.owner, fp.path) and fp.path not in taken)


def _put_taken(repo: GitRepo, index: ScratchIndex, review: RunReview, selection: Selection) -> None:
    """Each conflicted file taken whole (a resolver's attempt, a hand resolution) into the index."""
    for t in selection.taken:
        entry = repo.git("ls-tree", review.tip, "--", t["path"], check=False).split(" ", 1)
        mode = entry[0] if entry[0] in ("100644", "100755") else "100644"
        repo.runner.run("update-index", "--add", "--cacheinfo", f"{mode},{t['blob']},{t['path']}", index=index.path)


def _later(review: RunReview, owner: str) -> list[str]:
    """Kept work that may build on `owner`: subtasks depending on it, and the synthesis edits."""
    later = [c.owner for c in review.changes if owner in c.depends_on or (c.is_synthesis and c.owner != owner)]
    return later


def _drop_command(review: RunReview, selection: Selection, also: list[str], *, keep_form: bool = False) -> str:
    """The review command that chooses what this selection does less the subtasks `also`, to paste as it is.

    `keep_form` names what is kept (`--keep`), which is how a subtask left out by a conflict stays chosen.
    """
    files = sorted({p for _, p in selection.dropped_files})
    if keep_form:
        words = [f" --keep {shlex.quote(o)}" for o in selection.owners if o not in also]
    else:
        drops = [o for o in review.owners if not selection.keeps_owner(o)] + \
            [o for o in also if selection.keeps_owner(o)]
        words = [f" --drop {shlex.quote(x)}" for x in drops]
    return f"`swarm review {review.run_id}{''.join(words)}{''.join(f' --drop {shlex.quote(f)}' for f in files)}`"


def _build_tree(repo: GitRepo, review: RunReview, selection: Selection) -> str:
    with ScratchIndex(repo, review.tip) as index:
        for change in reversed([c for c in review.changes if c.merged]):
            patch = _dropped_part(change, selection)
            if not patch:
                continue
            try:
                conflicted = index.apply(patch, reverse=True)
            except GitError as e:
                conflicted, detail = [], e.stderr.splitlines()[0] if e.stderr else str(e)
            else:
                detail = ""
            if conflicted or detail:
                builders = [o for o in _later(review, change.owner) if selection.keeps_owner(o)]
                hint = (f"{', '.join(builders)} may build on it: drop them too "
                        f"({_drop_command(review, selection, builders)}), or keep it" if builders
                        else "keep it, or drop what was merged on the same lines")
                raise ReviewConflict(f"cannot take {change.owner}'s part out of the merged result: it is "
                                     f"entangled with kept work in {', '.join(conflicted) or detail}; {hint}")
        for change in [c for c in review.changes if not c.merged and selection.keeps_owner(c.owner)]:
            patch = _kept_part(change, selection)
            if not patch:
                continue
            try:
                conflicted = index.apply(patch)
            except GitError as e:
                conflicted = [e.stderr.splitlines()[0] if e.stderr else str(e)]
            if conflicted:
                others = sorted({s for c in change.conflicts for s in c["subtasks"] if s != change.owner})
                by_hand = " ".join(f"`swarm review --resolve {shlex.quote(f)}`" for f in conflicted)
                raise ReviewConflict(f"{change.owner} still conflicts with what is kept, in "
                                     f"{', '.join(conflicted)}; drop {', '.join(others) or 'the other side'} "
                                     f"to keep {change.owner}: {_drop_command(review, selection, others, keep_form=True)}"
                                     f", or resolve it by hand: {by_hand}")
        _put_taken(repo, index, review, selection)
        return index.write_tree()


def recheck(repo: GitRepo, records: RunRecords, review: RunReview, selection: Selection, commit: str, *,
            tests: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """The checks (swarm.checks) re-run on the reviewed commit: (findings, checks), or None without them.

    Each kept subtask is checked with its own change, less the files the review
    dropped. The test check runs only when asked (`tests`), as it can take long.
    """
    try:
        from swarm.checks import SubtaskChange, run_checks
    except ImportError:
        return None
    scopes = {s["id"]: s.get("files", []) for s in review.plan.get("subtasks", [])}
    changes = []
    for change in review.changes:
        record = records.read_json(f"diffs/{change.owner}.json")
        if change.is_synthesis or not selection.keeps_owner(change.owner) or not record:
            continue
        kept = dict(record, files=[f for f in record.get("files", [])
                                   if selection.keeps_file(change.owner, f["path"])])
        changes.append(SubtaskChange.from_record(kept, scopes.get(change.owner, [])))
    test_command = review.plan.get("test_command") if tests else None
    report = asyncio.run(run_checks(repo, base=review.base, merged=commit, changes=changes,
                                    test_command=test_command))
    if review.plan.get("test_command") and not tests and "test" in report.checks:
        report.checks["test"]["reason"] = "not re-run on the reviewed result (`swarm review --test` does)"
    return [f.to_dict() for f in report.findings], report.checks


def build_reviewed(repo: GitRepo, records: RunRecords, review: RunReview, selection: Selection, *,
                   tests: bool = False) -> Reviewed:
    """Build, check, record and name the reviewed result (the merged result itself when nothing is dropped)."""
    description = describe(review, selection)
    branch = reviewed_branch(review.run_id)
    if is_default(review, selection):
        commit = review.tip
    else:
        tree = _build_tree(repo, review, selection)
        message = f"swarm review {review.run_id}: {description}"
        commit = asyncio.run(repo.commit_tree(tree, [review.base], message))
    repo.update_branch(branch, commit)
    checked = recheck(repo, records, review, selection, commit, tests=tests)
    findings, checks = checked if checked is not None else (None, None)
    records.write_json("review.json", {
        "run_id": review.run_id, "reviewed": utc_now(), "base_commit": review.base, "source_commit": review.tip,
        "reviewed_commit": commit, "reviewed_branch": branch, "description": description,
        **selection.to_dict(), "checks_rerun": checked is not None, "findings": findings, "checks": checks})
    records.event("review", commit=commit, kept=selection.owners, description=description)
    return Reviewed(commit=commit, branch=branch, description=description, findings=findings)


def load_reviewed(repo: GitRepo, records: RunRecords) -> dict[str, Any] | None:
    """review.json when its branch still holds the recorded commit, else None."""
    data = records.read_json("review.json")
    if not data:
        return None
    branch = data.get("reviewed_branch") or reviewed_branch(records.run_id)
    if not repo.branch_exists(branch) or repo.resolve(branch) != data.get("reviewed_commit"):
        return None
    return data


def reset_review(repo: GitRepo, records: RunRecords) -> bool:
    """Forget a review: the merged result is what `apply` takes again. Returns whether there was one."""
    path = records.dir / "review.json"
    had = path.exists()
    path.unlink(missing_ok=True)
    branch = reviewed_branch(records.run_id)
    if repo.branch_exists(branch):
        repo.delete_branch(branch)
        had = True
    return had
