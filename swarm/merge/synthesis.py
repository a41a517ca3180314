"""The synthesis pass: a resolver for conflicts, and the synthesizer that checks the whole.

Both are agents with the worktree file tools plus `submit_synthesis`, which
ends their pass. They work in an integration worktree outside the user's
checkout. The resolver's result is verified before it is merged (no conflict
marker left, Python files parse); a failed resolution leaves the conflict
reported, never a broken file; the refused attempt is kept as a commit on
`swarm/<run>/_resolver-<subtask>` so review can show it and take it. The synthesizer's edits become their own commit
on the merged branch (`swarm synthesis: ...`), so the user sees exactly what
synthesis changed; the checks then run again, up to K rounds.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from anthropic import AsyncAnthropic

from swarm.agent.loop import Agent, AgentSettings
from swarm.agent.stops import OutOfTurns, Submitted
from swarm.errors import AgentStopped, SwarmError
from swarm.model.catalog import PriceTable
from swarm.git.refs import resolver_branch
from swarm.merge.diffs import changed_paths, parse_diff, parse_patches
from swarm.merge.fold import Rejected
from swarm.model.gate import ModelGate
from swarm.git.repo import GitRepo
from swarm.model.usage import Usage
from swarm.plan.spec import Plan
from swarm.agent.prompts import render, template
from swarm.agent.tools import Toolbox
from swarm.env.sparse import SparseTools, count_tracked, sparse_patterns, wants_sparse

SUBMIT_SYNTHESIS = {
    "name": "submit_synthesis",
    "description": "End the pass: a summary of what you changed, and every contradiction between the subtasks' "
                   "outputs with the subtasks involved and how it was resolved (or why it is open).",
    "input_schema": {
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "contradictions": {"type": "array", "items": {
                "type": "object",
                "properties": {"description": {"type": "string"},
                               "subtasks": {"type": "array", "items": {"type": "string"}},
                               "resolution": {"type": "string"}},
                "required": ["description", "subtasks", "resolution"]}},
        },
        "required": ["summary", "contradictions"],
    },
}
# Findings about how the subtasks worked (edits close together, files outside a scope) stay true whatever
# synthesis does; they are reported, but neither ask for another round nor keep a contradiction open.
ADVISORY = {"overlap", "scope", "conflict"}
MARKER = re.compile(r"^(<{7} |>{7} |={7}$)", re.MULTILINE)
DIFF_LIMIT = 40_000
FILE_DIFF_LINES = 150
HUNK_LINES = 40


class PassAgent(Agent):
    """An agent whose pass ends with `submit_synthesis` (raised as `Submitted`)."""

    async def handle_tool(self, block: Any) -> dict[str, Any]:
        if block.name != "submit_synthesis":
            return await super().handle_tool(block)
        data = block.input if isinstance(block.input, dict) else {}
        if not isinstance(data.get("contradictions", []), list):
            return {"type": "tool_result", "tool_use_id": block.id, "is_error": True,
                    "content": "contradictions must be a list of {description, subtasks, resolution}"}
        self.events("tool", name="submit_synthesis", is_error=False)
        raise Submitted(data)

    async def submission(self, first_message: str | None = None, *, more: str | None = None) -> dict[str, Any]:
        """Run (or, with `more`, continue) the pass to its end: what it submitted, or its summary as one."""
        try:
            result = await (self.proceed(more) if more is not None else self.run(first_message or ""))
        except Submitted as end:
            return end.data
        except OutOfTurns as end:
            return {"summary": end.summary, "contradictions": []}
        return {"summary": result.summary, "contradictions": []}


@dataclass
class SynthesisOutcome:
    """What the synthesis pass left: the last commit, and every round's contradictions (each with its `round`)."""

    commit: str
    summary: str = ""
    contradictions: list[dict[str, Any]] = field(default_factory=list)
    edit_commits: list[str] = field(default_factory=list)
    rounds: int = 0
    report: Any = None


def compact_diff(text: str, limit: int = DIFF_LIMIT, per_file: int = FILE_DIFF_LINES) -> str:
    """A diff cut to `per_file` lines a file and `limit` characters in all."""
    out: list[str] = []
    count = 0
    for line in text.splitlines():
        if line.startswith("diff --git"):
            count = 0
        count += 1
        if count == per_file:
            out.append("[... rest of this file's diff left out]")
        if count < per_file:
            out.append(line)
    joined = "\n".join(out)
    return joined if len(joined) <= limit else joined[:limit] + "\n[... diff cut here]"


def verify_resolution(worktree: Path, files: list[str]) -> list[str]:
    """What is still wrong with resolved files: markers left, Python that does not parse."""
    problems = []
    for rel in files:
        path = worktree / rel
        if not path.exists():
            continue
        text = path.read_text(errors="replace")
        if MARKER.search(text):
            problems.append(f"{rel}: conflict markers are still there")
        elif rel.endswith(".py"):
            try:
                ast.parse(text)
            except SyntaxError as e:
                problems.append(f"{rel}: does not parse ({e.msg}, line {e.lineno})")
    return problems


class Integrator:
    """Runs the resolver and the synthesizer for one run."""

    def __init__(self, repo: GitRepo, client: AsyncAnthropic, *, plan: Plan, run_id: str, model: str,
                 gate: ModelGate, tool_env: dict[str, str], home: Path,
                 summaries: Callable[[], dict[str, dict[str, Any]]],
                 events: Callable[..., None], transcript: Callable[[str, dict[str, Any]], None],
                 settings: AgentSettings | None = None, prices: PriceTable | None = None,
                 sparse_threshold: int | None = None) -> None:
        """`sparse_threshold`: past this many tracked files the synthesizer's worktree holds only what the
        merge changed and top-level files (the rest comes when its tools touch it); None: always full."""
        self.repo = repo
        self.client = client
        self.plan = plan
        self.run_id = run_id
        self.model = model
        self.gate = gate
        self.tool_env = tool_env
        self.home = home
        self.summaries = summaries
        self.events = events
        self.transcript = transcript
        self.settings = settings or AgentSettings()
        self.prices = prices or PriceTable()
        self.usage = Usage()
        self.sparse_threshold = sparse_threshold

    def _agent(self, name: str, system: str, worktree: Path, tools: Any = None) -> PassAgent:
        agent = PassAgent(self.client, model=self.model, system=template(system).strip(),
                          toolbox=tools or Toolbox(worktree, self.tool_env), settings=self.settings,
                          prices=self.prices, gate=self.gate,
                          events=lambda kind, **data: self.events(kind, subtask=name, **data),
                          transcript=lambda entry: self.transcript(name, entry),
                          extra_tools=[SUBMIT_SYNTHESIS])
        agent.usage = self.usage
        return agent

    def _side(self, sid: str) -> str:
        sub = self.plan.get(sid)
        info = self.summaries().get(sid, {})
        return (f"Subtask {sid}: {sub.title or ''}\nInstructions: {sub.instructions or sub.command or ''}\n"
                f"Summary of its agent: {info.get('summary') or '(none)'}")

    # -- conflicts ----------------------------------------------------------------------

    async def resolve(self, current: str, sid: str, commit: str, files: list[str],
                      others: list[str]) -> str | Rejected:
        """Merge `commit` onto `current` with a resolver agent: the verified merge commit, or why it was
        refused and the commit keeping the attempt."""
        path = self.home / f"_resolve-{sid}"
        ids = [*others, sid]
        await self.repo.add_detached_worktree(path, current)
        try:
            where = self.repo.in_worktree(path)
            await where.arun("merge", "--no-ff", "--no-commit", commit, check=False)
            conflicts = "\n\n".join(f"--- {f} ---\n{(path / f).read_text(errors='replace')[:8000]}"
                                    for f in files if (path / f).exists())
            agent = self._agent(f"resolve-{sid}", "resolver_system", path)
            first = render("resolver_task", run_id=self.run_id, ids=", ".join(ids), files=", ".join(files),
                           task=self.plan.task, shared=self.plan.shared or "(none)",
                           sides="\n\n".join(self._side(i) for i in ids), conflicts=conflicts)
            try:
                submitted = await agent.submission(first)
            except (SwarmError, AgentStopped) as e:
                return await self._refuse(path, sid, ids, files, f"the resolver stopped: {e}")
            problems = verify_resolution(path, files)
            tampered = self.repo.worktrees.restore_git_file(path)
            if tampered:
                problems.append(f"{tampered} (restored)")
            await where.arun("add", "-A", "--", ".", *self.repo.junk_pathspecs())
            unmerged = (await where.arun("diff", "--name-only", "-z", "--diff-filter=U")).raw
            problems += [f"{f}: still unmerged" for f in unmerged.split("\0") if f]
            if problems:
                return await self._refuse(path, sid, ids, files, "; ".join(problems))
            summary = str(submitted.get("summary", ""))
            await where.arun("commit", "-q", "--no-verify", "-F", "-",
                             input=f"swarm: resolve conflict between {' and '.join(ids)} in {', '.join(files)}\n\n"
                                   f"{summary}".strip())
            head = (await where.arun("rev-parse", "HEAD")).text.strip()
            self.events("resolution", subtask=sid, files=files, ok=True, summary=summary)
            return head
        finally:
            await self.repo.aremove_worktree(path)

    async def _refuse(self, path: Path, sid: str, ids: list[str], files: list[str], reason: str) -> Rejected:
        """Keep what the resolver left as a commit on its own branch, and say why it is not merged."""
        where = self.repo.in_worktree(path)
        self.repo.worktrees.restore_git_file(path)
        await where.arun("add", "-A", "--", ".", *self.repo.junk_pathspecs(), check=False)
        done = await where.arun("commit", "-q", "--no-verify", "--allow-empty", "-F", "-", check=False,
                                input=f"swarm: refused resolution of {', '.join(files)} ({' and '.join(ids)})\n\n"
                                      f"Not merged: {reason}")
        attempt, branch = None, None
        if done.code == 0:
            attempt = (await where.arun("rev-parse", "HEAD")).text.strip()
            branch = resolver_branch(self.run_id, sid)
            await self.repo.aupdate_branch(branch, attempt)
        self.events("resolution", subtask=sid, files=files, ok=False, reason=reason, attempt=attempt)
        return Rejected(reason, attempt, branch)

    # -- synthesis ----------------------------------------------------------------------

    async def synthesize(self, base: str, merged: str, findings: list[dict[str, Any]],
                         recheck: Callable[[str], Awaitable[Any]], rounds: int = 2) -> SynthesisOutcome:
        """Run the synthesizer on `merged`; its edits become commits; the checks re-run after each round."""
        path = self.home / "_integration"
        outcome = SynthesisOutcome(commit=merged)
        diff = await self.repo.diff(base, merged)
        tools = await self._worktree_of_changes(path, merged, changed_paths(parse_diff(diff)))
        try:
            ids = [s.id for s in self.plan.subtasks]
            agent = self._agent("synthesis", "synthesizer_system", path, tools)
            first = render("synthesizer_task", run_id=self.run_id, ids=", ".join(ids), task=self.plan.task,
                           shared=self.plan.shared or "(none)", subtasks=self._subtask_lines(),
                           findings=finding_briefs(findings, self.summaries(), diff), diff=compact_diff(diff))
            submitted = await agent.submission(first)
            for round_ in range(1, rounds + 1):
                outcome.rounds = round_
                outcome.summary = submitted.get("summary", "")
                outcome.contradictions = keep_rounds(outcome.contradictions, submitted.get("contradictions", []),
                                                     round_)
                commit = await self.repo.commit_all(path, f"swarm synthesis: {_first_line(outcome.summary)}"
                                                          f"\n\n{outcome.summary}".rstrip())
                if commit is None:
                    break  # no edits: the checks' findings stand as they were
                outcome.commit = commit
                outcome.edit_commits.append(commit)
                outcome.report = await recheck(outcome.commit)
                remaining = [f.to_dict() for f in outcome.report.findings if f.kind not in ADVISORY]
                if not remaining or round_ == rounds:
                    break
                submitted = await agent.submission(more=render(
                    "synthesizer_again", count=len(remaining), round=round_ + 1,
                    findings=finding_briefs(remaining, self.summaries(), await self.repo.diff(base, commit))))
            return outcome
        finally:
            await self.repo.aremove_worktree(path)

    async def _worktree_of_changes(self, path: Path, commit: str, changed: list[str]) -> Any:
        """A detached worktree of `commit` for the synthesizer, and its tools.

        In a large repository (past `sparse_threshold` files) only the changed files, top-level files and
        what the plan's `shared` text names are checked out: a full checkout of thousands of files would
        sit on the critical path; the tools bring in whatever else the agent reaches for.
        """
        patterns = None
        if self.sparse_threshold is not None and changed:
            count, tracked = await count_tracked(self.repo.runner, commit)
            if wants_sparse("auto", self.sparse_threshold, count):
                patterns = sparse_patterns(changed, self.plan.shared, tracked)
        await self.repo.worktrees.add(path, commit, sparse=patterns)
        tools: Any = Toolbox(path, self.tool_env)
        admin = self.repo.worktrees.admin_dir(path)
        if patterns and admin is not None:
            tools = SparseTools(tools, self.repo.in_worktree(path), admin, path.resolve())
        return tools

    def _subtask_lines(self) -> str:
        lines = []
        summaries = self.summaries()  # read now: merge states are known only after the fold
        for sub in self.plan.subtasks:
            info = summaries.get(sub.id, {})
            merged = "merged" if info.get("merged") else f"NOT merged ({info.get('state', '?')})"
            lines.append(f"- {sub.id}: {sub.title or sub.instructions[:80] or sub.command or ''} [{merged}]; files changed: "
                         f"{', '.join(info.get('files_changed', [])) or 'none'}\n  summary: "
                         f"{(info.get('summary') or '(none)').strip()}")
        return "\n".join(lines)


def keep_rounds(kept: list[dict[str, Any]], submitted: Any, round_: int) -> list[dict[str, Any]]:
    """The contradictions of earlier rounds plus this round's, each tagged with its `round`.

    A later round is asked for the complete list, so it repeats what it still
    sees: an entry identical to an earlier one (description, subtasks and
    resolution) is the same contradiction and is not listed twice.
    """
    out = list(kept)
    seen = {_identity(c) for c in kept}
    for c in submitted if isinstance(submitted, list) else []:
        if not isinstance(c, dict) or _identity(c) in seen:
            continue
        seen.add(_identity(c))
        out.append({**c, "round": round_})
    return out


def _identity(c: dict[str, Any]) -> tuple[str, tuple[str, ...], str]:
    return (str(c.get("description", "")).strip(), tuple(sorted(str(s) for s in c.get("subtasks", []))),
            str(c.get("resolution", "")).strip())


def finding_briefs(findings: list[dict[str, Any]], summaries: dict[str, dict[str, Any]], diff: str,
                   hunk_lines: int = HUNK_LINES) -> str:
    """Each finding with what its subtasks' agents said they did and the merged diff's hunks in its files.

    The hunks are cut to those near the finding's line when it has one, and to
    `hunk_lines` lines a file, so a finding reads on its own without the whole diff.
    """
    if not findings:
        return "(none)"
    patches = {p.path: p for p in parse_patches(diff)}
    for p in list(patches.values()):
        if p.old_path:
            patches.setdefault(p.old_path, p)
    blocks = []
    for f in findings:
        subtasks = [str(s) for s in f.get("subtasks", [])]
        lines = [f"- [{f['kind']}] ({', '.join(subtasks)}) {f['message']}"]
        for sid in subtasks:
            said = (summaries.get(sid, {}).get("summary") or "(no summary)").strip()
            lines.append(f"  {sid} said: {_clip(said, 400)}")
        for path in f.get("files", [])[:4]:
            patch = patches.get(path)
            if patch is None or not patch.hunks:
                continue
            hunks = patch.hunks
            line = f.get("line")
            if isinstance(line, int):
                near = [h for h in hunks if h.new_start - 10 <= line <= h.new_start + h.new_length + 10]
                hunks = near or hunks
            text = "".join(h.text() for h in hunks).splitlines()
            if len(text) > hunk_lines:
                text = text[:hunk_lines] + ["[... more of this file's diff in the diff below]"]
            lines.append(f"  hunks in {path}:")
            lines += [f"    {t}" for t in text]
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _first_line(text: str) -> str:
    line = (text or "consistency fixes").strip().splitlines()[0] if text and text.strip() else "consistency fixes"
    return line[:72]


def contradiction_records(contradictions: list[dict[str, Any]], remaining: list[dict[str, Any]],
                          edited: bool) -> list[dict[str, Any]]:
    """result.json's contradictions: `fixed` when synthesis edited and no finding still names those subtasks."""
    records = []
    remaining = [f for f in remaining if f.get("kind") not in ADVISORY]
    for c in contradictions:
        subtasks = [str(s) for s in c.get("subtasks", [])]
        still = any(set(subtasks) & set(f.get("subtasks", [])) for f in remaining)
        record = {"description": str(c.get("description", "")), "subtasks": subtasks,
                  "resolution": str(c.get("resolution", "")), "status": "fixed" if edited and not still else "open"}
        if "round" in c:
            record["round"] = int(c["round"])
        records.append(record)
    return records
