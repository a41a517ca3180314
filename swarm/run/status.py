"""A run's state read back from its records: result.json when it ended, events.jsonl while it runs.

A run with no end recorded whose process (run.json's `pid`) is gone was
killed: its state reads `interrupted`, not `running`, and so do the subtasks
it was running.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from swarm.model.usage import Usage
from swarm.run.records import RunRecords


def process_alive(pid: Any) -> bool | None:
    """Whether `pid` is a live swarm (Python) process; None when unknown (no pid recorded)."""
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, though perhaps not ours
    # A pid can be reused once its process is gone: a live pid that is not a Python process is not the run.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"python" in cmdline or b"swarm" in cmdline


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
    status = {"run_id": records.run_id, "state": run_state, "subtasks": list(subtasks.values()),
              "usage": total.to_dict(), "live": True}
    pid = (records.read_json("run.json") or {}).get("pid")
    if run_state == "running" and process_alive(pid) is False:
        status.update(state="interrupted", live=False,
                      stop_reason=f"its process {pid} is gone (killed?); `swarm resume {records.run_id}` continues it")
        for st in subtasks.values():
            if st["state"] in ("running", "retrying"):
                st["state"] = "interrupted"
    return status
