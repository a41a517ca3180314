"""What a test run found: one record per shard, and one report per command gathering its shards."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarm.testrun.junit import OUTCOMES, Case, worst

# pytest's exit codes that mean "the run itself went through": all passed, some failed, nothing to run.
PYTEST_FINISHED = (0, 1, 5)


@dataclass
class ShardRun:
    """One shard: where and how it ran, how it ended, and what it reported as it went."""

    __test__ = False  # not a pytest test class

    index: int
    shards: int
    label: str
    worktree: Path
    log: Path
    junit: Path | None
    argv: list[str] = field(default_factory=list)
    exit_code: int | None = None
    seconds: float = 0.0
    prepare_seconds: float = 0.0
    planned: int | None = None  # tests the plan gave it, when known
    collected: int | None = None  # tests it collected and kept
    collect: dict[str, float] = field(default_factory=dict)  # seconds to collect each file
    counts: dict[str, int] = field(default_factory=dict)  # outcomes so far, from its events
    last_started: str | None = None
    checkout_files: list[str] = field(default_factory=list)
    collect_errors: list[str] = field(default_factory=list)  # node ids of files that failed to collect
    rootdir: str | None = None  # pytest's rootdir in the shard, which must be inside its worktree
    cases: list[Case] = field(default_factory=list)
    error: str | None = None  # why the shard itself failed, beyond failing tests

    @property
    def name(self) -> str:
        return f"{self.label} shard {self.index + 1}/{self.shards}".strip()

    def totals(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for case in self.cases:
            counts[case.outcome] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {"shard": self.index + 1, "shards": self.shards, "worktree": str(self.worktree),
                "argv": self.argv, "exit_code": self.exit_code, "seconds": round(self.seconds, 3),
                "prepare_seconds": round(self.prepare_seconds, 3), "tests": len(self.cases),
                "totals": self.totals(), "error": self.error, "log": str(self.log),
                "junit": str(self.junit) if self.junit else None}


@dataclass
class TestReport:
    """One command's run over all its shards: per-test outcomes, totals, per-shard times."""

    __test__ = False  # not a pytest test class

    command: str
    label: str
    commit: str
    shards: list[ShardRun]
    seconds: float
    records: Path
    rerun_command: str | None = None
    notes: list[str] = field(default_factory=list)
    counted: bool = True  # False when the runner reported no per-test results (only an exit code)

    @property
    def cases(self) -> list[Case]:
        seen: set[tuple[str, str, str]] = set()
        out = []
        for shard in self.shards:
            for case in shard.cases:
                key = (case.id, case.outcome, case.message)
                # A file split across shards is collected in each: its collection error comes once per shard.
                if case.outcome == "error" and key in seen:
                    continue
                seen.add(key)
                out.append(case)
        return out

    @property
    def outcomes(self) -> dict[str, str]:
        """Test id -> passed | failed | error | skipped | xfailed | xpassed."""
        found: dict[str, str] = {}
        for case in self.cases:
            found[case.id] = worst(found.get(case.id), case.outcome)
        return found

    @property
    def durations(self) -> dict[str, float]:
        found: dict[str, float] = {}
        for case in self.cases:
            found[case.id] = found.get(case.id, 0.0) + case.seconds
        return found

    @property
    def totals(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for case in self.cases:
            counts[case.outcome] += 1
        return counts

    @property
    def failed(self) -> list[str]:
        """Ids of the tests that failed or errored, in the order they were reported."""
        return [test_id for test_id, outcome in self.outcomes.items() if outcome in ("failed", "error")]

    @property
    def ok(self) -> bool:
        if any(shard.error for shard in self.shards) or self.failed:
            return False
        return not self.counted or bool(self.cases)

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.command, "label": self.label, "commit": self.commit, "ok": self.ok,
                "seconds": round(self.seconds, 3), "totals": self.totals, "failed": self.failed,
                "rerun": self.rerun_command, "notes": self.notes, "records": str(self.records),
                "shards": [s.to_dict() for s in self.shards], "outcomes": self.outcomes}
