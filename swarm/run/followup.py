"""`swarm continue`: one subtask's agent given a follow-up message, then the run's merge, checks and synthesis again.

Nothing here is a second pipeline: the run goes through the coordinator as a
resume does (every other finished subtask is kept as it is), and only the
chosen subtask differs. Its conversation is rebuilt from its transcript
record, exactly as the model sent it (thinking blocks, with their signatures,
go back unchanged), the follow-up TEXT is added as the next user message, and
the agent goes on in a worktree at the subtask's branch, so its new commit is
a child of the old one. With `fresh`, the subtask starts over from where it
began, with its original instructions plus TEXT.

Each follow-up is recorded in `followups.json`, with the merged commit it
replaced: the earlier merged results stay named in the records.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from swarm.config import RunOptions
from swarm.env.allowlist import scrubbed_env
from swarm.env.policy import use_policy
from swarm.errors import PlanError, SwarmError
from swarm.git.repo import GitRepo
from swarm.plan.spec import Plan, Subtask
from swarm.run import events
from swarm.run.carry import Carry
from swarm.run.coordinator import Coordinator
from swarm.run.executor import Tools
from swarm.run.records import RunRecords, utc_now
from swarm.run.result import RunResult, SubtaskResult
from swarm.run.state import SubtaskRun
from swarm.run.worker import first_message, run_agent
from swarm.ui.progress import Progress

FOLLOWUPS = "followups.json"
_TRANSCRIPT_ONLY = ("ts", "stop_reason", "usage")


def conversation(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Messages-API history of an agent from its transcript entries.

    Blocks are taken as recorded (a thinking block must go back byte for byte);
    consecutive user entries (tool results, then a note or a follow-up) become
    one message, as the agent sent them; a tool call left unanswered (the turn
    budget ran out) gets an error result so the history is valid to continue. Only the last conversation
    counts: one begun again (a resume, a retry) starts with its own `Subtask:` message.
    """
    entries = list(entries)
    # After a resume or a retry the record holds several conversations: the one to continue is the last.
    starts = [i for i, e in enumerate(entries) if e.get("role") == "user" and isinstance(e.get("content"), str)
              and e["content"].startswith("Subtask:")]
    messages: list[dict[str, Any]] = []
    for entry in entries[starts[-1] if starts else 0:]:
        role = entry.get("role")
        if role not in ("user", "assistant"):
            continue
        content = entry.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        calls = [b["id"] for b in message["content"] if b.get("type") == "tool_use"]
        following = messages[i + 1]["content"] if i + 1 < len(messages) else None
        answered = {b.get("tool_use_id") for b in following or [] if b.get("type") == "tool_result"}
        missing = [{"type": "tool_result", "tool_use_id": c, "is_error": True, "content": "not run"}
                   for c in calls if c not in answered]
        if missing and following is None:
            messages.append({"role": "user", "content": missing})
        elif missing:
            following[:0] = missing
    if messages and isinstance(messages[0]["content"], list) and len(messages[0]["content"]) == 1 and \
            messages[0]["content"][0].get("type") == "text":
        messages[0]["content"] = messages[0]["content"][0]["text"]  # the first message as the agent sent it
    return messages


@dataclass
class FollowUp:
    """What to continue: which subtask, with what text, and whether from scratch."""

    subtask: str
    text: str
    fresh: bool = False


class FollowUpCoordinator(Coordinator):
    """The coordinator with one subtask continued (or started over) and every other finished one kept."""

    def __init__(self, *args: Any, followup: FollowUp, history: list[dict[str, Any]] | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.followup = followup
        self.history = history

    async def _restore(self, subtask: Subtask, st: SubtaskRun) -> bool:
        if subtask.id == self.followup.subtask:
            return False
        return await super()._restore(subtask, st)

    async def _carry_over(self, subtask: Subtask, st: SubtaskRun) -> None:
        record = self.previous.get(subtask.id)
        if subtask.id != self.followup.subtask or record is None:
            await super()._carry_over(subtask, st)
            return
        if not self.followup.fresh:
            # On from its branch: the worktree starts at its last commit, the diff still measures from its start.
            st.start_commit = record.start_commit or st.start_commit
            if record.commit:
                self._carry[subtask.id] = Carry(record.commit, self.followup.text)
            st.turns = record.turns

    async def _run_agent(self, subtask: Subtask, st: SubtaskRun, tools: Tools, carried: str | None = None) -> bool:
        if subtask.id != self.followup.subtask:
            return await super()._run_agent(subtask, st, tools, carried)

        def on_event(kind: str, **data: Any) -> None:
            self.records.event(kind, subtask=subtask.id, **data)
            self.progress.activity(subtask.id, kind, **data)
            if kind == events.TURN:
                st.turns += 1

        if self.history is not None and not self.followup.fresh:
            first, history = self.followup.text, self.history
        else:
            first, history = f"{first_message(self.plan, subtask).rstrip()}\n\n{self.followup.text}", None
        st.summary, complete = await run_agent(
            self._client_no_retries, tools, first, options=self.options,
            prices=self.prices, gate=self.gate, usage=st.usage, events=on_event,
            transcript=lambda entry: self.records.transcript(subtask.id, entry), history=history)
        return complete


def continue_subtask(repo: GitRepo, records: RunRecords, plan: Plan, followup: FollowUp, *, client: Any,
                     options: RunOptions, progress: Progress) -> RunResult:
    """Continue one subtask of a finished run and run the merge, checks and synthesis again; the new result."""
    rid = records.run_id
    before = RunResult.read(records)
    if before is None:
        raise SwarmError(f"run {rid} has not ended (or was killed): `swarm resume {rid}` first")
    subtask = next((s for s in plan.subtasks if s.id == followup.subtask), None)
    if subtask is None:
        raise PlanError(f"run {rid} has no subtask {followup.subtask!r}; its subtasks: "
                        f"{', '.join(s.id for s in plan.subtasks)}")
    if subtask.command:
        raise PlanError(f"subtask {subtask.id} runs a command, not an agent: there is no conversation to continue")
    record = before.subtask(subtask.id)
    history = None
    if not followup.fresh:
        history = conversation(records.transcript_entries(subtask.id))
        if not history or history[-1]["role"] != "assistant":
            raise PlanError(f"subtask {subtask.id} has no finished conversation to continue; "
                            f"`swarm continue --fresh {rid} {subtask.id} TEXT` starts it over")
    else:
        old = records.dir / "transcripts" / f"{subtask.id}.jsonl"
        if old.exists():  # the new conversation gets its own transcript; the old one is kept beside it
            n = 1 + sum(1 for _ in old.parent.glob(f"{subtask.id}.*.jsonl"))
            old.rename(old.with_name(f"{subtask.id}.{n}.jsonl"))
    entry = {"subtask": subtask.id, "text": followup.text, "fresh": followup.fresh, "started": utc_now(),
             "previous_merged_commit": before.merged_commit,
             "previous_subtask_commit": record.commit if record else None}
    done = list(records.read_json(FOLLOWUPS) or [])
    records.event("followup", subtask=subtask.id, fresh=followup.fresh)
    previous = {s.id: SubtaskResult.from_dict(s.to_dict()) for s in before.subtasks}
    with use_policy(options.env_policy()):
        progress.begin(f"continue {rid} {subtask.id}", [s.id for s in plan.subtasks])
        coordinator = FollowUpCoordinator(repo, plan, client, run_id=rid, records=records, progress=progress,
                                          tool_env=scrubbed_env(tuple(options.secrets)), options=options,
                                          previous=previous, base=before.base_commit, followup=followup,
                                          history=history)
        result = asyncio.run(coordinator.execute())
    after = result.subtask(subtask.id)
    entry.update(finished=utc_now(), merged_commit=result.merged_commit,
                 subtask_commit=after.commit if after else None, state=result.state)
    records.write_json(FOLLOWUPS, [*done, entry])
    return result
