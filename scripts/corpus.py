#!/usr/bin/env python3
"""Run the checks' corpora: planted contradictions between parallel subtasks, and clean parallel changes.

Two corpora. The synthetic one (tests/corpus/cases/*.toml) was written with
the checks; the real-code one (tests/corpus/real/*.toml) plants
contradictions in third-party packages unpacked from their PyPI sdists
(`sdist = "click==8.5.1"`, through tests/sdists.py), each with a `probe`
(Python run in a checkout of the tree, or the case's test command) that
passes on the base and on every branch alone and fails on the merged tree;
`--prove` runs it there and says so. Each case is data: a base tree, per-subtask
edits (files written, text replaced, files renamed or deleted), scope globs,
and the findings expected (kind and subtasks; none for a clean case); a
`known_miss` case says why the checks cannot find it and still counts in
recall, so the corpus shows the checks' limits too. A case
is built as a real git repository in a temporary folder: the base is
committed, each subtask's edits are committed on a branch of their own (from
the base, or from the merge of its `depends_on`), the branches are merged
with swarm.merge.fold, and swarm.checks.run_checks looks at the result.

    python scripts/corpus.py [--set synthetic|real|all] [-k NAME] [--json] [--verbose] [--prove]

prints one row per case (expected, found, hit / miss / false positive) and
the recall and false-positive totals; exit 1 when recall < 90% or a clean
case has a finding.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
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
REAL = ROOT / "tests" / "corpus" / "real"
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
    sdist: str = ""  # "name==version": the base is that PyPI sdist instead of `base`
    probe: str = ""  # Python source run in a checkout: passes on the base and each branch, fails merged
    policy: str = ""  # why no probe applies: the finding is about the plan or a review, not a broken tree

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
    proof: str | None = None  # with --prove: '' when the probe shows the case is real, else what is wrong

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
                          known_miss=data.get("known_miss", ""), sdist=data.get("sdist", ""),
                          probe=data.get("probe", ""), policy=data.get("policy", "")))
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


def _rename_word(root: Path, edit: dict[str, Any]) -> None:
    """Rename a word everywhere under `under` (a complete rename, as an agent would make it), history kept."""
    out = subprocess.run(["git", "grep", "-l", "-w", "-I", "-F", "-e", edit["old"], "--", *edit.get("under", ["."])],
                         cwd=root, capture_output=True, text=True).stdout.split()
    for rel in out:
        if re.match(r"(?i)(changes|changelog|history|news)\b", Path(rel).name):
            continue
        path = root / rel
        path.write_text(re.sub(rf"(?<![\w-]){re.escape(edit['old'])}(?![\w-])", edit["new"], path.read_text()))


def _apply(root: Path, name: str, subtask: dict[str, Any]) -> None:
    for edit in subtask.get("words", []):
        _rename_word(root, edit)
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
    if case.sdist:
        sys.path.insert(0, str(ROOT / "tests"))
        from sdists import sdist_dir, unpack_into_repo

        unpack_into_repo(sdist_dir(*case.sdist.split("==")), root)
    else:
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


def _probe_at(repo: GitRepo, commit: str, case: Case, command: str | None) -> bool:
    """Does the case's probe (or else its test command) pass in a checkout of `commit`?"""
    with tempfile.TemporaryDirectory(prefix="swarm-probe-") as tmp:
        archive = subprocess.run(["git", "archive", commit], cwd=repo.root, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([f"{tmp}/src", tmp]), "PYTHONDONTWRITEBYTECODE": "1"}
        if case.probe:
            proc = subprocess.run([sys.executable, "-c", case.probe], cwd=tmp, env=env, capture_output=True)
        else:
            assert command, f"case {case.name} has neither a probe nor a test command"
            proc = subprocess.run(command, shell=True, cwd=tmp, env=env, capture_output=True)
        return proc.returncode == 0


def prove(case: Case, args: dict[str, Any]) -> str:
    """'' when the case is what it claims (planted: the probe passes on the base and every branch and
    fails on the merged tree; clean: it passes everywhere), else what is wrong; 'policy' when no probe applies."""
    if case.policy:
        return "policy"
    commits = {"base": args["base"], **{c.id: c.commit for c in args["changes"]}}
    wrong = [name for name, commit in commits.items() if not _probe_at(args["repo"], commit, case,
                                                                       args["test_command"])]
    merged_ok = _probe_at(args["repo"], args["merged"], case, args["test_command"])
    if not case.clean and merged_ok:
        wrong.append("merged tree passes")
    if case.clean and not merged_ok:
        wrong.append("merged tree fails")
    return ", ".join(f"fails on {w}" if not w.startswith("merged") else w for w in wrong)


def _matches(expected: dict[str, Any], finding: Finding) -> bool:
    # `also`: other kinds that report the same cause (a case says why its first kind cannot)
    if finding.kind not in [expected["kind"], *expected.get("also", [])]:
        return False
    if expected.get("exact"):  # the finding must name these subtasks and no others
        return set(expected.get("subtasks", [])) == set(finding.subtasks)
    return set(expected.get("subtasks", [])) <= set(finding.subtasks)


async def run_case(case: Case, where: Path, check_proof: bool = False) -> Outcome:
    """Build a case, run every check on it, and score the findings (`check_proof`: run its probe too)."""
    args = await build(case, where)
    proof = prove(case, args) if check_proof else None
    began = time.monotonic()
    report = await run_checks(**args, test_timeout=120)
    seconds = time.monotonic() - began
    hits = [e for e in case.expect if any(_matches(e, f) for f in report.findings)]
    misses = [e for e in case.expect if e not in hits]
    unexpected = [f for f in report.findings
                  if not any(_matches(e, f) for e in case.expect) and f.kind not in case.allow]
    return Outcome(case, report, hits, misses, unexpected, seconds, proof)


async def run_all(cases: list[Case], check_proof: bool = False) -> list[Outcome]:
    with tempfile.TemporaryDirectory(prefix="swarm-corpus-") as tmp:
        return [await run_case(case, Path(tmp), check_proof) for case in cases]


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
    proving = any(o.proof is not None for o in outcomes)
    rows = [("case", "expected", "found", "result", "s") + (("proof",) if proving else ())]
    for o in outcomes:
        rows.append((o.case.name, _describe(o.case.expect), _describe(o.report.findings), o.verdict,
                     f"{o.seconds:.2f}") + (((o.proof or "real"),) if proving else ()))
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
    parser.add_argument("--set", choices=["synthetic", "real", "all"], default="all", help="which corpus")
    parser.add_argument("--prove", action="store_true", help="run each case's probe on every branch and merged")
    opts = parser.parse_args()
    os.environ.setdefault("GIT_AUTHOR_NAME", "Corpus")
    folders = {"synthetic": [CASES], "real": [REAL], "all": [CASES, REAL]}[opts.set]
    ok = True
    for folder in folders:
        cases = [c for c in load_cases(folder) if not opts.pattern or opts.pattern in c.name]
        if not cases:
            continue
        outcomes = asyncio.run(run_all(cases, opts.prove))
        if opts.json:
            print(json.dumps({o.case.name: o.report.to_dict() for o in outcomes}, indent=2))
            continue
        print(f"\n## {folder.relative_to(ROOT)}\n")
        print(table(outcomes))
        if opts.verbose:
            for o in outcomes:
                for f in o.report.findings:
                    print(f"\n[{o.case.name}] {f.kind} {f.subtasks}: {f.message}")
        t = totals(outcomes)
        ok = ok and t["recall"] >= 0.9 and t["false_positives"] == 0 and not any(o.proof and o.proof != "policy" for o in outcomes)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
