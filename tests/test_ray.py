"""The ray executor on a real local Ray cluster: a head and two worker nodes, all on 127.0.0.1.

The same plan and the same scripted model give the same merged tree as the local executor; the API key
reaches no record, node cache or Ray log; a node lost mid-subtask does not lose the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import git, swarm_process, text, tool, turn, write_plan

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'swarm[ray]')")

from ray_cluster import LOOPBACK_ENV, node_ports, start_cluster  # noqa: E402

API_KEY = "sk-test-secret-key-123456"  # what conftest gives the client
FILES = {"pkg/a.py": "def alpha():\n    return 1\n", "pkg/b.py": "def beta():\n    return 2\n",
         "README.md": "# pkg\n"}
PLAN = {"task": "Rename and document", "subtasks": [
    {"id": "a", "title": "Rename alpha", "instructions": "Rename alpha to first.", "files": ["pkg/a.py"]},
    {"id": "b", "title": "Rename beta", "instructions": "Rename beta to second.", "files": ["pkg/b.py"]},
    {"id": "stamp", "title": "Stamp", "command": "echo built > BUILT.txt"},
    {"id": "docs", "title": "Docs", "instructions": "Document the new names.", "files": ["README.md"],
     "depends_on": ["a", "b"]},
]}


def script(delay: float = 0.0) -> dict[str, Any]:
    return {"workers": {
        "a": [turn(tool("read", file_path="pkg/a.py"), delay=delay),
              turn(tool("edit", file_path="pkg/a.py", old_string="def alpha(", new_string="def first("), delay=delay),
              turn(tool("bash", command="grep -c first pkg/a.py"), delay=delay),
              turn(text("Renamed alpha to first."))],
        "b": [turn(tool("edit", file_path="pkg/b.py", old_string="def beta(", new_string="def second(")),
              turn(text("Renamed beta to second."))],
        "docs": [turn(tool("read", file_path="pkg/a.py")),
                 turn(tool("write", file_path="README.md", content="# pkg\n\nfirst() and second().\n")),
                 turn(text("Documented first and second."))],
    }}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    started = start_cluster(workers=2)
    try:
        yield started
    finally:
        if ray.is_initialized():
            ray.shutdown()
        started.shutdown()


def run(repo: Path, tmp_path: Path, server: Any, *extra: str, name: str = "plan.json") -> dict[str, Any]:
    proc = swarm_process(repo, "run", "--plan", str(write_plan(tmp_path / name, PLAN)), "--json", *extra,
                         server=server, env=LOOPBACK_ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "(raylet)" not in proc.stdout  # Ray's own lines never spoil --json
    return json.loads(proc.stdout)


def test_ray_run_merges_the_same_tree_as_a_local_run_and_no_key_leaves(cluster, make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    local = run(repo, tmp_path, scripted(script()), "--executor", "local", name="local.json")
    remote = run(repo, tmp_path, scripted(script()), "--executor", "ray", "--ray-address", cluster.address,
                 name="ray.json")
    assert [s["state"] for s in remote["subtasks"]] == ["done"] * 4
    tree = lambda r: git(repo, "rev-parse", f"{r['merged_commit']}^{{tree}}")  # noqa: E731
    assert tree(remote) == tree(local)
    assert git(repo, "show", f"{remote['merged_branch']}:BUILT.txt") == "built"
    # Each subtask's commit came back onto its own branch, with the coordinator's message.
    a = next(s for s in remote["subtasks"] if s["id"] == "a")
    assert git(repo, "log", "-1", "--format=%s", a["branch"]) == "swarm(a): Rename alpha"
    assert a["files_changed"] == ["pkg/a.py"]
    # The workspaces were on cluster nodes, not in this machine's worktree folder.
    assert not Path(a["worktree"]).exists()
    # The key is in no record, no node's repository cache and no Ray log.
    places = [p for p in (repo / ".swarm").rglob("*") if p.is_file()]
    places += [p for p in Path("/tmp/ray").rglob("*") if p.is_file() and "session" in str(p)
               and p.stat().st_size < 20_000_000]
    leaked = [str(p) for p in places if API_KEY.encode() in p.read_bytes()]
    assert leaked == []
    for cache in Path("/tmp/swarm-ray/cache").glob("*.git"):
        history = subprocess.run(["git", f"--git-dir={cache}", "log", "--all", "-p"], capture_output=True).stdout
        assert API_KEY.encode() not in history


def _raylet_pids(cluster: Any) -> dict[int, Any]:
    from ray._private import ray_constants

    return {node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid: node
            for node in cluster.worker_nodes}


def _parent(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    return 0


def test_a_node_lost_mid_subtask_and_the_run_still_completes(cluster, make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    server = scripted(script(delay=1.5))
    env = {**os.environ, **LOOPBACK_ENV, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": API_KEY}
    plan = {"task": "t", "subtasks": [PLAN["subtasks"][0]]}
    proc = subprocess.Popen([sys.executable, "-m", "swarm", "run", "--plan", str(write_plan(tmp_path / "p.json", plan)),
                             "--json", "--executor", "ray", "--ray-address", cluster.address],
                            cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Once subtask a has made its edit, find the node whose raylet parents its workspace host, and kill it.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len([r for r in server.requests if r["key"] == "a"]) < 3:
            time.sleep(0.1)
        hosts = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                 and b"WorkspaceHost" in _safe_cmdline(p)]
        raylets = _raylet_pids(cluster)
        # The run (one subtask) started one workspace host: kill the node whose raylet is its parent.
        busy = [raylets[_parent(pid)] for pid in hosts if _parent(pid) in raylets]
        assert busy, "no workspace host found on a worker node"
        cluster.remove_node(busy[0], allow_graceful=False)
        out, err = proc.communicate(timeout=240)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["subtasks"][0]["state"] == "done"
    # The edit made before the node was lost was replayed on another node and is in the merged result.
    assert "def first(" in git(repo, "show", f"{result['merged_branch']}:pkg/a.py")
    cluster.add_node(num_cpus=1, resources={"worker-again": 1}, **node_ports())  # for the tests after this one


def _safe_cmdline(path: Path) -> bytes:
    try:
        return (path / "cmdline").read_bytes()
    except OSError:
        return b""


def test_without_an_address_that_answers_the_error_is_one_line(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    proc = swarm_process(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", PLAN)), "--executor", "ray",
                         "--ray-address", "127.0.0.1:9", env=LOOPBACK_ENV, server=scripted(script()))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("Error: cannot reach the Ray cluster at 127.0.0.1:9")
    assert "Traceback" not in proc.stderr


def test_without_ray_installed_the_executor_says_how_to_install_it(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    blocker = tmp_path / "no-ray"
    blocker.mkdir()
    (blocker / "ray.py").write_text("raise ImportError('No module named ray')\n")
    proc = swarm_process(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", PLAN)), "--executor", "ray",
                         env={**LOOPBACK_ENV, "PYTHONPATH": str(blocker)}, server=scripted(script()))
    assert proc.returncode == 2
    assert "pip install 'swarm[ray]'" in proc.stderr.strip().splitlines()[-1]
    assert "Traceback" not in proc.stderr


def test_sharded_swarm_test_on_the_cluster_counts_what_plain_pytest_counts(cluster, make_repo, tmp_path):
    files = {f"tests/test_m{i}.py": "".join(f"def test_{i}_{j}():\n    assert {j} == {j}\n" for j in range(4))
             for i in range(3)}
    files["tests/test_m0.py"] += "def test_fails():\n    assert 1 == 2\n"
    repo = make_repo(files)
    command = f"{sys.executable} -m pytest -q -p no:cacheprovider tests"
    plain = subprocess.run(command.split(), cwd=repo, capture_output=True, text=True)
    assert "12 passed" in plain.stdout and "1 failed" in plain.stdout
    proc = swarm_process(repo, "test", "--shards", "2", "--executor", "ray", "--ray-address", cluster.address,
                         "--json", "--", *command.split(), env=LOOPBACK_ENV, timeout=300)
    assert proc.returncode == 1, proc.stderr  # one test fails, as in plain pytest
    (report,) = json.loads(proc.stdout)
    assert report["totals"]["passed"] == 12 and report["totals"]["failed"] == 1
    assert len(report["shards"]) == 2
    assert all(s["error"] is None for s in report["shards"]), report["shards"]
