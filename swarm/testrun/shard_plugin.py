"""The pytest side of `swarm test`, loaded into every shard's pytest through PYTEST_PLUGINS.

Standalone on purpose (no swarm import, nothing beyond the standard library
and pytest's hooks): it runs under whatever interpreter the test command
names, which need not have swarm installed. swarm copies it next to its
worktree pool as `swarm_test_shard.py` and puts that folder on PYTHONPATH.

It makes one pytest process run exactly its part of the suite while
collecting as little as it can: a test file that the plan gives to other
shards is imported (suites rely on what their modules import) but never
collected here (`pytest_ignore_collect`), so each file's tests are built by
one shard only, and the partition itself is
enforced on the collected items (`pytest_collection_modifyitems`), so a
test runs in exactly one shard even when the plan is stale: a test the plan
does not know goes to the owner of its file, and a file the plan does not
know to one shard chosen by a stable hash of its path.

Environment (set by swarm):
    SWARM_SHARD_MODE      collect | shard | observe: list the selected tests and run none;
                         run this shard's part of the plan; run what the command selects
    SWARM_SHARD_PLAN      the plan, JSON: {"shards": N, "files": {file: [shard, ...]}, "tests": {id: shard}}
    SWARM_SHARD_INDEX     this shard's index, from 0
    SWARM_SHARD_EVENTS    where to append events, one JSON object a line
    SWARM_SHARD_CHECKOUT  the user's checkout: modules imported from there are reported
    SWARM_SHARD_NO_FREEZE set to 1 to leave the garbage collector alone (see pytest_collection_finish)

Events: {"e": "collected", "ids": [...], "collect": {file: seconds}, "rootdir": str},
{"e": "start", "id": id}, {"e": "done", "id": id, "outcome": str},
{"e": "collecterror", "id": id}, {"e": "checkout_modules", "files": [...]}.
Every test case in the JUnit XML also gets a `nodeid` property, so results map back to node ids.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

_MODE = os.environ.get("SWARM_SHARD_MODE", "observe")
_SHARD = int(os.environ.get("SWARM_SHARD_INDEX", "0"))
_EVENTS = os.environ.get("SWARM_SHARD_EVENTS")
_CHECKOUT = os.environ.get("SWARM_SHARD_CHECKOUT")
_NO_FREEZE = os.environ.get("SWARM_SHARD_NO_FREEZE", "") not in ("", "0")
_state: dict[str, Any] = {"events": None, "collect_started": {}, "collect": {}, "outcome": {}}


def _plan() -> dict[str, Any]:
    path = os.environ.get("SWARM_SHARD_PLAN")
    if not path:
        return {"shards": 1, "files": {}, "tests": {}}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


_PLAN: dict[str, Any] = _plan() if _MODE == "shard" else {"shards": 1, "files": {}, "tests": {}}


def _emit(event: dict[str, Any]) -> None:
    handle = _state["events"]
    if handle is not None:
        handle.write(json.dumps(event) + "\n")


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _stable(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def owner(nodeid: str) -> int:
    """The shard that runs `nodeid` under the plan (the same answer in every shard)."""
    tests, files, shards = _PLAN["tests"], _PLAN["files"], max(int(_PLAN["shards"]), 1)
    if nodeid in tests:
        return int(tests[nodeid])
    file = _file_of(nodeid)
    owners = files.get(file)
    if owners:
        return int(owners[_stable(nodeid) % len(owners)])
    return _stable(file) % shards


def _forget_settings() -> None:
    """Take this shard's settings out of the environment: a test that starts pytest itself gets a plain one."""
    for name in [n for n in os.environ if n.startswith("SWARM_SHARD_")]:
        del os.environ[name]
    plugins = [p for p in os.environ.get("PYTEST_PLUGINS", "").split(",") if p and p != __name__]
    here = os.path.dirname(os.path.abspath(__file__))
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.abspath(p) != here]
    for name, values, sep in (("PYTEST_PLUGINS", plugins, ","), ("PYTHONPATH", paths, os.pathsep)):
        if values:
            os.environ[name] = sep.join(values)
        else:
            os.environ.pop(name, None)


def pytest_configure(config: pytest.Config) -> None:
    _forget_settings()
    if _EVENTS and not hasattr(config, "workerinput"):  # an xdist worker is not the shard
        _state["events"] = open(_EVENTS, "a", encoding="utf-8", buffering=1)


def pytest_unconfigure(config: pytest.Config) -> None:
    handle = _state["events"]
    if handle is None:
        return
    if _CHECKOUT:
        _emit({"e": "checkout_modules", "files": _modules_under(Path(_CHECKOUT), Path.cwd())})
    _state["events"] = None
    handle.close()


def _modules_under(checkout: Path, worktree: Path) -> list[str]:
    """Files of imported modules that live in the user's checkout rather than in this worktree."""
    found = set()
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if not name:
            continue
        path = Path(os.path.abspath(name))
        if checkout in path.parents and worktree not in path.parents and "site-packages" not in path.parts:
            found.add(path.relative_to(checkout).as_posix())
    return sorted(found)


def _relative(path: Path, config: pytest.Config) -> str | None:
    try:
        return path.relative_to(config.rootpath).as_posix()
    except ValueError:
        return None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if _MODE != "shard":
        return None
    rel = _relative(collection_path, config)
    owners = _PLAN["files"].get(rel) if rel else None
    if owners and _SHARD not in owners:
        _import_only(collection_path, config)
        return True  # another shard collects this file's tests; sparing that is the point
    return None


def _import_only(path: Path, config: pytest.Config) -> None:
    """Import another shard's test module, in the order plain pytest would, without collecting its tests.

    Suites lean on what earlier test modules imported (click's pager tests patch `click._termui_impl`,
    which only some other test module imports); importing is cheap, building the items is what costs.
    """
    try:
        from _pytest.pathlib import import_path

        kwargs: dict[str, Any] = {"mode": config.getoption("importmode"), "root": config.rootpath}
        try:
            import_path(path, consider_namespace_packages=config.getini("consider_namespace_packages"), **kwargs)
        except TypeError:  # pytest before 8.1
            import_path(path, **kwargs)
    except Exception:  # a module that fails to import is that shard's collection error, not ours
        pass


def pytest_collectstart(collector: pytest.Collector) -> None:
    if os.path.isfile(collector.path):  # modules and the classes in them; not directories
        _state["collect_started"][collector.nodeid] = time.perf_counter()


def pytest_collectreport(report: pytest.CollectReport) -> None:
    started = _state["collect_started"].pop(report.nodeid, None)
    if started is not None:
        file = _file_of(report.nodeid)
        _state["collect"][file] = _state["collect"].get(file, 0.0) + time.perf_counter() - started
    if report.failed:
        _emit({"e": "collecterror", "id": report.nodeid})


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if _MODE != "shard":
        return
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        (keep if owner(item.nodeid) == _SHARD else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    if not _NO_FREEZE:
        # What exists now (modules, collected and deselected items) lives until the end: moved out of the
        # cyclic collector's reach, every gc.collect() in a test, and the final one at exit, skips it.
        # On a suite with many parametrized items this saves seconds; SWARM_SHARD_NO_FREEZE=1 turns it off.
        gc.freeze()
    ids = [item.nodeid for item in session.items] if _MODE == "collect" else []
    _emit({"e": "collected", "count": len(session.items), "ids": ids,
           "collect": {k: round(v, 4) for k, v in _state["collect"].items()},
           "rootdir": str(session.config.rootpath)})


def pytest_runtest_logstart(nodeid: str, location: object) -> None:
    _emit({"e": "start", "id": nodeid})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.passed and hasattr(report, "wasxfail"):
        _state["xpassed"] = item.nodeid
    if report.when == "teardown":
        # The JUnit writer takes a test's properties from its teardown report: the test's own
        # item.user_properties stay as the test left them.
        report.user_properties.append(("nodeid", item.nodeid))
        if _state.get("xpassed") == item.nodeid:
            report.user_properties.append(("outcome", "xpassed"))  # JUnit would call it a plain pass


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    outcomes = _state["outcome"]
    current = outcomes.get(report.nodeid, "passed")
    if report.failed:
        current = "failed" if report.when == "call" else (current if current == "failed" else "error")
    elif report.skipped:
        current = "xfailed" if hasattr(report, "wasxfail") else "skipped"
    elif report.when == "call" and hasattr(report, "wasxfail"):
        current = "xpassed"
    outcomes[report.nodeid] = current
    if report.when == "teardown":
        _emit({"e": "done", "id": report.nodeid, "outcome": outcomes.pop(report.nodeid)})
