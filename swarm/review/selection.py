"""What a run changed, by whom: each subtask's own diff (and the synthesis edits), cut into files and hunks.

A subtask's diff runs from the commit it started at to its own commit, so
every hunk belongs to exactly one subtask, including subtasks that started
from their dependencies' work. Edits made on the merged branch by a commit
whose message starts with `swarm synthesis:` belong to "synthesis". Subtasks
left out of the merged branch by a conflict are part of the review too,
marked, so the user can choose them instead.

A `Selection` says which of these parts the reviewed result keeps; it is
saved in `review.json` next to the commit built from it (see `rebuild`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from swarm.errors import SelectionError, SwarmError
from swarm.git.index import diff_text
from swarm.git import refs
from swarm.git.repo import GitRepo
from swarm.globs import match
from swarm.merge.diffs import FilePatch, Hunk, parse_patches
from swarm.run.records import RunRecords
from swarm.run.result import RunResult

SYNTHESIS = "synthesis"
SYNTHESIS_PREFIX = "swarm synthesis:"


@dataclass
class Change:
    """One author's part of a run: a subtask, or the synthesis pass."""

    owner: str
    title: str
    state: str
    merged: bool
    start: str
    commit: str
    files: list[FilePatch]
    summary: str = ""
    depends_on: list[str] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)  # conflicts that left this one out

    @property
    def is_synthesis(self) -> bool:
        return self.owner == SYNTHESIS

    def file(self, path: str) -> FilePatch | None:
        return next((f for f in self.files if f.path == path), None)


@dataclass
class RunReview:
    """A finished run as the review sees it: result.json plus every change, split up."""

    run_id: str
    result: RunResult
    base: str
    tip: str  # the merged branch as it is now (synthesis edits included)
    changes: list[Change]
    plan: dict[str, Any]

    def change(self, owner: str) -> Change:
        for change in self.changes:
            if change.owner == owner:
                return change
        raise KeyError(owner)

    @property
    def owners(self) -> list[str]:
        return [c.owner for c in self.changes]

    def hunks(self) -> Iterator[tuple[Change, FilePatch, Hunk | None]]:
        """Every unit a person can keep or drop: each hunk, or a whole file when it has none."""
        for change in self.changes:
            for fp in change.files:
                if not fp.hunks:
                    yield change, fp, None
                for hunk in fp.hunks:
                    yield change, fp, hunk

    def paths(self) -> list[str]:
        return sorted({p for c in self.changes for f in c.files for p in f.paths})


def hunk_key(owner: str, path: str, index: int) -> str:
    """A hunk's name in review.json: `owner:path#n` (n counts from 1 within the file)."""
    return f"{owner}:{path}#{index}"


def _synthesis_range(repo: GitRepo, base: str, tip: str) -> tuple[str, str] | None:
    """(parent of the first, last) synthesis commit on the merged branch's first-parent line, if any."""
    log = repo.git("log", "--first-parent", "--format=%H%x00%P%x00%s", f"{base}..{tip}")
    found = [line.split("\0") for line in log.splitlines() if line.split("\0")[2].startswith(SYNTHESIS_PREFIX)]
    if not found:
        return None
    last, first = found[0], found[-1]  # log lists newest first
    return first[1].split()[0], last[0]


def load_review(repo: GitRepo, records: RunRecords) -> RunReview:
    """Read a finished run back and split every change into files and hunks."""
    result = RunResult.read(records)
    if result is None:
        raise SwarmError(f"run {records.run_id} has no result yet (it is still running, or was killed); "
                         f"wait for it to end (`swarm watch {records.run_id}`) or `swarm resume {records.run_id}`")
    plan = records.read_json("plan.json") or {"subtasks": []}
    deps = {s["id"]: s.get("depends_on", []) for s in plan.get("subtasks", [])}
    titles = {s["id"]: s.get("title") or "" for s in plan.get("subtasks", [])}
    base = result.base_commit
    merged_branch = result.merged_branch or refs.merged_branch(records.run_id)
    if repo.branch_exists(merged_branch):
        tip = repo.resolve(merged_branch)
    elif result.merged_commit:
        tip = result.merged_commit
    else:
        raise SwarmError(f"run {records.run_id} has no merged branch left ({merged_branch}); was it cleaned?")
    left_out: dict[str, list[dict[str, Any]]] = {}
    for conflict in result.conflicts:
        if not conflict.get("resolved") and conflict.get("subtasks"):
            left_out.setdefault(conflict["subtasks"][-1], []).append(conflict)
    changes = []
    for st in result.subtasks:
        commit, start = st.commit, st.start_commit or base
        # An incomplete subtask (out of turns) is shown, unmerged, so `--keep ID` can take its work in.
        if st.state not in ("done", "incomplete") or not commit or \
                not (st.merged or st.id in left_out or st.state == "incomplete"):
            continue
        try:
            text = diff_text(repo, start, commit) if commit != start else ""
        except SwarmError:
            raise SwarmError(f"the commits of run {records.run_id} are gone (was it cleaned?); "
                             f"cannot review subtask {st.id}") from None
        changes.append(Change(owner=st.id, title=titles.get(st.id, ""), state=st.state,
                              merged=st.merged, start=start, commit=commit, files=parse_patches(text),
                              summary=st.summary, depends_on=deps.get(st.id, []),
                              conflicts=left_out.get(st.id, [])))
    synthesis = _synthesis_range(repo, base, tip)
    if synthesis:
        start, end = synthesis
        changes.append(Change(owner=SYNTHESIS, title="consistency edits after the merge", state="done",
                              merged=True, start=start, commit=end, files=parse_patches(diff_text(repo, start, end)),
                              summary=result.synthesis_summary))
    return RunReview(run_id=records.run_id, result=result, base=base, tip=tip, changes=changes, plan=plan)


@dataclass
class Selection:
    """Which parts of a run the reviewed result keeps."""

    owners: list[str]  # subtasks (and "synthesis") kept, in review order
    dropped_files: set[tuple[str, str]] = field(default_factory=set)  # (owner, path)
    dropped_hunks: set[str] = field(default_factory=set)  # hunk keys
    # conflicted files taken whole from a resolution: {"path", "from" (resolver | hand), "subtask", "blob"}
    taken: list[dict[str, str]] = field(default_factory=list)

    def taken_paths(self) -> set[str]:
        return {t["path"] for t in self.taken}

    def keeps_owner(self, owner: str) -> bool:
        return owner in self.owners

    def keeps_file(self, owner: str, path: str) -> bool:
        return owner in self.owners and (owner, path) not in self.dropped_files

    def keeps_hunk(self, owner: str, path: str, index: int) -> bool:
        return self.keeps_file(owner, path) and hunk_key(owner, path, index) not in self.dropped_hunks

    def kept_hunks(self, change: Change, fp: FilePatch) -> list[int]:
        return [h.index for h in fp.hunks if self.keeps_hunk(change.owner, fp.path, h.index)]

    def to_dict(self) -> dict[str, Any]:
        return {"kept": self.owners,
                "dropped_files": [{"subtask": o, "path": p} for o, p in sorted(self.dropped_files)],
                "dropped_hunks": sorted(self.dropped_hunks), "taken": self.taken}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Selection":
        return cls(owners=list(data.get("kept", [])),
                   dropped_files={(d["subtask"], d["path"]) for d in data.get("dropped_files", [])},
                   dropped_hunks=set(data.get("dropped_hunks", [])), taken=list(data.get("taken", [])))


def default_selection(review: RunReview) -> Selection:
    """What the merged branch holds: every merged subtask and the synthesis edits."""
    return Selection(owners=[c.owner for c in review.changes if c.merged])


def is_default(review: RunReview, selection: Selection) -> bool:
    return (selection.owners == default_selection(review).owners and not selection.dropped_files
            and not selection.dropped_hunks and not selection.taken)


def path_matches(pattern: str, path: str) -> bool:
    """Whether a `--drop/--keep/--file` pattern covers `path` (swarm.globs: git's `:(glob)` meaning)."""
    return match(pattern, path)


def _resolve(review: RunReview, names: list[str], flag: str) -> tuple[list[str], list[str]]:
    """Split names given to --drop/--keep into owners and path patterns; refuse names that match nothing."""
    owners, patterns, unknown = [], [], []
    all_paths = review.paths()
    for name in names:
        if name in review.owners:
            owners.append(name)
        elif any(path_matches(name, p) for p in all_paths):
            patterns.append(name)
        else:
            unknown.append(name)
    if unknown:
        shown = ", ".join(all_paths[:8]) + (", ..." if len(all_paths) > 8 else "")
        raise SelectionError(f"{flag} {', '.join(unknown)}: no subtask or changed file of run {review.run_id} "
                             f"has that name; subtasks: {', '.join(review.owners) or '(none)'}; "
                             f"files: {shown or '(none)'}")
    return owners, patterns


def select(review: RunReview, drop: list[str], keep: list[str],
           taken: list[dict[str, str]] | None = None) -> Selection:
    """The selection --drop and --keep describe, starting from the merged result.

    `--keep` names what stays (subtasks, files or globs; a subtask left out by a
    conflict can be kept this way); `--drop` then removes subtasks or files.
    `taken` (swarm.review.resolve) are conflicted files whose resolution is
    taken: the subtask each conflict left out comes in with them.
    """
    taken = list(taken or [])
    keep_owners, keep_paths = _resolve(review, keep, "--keep")
    drop_owners, drop_paths = _resolve(review, drop, "--drop")
    dropped_takers = sorted({t["subtask"] for t in taken} & set(drop_owners))
    if dropped_takers:
        raise SelectionError(f"--drop {', '.join(dropped_takers)} and --keep of its conflict's resolution "
                             "contradict each other: choose one")
    base = default_selection(review).owners
    joined = {t["subtask"] for t in taken}
    owners = [o for o in review.owners if (o in keep_owners if keep_owners else o in base) or o in joined]
    owners = [o for o in owners if o not in drop_owners]
    selection = Selection(owners=owners, taken=taken)
    for change in review.changes:
        for fp in change.files:
            paths = fp.paths
            if keep_paths and not any(path_matches(pat, p) for pat in keep_paths for p in paths):
                selection.dropped_files.add((change.owner, fp.path))
            if any(path_matches(pat, p) for pat in drop_paths for p in paths):
                selection.dropped_files.add((change.owner, fp.path))
    return selection


def describe(review: RunReview, selection: Selection) -> str:
    """One line for a person: what is kept and what is dropped."""
    dropped = [o for o in review.owners if o not in selection.owners and review.change(o).merged]
    added = [o for o in selection.owners if not review.change(o).merged]
    parts = [f"kept {', '.join(selection.owners) or 'nothing'}"]
    if added:
        parts.append(f"chosen over the merge: {', '.join(added)}")
    if dropped:
        parts.append(f"dropped {', '.join(dropped)}")
    files = sorted({f"{p} ({o})" for o, p in selection.dropped_files if o in selection.owners})
    if files:
        parts.append(f"dropped files {', '.join(files)}")
    hunks = [k for k in selection.dropped_hunks if k.split(":", 1)[0] in selection.owners]
    if hunks:
        parts.append(f"dropped {len(hunks)} hunk(s)")
    for t in selection.taken:
        how = "as the resolver left it" if t["from"] == "resolver" else "resolved by hand"
        parts.append(f"{t['path']} {how}")
    return "; ".join(parts)


def warnings(review: RunReview, selection: Selection) -> list[str]:
    """What a person should know about a selection: kept subtasks whose dependencies are dropped."""
    notes = []
    for change in review.changes:
        missing = [d for d in change.depends_on if d in review.owners and not selection.keeps_owner(d)]
        if selection.keeps_owner(change.owner) and missing:
            notes.append(f"{change.owner} depends on {', '.join(missing)}, which is dropped: "
                         "check that what it kept still makes sense without it")
    return notes


def check_rows(checks: Any) -> list[tuple[str, str, str]]:
    """(name, status, detail) of each check, from result.json's `checks` ({kind: {status, count, ...}})."""
    rows = []
    items = checks.items() if isinstance(checks, dict) else \
        ((c.get("name", c.get("kind", "check")), c) for c in (checks or []) if isinstance(c, dict))
    for name, info in items:
        if not isinstance(info, dict):
            continue
        status = str(info.get("status", "pass" if info.get("passed") else "fail"))
        detail = info.get("reason") or info.get("error") or info.get("message") or ""
        if status == "fail" and info.get("count"):
            detail = detail or f"{info['count']} finding(s)"
        rows.append((str(name), status, str(detail)))
    return rows
