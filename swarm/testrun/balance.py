"""Splitting a test suite into shards, and the durations that balance them.

`.swarm/test-durations.json` keeps what earlier runs measured (seconds per
test id, seconds to collect (import) each test file, each the mean of the
last value and the newest), and for each command the ids it selected last
time. A plan is cut to minimize the predicted
slowest shard: whole files first (each file is then imported by one shard
only), longest first onto the least loaded shard; then the heaviest files
are split test by test where that lowers the slowest shard, paying their
collection once more in each shard that gets a part.

Without history a first run is cut without collecting anything first
(`size_plan`): the test files pytest would find, by its default names, are
dealt out by size in bytes; a test in a file the plan does not name goes to
one shard by a stable hash (shard_plugin.py), so every test still runs once.
That run's ids and durations balance the next one.
"""

from __future__ import annotations

import fcntl
import heapq
import json
import os
import re
import statistics
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

DEFAULT_TEST_SECONDS = 0.005
DEFAULT_COLLECT_SECONDS = 0.05
MAX_SPLIT_FILES = 8


def file_of(test_id: str) -> str:
    return test_id.split("::", 1)[0]


@dataclass
class ShardPlan:
    """Which shard runs what: whole files, and single tests of the files that are split."""

    shards: int
    files: dict[str, list[int]] = field(default_factory=dict)
    tests: dict[str, int] = field(default_factory=dict)
    loads: list[float] = field(default_factory=list)  # predicted seconds per shard
    counts: list[int] = field(default_factory=list)  # known tests per shard

    def to_json(self) -> dict[str, Any]:
        return {"shards": self.shards, "files": self.files, "tests": self.tests,
                "loads": [round(x, 3) for x in self.loads], "counts": self.counts}


def _lpt(by_file: dict[str, list[str]], cost: dict[str, float], collect: dict[str, float], split: set[str],
         shards: int) -> ShardPlan:
    """Longest processing time first: each unit, heaviest first, onto the least loaded shard."""
    base = sum(collect[f] for f in split)  # a split file is collected by (nearly) every shard
    units: list[tuple[float, str, str]] = []
    for file, ids in by_file.items():
        if file in split:
            units += [(cost[i], "test", i) for i in ids]
        else:
            units.append((collect[file] + sum(cost[i] for i in ids), "file", file))
    units.sort(key=lambda u: (-u[0], u[2]))
    heap = [(base, k) for k in range(shards)]
    plan = ShardPlan(shards, loads=[base] * shards, counts=[0] * shards)
    owners: dict[str, set[int]] = {f: set() for f in split}
    for weight, kind, name in units:
        load, k = heapq.heappop(heap)
        heapq.heappush(heap, (load + weight, k))
        plan.loads[k] = load + weight
        if kind == "file":
            plan.files[name] = [k]
            plan.counts[k] += len(by_file[name])
        else:
            plan.tests[name] = k
            plan.counts[k] += 1
            owners[file_of(name)].add(k)
    for file, ks in owners.items():
        plan.files[file] = sorted(ks)
    return plan


def make_plan(ids: list[str], shards: int, durations: dict[str, float], collect: dict[str, float]) -> ShardPlan:
    """Cut `ids` into `shards` parts of about equal predicted time (see the module docstring)."""
    by_file: dict[str, list[str]] = {}
    for test_id in ids:
        by_file.setdefault(file_of(test_id), []).append(test_id)
    known = [durations[i] for i in ids if i in durations]
    default_test = statistics.median(known) if known else DEFAULT_TEST_SECONDS
    cost = {i: durations.get(i, default_test) for i in ids}
    known_collect = [collect[f] for f in by_file if f in collect]
    default_collect = statistics.median(known_collect) if known_collect else DEFAULT_COLLECT_SECONDS
    collect_cost = {f: collect.get(f, default_collect) for f in by_file}

    split: set[str] = set()
    best = _lpt(by_file, cost, collect_cost, split, shards)
    heaviest = sorted((f for f in by_file if len(by_file[f]) > 1),
                      key=lambda f: -(collect_cost[f] + sum(cost[i] for i in by_file[f])))
    for file in heaviest[:MAX_SPLIT_FILES]:
        trial = _lpt(by_file, cost, collect_cost, split | {file}, shards)
        if max(trial.loads) < max(best.loads) * 0.98:
            best, split = trial, split | {file}
    return best


_TEST_FILE = re.compile(r"(?:^|/)(?:test_[^/]*|[^/]*_test)\.py$")
_NO_RECURSE = {"build", "dist", "node_modules", "venv", "site-packages", "__pycache__", "_darcs", "CVS", "{arch}"}
_ROOT_FILES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")


def test_files(tracked: list[tuple[str, int]], cwd: str, args: list[str]) -> dict[str, int]:
    """The tracked files a pytest command in `cwd` would collect by pytest's default names, with their sizes.

    Paths are relative to the folder pytest would take as its rootdir (the nearest one, from `cwd` up,
    holding an ini file), as its node ids are; positional `args` that name tracked paths narrow the set.
    """
    paths = {p for p, _ in tracked}
    folder = cwd.strip("/")
    root = folder
    while True:
        if any((f"{root}/{name}" if root else name) in paths for name in _ROOT_FILES) or not root:
            break
        root = root.rsplit("/", 1)[0] if "/" in root else ""
    here = f"{folder}/" if folder else ""
    wanted = []
    for word in args:
        if word.startswith("-"):
            continue
        target = (here + word.split("::", 1)[0]).strip("/")
        if target in paths or any(p.startswith(target + "/") for p in paths):
            wanted.append(target)
    prefix = f"{root}/" if root else ""
    found = {}
    for path, size in tracked:
        if not path.startswith(prefix) or not _TEST_FILE.search(path):
            continue
        if wanted and not any(path == w or path.startswith(w + "/") for w in wanted):
            continue
        if not wanted and not path.startswith(here):
            continue
        parts = path.split("/")[:-1]
        if any(part.startswith(".") or part in _NO_RECURSE or part.endswith(".egg") for part in parts):
            continue
        found[path[len(prefix):]] = size
    return found


def size_plan(sizes: dict[str, int], shards: int) -> ShardPlan:
    """Whole files onto the least loaded shard, largest first: the first run's plan, nothing collected yet."""
    shards = max(1, min(shards, len(sizes)))
    heap = [(0, k) for k in range(shards)]
    plan = ShardPlan(shards, loads=[0.0] * shards, counts=[])
    for file, size in sorted(sizes.items(), key=lambda item: (-item[1], item[0])):
        load, k = heapq.heappop(heap)
        heapq.heappush(heap, (load + size, k))
        plan.files[file] = [k]
        plan.loads[k] = float(load + size)
    return plan


class DurationStore:
    """`.swarm/test-durations.json`: read freely, updated under a lock (several runs may finish at once)."""

    def __init__(self, root: Path) -> None:
        self.path = root / ".swarm" / "test-durations.json"
        self._data: dict[str, Any] | None = None

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict) or data.get("version") != 1:
            data = {}  # missing, damaged or from another version: start over rather than fail a test run
        data.setdefault("version", 1)
        for name in ("tests", "collect", "suites"):
            if not isinstance(data.get(name), dict):
                data[name] = {}
        return data

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = self._read()
        return self._data

    def suite(self, key: str) -> list[str] | None:
        """The test ids this command selected last time, or None when it never ran here."""
        ids = self.data["suites"].get(key, {}).get("ids")
        return list(ids) if ids else None

    def durations(self) -> dict[str, float]:
        return dict(self.data["tests"])

    def collect_costs(self) -> dict[str, float]:
        return dict(self.data["collect"])

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def record(self, key: str, ids: list[str], *, complete: bool, durations: dict[str, float],
               collect: dict[str, float]) -> None:
        """Merge one run's measurements; `complete` says `ids` is the whole suite, not a part of it."""
        with self._locked():
            data = self._read()
            for name, measured in (("tests", durations), ("collect", collect)):
                known = data[name]
                # Halfway between the last value and this one: a run slowed down by other work on the
                # machine moves a plan less, and a test that really got slower is followed in a few runs.
                known.update({k: round(v if k not in known else (known[k] + v) / 2, 4) for k, v in measured.items()})
            old = [] if complete else data["suites"].get(key, {}).get("ids", [])
            merged = list(dict.fromkeys([*old, *ids]))
            if merged:
                data["suites"][key] = {"ids": merged}
            tmp = self.path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(data, indent=0, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)
            self._data = data
