"""Benchmark `swarm test` against plain pytest and pytest-xdist on real test suites, on this machine, in one go.

    .venv/bin/python scripts/bench_test.py                       # click, more-itertools, django; 3 repeats
    .venv/bin/python scripts/bench_test.py --suite click --repeat 5 --reset

Each suite comes from its PyPI sdist (tests/sdists.py), unpacked into a git
repository. The tests run under a separate benchmark venv
(`.pytest_cache/bench-test-venv`: the project's pytest version plus
pytest-xdist, which is never installed into the project's own venv); its
`python` is first on PATH, so every variant runs the very same command:

    plain    CMD                                  in the checkout
    xdist    CMD -n auto                          in the checkout
    first    swarm test --shards N -- CMD         no durations, no worktrees yet (once, before the repeats)
    swarm    swarm test --shards N -- CMD         durations from earlier runs, worktrees reused
    nofreeze the same with SWARM_SHARD_NO_FREEZE=1 (shards leave the garbage collector alone)

Django's own runner (tests/runtests.py on eight apps) is timed as it is, with
its `--parallel 2`, and under `swarm test` with a `{shard}` placeholder: a
splitter gives each shard one group of apps (see DJANGO_GROUPS).

Bytecode is written and reused (PYTHONDONTWRITEBYTECODE is unset), as on
most machines. Variants take turns within each repeat, so load from other processes hits
them alike; the table shows medians. `--reset` also times the ways a pooled
worktree can be brought to a commit (see `reset_strategies`). Prints
markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from sdists import sdist_dir, unpack_into_repo  # noqa: E402

VENV = ROOT / ".pytest_cache" / "bench-test-venv"


@dataclass
class Suite:
    name: str
    version: str
    cmd: list[str]
    env: dict[str, str] = field(default_factory=dict)
    deps: list[str] = field(default_factory=list)  # what the suite needs in the benchmark venv


SUITES = {
    # PYTHONPATH=src (relative): each checkout or worktree tests its own copy of click; the installed
    # click only gives the metadata a test reads (importlib.metadata.version("click")).
    "click": Suite("click", "8.5.1", ["python", "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"],
                   {"PYTHONPATH": "src"}, ["click==8.5.1"]),
    "more-itertools": Suite("more-itertools", "11.2.1",
                            ["python", "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"]),
}


# Django's own runner, which cannot take a shard number: a splitter outside the repository picks the group of
# apps for shard {shard}. These apps pass when run as root without optional packages, take about 35 s one
# after the other, and fall in two groups of about equal time (auth_tests alone is half of it).
DJANGO = Suite("django", "5.2.19", [], {"PYTHONPATH": "."}, ["asgiref>=3.8.1", "sqlparse>=0.3.1"])
DJANGO_GROUPS = ["auth_tests", "migrations,utils_tests,queries,forms_tests,schema,model_fields,backends"]
SPLITTER = '''"""python split.py SHARD GROUP...: run Django's tests/runtests.py on the apps of group SHARD."""
import os
import sys

apps = sys.argv[1 + int(sys.argv[1])].split(",")
os.execvp(sys.executable, [sys.executable, "tests/runtests.py", "--parallel", "1", *apps])
'''


def bench_venv(suites: list[Suite]) -> Path:
    """A venv with the project's pytest, pytest-xdist and what the suites need."""
    import pytest

    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    f"pytest=={pytest.__version__}", "pytest-xdist", *(d for s in suites for d in s.deps)], check=True)
    return python


def env_for(suite: Suite, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "PYTEST_"))}
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env['PATH']}"
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as on most machines: bytecode (and pytest's rewritten asserts) cached
    return {**env, **suite.env, **(extra or {})}


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}) in {cwd}:\n{proc.stdout[-3000:]}"
                         f"\n{proc.stderr[-3000:]}")
    return seconds, proc.stderr + proc.stdout  # the summary line last


def passed(output: str) -> int:
    found = re.findall(r"(\d+) passed", output)
    return int(found[-1]) if found else -1


def bench_suite(suite: Suite, work: Path, repeat: int, shards: int, first: int = 1,
                before_src: Path | None = None) -> dict[str, list[float]]:
    repo = unpack_into_repo(sdist_dir(suite.name, suite.version), work / suite.name)
    swarm = [sys.executable, "-m", "swarm", "test", "--shards", str(shards), "--"]
    variants = {
        "plain": (suite.cmd, {}),
        "xdist": ([*suite.cmd, "-n", "auto"], {}),
        "swarm": ([*swarm, *suite.cmd], {}),
        "nofreeze": ([*swarm, *suite.cmd], {"SWARM_SHARD_NO_FREEZE": "1"}),
    }
    times: dict[str, list[float]] = {name: [] for name in ("first", "first_before", *variants)}
    counts: dict[str, int] = {}
    # First runs: a fresh repository and worktree cache each time (no durations, no worktrees, no bytecode),
    # taking turns with the code of --before-src when given.
    for i in range(first):
        for name, src in (("first", None), ("first_before", before_src)):
            if name == "first_before" and src is None:
                continue
            fresh = unpack_into_repo(sdist_dir(suite.name, suite.version), work / f"{suite.name}-first-{name}-{i}")
            extra = {"XDG_CACHE_HOME": str(work / f"cache-first-{name}-{i}")}
            if src is not None:
                extra["PYTHONPATH"] = os.pathsep.join([str(src), suite.env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
            seconds, out = timed([*swarm, *suite.cmd], fresh, env_for(suite, extra))
            times[name].append(seconds)
            counts[name] = passed(out)
            print(f"  {suite.name} first run {i + 1} {'(before)' if src else '':<8} {seconds:6.2f}s  "
                  f"{counts[name]} passed", file=sys.stderr)
            shutil.rmtree(fresh, ignore_errors=True)
    timed(suite.cmd, repo, env_for(suite))  # warm the checkout's bytecode like the worktrees'
    for round_ in range(repeat):
        for name, (argv, extra) in variants.items():
            seconds, out = timed(argv, repo, env_for(suite, extra))
            times[name].append(seconds)
            counts[name] = passed(out)
            print(f"  {suite.name} round {round_ + 1} {name:<8} {seconds:6.2f}s  {counts[name]} passed",
                  file=sys.stderr)
    if len(set(counts.values())) != 1:
        raise SystemExit(f"{suite.name}: the variants disagree on the passed count: {counts}")
    shutil.rmtree(repo / ".swarm", ignore_errors=True)
    subprocess.run([sys.executable, "-m", "swarm", "test", "--remove-worktrees"], cwd=repo, capture_output=True)
    return times


def bench_django(work: Path, repeat: int) -> dict[str, list[float]]:
    """Django's runner: plain, its own --parallel 2, and swarm test running the splitter in two worktrees."""
    repo = unpack_into_repo(sdist_dir(DJANGO.name, DJANGO.version), work / "django")
    splitter = work / "split.py"
    splitter.write_text(SPLITTER)
    apps = ",".join(DJANGO_GROUPS).split(",")
    runner = ["python", "tests/runtests.py", "--parallel"]
    variants = {
        "plain": [*runner, "1", *apps],
        "own": [*runner, "2", *apps],
        "swarm": [sys.executable, "-m", "swarm", "test", "--shards", str(len(DJANGO_GROUPS)), "--", "python",
                  str(splitter), "{shard}", *DJANGO_GROUPS],
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    timed(variants["swarm"], repo, env_for(DJANGO))  # the worktrees, and bytecode everywhere
    timed(variants["plain"], repo, env_for(DJANGO))
    for round_ in range(repeat):
        for name, argv in variants.items():
            seconds, _ = timed(argv, repo, env_for(DJANGO))
            times[name].append(seconds)
            print(f"  django round {round_ + 1} {name:<8} {seconds:6.2f}s", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "swarm", "test", "--remove-worktrees"], cwd=repo, capture_output=True)
    return times


def reset_strategies(work: Path, repeat: int) -> dict[str, list[tuple[float, float, float]]]:
    """Bring a worktree of click's repository to another commit, then run the suite there: three ways.

    recreate  git worktree remove + add + checkout, every time
    cleanall  reuse: git checkout --detach -f + git clean -ffdx (bytecode goes too)
    sparepyc  reuse: the same, sparing __pycache__ (swarm's pool; it drops the .pyc of changed files)

    The suite's CPU time (its processes' user + system) shows what lost bytecode costs with less noise
    from other processes than its wall time.
    """
    suite = SUITES["click"]
    repo = unpack_into_repo(sdist_dir(suite.name, suite.version), work / "click-reset")
    commits = [subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()]
    (repo / "src/click/_compat.py").write_text((repo / "src/click/_compat.py").read_text() + "\n# touched\n")
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qam", "touch"], cwd=repo,
                   check=True)
    commits.append(subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip())
    tree = work / "reset-tree"

    def git(*args: str, cwd: Path = repo) -> None:
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)

    def prepare(strategy: str, commit: str) -> None:
        if strategy == "recreate" or not tree.exists():
            if tree.exists():
                git("worktree", "remove", "--force", str(tree))
            git("worktree", "add", "--detach", "-f", str(tree), commit)
            return
        git("checkout", "--detach", "-f", "-q", commit, cwd=tree)
        git("clean", "-ffdxq", *([] if strategy == "cleanall" else ["-e", "__pycache__"]), cwd=tree)
        if strategy == "sparepyc":
            for pyc in (tree / "src/click/__pycache__").glob("_compat.*.pyc"):
                pyc.unlink()

    results: dict[str, list[tuple[float, float, float]]] = {"recreate": [], "cleanall": [], "sparepyc": []}
    step = 0
    for _ in range(repeat):
        for strategy in results:
            step += 1
            prepare(strategy, commits[step % 2])  # one untimed step so the tree holds the other commit's files
            started = time.perf_counter()
            prepare(strategy, commits[(step + 1) % 2])
            ready = time.perf_counter() - started
            cpu = cpu_of_children()
            seconds, _ = timed(suite.cmd, tree, env_for(suite))
            cpu = cpu_of_children() - cpu
            results[strategy].append((ready, seconds, cpu))
            print(f"  reset {strategy:<9} ready {ready:5.2f}s, suite {seconds:5.2f}s, cpu {cpu:5.2f}s", file=sys.stderr)
    git("worktree", "remove", "--force", str(tree))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", action="append", choices=[*SUITES, "django"],
                        help="Suites to run (default: all).")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--reset", action="store_true", help="Also time the worktree reset strategies.")
    parser.add_argument("--first", type=int, default=1, help="First runs (each in a fresh repository) to time.")
    parser.add_argument("--before-src", type=Path, default=None,
                        help="Also time first runs with the swarm package of this older checkout, taking turns.")
    args = parser.parse_args()
    chosen = args.suite or [*SUITES, "django"]
    bench_venv([SUITES[name] for name in chosen if name in SUITES] + ([DJANGO] if "django" in chosen else []))
    load = os.getloadavg()[0]
    rows, django = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-test-") as tmp:
        work = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")  # the pool lives with the benchmark, and goes with it
        for name in chosen:
            if name == "django":
                django = bench_django(work, args.repeat)
            else:
                rows.append((name, bench_suite(SUITES[name], work, args.repeat, args.shards, args.first,
                                               args.before_src)))
        resets = reset_strategies(work, args.repeat) if args.reset else {}
    print(f"\n{os.cpu_count()} CPUs; load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end; "
          f"medians of {args.repeat} (first runs: {args.first}, each in a fresh repository); shards: {args.shards}\n")
    if rows:
        print("| suite | plain pytest | xdist -n auto | swarm test, first run | first run / plain | "
              "first run (before) / plain | swarm test | swarm test, no gc.freeze | swarm / plain | "
              "best swarm / best plain | xdist / plain |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, times in rows:
            m = {k: statistics.median(v) for k, v in times.items() if v}
            before = f"{m['first_before'] / m['plain']:.2f}" if "first_before" in m else "-"
            print(f"| {name} | {m['plain']:.2f}s | {m['xdist']:.2f}s | {m['first']:.2f}s | "
                  f"**{m['first'] / m['plain']:.2f}** | {before} | {m['swarm']:.2f}s | "
                  f"{m['nofreeze']:.2f}s | **{m['swarm'] / m['plain']:.2f}** | "
                  f"{min(times['swarm']) / min(times['plain']):.2f} | {m['xdist'] / m['plain']:.2f} |")
    if django:
        m = {k: statistics.median(v) for k, v in django.items()}
        print("\n| Django's runner (8 apps) | runtests --parallel 1 | runtests --parallel 2 | swarm test, 2 shards | "
              "swarm / plain | --parallel 2 / plain |")
        print("|---|---:|---:|---:|---:|---:|")
        print(f"| django {DJANGO.version} | {m['plain']:.2f}s | {m['own']:.2f}s | {m['swarm']:.2f}s | "
              f"**{m['swarm'] / m['plain']:.2f}** | {m['own'] / m['plain']:.2f} |")
    if resets:
        print("\n| worktree reset (click) | ready | suite after it, wall | suite after it, CPU |")
        print("|---|---:|---:|---:|")
        for strategy, runs in resets.items():
            ready, wall, cpu = (statistics.median(r[i] for r in runs) for i in range(3))
            print(f"| {strategy} | {ready:.2f}s | {wall:.2f}s | {cpu:.2f}s |")


if __name__ == "__main__":
    main()
