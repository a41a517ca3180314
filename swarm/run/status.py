"""A run's state read back from its records: result.json when it ended, events.jsonl while it runs."""

from __future__ import annotations

from typing import Any

from swarm.model.usage import Usage
from swarm.run.records import RunRecords


def run_status(records: RunRecords) -> dict[str, Any]:
    """The state of a run and of each subtask, whether the run ended, runs, or was killed."""
    result = records.read_json("result.json")
    if result is not None:
        return {**result, "live": False}
    plan = records.read_json("plan.json") or {"subtasks": []}
    subtasks: dict[str, dict[str, Any]] = {
        s["id"]: {"id": s["id"], "state": "queued", "files_changed": [], "turns": 0,
                  "usage": Usage().to_dict(), "seconds": 0.0} for s in plan["subtasks"]}
    usages = {sid: Usage() for sid in subtasks}
    started: dict[str, float] = {}
    run_state = "running"
    last_ts = 0.0
    for event in records.events():
        sid = event.get("subtask")
        last_ts = event.get("ts", last_ts)
        if event["type"] == "run":
            run_state = event.get("state", run_state)
        elif sid in subtasks:
            st = subtasks[sid]
            if event["type"] == "state":
                st["state"] = event["state"]
                if event["state"] == "running":
                    started[sid] = event["ts"]
                elif sid in started:
                    st["seconds"] = round(event["ts"] - started.pop(sid), 2)
                if event.get("detail"):
                    st["detail"] = event["detail"]
                for key in ("commit", "files_changed", "summary", "start_commit"):
                    if key in event:
                        st[key] = event[key]
            elif event["type"] == "turn":
                st["turns"] += 1
                usages[sid].add(Usage.from_dict(event.get("usage")))
            elif event["type"] == "tool":
                st["last_tool"] = event.get("name")
    for sid, began in started.items():
        subtasks[sid]["seconds"] = round(last_ts - began, 2)
    total = Usage()
    for sid, usage in usages.items():
        subtasks[sid]["usage"] = usage.to_dict()
        total.add(usage)
    return {"run_id": records.run_id, "state": run_state, "subtasks": list(subtasks.values()),
            "usage": total.to_dict(), "live": True}
