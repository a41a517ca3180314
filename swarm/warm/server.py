"""The warm process: import what every model command needs once, then fork a child per caller."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from swarm.warm.child import Child, run_child

PRELOAD = ("anthropic", "anthropic.lib.tools", "anthropic.lib.tools.agent_toolset", "click", "rich.console",
           "rich.live", "rich.table", "git", "unidiff", "asyncio", "concurrent.futures", "subprocess")
IDLE_SECONDS = 900.0


def _compile_swarm() -> dict[str, tuple[int, int, Any]]:
    """swarm's modules compiled once, by path, with the modification time and size they were read at. The
    children import swarm afresh (its code may change between commands), but a module whose source is
    unchanged takes its code from here: no compilation where no `.pyc` is kept (PYTHONDONTWRITEBYTECODE,
    a read-only checkout), no reading of one where it is."""
    root = Path(__file__).parent.parent  # as the finder spells it: the children's imports look up the same paths
    compiled = {}
    for path in root.rglob("*.py"):
        try:
            st = path.stat()
            compiled[str(path)] = (st.st_mtime_ns, st.st_size, compile(path.read_bytes(), str(path), "exec",
                                                                       dont_inherit=True))
        except (OSError, SyntaxError, ValueError):
            continue
    return compiled


# Not imported ahead: this package itself, a pytest plugin that reads its environment on import, the
# sample project of `swarm demo`, and the optional cluster executor.
_NOT_AHEAD = ("swarm.warm", "swarm.testrun.shard_plugin", "swarm.demo.project", "swarm.run.ray_executor")


def _import_swarm() -> None:
    """swarm's own modules, imported ahead. A child keeps them only while every file is as it was read
    (swarm.warm.child); no swarm module reads the environment or the folder when imported."""
    import importlib
    import pkgutil

    import swarm

    for info in pkgutil.walk_packages(swarm.__path__, "swarm.", onerror=lambda _name: None):
        if info.name.startswith(_NOT_AHEAD) or info.name.endswith(".__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except Exception:  # noqa: BLE001 - a child imports it itself, and says what is wrong
            pass


def serve(path: Path, idle: float) -> None:
    """Import what every command needs, then fork a child per connection until `idle` seconds pass without
    one. One server per socket: the lock file next to it says which is alive."""
    import fcntl
    import gc
    import importlib

    lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another one is alive or starting
    gc.disable()
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing extra only makes its command import it itself
            pass
    try:  # a client made once loads what the SDK imports only then (the HTTP transport's modules); a request
        # answered in memory builds what it builds for a first request; the SSL context is made once
        client = importlib.import_module("swarm.model.client")
        client.ssl_context()
        client.rehearse()
    except Exception:  # noqa: BLE001 - then each command does it itself
        pass
    code = _compile_swarm()
    _import_swarm()
    gc.freeze()  # children share these pages: their collections never touch them
    gc.enable()
    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    os.chmod(path, 0o600)
    server.listen(64)
    server.settimeout(idle)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    mine = os.stat(path).st_ino
    forked: Child | None = None
    try:
        while forked is None:
            try:
                conn, _ = server.accept()
            except socket.timeout:
                return
            conn.settimeout(2)
            try:
                header, fds = _receive(conn)
            except (OSError, ValueError):
                conn.close()
                continue
            if os.fork() == 0:
                forked = Child(conn, header, fds)
                break
            conn.close()
            for fd in fds:
                os.close(fd)
    finally:
        if forked is None:  # the server ending (idle, SIGTERM): its socket goes, unless a newer one's is there
            try:
                if os.stat(path).st_ino == mine:
                    path.unlink()
                    os.unlink(f"{path}.lock")
            except OSError:
                pass
    server.close()
    os.close(lock)
    assert forked is not None
    forked.code = code
    raise forked


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """The caller's header and its three standard streams; only from a process of our own user."""
    import struct

    pid, uid, gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 3)
    if uid != os.getuid() or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        raise ValueError("not ours")
    while not data.endswith(b"\n"):
        more = conn.recv(1 << 20)
        if not more:
            raise ValueError("cut short")
        data += more
    return json.loads(data), fds


def main(path: Path) -> None:
    """Serve on `path` (the caller has set `sys.path` to its own: swarm.warm.spawn_server)."""
    try:
        idle = float(os.environ.get("SWARM_WARM_IDLE") or IDLE_SECONDS)
    except ValueError:
        idle = IDLE_SECONDS
    try:
        serve(path, idle)
    except Child as child:
        run_child(child)
