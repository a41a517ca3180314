"""The synthesis pass's mechanical checks: contradictions between subtasks that git merged cleanly.

    report = await run_checks(repo, base=base, merged=merged, changes=changes, conflicts=conflicts,
                              test_command=plan.test_command)
    report.findings     # [Finding(kind, subtasks, files, message, ...)]
    report.checks       # {kind: {"status": "pass" | "fail" | "skipped" | "error", "seconds", "count"}}

One module per kind of finding:

    conflict    textual conflicts git merge-tree reported
    scope       files changed outside a subtask's scope globs
    overlap     two subtasks editing one function, or lines close together
    duplicate   one new file or one new top-level name added by two subtasks
    symbol      Python names removed, renamed or re-signed by one subtask and still used
    types       pyright errors new on the merged tree where one subtask removed a name another uses
                (an instance's method, an attribute): skipped, with the reason, without pyright
    config      config keys removed or renamed in one place and still read by their old name
    link        relative links in Markdown/HTML pages to files the merged tree lacks
    tamper      a worktree's .git file changed by its agent; a committed symlink leaving the repository
    names       a name one subtask retired (a flag, env variable, key, CSS class, method) and another
                newly uses, in any kind of file
    parse       structured files (TOML, JSON, YAML, INI, HTML) that parse on each branch, not merged
    test        tests passing on the base and failing on the merged tree

Beside them: model (Finding, SubtaskChange, CheckReport), context (the git
reads every check shares), pysource / pyrefs / pymodules (what a Python
module defines and refers to, and resolving that against a tree).

Everything reads git objects (one `git cat-file --batch` process, one
`ls-tree` per commit, `git grep` to find users of lost names) and nothing
is checked out, except by the test check, which needs a working tree. A
check that crashes reports status "error" with the reason; the others
still run.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from swarm.errors import ConfigError
from swarm.git.repo import GitRepo
from swarm.merge.fold import Conflict
from swarm.checks import config, conflict, duplicate, link, names, overlap, parse, scope, symbol, tamper, types
from swarm.checks import test as test_check
from swarm.checks.context import CheckContext
from swarm.checks.model import KINDS, CheckReport, Finding, SubtaskChange, TestOutcome
from swarm.checks.test import TestRunner, run_tests_at

__all__ = ["KINDS", "CheckReport", "Finding", "SubtaskChange", "TestOutcome", "TestRunner", "run_checks",
           "run_tests_at"]

_STATIC: dict[str, Callable[[CheckContext], list[Finding]]] = {
    "conflict": conflict.check, "scope": scope.check, "overlap": overlap.check, "duplicate": duplicate.check,
    "symbol": symbol.check, "config": config.check, "link": link.check, "tamper": tamper.check,
    "names": names.check, "parse": parse.check, "types": types.check,
}
DEFAULT_TEST_TIMEOUT = 1800.0


def _selected(kinds: Iterable[str] | None) -> list[str]:
    if kinds is None:
        return list(KINDS)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ConfigError(f"unknown check kind(s): {', '.join(unknown)}; known kinds: {', '.join(KINDS)}")
    return [k for k in KINDS if k in set(kinds)]


_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Collect garbage less often while parsing: ast.parse makes many objects that all stay alive
    until the tree is done, and the default thresholds walk them over and over (about 40% of the
    checks' time on a large repository). Restored when the last concurrent caller leaves."""
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(100_000, 50, 100)
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0:
                gc.set_threshold(*_gc_saved)


def _run_static(ctx: CheckContext, kinds: list[str], report: CheckReport) -> None:
    with _fewer_collections():
        _run_each(ctx, kinds, report)


def _run_each(ctx: CheckContext, kinds: list[str], report: CheckReport) -> None:
    # symbol first: it parses the changed modules with their references, which the others then reuse.
    for kind in sorted(kinds, key=lambda k: k != "symbol"):
        began = time.monotonic()
        try:
            found = _STATIC[kind](ctx)
        except types.Skipped as e:  # an optional analyser missing: said in the report, not an error
            report.checks[kind] = {"status": "skipped", "seconds": round(time.monotonic() - began, 3), "count": 0,
                                   "reason": str(e)}
            continue
        except Exception as e:  # one broken check must not hide the others' findings
            report.checks[kind] = {"status": "error", "seconds": round(time.monotonic() - began, 3), "count": 0,
                                   "error": f"{type(e).__name__}: {e}"}
            continue
        report.findings += found
        report.checks[kind] = {"status": "fail" if found else "pass",
                               "seconds": round(time.monotonic() - began, 3), "count": len(found)}


async def run_checks(repo: GitRepo, *, base: str, merged: str, changes: list[SubtaskChange],
                     conflicts: Iterable[Conflict] = (), test_command: str | None = None,
                     kinds: Iterable[str] | None = None, test_timeout: float = DEFAULT_TEST_TIMEOUT,
                     test_runner: TestRunner = run_tests_at,
                     test_baseline: TestOutcome | None = None) -> CheckReport:
    """Check the merged commit against the base and each subtask's change.

    `changes` are the subtasks (merged or not) with their parsed diffs;
    `conflicts` come from swarm.merge.fold.fold. The test check runs only with a
    `test_command`, concurrently with the others, through `test_runner`;
    `test_baseline` (a previous report's) saves running the base's tests
    again. `kinds` picks checks (default: all); an unknown kind is a
    ConfigError.
    """
    selected = _selected(kinds)
    report = CheckReport()
    ctx = CheckContext(repo, base=base, merged=merged, changes=changes, conflicts=conflicts)
    try:
        static = asyncio.to_thread(_run_static, ctx, [k for k in selected if k in _STATIC], report)
        if "test" in selected and test_command:
            await asyncio.gather(static, _run_tests(ctx, report, test_command, test_timeout, test_runner,
                                                    test_baseline))
        else:
            await static
            if "test" in selected:
                report.checks["test"] = {"status": "skipped", "seconds": 0.0, "count": 0,
                                         "reason": "the plan has no test_command"}
    finally:
        ctx.close()
    report.findings = _one_per_cause(report.findings)
    order = {k: i for i, k in enumerate(KINDS)}
    report.findings.sort(key=lambda f: (order.get(f.kind, len(order)), f.files, f.message))
    report.checks = {k: report.checks[k] for k in KINDS if k in report.checks}
    return report


def _one_per_cause(findings: list[Finding]) -> list[Finding]:
    """Drop a `names` finding that a more precise finding already reports (the same name, the same subtasks):
    a renamed function imported by its old name is one cause, best told by the symbol check."""
    precise = [f for f in findings if f.kind in ("symbol", "config", "link")]

    def covered(f: Finding, by: list[Finding]) -> bool:
        return any(set(f.subtasks) <= set(p.subtasks) and f.symbol and
                   (f.symbol in p.message or (p.symbol and p.symbol in f.symbol.split("."))) for p in by)

    # A pyright error that the name checks already tell (the same name, the same subtasks) is the same cause.
    findings = [f for f in findings if f.kind != "types" or not covered(f, precise + [
        n for n in findings if n.kind == "names"])]
    return [f for f in findings if f.kind != "names" or not covered(f, precise)]


async def _run_tests(ctx: CheckContext, report: CheckReport, command: str, timeout: float,
                     runner: TestRunner, baseline: TestOutcome | None) -> None:
    began = time.monotonic()
    try:
        found, report.test_baseline = await test_check.check(ctx, command, timeout, runner, baseline)
    except Exception as e:  # the other checks' findings still count
        report.checks["test"] = {"status": "error", "seconds": round(time.monotonic() - began, 3), "count": 0,
                                 "error": f"{type(e).__name__}: {e}"}
        return
    report.findings += found
    report.checks["test"] = {"status": "fail" if found else "pass", "seconds": round(time.monotonic() - began, 3),
                             "count": len(found)}

