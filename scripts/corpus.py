#!/usr/bin/env python3
"""Run the checks' corpus: planted contradictions between parallel subtasks, and clean parallel changes.

Each case in tests/corpus/cases/*.toml is data: a base tree, per-subtask
edits (files written, text replaced, files renamed or deleted), scope globs,
and the findings expected (kind and subtasks; none for a clean case); a
`known_miss` case says why the checks cannot find it and still counts in
recall, so the corpus shows the checks' limits too. A case
is built as a real git repository in a temporary folder: the base is
committed, each subtask's edits are committed on a branch of their own (from
the base, or from the merge of its `depends_on`), the branches are merged
with swarm.merge.fold, and swarm.checks.run_checks looks at the result.

    python scripts/corpus.py [-k NAME] [--json] [--verbose]

prints one row per case (expected, found, hit / miss / false positive) and
the recall and false-positive totals; exit 1 when recall < 90% or a clean
case has a finding.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from swarm.checks import CheckReport, Finding, SubtaskChange, run_checks  # noqa: E402
from swarm.merge.diffs import parse_diff  # noqa: E402
from swarm.git.repo import GitRepo  # noqa: E402
from swarm.merge.fold import fold  # noqa: E402

CASES = ROOT / "tests" / "corpus" / "cases"
_GIT = ["git", "-c", "user.name=Corpus", "-c", "user.email=corpus@example.test", "-c", "commit.gpgsign=false",
        "-c", "core.hooksPath=/dev/null", "-c", "init.defaultBranch=main"]


@dataclass
class Case:
    """One corpus case as written in its TOML file."""

    name: str
    description: str
    base: dict[str, str]
    subtasks: list[dict[str, Any]]
    expect: list[dict[str, Any]] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)
    test_command: str | None = None
    known_miss: str = ""  # why the checks cannot find this one (yet): kept in the corpus, counted in recall

    @property
    def clean(self) -> bool:
        return not self.expect


@dataclass
class Outcome:
    """What the checks said about one case, scored against what it expects."""

    case: Case
    report: CheckReport
    hits: list[dict[str, Any]]
    misses: list[dict[str, Any]]
    unexpected: list[Finding]
    seconds: float

    @property
    def verdict(self) -> str:
        if self.case.clean:
            return "false positive" if self.unexpected else "clean"
        words = ["hit" if not self.misses else ("miss" if not self.hits else "partial")]
        if self.misses and self.case.known_miss:
            words.insert(0, "known")
        if self.unexpected:
            words.append("+ unexpected")
        return " ".join(words)


def load_cases(folder: Path = CASES) -> list[Case]:
    """Every case under `folder`, by file name."""
    cases = []
    for path in sorted(folder.glob("*.toml")):
        data = tomllib.loads(path.read_text())
        cases.append(Case(name=path.stem, description=data.get("description", ""), base=data.get("base", {}),
                          subtasks=data.get("subtasks", []), expect=data.get("expect", []),
                          allow=data.get("allow", []), test_command=data.get("test_command"),
                          known_miss=data.get("known_miss", "")))
    return cases


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run([*_GIT, *args], cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _apply(root: Path, name: str, subtask: dict[str, Any]) -> None:
    for old, new in subtask.get("rename", {}).items():
        (root / new).parent.mkdir(parents=True, exist_ok=True)
        _git(root, "mv", old, new)
    for edit in subtask.get("replace", []):
        path = root / edit["path"]
        text = path.read_text()
        if edit["old"] not in text:
            raise ValueError(f"case {name}, subtask {subtask['id']}: {edit['old']!r} is not in {edit['path']}")
        path.write_text(text.replace(edit["old"], edit["new"], 1 if not edit.get("all") else -1))
    _write(root, subtask.get("write", {}))
    for rel in subtask.get("delete", []):
        (root / rel).unlink()


async def build(case: Case, where: Path) -> dict[str, Any]:
    """Make the case's repository under `where`; return run_checks' arguments."""
    root = where / case.name
    root.mkdir(parents=True)
    _git(root, "init", "-q")
    _write(root, case.base)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "--allow-empty", "-m", "base")
    repo = GitRepo(root)
    base = _git(root, "rev-parse", "HEAD")
    commits: dict[str, str] = {}
    changes: list[SubtaskChange] = []
    for subtask in case.subtasks:
        sid = subtask["id"]
        deps = [(d, commits[d]) for d in subtask.get("depends_on", [])]
        start = (await fold(repo, base, deps)).commit if deps else base
        _git(root, "checkout", "-q", "--detach", start)
        _apply(root, case.name, subtask)
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "--allow-empty", "-m", sid)
        commits[sid] = _git(root, "rev-parse", "HEAD")
        files = parse_diff(await repo.diff(start, commits[sid]))
        changes.append(SubtaskChange(sid, list(subtask.get("scope", [])), start, commits[sid], files))
    _git(root, "checkout", "-q", "--detach", base)
    touched = {c.id: sorted(c.paths()) for c in changes}
    folded = await fold(repo, base, [(c.id, c.commit) for c in changes], touched)
    command = case.test_command.replace("{python}", sys.executable) if case.test_command else None
    return {"repo": repo, "base": base, "merged": folded.commit, "changes": changes, "conflicts": folded.conflicts,
            "test_command": command}


def _matches(expected: dict[str, Any], finding: Finding) -> bool:
    return finding.kind == expected["kind"] and set(expected.get("subtasks", [])) <= set(finding.subtasks)


async def run_case(case: Case, where: Path) -> Outcome:
    """Build a case, run every check on it, and score the findings."""
    args = await build(case, where)
    began = time.monotonic()
    report = await run_checks(**args, test_timeout=120)
    seconds = time.monotonic() - began
    hits = [e for e in case.expect if any(_matches(e, f) for f in report.findings)]
    misses = [e for e in case.expect if e not in hits]
    unexpected = [f for f in report.findings
                  if not any(_matches(e, f) for e in case.expect) and f.kind not in case.allow]
    return Outcome(case, report, hits, misses, unexpected, seconds)


async def run_all(cases: list[Case]) -> list[Outcome]:
    with tempfile.TemporaryDirectory(prefix="swarm-corpus-") as tmp:
        return [await run_case(case, Path(tmp)) for case in cases]


def totals(outcomes: list[Outcome]) -> dict[str, Any]:
    """Recall over planted findings; false positives on clean cases; unexpected findings on planted ones."""
    expected = sum(len(o.case.expect) for o in outcomes)
    hit = sum(len(o.hits) for o in outcomes)
    return {"cases": len(outcomes), "planted_cases": sum(1 for o in outcomes if not o.case.clean),
            "clean_cases": sum(1 for o in outcomes if o.case.clean), "expected": expected, "hit": hit,
            "recall": hit / expected if expected else 1.0,
            "false_positives": sum(len(o.unexpected) for o in outcomes if o.case.clean),
            "unexpected_on_planted": sum(len(o.unexpected) for o in outcomes if not o.case.clean)}


def _describe(items: list[dict[str, Any]] | list[Finding]) -> str:
    words = []
    for item in items:
        if isinstance(item, Finding):
            kind, ids = item.kind, item.subtasks
        else:
            kind, ids = item["kind"], item.get("subtasks", [])
        words.append(f"{kind}({','.join(ids)})")
    return " ".join(words) or "-"


def table(outcomes: list[Outcome]) -> str:
    rows = [("case", "expected", "found", "result", "s")]
    for o in outcomes:
        rows.append((o.case.name, _describe(o.case.expect), _describe(o.report.findings), o.verdict,
                     f"{o.seconds:.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    t = totals(outcomes)
    lines += ["", f"planted cases: {t['planted_cases']}, expected findings: {t['expected']}, hit: {t['hit']}, "
              f"recall: {t['recall']:.0%}",
              f"clean cases: {t['clean_cases']}, false positives: {t['false_positives']}; "
              f"unexpected findings on planted cases: {t['unexpected_on_planted']}"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="pattern", help="run only cases whose name contains this")
    parser.add_argument("--json", action="store_true", help="print findings per case as JSON")
    parser.add_argument("--verbose", "-v", action="store_true", help="print every finding's message")
    opts = parser.parse_args()
    os.environ.setdefault("GIT_AUTHOR_NAME", "Corpus")
    cases = [c for c in load_cases() if not opts.pattern or opts.pattern in c.name]
    outcomes = asyncio.run(run_all(cases))
    if opts.json:
        print(json.dumps({o.case.name: o.report.to_dict() for o in outcomes}, indent=2))
        return 0
    print(table(outcomes))
    if opts.verbose:
        for o in outcomes:
            for f in o.report.findings:
                print(f"\n[{o.case.name}] {f.kind} {f.subtasks}: {f.message}")
    t = totals(outcomes)
    return 0 if t["recall"] >= 0.9 and t["false_positives"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
