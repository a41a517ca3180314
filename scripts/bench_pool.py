#!/usr/bin/env python3
"""Taking N pool slots at once on the Django sdist (6,800 files), sparse, cold (new slots) then warm (reused).

    python scripts/bench_pool.py [--n 64] [--rounds 2]

Prints when the first, the median and the last of the N slots were ready, per round: round 0 makes
the slots, later rounds reuse them (checkout, clean, sparse set), as subtasks of later runs do.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="swarm-bench-pool-") as scratch:
        os.environ["XDG_CACHE_HOME"] = str(Path(scratch) / "cache")
        from sdists import sdist_dir, unpack_into_repo
        from swarm.env.pool import WorktreePool
        from swarm.env.reaper import use_pidfd_reaper
        from swarm.env.sparse import sparse_patterns
        from swarm.git.repo import GitRepo

        use_pidfd_reaper()
        repo = GitRepo(unpack_into_repo(sdist_dir("Django", "5.1.4"), Path(scratch) / "repo"))
        pool = WorktreePool(repo)
        start = repo.resolve("HEAD")

        async def rounds() -> None:
            for r in range(args.rounds):
                began = time.monotonic()
                slots = [pool.acquire() for _ in range(args.n)]
                ready: list[float] = []

                async def take(i: int, slot) -> None:
                    await slot.take("bench", f"s{i}", f"swarm/bench/s{i}", start,
                                    sparse=sparse_patterns([f"bench/s{i}.txt"], None, []))
                    ready.append(time.monotonic() - began)

                await asyncio.gather(*(take(i, s) for i, s in enumerate(slots)))
                ready.sort()
                print(f"round {r} ({'new' if r == 0 else 'reused'} slots): N={args.n} first {ready[0]:.2f} s, "
                      f"median {ready[len(ready) // 2]:.2f} s, last {ready[-1]:.2f} s", flush=True)
                for slot in slots:
                    await slot.give_back(committed=True)

        asyncio.run(rounds())
    return 0


if __name__ == "__main__":
    sys.exit(main())
