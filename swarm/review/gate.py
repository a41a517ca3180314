"""Which findings stop `swarm apply` (and make `swarm run` exit 1), and which are only advice.

A blocking finding says the result is broken as it stands: a name used and
defined nowhere, a test that passed on the base and fails now, a config key
or a link that leads nowhere, a file that no longer parses, a retired name
still used, a tampered worktree, a conflict left unresolved. An advisory one
says two subtasks came close (overlap, duplicate) or one went beyond its
scope: worth reading, not wrong by itself. A kind this module does not know
blocks, so that a new check is safe by default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from swarm.run.result import RunResult

ADVISORY = ("overlap", "scope", "duplicate")


def is_blocking(finding: dict[str, Any]) -> bool:
    """Whether this finding (a result.json `findings` entry) stops an apply."""
    if finding.get("kind") in ADVISORY:
        return False
    # A conflict the resolver settled is a note; one that left a subtask out is not.
    return not (finding.get("kind") == "conflict" and finding.get("severity") == "warning")


@dataclass
class Gate:
    """The findings of what would be applied, split into those that block and those that advise."""

    blocking: list[dict[str, Any]] = field(default_factory=list)
    advisory: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, findings: list[dict[str, Any]]) -> "Gate":
        gate = cls()
        for finding in findings:
            (gate.blocking if is_blocking(finding) else gate.advisory).append(finding)
        return gate

    def lines(self, which: str) -> list[str]:
        """One line per finding of `which` ("blocking" or "advisory"): kind and message."""
        return [f"{f.get('kind', '?')}: {f.get('message', '')}" for f in getattr(self, which)]


def result_findings(result: RunResult, reviewed: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The findings of what `apply` would take: the reviewed result's when its checks re-ran, else the merged's.

    A review re-runs the tests only when asked (`swarm review --test`); until then
    the merged result's test findings still stand for the reviewed one. An open
    conflict with no finding of its own (an older record) counts as one.
    """
    findings = list(result.findings)
    if reviewed is not None and reviewed.get("findings") is not None:
        tests_rerun = "reason" not in ((reviewed.get("checks") or {}).get("test") or {})
        findings = list(reviewed["findings"]) + ([] if tests_rerun else
                                                 [f for f in result.findings if f.get("kind") == "test"])
    noted = {tuple(f.get("files") or []) for f in findings if f.get("kind") == "conflict"}
    for c in result.open_conflicts:
        if (c.get("file"),) not in noted and reviewed is None:
            findings.append({"kind": "conflict", "subtasks": c.get("subtasks", []), "files": [c.get("file")],
                             "message": f"{c.get('file')}: unresolved conflict", "severity": "error"})
    return findings


def state_label(result: RunResult) -> str:
    """A run's state as its header shows it: `done` is not the whole story when blocking findings remain
    (the run then exits 1, and `swarm apply` refuses)."""
    if result.state != "done":
        return result.state
    blocking = len(Gate.of(result_findings(result)).blocking)
    return f"done, {blocking} blocking finding(s) left" if blocking else "done"
