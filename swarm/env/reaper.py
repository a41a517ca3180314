"""Reaping child processes without a thread each: pidfds on the running loop (Linux, Python 3.11).

A run starts hundreds of short processes (git, shells, tests). Python 3.11's
default `ThreadedChildWatcher` starts one thread per process to wait for it,
and `Thread.start()` blocks the event loop until that thread runs: with 64
agents that was the biggest wait of the loop (about a second). Here each
child's pidfd is a reader on the loop that started it, so nothing blocks and
any thread's own loop (the SDK's file tools run on worker threads) reaps its
own children. Python 3.12 does this itself, so nothing is changed there, nor
where pidfds do not work.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import warnings
from typing import Any, Callable


class LoopPidfdWatcher(asyncio.AbstractChildWatcher):
    """A child watcher that registers each child's pidfd with the loop running when it started."""

    def __init__(self) -> None:
        self._children: dict[int, tuple[asyncio.AbstractEventLoop, int]] = {}

    def add_child_handler(self, pid: int, callback: Callable[..., Any], *args: Any) -> None:
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # out of file descriptors, say: a thread waits for this one, as Python's own watcher does
            threading.Thread(target=_wait_blocking, args=(loop, pid, callback, args), daemon=True,
                             name=f"swarm-reap-{pid}").start()
            return
        self._children[pid] = (loop, pidfd)

        def reap() -> None:
            if self._children.pop(pid, None) is None:
                return
            loop.remove_reader(pidfd)
            try:
                _, status = os.waitpid(pid, 0)
                code = os.waitstatus_to_exitcode(status)
            except ChildProcessError:  # reaped elsewhere
                code = 255
            finally:
                os.close(pidfd)
            callback(pid, code, *args)

        loop.add_reader(pidfd, reap)

    def remove_child_handler(self, pid: int) -> bool:
        entry = self._children.pop(pid, None)
        if entry is None:
            return False
        loop, pidfd = entry
        loop.remove_reader(pidfd)
        os.close(pidfd)
        return True

    def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        pass  # every child is registered with its own running loop

    def close(self) -> None:
        for pid in list(self._children):
            self.remove_child_handler(pid)

    def is_active(self) -> bool:
        return True

    def __enter__(self) -> "LoopPidfdWatcher":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def _wait_blocking(loop: asyncio.AbstractEventLoop, pid: int, callback: Callable[..., Any], args: tuple) -> None:
    try:
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
    except ChildProcessError:
        code = 255
    if not loop.is_closed():
        loop.call_soon_threadsafe(callback, pid, code, *args)


def use_pidfd_reaper() -> bool:
    """Install the pidfd watcher where it helps (Python < 3.12 on a kernel with pidfd_open); say whether it did."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open") or sys.platform != "linux":
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_child_watcher(LoopPidfdWatcher())
    return True
