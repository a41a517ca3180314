"""Blocks of TCP ports, one per worktree in use, so parallel dev servers never fight over a port.

A block is `size` consecutive ports from `BASE`. Blocks are held with a lock
file per block in a per-user folder (`ports_folder`) (flock: released when the holder
exits, even when killed), so two runs at once never get the same block; a
block whose first port something else is listening on is skipped.
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
import weakref
from pathlib import Path
from typing import IO

BASE = 20000
TOP = 60000


class PortBlock:
    """A held block of ports: `first` .. `first + size - 1`, until `release`."""

    def __init__(self, first: int, size: int, handle: IO[str]) -> None:
        self.first = first
        self.size = size
        self._handle: IO[str] | None = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing drops the flock
            self._handle = None


def ports_folder() -> Path:
    """Where blocks are held: one folder per user for every repository, so no two swarms share a block."""
    return Path(tempfile.gettempdir()) / f"swarm-ports-{os.getuid()}"


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# The blocks this process holds, by folder and size (held while the lock file is open).
_HELD: dict[tuple[Path, int], "weakref.WeakValueDictionary[int, IO[str]]"] = {}


def reserve_ports(folder: Path, size: int) -> PortBlock:
    """The lowest free block of `size` ports; blocks held by this or any other process are skipped."""
    folder.mkdir(parents=True, exist_ok=True)
    held = _HELD.setdefault((folder, size), weakref.WeakValueDictionary())
    for start in [k for k, h in held.items() if h.closed]:
        del held[start]
    first = BASE
    while first + size <= TOP:
        if first in held:  # this process's own: no need to try it
            first += size
            continue
        handle = open(folder / f"{first}-{size}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
        else:
            if _overlaps_held(folder, first, size):
                handle.close()
            elif _free(first):
                held[first] = handle
                return PortBlock(first, size, handle)
            else:
                handle.close()
        first += size
    raise OSError("no free block of ports between 20000 and 60000")


def _overlaps_held(folder: Path, first: int, size: int) -> bool:
    """Whether a block of another size held now overlaps this one."""
    for entry in os.listdir(folder):
        try:
            start, other = (int(x) for x in entry.removesuffix(".lock").split("-"))
        except ValueError:
            continue
        if other == size or start + other <= first or first + size <= start:
            continue
        with open(folder / entry, "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
            except BlockingIOError:
                return True
    return False
