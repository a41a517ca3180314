"""The kinds of event in events.jsonl, spelled once, and the one fold that reads them back.

Every event is `{"ts": ..., "type": KIND, ...}`; those about one subtask carry `subtask`.

    run         the run's state: running, then done, failed or interrupted
    state       a subtask's state (queued, running, done, incomplete, failed, skipped, cancelled)
                with `detail` and, once it has them, commit, files_changed, summary, start_commit
    turn        one model turn of an agent, with its `usage`
    tool        one tool call of an agent: `name`, `is_error`, `path`
    retry       an attempt of a subtask (or a model call) failed and runs again
    throttle    the rate-limit gate lowered its limit
    conflict    a merge conflict: `file`, `subtasks`, `resolved`
    resolution  the resolver's outcome on a conflict
    merge       the merged commit and the subtasks in it
    synthesis   the synthesis pass's edit commits and contradictions
    workspace   a subtask's worktree is ready (`path`): its files change only by its agent from here
    phase       what the run does besides the agents (`text`: the checks it runs, the synthesis)
    setup       one `setup` command of the worktree recipe: `command`, `exit_code`, `seconds`
    review      a review's kept subtasks; applied: `swarm apply` took the result

`swarm status` and `swarm watch` both fold events through `EventFold`.
"""

from __future__ import annotations

from typing import Any, Iterable, Protocol

from swarm.model.usage import Usage
from swarm.run.result import END_STATES, RunResult, SubtaskResult

RUN = "run"
STATE = "state"
TURN = "turn"
TOOL = "tool"
RETRY = "retry"
THROTTLE = "throttle"
CONFLICT = "conflict"
RESOLUTION = "resolution"
MERGE = "merge"
SYNTHESIS = "synthesis"
REVIEW = "review"
APPLIED = "applied"
SETUP = "setup"
WORKSPACE = "workspace"
PHASE = "phase"
# Keys of a `state` event copied onto the subtask's record.
STATE_FIELDS = ("commit", "files_changed", "summary", "start_commit")


class Listener(Protocol):
    """What follows a run as it goes (the progress display)."""

    def state(self, subtask: str, state: str, detail: str = "", **data: Any) -> None: ...

    def activity(self, subtask: str, kind: str, **data: Any) -> None: ...


class EventFold:
    """A run's state folded from its events, one at a time; `listener` hears each change as it is folded."""

    def __init__(self, run_id: str, subtask_ids: Iterable[str], listener: Listener | None = None) -> None:
        self.run_id = run_id
        self.subtasks = {sid: SubtaskResult(sid) for sid in subtask_ids}
        self.listener = listener
        self.state = "running"
        self.ended: str | None = None
        self.last_ts = 0.0
        self._started: dict[str, float] = {}

    def feed(self, event: dict[str, Any]) -> None:
        kind, sid, at = event.get("type"), event.get("subtask"), event.get("ts")
        self.last_ts = at if at is not None else self.last_ts
        if kind == RUN:
            self.state = event.get("state", self.state)
            if self.state in END_STATES:
                self.ended = self.state
            return
        if kind == CONFLICT and event.get("subtasks"):
            if self.listener is not None:
                self.listener.state(event["subtasks"][-1], "conflict", f"{event.get('file')} (left out of the merge)",
                                    at=at)
            return
        if not isinstance(sid, str) or not sid:
            return
        record = self.subtasks.get(sid)  # None for the synthesis pass: shown live, not a subtask's record
        if record is not None and kind == STATE:
            self._state(record, event)
        elif record is not None and kind == TURN:
            record.turns += 1
            record.usage.add(Usage.from_dict(event.get("usage")))
        elif record is not None and kind == TOOL:
            record.last_tool = event.get("name")
        if self.listener is not None and kind == STATE:
            self.listener.state(sid, event.get("state", ""), event.get("detail", ""), at=at,
                                files_changed=event.get("files_changed"))
        elif self.listener is not None and kind in (TURN, TOOL):
            self.listener.activity(sid, kind, **{k: v for k, v in event.items() if k not in ("type", "subtask", "ts")})

    def _state(self, record: SubtaskResult, event: dict[str, Any]) -> None:
        record.state = event["state"]
        if record.state == "running":
            self._started[record.id] = event["ts"]
        elif record.id in self._started:
            record.seconds = round(event["ts"] - self._started.pop(record.id), 2)
        if event.get("detail"):
            record.detail = event["detail"]
        for key in STATE_FIELDS:
            if key in event:
                setattr(record, key, list(event[key]) if key == "files_changed" else event[key])

    def result(self) -> RunResult:
        """What the events say so far, in result.json's shape (times of running subtasks up to the last event)."""
        for sid, began in self._started.items():
            self.subtasks[sid].seconds = round(self.last_ts - began, 2)
        total = Usage()
        for record in self.subtasks.values():
            total.add(record.usage)
        return RunResult(self.run_id, self.state, subtasks=list(self.subtasks.values()), usage=total,
                         merged_branch="")
