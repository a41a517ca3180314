#!/usr/bin/env python3
"""End-to-end `swarm run --plan` against the scripted server with injected latency.

Each agent makes 3 model calls of 3 s each (write a file, read it, finish), so
the ideal run is the critical path of the server's log: the longest chain of
one subtask's calls, 9 s plus the work between them. For N = 1, 5, 16, 64
subtasks on a small repository and on the Django sdist (6,900 files, through
tests/sdists.py), this measures side by side in one session:

    before   SWARM_WORKTREE_POOL=0 SWARM_SPARSE=off: a full checkout per subtask; with
             `--before-src DIR` the swarm package of DIR (an older checkout of this
             repository, e.g. `git worktree add /tmp/old <rev>`) runs it, so one
             session compares the code before a change with the code after it
    after    the defaults: pooled worktrees, sparse past sparse_threshold files, cold pool
    prev     the code of `--before-src` with its own defaults, cold pool: an earlier version as it shipped
    warm     the same again: the pool's slots exist from the run before
    cold     as warm, but the interpreter starting cold (SWARM_WARM_START=0: no warm process forks the
             command, so it imports the model SDK itself, as every command did before swarm.warm)

`after` and `warm` are served by the warm process (swarm.warm), started once before the first of them
and stopped at the end.
and prints wall time, ideal, E = ideal / wall, E_run = ideal / the run's own
total (result.json: from the coordinator's start, so without the interpreter's
and the SDK's start-up), `first` = launch to the first model request, the
swarm process's peak memory, the worktrees' disk and the time per phase.
`--svg FILE` draws E against N.

    python scripts/bench_run.py [--n 1,5,16,64] [--repos small,django] [--latency 3] [--json FILE] [--svg FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from swarm.scripted.server import ScriptedServer  # noqa: E402

DJANGO = ("Django", "5.1.4")
MODES = {"before": {"SWARM_WORKTREE_POOL": "0", "SWARM_SPARSE": "off", "SWARM_WARM_START": "0"}, "prev": {}, "after": {},
         "warm": {}, "cold": {"SWARM_WARM_START": "0"}}
REUSE = ("warm", "cold")  # modes that run again in the repository (and pool) of the `after` before them


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=b@b", "-c", "commit.gpgsign=false", *args],
                   cwd=repo, check=True, capture_output=True)


def small_repo(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for i in range(40):
        (dest / "pkg").mkdir(exist_ok=True)
        (dest / "pkg" / f"m{i}.py").write_text(f"VALUE_{i} = {i}\n")
    (dest / "README.md").write_text("small\n")
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "small")
    return dest


def django_repo(dest: Path) -> Path:
    from sdists import sdist_dir, unpack_into_repo

    return unpack_into_repo(sdist_dir(*DJANGO), dest)


def plan_and_script(n: int, latency: float) -> tuple[dict, dict]:
    ids = [f"s{i:02d}" for i in range(n)]
    plan = {"task": "bench", "subtasks": [{"id": i, "title": i, "instructions": "write your note",
                                           "files": [f"bench/{i}.txt"]} for i in ids]}
    workers = {i: [{"content": [{"type": "tool_use", "name": "write",
                                 "input": {"file_path": f"bench/{i}.txt", "content": f"{i}\n"}}], "delay": latency},
                   {"content": [{"type": "tool_use", "name": "read", "input": {"file_path": f"bench/{i}.txt"}}],
                    "delay": latency},
                   {"content": [{"type": "text", "text": "Done."}], "delay": latency}] for i in ids}
    return plan, {"workers": workers}


def disk(path: Path) -> int:
    if not path.exists():
        return 0
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else 0


def run_once(repo: Path, cache: Path, n: int, latency: float, mode: str, before_src: Path | None = None) -> dict:
    plan, script = plan_and_script(n, latency)
    plan_file = repo.parent / f"plan-{n}.json"
    plan_file.write_text(json.dumps(plan))
    with ScriptedServer(script) as server:
        env = {**os.environ, "XDG_CACHE_HOME": str(cache), "ANTHROPIC_BASE_URL": server.url,
               "ANTHROPIC_API_KEY": "sk-bench", **MODES[mode]}
        if mode in ("before", "prev") and before_src is not None:
            env["PYTHONPATH"] = str(before_src)
        if mode in ("after", "warm"):
            ensure_warm(repo, env)
        began = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "swarm", "run", "--plan", str(plan_file), "--json",
                                 "--concurrency", str(n)], cwd=repo, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate()
        wall = time.monotonic() - began
        # the peak resident memory of the swarm process (its children are counted apart by the kernel)
        peak_kb = _peak_kb(proc.pid)
        records = server.requests
    if proc.returncode != 0:
        raise SystemExit(f"swarm run failed ({mode}, N={n}): {err[-2000:]}")
    result = json.loads(out)
    by_key: dict[str, list[dict]] = {}
    for r in records:
        if r["role"] == "worker":
            by_key.setdefault(r["key"], []).append(r)
    # the critical path: the longest of one subtask's chains, first request's start to last one's end
    ideal = max(sum(r["end"] - r["start"] for r in rs) for rs in by_key.values())
    first = min(r["start"] for rs in by_key.values() for r in rs) - began  # the server's clock is ours
    worktrees = cache / "swarm" / "worktrees"
    process = result.get("process") or {}
    if mode in ("after", "warm") and not process.get("warm_start"):
        raise SystemExit(f"the warm process did not serve the run ({mode}, N={n})")
    if process.get("warm_start"):  # the process that ran it is the warm process's child, not ours
        peak_kb = int(process["peak_rss_mb"] * 1024)
    return {"mode": mode, "n": n, "wall": wall, "ideal": ideal, "E": ideal / wall,
            "E_run": ideal / result["timings"]["total"], "first": first, "peak_mb": peak_kb / 1024,
            "disk_mb": disk(worktrees) / 1e6, "timings": result["timings"]}


WARM_SOCKET: list[Path] = []


def ensure_warm(repo: Path, env: dict) -> None:
    """Start the warm process (as a command that started cold does at its exit) and wait until it listens."""
    import socket

    code = "from swarm import warm; warm.spawn_server(); print(warm.socket_path())"
    path = Path(subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True,
                               check=True).stdout.strip())
    WARM_SOCKET[:] = [path]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(path))
                return  # (it forks nothing for a connection that sends nothing)
            except OSError:
                time.sleep(0.1)
    raise SystemExit("the warm process did not start")


def stop_warm() -> None:
    for path in WARM_SOCKET:
        try:
            os.kill(int(Path(f"{path}.lock").read_text().split()[0]), 15)
        except (OSError, ValueError, IndexError):
            pass


_PEAKS: dict[int, int] = {}


def _peak_kb(pid: int) -> int:
    return _PEAKS.get(pid, 0)


_popen_wait = subprocess.Popen._try_wait  # type: ignore[attr-defined]


def _try_wait(self: subprocess.Popen, wait_flags: int) -> tuple[int, int]:
    # wait4 instead of waitpid: the same reaping, plus the child's own rusage (ru_maxrss, in KB on Linux)
    try:
        pid, status, usage = os.wait4(self.pid, wait_flags)
    except ChildProcessError:
        return self.pid, 0
    if pid:
        _PEAKS[pid] = usage.ru_maxrss
    return pid, status


subprocess.Popen._try_wait = _try_wait  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1,5,16,64")
    parser.add_argument("--repos", default="small,django")
    parser.add_argument("--latency", type=float, default=3.0)
    parser.add_argument("--modes", default="before,after,warm,cold")
    parser.add_argument("--json", type=Path, default=None, help="also write every row to this file")
    parser.add_argument("--svg", type=Path, default=None, help="draw E against N to this file")
    parser.add_argument("--before-src", type=Path, default=None,
                        help="run `before` with the swarm package of this older checkout")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="swarm-bench-") as scratch:
        for name in args.repos.split(","):
            for n in (int(x) for x in args.n.split(",")):
                for mode in args.modes.split(","):
                    # a fresh repository and cache for `before` and `after`; `warm` and `cold` reuse after's
                    where = Path(scratch) / f"{name}-{n}-{'after' if mode in REUSE else mode}"
                    if mode not in REUSE:
                        shutil.rmtree(where, ignore_errors=True)
                        (small_repo if name == "small" else django_repo)(where / "repo")
                    row = run_once(where / "repo", where / "cache", n, args.latency, mode, args.before_src)
                    row["repo"] = name
                    rows.append(row)
                    t = row["timings"]
                    print(f"| {name:6} | {n:3} | {mode:6} | {row['wall']:6.1f} | {row['ideal']:5.1f} | "
                          f"{row['E']:4.2f} | {row['E_run']:5.2f} | {row['first']:5.2f} | "
                          f"{row['peak_mb']:5.0f} | {row['disk_mb']:7.1f} | "
                          f"{t['worktrees']:5.1f} | {t['agents']:5.1f} | {t['merge']:4.1f} | {t['checks']:4.1f} |",
                          flush=True)
    stop_warm()
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.svg is not None:
        args.svg.write_text(svg_plot(rows), encoding="utf-8")
    return 0


def svg_plot(rows: list[dict]) -> str:
    """E against N (log scale), one line per repository and mode, as a self-contained SVG."""
    width, height, left, bottom, top, right = 640, 360, 60, 40, 20, 150
    ns = sorted({r["n"] for r in rows})
    xs = {n: left + (width - left - right) * (i / max(len(ns) - 1, 1)) for i, n in enumerate(ns)}

    def y(e: float) -> float:
        return top + (height - top - bottom) * (1 - max(0.0, min(e, 1.0)))

    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           'font-size="12"><rect width="100%" height="100%" fill="white"/>']
    for e in (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0):
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(e):.1f}" y2="{y(e):.1f}" stroke="#ddd"/>'
                   f'<text x="{left - 8}" y="{y(e) + 4:.1f}" text-anchor="end">{e:.1f}</text>')
    for n, x in xs.items():
        out.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">{n}</text>')
    out.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 6}" text-anchor="middle">N (subtasks, '
               'all at once)</text><text x="14" y="{0}" transform="rotate(-90 14 {0})" text-anchor="middle">'
               'E = ideal / wall</text>'.format((top + height - bottom) / 2))
    series = sorted({(r["repo"], r["mode"]) for r in rows})
    for i, (repo, mode) in enumerate(series):
        points = sorted((r["n"], r["E"]) for r in rows if (r["repo"], r["mode"]) == (repo, mode))
        colour = colours[i % len(colours)]
        path = " ".join(f"{xs[n]:.1f},{y(e):.1f}" for n, e in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out += [f'<circle cx="{xs[n]:.1f}" cy="{y(e):.1f}" r="3" fill="{colour}"/>' for n, e in points]
        out.append(f'<text x="{width - right + 10}" y="{top + 16 * i + 10}" fill="{colour}">{repo} {mode}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print("| repo   |   N | mode   | wall s | ideal |    E | E_run | first | MB    | disk MB | wt s  | agt s | mrg  | "
          "chk  |")
    sys.exit(main())
