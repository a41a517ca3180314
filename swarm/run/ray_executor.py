"""The ray executor: each subtask's workspace on a Ray cluster node, the agent loop here.

What travels where:
- the start commit goes to the node as a git bundle through Ray's object store,
  holding only the objects the node's cache of the repository lacks;
- each tool call (and a `command` subtask's command) goes to the workspace's
  host, an actor on its node, and its result comes back;
- the subtask's commits come back as a bundle, fetched into the user's repository
  on the subtask's branch;
- the model calls never leave this machine: the agent loop, the rate-limit gate
  and the cost ceiling stay in the coordinator, and no `ANTHROPIC_*` variable is
  sent anywhere (Ray writes runtime-env variables to its logs in clear text).

A node lost mid-subtask: the actor is opened again on another node from the
start commit and the calls that changed files are replayed in order, so the
agent goes on where it was; a command is run again.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from pathlib import Path
from typing import Any

from swarm.agent.tools import ToolOutcome
from swarm.env.shell import ShellResult
from swarm.errors import ConfigError, SwarmError
from swarm.git.bundle import create_bundle, fetch_bundle
from swarm.git.repo import GitRepo

try:
    import ray
except ImportError:  # an optional extra
    ray = None  # type: ignore[assignment]

INSTALL = "the ray executor needs Ray: pip install 'swarm[ray]' (or pip install ray)"
# Calls whose effect a fresh workspace must see again after a node is lost.
MUTATING = {"write", "edit", "bash"}
OPEN_RETRIES = 3


def _reachable(target: str) -> str | None:
    """Why `host:port` (or `ray://host:port`) cannot be reached, or None; Ray itself would retry for minutes."""
    rest = target.split("://", 1)[-1]
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None  # "auto", "local" or a form Ray resolves itself
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=3):
            return None
    except OSError as e:
        return e.strerror or type(e).__name__


def connect(address: str | None) -> str:
    """Connect this process to the cluster at `address` (or RAY_ADDRESS, or a new local one); return the address."""
    if ray is None:
        raise ConfigError(INSTALL)
    if ray.is_initialized():
        return address or "(connected)"
    target = address or os.environ.get("RAY_ADDRESS") or None
    problem = _reachable(target) if target else None
    if problem:
        raise ConfigError(f"cannot reach the Ray cluster at {target} ({problem}); check --ray-address "
                          "(or RAY_ADDRESS), and that the cluster is up (`ray status` on its head node)")
    # A Ray instance started from here inherits this environment: keep the model credentials out of it.
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("ANTHROPIC_")}
    try:
        ray.init(address=target, log_to_driver=False, logging_level="ERROR", include_dashboard=False,
                 configure_logging=True, ignore_reinit_error=True)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"cannot reach the Ray cluster at {target or 'a new local instance'}: {first}; "
                          "check --ray-address (or RAY_ADDRESS)") from None
    finally:
        os.environ.update(saved)
    return target or "local"


def _remote_class() -> Any:
    from swarm.run.ray_node import WorkspaceHost

    # Each workspace claims a CPU so work spreads across nodes; hosts are not restarted in place: a lost
    # node's workspace is opened again elsewhere by the coordinator (see RemoteTools.call).
    return ray.remote(num_cpus=1, max_restarts=0)(WorkspaceHost)


class RemoteTools:
    """The agent's tools, run by the workspace's actor on its node."""

    def __init__(self, workspace: "RayWorkspace", definitions: list[dict[str, Any]]) -> None:
        self.workspace = workspace
        self._definitions = definitions
        self.replay: list[tuple[str, Any]] = []

    def definitions(self) -> list[dict[str, Any]]:
        return [dict(d) for d in self._definitions]

    async def call(self, name: str, tool_input: Any) -> ToolOutcome:
        for attempt in range(OPEN_RETRIES + 1):
            actor = await self.workspace.actor()
            try:
                content, is_error = await actor.call.remote(name, tool_input)
            except ray.exceptions.RayActorError:
                if attempt == OPEN_RETRIES:
                    return ToolOutcome(f"{name}: the cluster node running this workspace was lost "
                                       f"{OPEN_RETRIES + 1} times; try again", True)
                await self.workspace.reopen(self.replay)
                continue
            if name in MUTATING:
                self.replay.append((name, tool_input))
            return ToolOutcome(content, is_error)
        raise AssertionError("unreachable")


class RayWorkspace:
    """A subtask's workspace on a node, seen from the coordinator."""

    def __init__(self, executor: "RayExecutor", branch: str, start: str, env: dict[str, str],
                 ref: str | None = None) -> None:
        self.executor = executor
        self.branch = branch
        self.ref = ref or f"refs/heads/{branch}"  # how the start commit is named in the user's repository
        self.start = start
        self.env = env
        self._actor: Any = None
        self.tools = RemoteTools(self, executor.definitions)

    async def actor(self) -> Any:
        if self._actor is None:
            self._actor = await self.executor.start_actor(self.branch, self.start, self.env, self.ref)
        return self._actor

    async def reopen(self, replay: list[tuple[str, Any]]) -> None:
        """Open the workspace again (on whichever node has room) and replay the calls that changed files."""
        self._actor = None  # the lost host is not given back to the pool
        self.executor.lost()
        actor = await self.actor()
        for name, tool_input in replay:
            await actor.call.remote(name, tool_input)

    async def run_command(self, command: str, timeout: float) -> ShellResult:
        """A command subtask, run by the workspace's host on its node (a lost node: opened again, run again)."""
        for attempt in range(OPEN_RETRIES + 1):
            actor = await self.actor()
            try:
                output, code, timed_out = await actor.run_command.remote(command, timeout)
                return ShellResult(output, code, timed_out)
            except ray.exceptions.RayActorError:
                if attempt == OPEN_RETRIES:
                    raise SwarmError(f"the cluster node running `{command}` was lost {OPEN_RETRIES + 1} times")
                await self.reopen(self.tools.replay)
        raise AssertionError("unreachable")

    async def commit(self, message: str) -> str | None:
        repo = self.executor.repo
        if self._actor is None:
            return None
        data = await self._actor.commit.remote(message)
        if data is None:
            return None
        ref = f"refs/heads/{self.branch}"
        commit = await asyncio.to_thread(fetch_bundle, repo, data, ref, ref)
        self.start = commit
        return commit

    async def close(self) -> None:
        if self._actor is not None:
            actor, self._actor = self._actor, None
            try:
                await actor.close.remote()
            except ray.exceptions.RayActorError:
                return  # the node is gone, and its workspace with it
            self.executor.release(actor)


class RayExecutor:
    """Opens each subtask's workspace on the cluster."""

    name = "ray"

    def __init__(self, repo: GitRepo, address: str | None) -> None:
        self.address = connect(address)
        self.repo = repo
        self.repo_key = hashlib.sha1(str(repo.root).encode()).hexdigest()[:12]
        self.actor_class = _remote_class()
        self.definitions = self._tool_definitions()
        # One host per CPU of the cluster at most: a host holds its CPU for its life, so more would wait forever.
        self.capacity = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.created = 0
        self.idle: list[Any] = []
        self._released: asyncio.Queue[Any] | None = None

    def _new_host(self) -> Any:
        self.created += 1
        host = self.actor_class.remote()
        host.node.remote()  # not awaited: only makes Ray start the process now
        return host

    def prestart(self, hosts: int) -> None:
        """Start up to `hosts` workspace hosts now, so their processes are up by the time the agents need them."""
        for _ in range(min(hosts, self.capacity) - self.created):
            self.idle.append(self._new_host())

    async def acquire(self) -> Any:
        """An idle host, a new one while the cluster has CPUs for it, else the next one released."""
        if self._released is None:
            self._released = asyncio.Queue()
        if self.idle:
            return self.idle.pop()
        if not self._released.empty():
            return self._released.get_nowait()
        if self.created < self.capacity:
            return self._new_host()
        return await self._released.get()

    def release(self, host: Any) -> None:
        if self._released is None:
            self._released = asyncio.Queue()
        self._released.put_nowait(host)

    def lost(self) -> None:
        """A host died with its node: room for a new one."""
        self.created -= 1

    @staticmethod
    def _tool_definitions() -> list[dict[str, Any]]:
        # The same definitions as a local worktree's tools, so the shared prompt prefix stays cacheable.
        import tempfile

        from swarm.agent.tools import Toolbox

        with tempfile.TemporaryDirectory() as tmp:
            return Toolbox(Path(tmp), {}).definitions()

    async def bundle(self, ref: str, start: str, have: tuple[str, ...]) -> bytes:
        """A bundle of `start` under `ref` (set here first), without what the node already has."""
        await asyncio.to_thread(self.repo.git, "update-ref", ref, start)
        return await asyncio.to_thread(create_bundle, self.repo, ref, exclude=have)

    async def start_actor(self, branch: str, start: str, env: dict[str, str], ref: str | None = None) -> Any:
        """A host with a workspace on `branch` at `start`; `ref` names it here (default: the branch itself)."""
        ref = ref or f"refs/heads/{branch}"
        for _ in range(OPEN_RETRIES + 1):
            actor = await self.acquire()
            try:
                have = await actor.open.remote(self.repo_key, branch, start, env)
                break
            except ray.exceptions.RayActorError:  # an idle host whose node went away
                self.lost()
        else:
            raise SwarmError("no cluster node could open the workspace (every host was lost); check the cluster")
        # The node's cache may hold the start commit already (an earlier subtask of the run): nothing to send.
        data = None if start in have else await self.bundle(ref, start, tuple(have))
        await actor.receive.remote(data, ref)
        return actor

    async def open(self, subtask_id: str, branch: str, start_commit: str, path: Path,
                   env: dict[str, str]) -> RayWorkspace:
        await asyncio.to_thread(self.repo.update_branch, branch, start_commit)
        node_env = {k: v for k, v in env.items() if not k.startswith("ANTHROPIC_")}
        return RayWorkspace(self, branch, start_commit, node_env)

    async def shutdown(self) -> None:
        return None
