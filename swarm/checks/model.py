"""The records of the checks: what each subtask changed, what was found, how each check went.

These are plain data: `to_dict` gives the JSON that goes into result.json and
report.md, and `SubtaskChange.from_record` reads a subtask back from the run's
`diffs/<id>.json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = ("conflict", "tamper", "scope", "overlap", "duplicate", "symbol", "types", "config", "link", "names",
         "parse", "test")


@dataclass
class Finding:
    """One problem in the merged result, naming the subtasks and files involved."""

    kind: str
    subtasks: list[str]
    files: list[str]
    message: str
    line: int | None = None
    symbol: str | None = None
    severity: str = "error"
    extra: dict[str, Any] = field(default_factory=dict)  # more keys for result.json (a check's own details)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {**self.extra, "kind": self.kind, "subtasks": self.subtasks, "files": self.files,
                                "message": self.message, "severity": self.severity}
        if self.line is not None:
            data["line"] = self.line
        if self.symbol is not None:
            data["symbol"] = self.symbol
        return data


@dataclass
class SubtaskChange:
    """One subtask's work as the checks see it.

    `files` are the scope globs from the plan (empty: unrestricted); `changed`
    is the parsed diff from `start_commit` to `commit`, the "files" list of
    `diffs/<id>.json` (swarm.diffs.parse_diff).
    """

    id: str
    files: list[str]
    start_commit: str
    commit: str
    changed: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_record(cls, record: dict[str, Any], scope: list[str]) -> "SubtaskChange":
        """Build from a `diffs/<id>.json` record and the subtask's scope globs."""
        return cls(id=record["subtask"], files=list(scope), start_commit=record["base"],
                   commit=record["commit"], changed=list(record.get("files", [])))

    def paths(self) -> set[str]:
        """Every path the change touches, both sides of a rename."""
        out: set[str] = set()
        for f in self.changed:
            out.add(f["path"])
            if f.get("source_path"):
                out.add(f["source_path"])
        return out

    def status(self, path: str) -> str | None:
        """added / removed / modified / renamed for `path` (a rename's old path reads as removed)."""
        for f in self.changed:
            if f["path"] == path:
                return str(f["status"])
            if f.get("source_path") == path and f["status"] == "renamed":
                return "removed"
        return None

    def source_of(self, path: str) -> str:
        """The path `path` had at the start commit (differs only for a rename)."""
        for f in self.changed:
            if f["path"] == path and f.get("source_path"):
                return str(f["source_path"])
        return path


@dataclass
class TestOutcome:
    """One run of the test command at one commit."""

    __test__ = False  # not a pytest test class

    exit_code: int
    failed: set[str] = field(default_factory=set)
    output: str = ""
    timed_out: bool = False
    seconds: float = 0.0
    imported: dict[str, str] = field(default_factory=dict)  # package -> where the tests' python finds it


@dataclass
class CheckReport:
    """Every finding, and per kind of check: its status, time and count.

    `test_baseline` is the test command's run on the base, when the test check
    ran: pass it to the next `run_checks` on the same base (a re-check after a
    fix) and the base's tests are not run again.
    """

    findings: list[Finding] = field(default_factory=list)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    test_baseline: TestOutcome | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"findings": [f.to_dict() for f in self.findings], "checks": self.checks}
