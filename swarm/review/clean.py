"""Removing a run: its worktrees, its branches and its records. Every error is collected, none stops the rest.

`clean_runs` is what `swarm clean` does: it leaves runs that still run, drops
unapplied work only when forced, and then keeps it reachable from a rescue
ref, `refs/swarm-rescue/<run>`, which later cleans prune after two weeks. Each
run's worktrees and branches are found by its own id, so cleaning one run
never touches another.

Before it removes anything, and before `swarm resume` starts over in a clean
worktree, `rescue_edits` commits whatever a worktree holds that no commit does
(a killed agent's last edits) and keeps it on that same rescue ref: no edit
that exists nowhere else is ever deleted. Those commits are made with the git
dir named explicitly, from swarm's own admin folder, and a private index, so
the worktree's `.git` file, index and branch are neither trusted nor changed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from swarm.errors import GitError
from swarm.git import refs
from swarm.git.refs import RESCUE_PREFIX
from swarm.git.repo import GitRepo
from swarm.git.runner import GitRunner
from swarm.git.worktrees import HOLDER, JUNK_PATHSPECS, LIST_UNTRACKED, embedded_repos
from swarm.review.apply import unapplied_advice
from swarm.run.records import RunRecords, list_runs
from swarm.run.status import process_alive, run_status


def _run_worktrees(repo: GitRepo, run_id: str) -> list[Path]:
    """The worktrees git knows for this run, plus any left in the run's folder."""
    home = repo.worktrees_home() / run_id
    found = [path for path in repo.worktrees.listed() if path.parent == home]
    if home.is_dir():
        found += [p for p in home.iterdir() if p not in found]
    return found


def clean_run(repo: GitRepo, run_id: str) -> tuple[str, list[str]]:
    """Remove what a run left; return a one-line account and the errors met."""
    errors: list[str] = []
    worktrees = _run_worktrees(repo, run_id)
    admins = _admin_dirs(repo)
    for path in worktrees:
        if path.is_symlink():
            # A link to a pool slot. A slot this run left (killed) goes, its edits rescued before; one
            # another run holds by now, or given back clean, is the pool's: only the link goes.
            admin = admins.get(path.resolve())
            if admin is not None:
                try:
                    _slot_left_by(path, admin, run_id, remove_with=repo)
                except (GitError, OSError) as e:
                    errors.append(f"pool slot {path.resolve()}: {e}")
            path.unlink(missing_ok=True)
            continue
        try:
            repo.remove_worktree(path)
        except (GitError, OSError) as e:
            errors.append(f"worktree {path}: {e}")
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
    home = repo.worktrees_home() / run_id
    if home.is_dir():
        shutil.rmtree(home, ignore_errors=True)
    repo.worktrees.prune()
    branches = repo.branches(refs.run_branches(run_id))
    for branch in branches:
        try:
            repo.delete_branch(branch)
        except GitError as e:
            errors.append(f"branch {branch}: {e}")
    records = RunRecords(repo.root, run_id)
    if records.dir.is_dir():
        shutil.rmtree(records.dir, ignore_errors=True)
    return f"{len(worktrees)} worktree(s), {len(branches)} branch(es), records", errors



# -- what `swarm clean` may drop, and what it keeps --------------------------------------------

RESCUE_DAYS = 14
# A run with no end recorded and no event for this long is taken for killed, not running.
LIVE_WINDOW = 15 * 60


def unapplied_work(repo: GitRepo, run_id: str) -> list[str]:
    """Branches of a run holding commits found on none of the user's branches, unless the run was applied."""
    if RunRecords(repo.root, run_id).read_json("applied.json"):
        return []
    return [branch for branch in repo.branches(refs.run_branches(run_id))
            if repo.git("rev-list", "-n", "1", f"refs/heads/{branch}", "--not",
                        f"--exclude={refs.all_swarm_branches()}",
                        "--branches", check=False)]


def live_reason(repo: GitRepo, run_id: str, now: float | None = None) -> tuple[str, bool] | None:
    """Why a run looks like it is still running, and whether that is certain (None when it ended or was killed).

    Certain when run.json names a process that is alive; otherwise a guess from recent events.
    """
    records = RunRecords(repo.root, run_id)
    if not records.dir.is_dir() or records.read_json("result.json") is not None:
        return None
    ends = [e for e in records.events() if e.get("type") == "run"]
    if ends and ends[-1].get("state") != "running":
        return None
    pid = (records.read_json("run.json") or {}).get("pid")
    alive = process_alive(pid)
    if alive is False:
        return None
    if alive:
        return f"its process {pid} is alive", True
    events = records.dir / "events.jsonl"
    if events.exists():
        idle = (now or time.time()) - events.stat().st_mtime
        if idle < LIVE_WINDOW:
            return f"it has no end recorded and wrote an event {idle:.0f}s ago", False
    return None


def resumable_work(repo: GitRepo, run_id: str) -> str | None:
    """How a run that `swarm resume` could still continue left work behind (None when it did not).

    A run interrupted (Ctrl-C, a cost stop) or killed (no end recorded, its process gone), not applied,
    with commits on its branches or edits uncommitted in its worktrees.
    """
    records = RunRecords(repo.root, run_id)
    if not records.dir.is_dir() or records.read_json("applied.json"):
        return None
    state = run_status(records).result
    if state.state != "interrupted":
        return None
    how = "killed" if records.read_json("result.json") is None else "interrupted"
    _, edits, errors = rescue_edits(repo, run_id, None)
    work = unapplied_work(repo, run_id)
    # Edits a pool slot's next holder already kept for it at its rescue ref are its work too.
    rescued = repo.git("rev-parse", "--verify", "-q", refs.rescue_ref(run_id), check=False)
    if not (edits or work or errors or rescued):
        return None
    held = [*(f"commits on {', '.join(work)}" for _ in work[:1]),
            *(f"uncommitted edits in {', '.join(edits)}" for _ in edits[:1]),
            *([f"edits kept at {refs.rescue_ref(run_id)}"] if rescued else [])]
    return f"{how} with its work unfinished ({'; '.join(held) or 'worktrees that could not be read'})"


def _slot_left_by(slot: Path, admin: Path, run_id: str, *, remove_with: GitRepo | None = None) -> bool:
    """Whether pool slot `slot` (git admin folder `admin`) holds what `run_id` left there: its holder
    file names the run, and no running swarm holds the slot (its lock is free). With `remove_with`, such
    a slot is also removed, under its lock (its edits must have been rescued first)."""
    slot = Path(os.path.realpath(slot))
    try:
        holder = json.loads((admin / HOLDER).read_text())
    except (OSError, ValueError):
        return False
    if holder.get("run_id") != run_id:
        return False
    with open(slot.parent / f"{slot.name}.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if remove_with is not None:
            remove_with.remove_worktree(slot)
        fcntl.flock(handle, fcntl.LOCK_UN)
    return True


def _keep(repo: GitRepo, run_id: str, tips: dict[str, str], why: str, tree_from: str | None = None) -> str:
    """Add `tips` (label -> commit) to the run's rescue ref, keeping what it already held; return the ref."""
    ref = refs.rescue_ref(run_id)
    older = repo.git("rev-parse", "--verify", "-q", ref, check=False)
    parents = list(dict.fromkeys([*tips.values(), *([older] if older else [])]))
    until = time.strftime("%Y-%m-%d", time.localtime(time.time() + RESCUE_DAYS * 86400))
    tree_from = tree_from or parents[0]
    lines = [f"swarm rescue: run {run_id}", "",
             f"Kept by {why} until {until} (later cleans prune it). Get a branch back with:",
             "  git branch <name> <commit>", "", *(f"{tip}  {label}" for label, tip in tips.items())]
    args = ["commit-tree", repo.git("rev-parse", f"{tree_from}^{{tree}}"), "-F", "-"]
    for parent in parents:
        args += ["-p", parent]
    commit = repo.git(*args, input="\n".join(lines))
    repo.git("update-ref", "-m", f"{why} {run_id}", ref, commit)
    return ref


def rescue(repo: GitRepo, run_id: str, branches: list[str]) -> str:
    """Keep every tip of a run's branches reachable from one ref, `refs/swarm-rescue/<run>`, for RESCUE_DAYS."""
    tips = {branch: repo.resolve(f"refs/heads/{branch}") for branch in branches}
    return _keep(repo, run_id, tips, "`swarm clean --force`", tips.get(refs.merged_branch(run_id)))


def _admin_dirs(repo: GitRepo) -> dict[Path, Path]:
    """Worktree folder -> its admin folder in the repository's git dir (swarm's record, not the `.git` file)."""
    found: dict[Path, Path] = {}
    base = repo.common_dir / "worktrees"
    if not base.is_dir():
        return found
    for admin in base.iterdir():
        try:
            dotgit = Path((admin / "gitdir").read_text(encoding="utf-8").strip())
        except OSError:
            continue
        found[dotgit.parent.resolve()] = admin
    return found


def _snapshot(worktree: Path, admin: Path, message: str | None) -> str | None:
    """A commit of everything in `worktree` on top of its HEAD, or None when it holds nothing uncommitted;
    without a `message`, only whether it holds something (its tree, no commit made)."""
    with tempfile.TemporaryDirectory(prefix="swarm-rescue-") as scratch:
        index = Path(scratch) / "index"
        # Named git dir and work tree, no fsmonitor or hooks: nothing the agent wrote decides what this runs.
        runner = GitRunner(worktree, git_dir=admin, work_tree=worktree)

        def git(*args: str) -> str:
            return runner.run(*args, index=index).text.strip()

        head = git("rev-parse", "--verify", "HEAD^{commit}")
        git("read-tree", head)
        nested = embedded_repos(worktree, runner.run(*LIST_UNTRACKED, index=index, check=False).raw)
        git("add", "-A", "--", ".", *JUNK_PATHSPECS, *(f":(exclude,literal){n}" for n in nested))
        tree = git("write-tree")
        if tree == git("rev-parse", f"{head}^{{tree}}"):
            return None
        return tree if message is None else git("commit-tree", tree, "-p", head, "-m", message)


def rescue_edits(repo: GitRepo, run_id: str, why: str | None) -> tuple[str | None, list[str], list[str]]:
    """Commit every uncommitted edit in a run's worktrees to its rescue ref.

    Returns the ref (None when no worktree held an edit), the subtasks whose edits were kept, and errors.
    Without `why`, nothing is committed: only which subtasks hold such edits (the ref is None).
    """
    admins = _admin_dirs(repo)
    tips: dict[str, str] = {}
    errors: list[str] = []
    for path in _run_worktrees(repo, run_id):
        admin = admins.get(path.resolve())
        if admin is None or not path.is_dir():
            continue
        if path.is_symlink() and not _slot_left_by(path, admin, run_id):
            continue  # a pool slot another run holds now, or given back clean: not this run's edits
        try:
            commit = _snapshot(path, admin, why and f"swarm rescue: uncommitted edits of {run_id}/{path.name}")
        except (GitError, OSError) as e:
            errors.append(f"worktree {path}: its uncommitted edits could not be committed: {e}")
            continue
        if commit:
            tips[f"uncommitted edits of {path.name}"] = commit
    if not tips or why is None:
        return None, [label.rsplit(" ", 1)[-1] for label in tips], errors
    return _keep(repo, run_id, tips, why), [label.rsplit(" ", 1)[-1] for label in tips], errors


def prune_rescues(repo: GitRepo, now: float | None = None, days: int = RESCUE_DAYS) -> list[str]:
    """Delete rescue refs older than `days`; return their names."""
    limit = (now or time.time()) - days * 86400
    out = repo.git("for-each-ref", "--format=%(refname)%00%(committerdate:unix)", RESCUE_PREFIX)
    pruned = []
    for line in out.splitlines():
        ref, _, stamp = line.partition("\0")
        if stamp.isdigit() and int(stamp) < limit:
            repo.git("update-ref", "-d", ref)
            pruned.append(ref)
    return pruned


def sweep(repo: GitRepo) -> list[Path]:
    """Forget worktrees whose folders are gone, and remove folders of runs that left nothing else."""
    repo.worktrees.prune()
    home = repo.worktrees_home()
    if not home.is_dir():
        return []
    known = set(list_runs(repo.root)) | {b.split("/")[1] for b in repo.branches(refs.run_branches("*"))}
    registered = {path.parent for path in repo.worktrees.listed()}
    removed = []
    for folder in home.iterdir():
        if folder.name not in known and folder not in registered:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@dataclass
class CleanReport:
    """What a clean did, what it refused, and what went wrong."""

    cleaned: list[tuple[str, str]] = field(default_factory=list)  # (run, account)
    rescued: list[tuple[str, str]] = field(default_factory=list)  # (run, ref)
    edits: list[tuple[str, str, list[str]]] = field(default_factory=list)  # (run, ref, subtasks)
    refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    swept: list[Path] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)


def clean_runs(repo: GitRepo, run_ids: list[str], force: bool = False) -> CleanReport:
    """Clean runs one by one; other runs are never touched.

    A run still running is left alone (with `force`, one only guessed to run is
    cleaned); unapplied work is dropped only with `force`, and a rescue ref keeps it.
    """
    report = CleanReport()
    for rid in run_ids:
        live = live_reason(repo, rid)
        if live and (live[1] or not force):
            report.refused.append(f"{rid} looks still running ({live[0]}); wait for it to end or stop it"
                                  + ("" if live[1] else " (--force cleans it anyway, if it was killed)"))
            continue
        resumable = resumable_work(repo, rid)
        if resumable and not force:
            report.refused.append(f"{rid} was {resumable}; `swarm resume {rid}` continues it, or --force "
                                  f"(keeps its work at {RESCUE_PREFIX}{rid} for {RESCUE_DAYS} days)")
            continue
        ref, kept, errors = rescue_edits(repo, rid, "`swarm clean --force`" if resumable else "`swarm clean`")
        if errors:
            # An edit that could not be kept is never deleted: this run stays as it is.
            report.errors += errors
            report.refused.append(f"{rid}: uncommitted edits could not be kept, so nothing was removed")
            continue
        if ref:
            report.edits.append((rid, ref, kept))
        work = unapplied_work(repo, rid)
        if work and not force:
            report.refused.append(f"{rid} has work not applied ({', '.join(work)}); " + unapplied_advice(
                repo, RunRecords(repo.root, rid), f"keeps {RESCUE_PREFIX}{rid} for {RESCUE_DAYS} days"))
            continue
        if work:
            report.rescued.append((rid, rescue(repo, rid, repo.branches(refs.run_branches(rid)))))
        account, errors = clean_run(repo, rid)
        report.cleaned.append((rid, account))
        report.errors += errors
    report.swept = sweep(repo)
    report.pruned = prune_rescues(repo)
    return report
