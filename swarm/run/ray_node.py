"""The node side of the ray executor: a subtask's repository and tools on a cluster node.

A `NodeWorkspace` lives on one node. Its git dir is kept apart from the work
tree (the work tree's `.git` file only points at it, for the agent's own `git
status`), and every git command names both, as swarm does locally. Objects
come from a per-node cache of the repository, fed by bundles that hold only
what the node lacks; the subtask's branch goes back as a bundle of the commits
made on top of the start commit. No model credential ever reaches a node: the
environment the tools get is the coordinator's allowlisted one.
"""

from __future__ import annotations

import fcntl
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from swarm.git.runner import GitRunner
from swarm.git.worktrees import JUNK_PATHSPECS

BASE = Path(tempfile.gettempdir()) / "swarm-ray"


def _git(*args: str, git_dir: Path, work_tree: Path | None = None, input: bytes | None = None) -> str:
    """git on the node, through swarm's one runner: the git dir named, hooks and fsmonitor off."""
    runner = GitRunner(work_tree or git_dir, git_dir=git_dir, work_tree=work_tree) if work_tree else \
        GitRunner(git_dir)
    return runner.run(*args, input=input).text.strip()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class NodeWorkspace:
    """One subtask's repository on this node (made a Ray actor by the coordinator)."""

    def __init__(self, repo_key: str, branch: str, start: str, env: dict[str, str]) -> None:
        self.cache = BASE / "cache" / f"{repo_key}.git"
        BASE.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="ws-", dir=BASE))
        self.git_dir = self.root / "git"
        self.work = self.root / "work"
        self.branch = branch
        self.start = start
        self.env = {**env, "SWARM_WORKTREE": str(self.work)}
        self.toolbox: Any = None

    def node(self) -> str:
        """This node's id, for placement checks and messages."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def have(self) -> list[str]:
        """Commits the node's cache of the repository already holds (the coordinator leaves them out)."""
        if not (self.cache / "HEAD").exists():
            return []
        out = _git("for-each-ref", "--format=%(objectname)", git_dir=self.cache)
        return sorted(set(out.split()))

    def receive(self, bundle: bytes | None, ref: str) -> None:
        """Take the start commit from a bundle (None: the cache has it) and check it out on the subtask's branch."""
        from swarm.agent.tools import Toolbox

        with _locked(self.cache.with_suffix(".lock")):
            if not (self.cache / "HEAD").exists():
                GitRunner(BASE).run("init", "-q", "--bare", str(self.cache))
            if bundle is not None:
                path = self.root / "in.bundle"
                path.write_bytes(bundle)
                # Kept under the subtask's own ref, so later bundles can leave these objects out.
                _git("fetch", "-q", "--no-tags", str(path), f"+{ref}:{ref}", git_dir=self.cache)
                path.unlink()
        self.work.mkdir()
        GitRunner(self.root).run("init", "-q", "--bare", str(self.git_dir))
        _git("config", "core.bare", "false", git_dir=self.git_dir)
        (self.git_dir / "objects" / "info" / "alternates").write_text(str(self.cache / "objects") + "\n")
        _git("update-ref", f"refs/heads/{self.branch}", self.start, git_dir=self.git_dir)
        _git("symbolic-ref", "HEAD", f"refs/heads/{self.branch}", git_dir=self.git_dir)
        _git("read-tree", "-u", "--reset", "HEAD", git_dir=self.git_dir, work_tree=self.work)
        (self.work / ".git").write_text(f"gitdir: {self.git_dir}\n")
        self.toolbox = Toolbox(self.work, self.env)

    async def call(self, name: str, tool_input: Any) -> tuple[Any, bool]:
        """One tool call, as locally: (content, is_error)."""
        outcome = await self.toolbox.call(name, tool_input)
        return outcome.content, outcome.is_error

    async def run_command(self, command: str, timeout: float) -> tuple[str, int, bool]:
        from swarm.env.sandbox import Sandbox
        from swarm.env.shell import run_shell

        result = await run_shell(command, self.work, self.env, timeout, sandbox=Sandbox(self.work))
        return result.output, result.exit_code, result.timed_out

    def commit(self, message: str) -> bytes | None:
        """Commit every change on the branch; a bundle of the new commits, or None when nothing changed."""
        _git("add", "-A", "--", ".", *JUNK_PATHSPECS, git_dir=self.git_dir, work_tree=self.work)
        if not _git("diff", "--cached", "--name-only", git_dir=self.git_dir, work_tree=self.work):
            return None
        _git("commit", "-q", "--no-verify", "-F", "-", git_dir=self.git_dir, work_tree=self.work,
             input=message.encode())
        path = self.root / "out.bundle"
        _git("bundle", "create", "-q", str(path), f"refs/heads/{self.branch}", f"^{self.start}",
             git_dir=self.git_dir)
        data = path.read_bytes()
        path.unlink()
        self.start = _git("rev-parse", "HEAD", git_dir=self.git_dir)  # the next bundle holds only what follows
        return data

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class WorkspaceHost:
    """A process on a node that holds one subtask's workspace at a time (a Ray actor, reused across subtasks).

    Starting a Ray worker process costs seconds (the interpreter, the SDK's
    tools); a host pays that once and then opens workspace after workspace.
    """

    def __init__(self) -> None:
        self.workspace: NodeWorkspace | None = None

    def node(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()

    def open(self, repo_key: str, branch: str, start: str, env: dict[str, str]) -> list[str]:
        """Begin a subtask's workspace; return the commits this node already holds."""
        self.close()
        self.workspace = NodeWorkspace(repo_key, branch, start, env)
        return self.workspace.have()

    def receive(self, bundle: bytes | None, ref: str) -> None:
        assert self.workspace is not None
        self.workspace.receive(bundle, ref)

    async def call(self, name: str, tool_input: Any) -> tuple[Any, bool]:
        assert self.workspace is not None
        return await self.workspace.call(name, tool_input)

    async def run_command(self, command: str, timeout: float) -> tuple[str, int, bool]:
        assert self.workspace is not None
        return await self.workspace.run_command(command, timeout)

    def commit(self, message: str) -> bytes | None:
        assert self.workspace is not None
        return self.workspace.commit(message)

    async def run_files(self, argv: list[str], rel_cwd: str, env: dict[str, str], inputs: dict[str, bytes],
                        outputs: list[str], timeout: float | None) -> tuple[int | None, float, bytes, dict[str, bytes]]:
        return await run_files(self, argv, rel_cwd, env, inputs, outputs, timeout)

    def close(self) -> None:
        if self.workspace is not None:
            self.workspace.close()
            self.workspace = None


NODE = "@SWARM_NODE@"  # stands for this host's scratch folder in what the coordinator sends
WORK = "@SWARM_WORK@"  # stands for the workspace's work tree


async def run_files(host: WorkspaceHost, argv: list[str], rel_cwd: str, env: dict[str, str],
                    inputs: dict[str, bytes], outputs: list[str], timeout: float | None
                    ) -> tuple[int | None, float, bytes, dict[str, bytes]]:
    """Run a process in the workspace with files sent along and files brought back (a test shard).

    Paths in `argv`, `env`, `inputs` and `outputs` name NODE and WORK; they are made this node's own here.
    Returns the exit code (None: timed out), seconds, the combined output and the output files that exist.
    """
    import asyncio
    import time

    assert host.workspace is not None
    scratch = host.workspace.root / "files"
    scratch.mkdir(exist_ok=True)

    def here(text: str) -> str:
        return text.replace(NODE, str(scratch)).replace(WORK, str(host.workspace.work))  # type: ignore[union-attr]

    for name, data in inputs.items():
        path = Path(here(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for name in outputs:  # the process writes them: their folders must exist, as they do locally
        Path(here(name)).parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *[here(a) for a in argv], cwd=host.workspace.work / rel_cwd, env={k: here(v) for k, v in env.items()},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        code: int | None = proc.returncode
    except asyncio.TimeoutError:
        proc.kill()
        out, code = b"", None
    # Output files name this node's folders: put the markers back, the coordinator makes them its own.
    def back(data: bytes) -> bytes:
        return data.replace(str(host.workspace.work).encode(), WORK.encode()).replace(  # type: ignore[union-attr]
            str(scratch).encode(), NODE.encode())

    found = {name: back(Path(here(name)).read_bytes()) for name in outputs if Path(here(name)).is_file()}
    return code, time.monotonic() - began, back(out), found
