"""Overhead per subtask of the ray executor against the local one, side by side in one run.

For N subtasks on one repository, each executor opens a workspace, makes the
tool calls a short agent makes (read, write, edit, bash), commits, and the
commit is fetched onto the subtask's branch. The model is left out: what is
measured is what the executor adds to each subtask. The Ray cluster is local
(a head and two worker nodes on 127.0.0.1, as the tests start it).

    .venv/bin/python scripts/bench_ray.py [--subtasks 8] [--files 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from ray_cluster import start_cluster  # noqa: E402

from swarm.git.repo import GitRepo  # noqa: E402
from swarm.run.executor import LocalExecutor  # noqa: E402


def make_repo(folder: Path, files: int) -> GitRepo:
    folder.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=folder, check=True)
    for i in range(files):
        path = folder / f"pkg{i % 10}" / f"mod{i}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text("".join(f"def f{i}_{j}():\n    return {j}\n" for j in range(20)))
    subprocess.run("git add -A && git -c user.name=b -c user.email=b@b commit -qm base", shell=True, cwd=folder,
                   check=True)
    return GitRepo(folder.resolve())


async def one(executor, repo: GitRepo, home: Path, run: str, i: int, start: str) -> float:
    began = time.monotonic()
    ws = await executor.open(f"s{i}", f"swarm/{run}/s{i}", start, home / run / f"s{i}", {"PATH": os.environ["PATH"]})
    path = f"pkg{i % 10}/mod{i}.py"
    await ws.tools.call("read", {"file_path": path})
    await ws.tools.call("edit", {"file_path": path, "old_string": f"def f{i}_0(", "new_string": f"def g{i}_0("})
    await ws.tools.call("write", {"file_path": f"notes/s{i}.md", "content": f"subtask {i}\n"})
    await ws.tools.call("bash", {"command": "git status --short | wc -l"})
    commit = await ws.commit(f"swarm(s{i}): bench")
    await ws.close()
    assert commit and repo.git("rev-parse", f"swarm/{run}/s{i}") == commit
    return time.monotonic() - began


async def measure(executor, repo: GitRepo, home: Path, run: str, n: int, concurrency: int) -> tuple[float, float]:
    start = repo.resolve("HEAD")
    slots = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> float:
        async with slots:
            return await one(executor, repo, home, run, i, start)

    began = time.monotonic()
    per = await asyncio.gather(*(guarded(i) for i in range(n)))
    return time.monotonic() - began, sum(per) / len(per)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subtasks", type=int, default=8)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="swarm-bench-ray-"))
    repo = make_repo(tmp / "repo", args.files)
    home = tmp / "worktrees"
    cluster_began = time.monotonic()
    cluster = start_cluster(workers=2)
    cluster_seconds = time.monotonic() - cluster_began
    from swarm.run.ray_executor import RayExecutor

    try:
        local = LocalExecutor(repo)
        ray_ex = RayExecutor(repo, cluster.address)
        ray_ex.prestart(args.concurrency)
        rows = []
        for name, executor in (("local", local), ("ray", ray_ex), ("local", local), ("ray", ray_ex)):
            wall, mean = asyncio.run(measure(executor, repo, home, f"{name}{len(rows)}", args.subtasks,
                                             args.concurrency))
            rows.append((name + (" (first round)" if len(rows) < 2 else " (second round)"), wall, mean))
    finally:
        import ray

        ray.shutdown()
        cluster.shutdown()
    print(f"repository: {args.files} files; {args.subtasks} subtasks, {args.concurrency} at a time; "
          f"cluster start (head + 2 workers): {cluster_seconds:.1f} s")
    print("| executor | wall (s) | mean per subtask (s) |")
    print("|---|---|---|")
    for name, wall, mean in rows:
        print(f"| {name} | {wall:.2f} | {mean:.2f} |")
    for label, (local_row, ray_row) in (("first round (hosts starting)", rows[0:2]), ("second round", rows[2:4])):
        print(f"overhead per subtask, {label}: {ray_row[2] - local_row[2]:+.2f} s ({ray_row[2] / local_row[2]:.1f}x)")


if __name__ == "__main__":
    main()
