"""A run's records under `.swarm/runs/<run-id>/`: plain JSON a later process reads back.

    plan.json            the plan as run
    events.jsonl         one JSON event per line (state changes, tool calls, usage)
    transcripts/<id>.jsonl
    diffs/<id>.json      files and hunks of each subtask's change (and <id>.patch)
    result.json          the machine-readable summary
    report.md            for a person

Every line written passes through `redact`, so no secret lands on disk.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from swarm.env.allowlist import redact as _redact
from swarm.errors import RunNotFound


def new_run_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` without the values of withheld variables that look like secrets (swarm.env.allowlist), nor
    those of the variables named in `secrets`."""
    text = _redact(text)
    for name in secrets:
        value = os.environ.get(name, "")
        if len(value) >= 4:
            text = text.replace(value, "[redacted]")
    return text


def runs_dir(root: Path) -> Path:
    return root / ".swarm" / "runs"


def list_runs(root: Path) -> list[str]:
    """Run ids of a repository, oldest first (ids sort by time)."""
    base = runs_dir(root)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / "plan.json").exists())


def resolve_run(root: Path, run: str | None) -> str:
    """The run id named (or a unique prefix of one), or the latest run."""
    runs = list_runs(root)
    if not runs:
        raise RunNotFound(f"no swarm runs in {root}; start one with `swarm run`")
    if run is None:
        return runs[-1]
    if run in runs:
        return run
    matches = [r for r in runs if r.startswith(run)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RunNotFound(f"no run {run!r} in {root}; `swarm runs` lists them, runs are in {runs_dir(root)}")
    raise RunNotFound(f"{run!r} names several runs: {', '.join(matches)}")


class RunRecords:
    """Writer (and reader) of one run's directory."""

    def __init__(self, root: Path, run_id: str, *, secrets: tuple[str, ...] | list[str] = ()) -> None:
        self.root = root
        self.secrets = tuple(secrets)  # the run's `secrets` setting: their values never reach a record
        self.run_id = run_id
        self.dir = runs_dir(root) / run_id
        self._lock = threading.Lock()

    def create(self) -> "RunRecords":
        (self.dir / "transcripts").mkdir(parents=True, exist_ok=True)
        (self.dir / "diffs").mkdir(exist_ok=True)
        return self

    def begin(self, plan: Any, base: str, options: dict[str, Any], repo_root: Path, worktrees: Path, *,
              resuming: bool, planner_usage: dict[str, Any] | None = None) -> None:
        """A run's records at its start: plan.json and run.json (with the planner's usage, which no event
        holds; on resume, run.json gets the new pid); the result of an earlier session goes, so the run reads
        as running again."""
        from swarm.plan.spec import save_plan
        from swarm.run.result import RESULT_FILE

        self.create()
        if not resuming:
            save_plan(plan, self.dir / "plan.json")
            self.write_json("run.json", {"run_id": self.run_id, "base_commit": base, "started": utc_now(),
                                         "options": options, "pid": os.getpid(), "repo": str(repo_root),
                                         "worktrees": str(worktrees),
                                         **({"planner_usage": planner_usage} if planner_usage else {})})
        else:
            info = self.read_json("run.json") or {}
            self.write_json("run.json", {**info, "pid": os.getpid(), "resumed": utc_now()})
        (self.dir / RESULT_FILE).unlink(missing_ok=True)

    def _append(self, path: Path, entry: dict[str, Any]) -> None:
        line = redact(json.dumps(entry, default=str), self.secrets) + "\n"
        with self._lock, path.open("a", encoding="utf-8") as handle:
            handle.write(line)

    def event(self, type_: str, **data: Any) -> None:
        self._append(self.dir / "events.jsonl", {"ts": time.time(), "type": type_, **data})

    def transcript(self, subtask_id: str, entry: dict[str, Any]) -> None:
        self._append(self.dir / "transcripts" / f"{subtask_id}.jsonl", {"ts": time.time(), **entry})

    def write_json(self, name: str, data: Any) -> Path:
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(redact(json.dumps(data, indent=2, default=str), self.secrets) + "\n", encoding="utf-8")
        os.replace(tmp, path)  # readers never see half a file
        return path

    def write_text(self, name: str, text: str) -> Path:
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(redact(text, self.secrets), encoding="utf-8")
        return path

    def read_json(self, name: str) -> Any:
        path = self.dir / name
        if not path.exists():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def read_jsonl(self, name: str) -> list[dict[str, Any]]:
        """The entries of a JSON-lines record, in order; a line cut short by a killed run is skipped."""
        path = self.dir / name
        if not path.exists():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def events(self) -> list[dict[str, Any]]:
        return self.read_jsonl("events.jsonl")

    def transcript_entries(self, subtask_id: str) -> list[dict[str, Any]]:
        """One subtask's transcript records, in order."""
        return self.read_jsonl(f"transcripts/{subtask_id}.jsonl")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
