"""Tests that pass on the base and fail on the merged tree: regressions of the merge.

The plan's test command runs in a shell (sandboxed where the machine allows,
through swarm.tools.run_shell) in two temporary detached worktrees, one at
the base and one at the merged commit, at the same time. Failing test ids
are read from pytest's `FAILED`/`ERROR` summary lines; a command that says
nothing pytest-like is judged by its exit code. A regression is attributed
by bisection (swarm.checks.bisect: the failing ids again on each branch
alone and on pairs); when that shows nothing, to the subtasks that changed
the failing test file or a module it imports; failing that, to every subtask.

The runner is a seam: `run_checks(test_runner=...)` takes any coroutine with
the signature of `run_tests_at`, e.g. one built on `swarm test`'s sharded pool.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import shutil
import tempfile
import time
from pathlib import Path
from typing import Awaitable, Callable

from swarm.env.allowlist import scrubbed_env
from swarm.env.python import python_env
from swarm.git.repo import GitRepo
from swarm.env.sandbox import Sandbox
from swarm.env.shell import run_shell
from swarm.checks.bisect import bisect
from swarm.checks.context import CheckContext
from swarm.checks.model import Finding, TestOutcome
from swarm.checks.pymodules import EXTERNAL, NAMESPACE, OPAQUE, Modules
from swarm.checks.pysource import join_mod

KIND = "test"
_SUMMARY = re.compile(r"^(FAILED|ERROR) (\S+?)(?: - .*)?$", re.M)


TestRunner = Callable[[GitRepo, str, str, float], Awaitable[TestOutcome]]


def failed_ids(output: str) -> set[str]:
    """Test ids from pytest's short summary (`FAILED tests/x.py::test_y - ...`, `ERROR tests/x.py`)."""
    return {m.group(2) for m in _SUMMARY.finditer(output)}


async def run_tests_at(repo: GitRepo, commit: str, command: str, timeout: float, *,
                       env: dict[str, str] | None = None) -> TestOutcome:
    """Run `command` in a temporary detached worktree at `commit`; the worktree is removed afterwards.

    `env` is the tools' environment (default: the allowlisted environment of the run's policy).
    """
    home = Path(tempfile.mkdtemp(prefix="swarm-checks-"))
    tree = home / "tree"
    began = time.monotonic()
    try:
        await repo.add_detached_worktree(tree, commit)
        env = scrubbed_env() if env is None else env
        # The user's editable install of this repository must not stand in for the tree under test.
        python = await asyncio.to_thread(python_env, repo.root, env.get("PATH"))
        shadow = python.pythonpath(tree, env.get("PYTHONPATH"))
        env = {**env, "SWARM_WORKTREE": str(tree), **({"PYTHONPATH": shadow} if shadow else {})}
        # The merged tree is agents' code (a conftest.py runs on collection): sandboxed, never with the user's rights.
        result = await run_shell(command, tree, env, timeout, sandbox=Sandbox(tree))
        imported = await _where_imported(tree, python.roots, env, python.executable)
        return TestOutcome(result.exit_code, failed_ids(result.output), result.output, result.timed_out,
                           time.monotonic() - began, imported)
    finally:
        await asyncio.shield(asyncio.to_thread(_cleanup, repo, tree, home))


# Where the tests' python finds each package, without importing it (find_spec runs the finders only).
_FIND = ("import importlib.util as u, json, sys\n"
         "def where(name):\n"
         "    try:\n"
         "        spec = u.find_spec(name)\n"
         "    except Exception:\n"
         "        return None\n"
         "    if spec is None:\n"
         "        return None\n"
         "    if spec.origin not in (None, 'namespace'):\n"
         "        return spec.origin\n"
         "    return next(iter(spec.submodule_search_locations or []), None)\n"
         "print(json.dumps({n: where(n) for n in sys.argv[1:]}))")


def packages(tree: Path, roots: tuple[str, ...]) -> list[str]:
    """The tree's own top-level packages, in the folders an editable install maps (else `src/` and the top)."""
    names: list[str] = []
    for root in roots or ("src", ""):
        folder = tree / root if root else tree
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if (entry / "__init__.py").is_file() and entry.name.isidentifier() and \
                    not entry.name.startswith(("test", "_")) and entry.name not in names:
                names.append(entry.name)
    return names[:3]


async def _where_imported(tree: Path, roots: tuple[str, ...], env: dict[str, str],
                          python: str | None) -> dict[str, str]:
    names = packages(tree, roots)
    if not names or python is None:
        return {}
    probe = " ".join(shlex.quote(a) for a in [python, "-c", _FIND, *names])
    result = await run_shell(probe, tree, env, 30, sandbox=Sandbox(tree))
    try:
        found = json.loads(result.output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {}
    places = {}
    for name, origin in found.items():
        if isinstance(origin, str):
            path = Path(origin).parent if origin.endswith("__init__.py") else Path(origin)
            # Relative: inside the tree under test (which is removed afterwards); absolute: somewhere else.
            places[name] = path.relative_to(tree).as_posix() if tree in path.parents else str(path)
    return places


def imported_from(outcome: TestOutcome, tree_name: str, repo_root: Path) -> str:
    """`; the tests imported mypkg from the merged tree's src/mypkg`, or from where else they did (an editable
    install of your checkout that was not shadowed, site-packages)."""
    if not outcome.imported:
        return ""
    places = []
    for name, where in outcome.imported.items():
        path = Path(where)
        if not path.is_absolute():
            places.append(f"{name} from the {tree_name}'s {where}")
        elif path == repo_root or repo_root in path.parents:
            places.append(f"{name} from your checkout ({path}), not from the {tree_name}")
        else:
            places.append(f"{name} from {path}, not from the {tree_name}")
    return "; the tests imported " + ", ".join(places)


def _cleanup(repo: GitRepo, tree: Path, home: Path) -> None:
    repo.remove_worktree(tree)
    shutil.rmtree(home, ignore_errors=True)


async def check(ctx: CheckContext, command: str, timeout: float, runner: TestRunner = run_tests_at,
                baseline: TestOutcome | None = None) -> tuple[list[Finding], TestOutcome]:
    """Run the tests at the base (unless `baseline` is that run already) and at the merged commit.

    Returns one finding per failing test file, and the base's run for the next call.
    """
    if baseline is None:
        base, merged = await asyncio.gather(runner(ctx.repo, ctx.base, command, timeout),
                                            runner(ctx.repo, ctx.merged, command, timeout))
    else:
        base, merged = baseline, await runner(ctx.repo, ctx.merged, command, timeout)
    findings = _regressions(ctx, command, timeout, base, merged)
    new = sorted(merged.failed - base.failed)
    for finding in findings:
        ids = [i for i in new if i.split("::", 1)[0] in finding.files]
        if not ids:
            continue
        blame = await bisect(ctx, runner, command, timeout, ids, finding.subtasks)
        if blame is not None:
            finding.subtasks = blame.subtasks
            finding.message += f"; {blame.how}"
    return findings, base


def _regressions(ctx: CheckContext, command: str, timeout: float, base: TestOutcome,
                 merged: TestOutcome) -> list[Finding]:
    everyone = [c.id for c in ctx.changes]
    if merged.timed_out and not base.timed_out:
        return [Finding(KIND, everyone, [], f"`{command}` timed out after {timeout:g}s on the merged tree; "
                        f"on the base it finished in {base.seconds:.0f}s")]
    new = sorted(merged.failed - base.failed)
    if not new:
        if merged.exit_code != 0 and base.exit_code == 0 and not merged.failed:
            tail = "\n".join(merged.output.strip().splitlines()[-5:])
            return [Finding(KIND, everyone, [], f"`{command}` exits {merged.exit_code} on the merged tree and 0 on "
                            f"the base:\n{tail}")]
        return []
    modules = Modules(ctx)
    findings = []
    by_file: dict[str, list[str]] = {}
    for test_id in new:
        by_file.setdefault(test_id.split("::", 1)[0], []).append(test_id)
    # Regressions or a base that was already red, and which copy of the package was tested: the first questions.
    already = len(base.failed & merged.failed)
    before = f" ({already} other(s) already failed on the base)" if already else \
        (" (the base's run did not finish in time)" if base.timed_out else "")
    where = imported_from(merged, "merged tree", ctx.repo.root)
    for path, ids in sorted(by_file.items()):
        involved = _owners(ctx, modules, path) or everyone
        shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        findings.append(Finding(KIND, involved, [path], f"{len(ids)} test(s) fail on the merged tree that did not "
                                f"fail on the base{before}: {shown}{where}"))
    return findings


def _owners(ctx: CheckContext, modules: Modules, test_file: str) -> list[str]:
    """Subtasks that changed the test file or a module it imports."""
    paths = {test_file}
    info = ctx.module(ctx.merged, test_file, refs=True)
    if info is not None and not info.error:
        tree = ctx.tree(ctx.merged)
        for ref in info.refs:
            if ref.kind in ("import", "from"):
                mods = [ref.key[1]] + ([join_mod(ref.key[1], ref.key[2])] if ref.kind == "from" else [])
                for mod in mods:
                    where = modules.locate(mod, tree)
                    if where not in (None, EXTERNAL, NAMESPACE, OPAQUE):
                        paths.add(where)  # type: ignore[arg-type]
    return ctx.sort_ids(sid for p in paths for sid in ctx.touchers(p))

