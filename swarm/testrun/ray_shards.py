"""`swarm test --executor ray`: each shard in a workspace on a Ray cluster node.

The shards are the same as locally (same plan, plugin, JUnit and aggregation):
only where they run changes. A `RaySlot` is a workspace host on a node holding
the commit (sent as a bundle, as for `swarm run --executor ray`); `RayInvocation`
runs a shard's process there, sending the plugin and the plan along and
bringing back its log, its events and its JUnit file to the same places in
`.swarm/tests/<id>/` a local shard writes them, so everything after is shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarm.git.repo import GitRepo
from swarm.run.ray_executor import RayExecutor, RayWorkspace
from swarm.run.ray_node import NODE, WORK
from swarm.testrun.invocation import Invocation

TEST_REF = "refs/swarm-test/shard-{}"


class RaySlot:
    """A shard's place on a node: `path` only names it here (a local path no file is written to)."""

    def __init__(self, executor: RayExecutor, index: int, home: Path) -> None:
        self.executor = executor
        self.index = index
        self.path = home / f"ray-shard-{index}"
        self.workspace: RayWorkspace | None = None

    async def prepare(self, commit: str) -> None:
        self.workspace = RayWorkspace(self.executor, f"swarm-test-{self.index}", commit, {},
                                      ref=TEST_REF.format(self.index))
        await self.workspace.actor()

    def release(self) -> None:
        workspace, self.workspace = self.workspace, None
        if workspace is not None and workspace._actor is not None:
            workspace._actor.close.remote()  # not awaited: the host goes back to the pool for later runs
            self.executor.release(workspace._actor)


class RayPool:
    """Slots on the cluster instead of pooled worktrees."""

    def __init__(self, repo: GitRepo, executor: RayExecutor) -> None:
        self.repo = repo
        self.executor = executor
        self.dir = repo.worktrees_home() / "_test"
        self.next = 0
        self.slots: dict[Path, RaySlot] = {}

    def acquire(self) -> RaySlot:
        slot = RaySlot(self.executor, self.next, self.dir)
        self.next += 1
        self.slots[slot.path] = slot
        return slot


@dataclass
class RayInvocation(Invocation):
    """An invocation whose shard processes run in their slot's workspace on a node."""

    slots: dict[Path, RaySlot] = field(default_factory=dict)

    async def spawn(self, argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[int | None, float]:
        slot = next(s for path, s in self.slots.items() if cwd == path or path in cwd.parents)
        assert slot.workspace is not None
        records, plugin = str(self.records), str(self.plugin_dir)

        def there(text: str) -> str:  # this machine's paths, as the node names them
            return (text.replace(str(slot.path), WORK).replace(records, f"{NODE}/records")
                    .replace(plugin, f"{NODE}/plugin").replace(str(self.repo.root), WORK))

        inputs = {there(str(p)): p.read_bytes() for p in (*self.plugin_dir.glob("*.py"),
                                                          *self.records.glob("*plan.json"))}
        wanted = [p for value in (*argv, *env.values()) for p in _paths_in(value, records)]
        node_env = {k: there(v) for k, v in env.items() if not k.startswith("ANTHROPIC_")}
        actor = await slot.workspace.actor()
        code, seconds, output, found = await actor.run_files.remote(
            [there(a) for a in argv], str(cwd.relative_to(slot.path)) if cwd != slot.path else "", node_env,
            inputs, [there(p) for p in wanted], self.timeout)
        def here(data: bytes) -> bytes:  # the node's paths, as this machine names them
            return data.replace(f"{NODE}/records".encode(), records.encode()).replace(
                f"{NODE}/plugin".encode(), plugin.encode()).replace(WORK.encode(), str(slot.path).encode())

        log.write_bytes(here(output))
        for local in wanted:
            if there(local) in found:
                Path(local).write_bytes(here(found[there(local)]))
        return code, seconds


def _paths_in(value: str, records: str) -> list[str]:
    """The files under the records folder that a shard's argv or environment names (what comes back)."""
    out = []
    for part in value.replace("=", " ").split():
        if part.startswith(records):
            out.append(part)
    return out


def ray_invocation(base: Invocation, pool: RayPool) -> RayInvocation:
    return RayInvocation(base.repo, base.commit, pool, base.records, base.progress, base.env,  # type: ignore[arg-type]
                         base.timeout, base.store, base.plugin_dir, slots=pool.slots)


def make_ray_pool(repo: GitRepo, address: str | None, shards: int) -> tuple[RayPool, Any]:
    executor = RayExecutor(repo, address)
    executor.prestart(shards)
    return RayPool(repo, executor), executor
