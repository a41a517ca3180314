"""How soon `swarm run --plan` prints its first line, against `import anthropic` alone, side by side.

    .venv/bin/python scripts/bench_start.py [--rounds 5]

A one-subtask command plan in a new repository; the first line on stderr is timed from the start of the
process. Both are measured in the same loop, alternating, so machine noise hits them alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    repo = Path(tempfile.mkdtemp(prefix="swarm-bench-start-"))
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    (repo / "a.txt").write_text("a\n")
    subprocess.run("git add -A && git -c user.name=b -c user.email=b@b commit -qm base", shell=True, cwd=repo,
                   check=True)
    plan = repo.parent / f"{repo.name}-plan.json"
    plan.write_text(json.dumps({"task": "t", "subtasks": [{"id": "a", "command": "true"}]}))
    first, sdk = [], []
    for _ in range(args.rounds):
        began = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "swarm", "run", "--plan", str(plan)], cwd=repo,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        proc.stderr.readline()
        first.append(time.monotonic() - began)
        proc.communicate()
        began = time.monotonic()
        subprocess.run([sys.executable, "-c", "import anthropic"], check=True)
        sdk.append(time.monotonic() - began)
    print(f"first line of `swarm run --plan`: median {statistics.median(first):.2f} s; "
          f"`python -c 'import anthropic'`: median {statistics.median(sdk):.2f} s; "
          f"ratio {statistics.median(first) / statistics.median(sdk):.2f} ({args.rounds} rounds)")


if __name__ == "__main__":
    main()
