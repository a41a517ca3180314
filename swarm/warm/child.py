"""A child of the warm process: it becomes the caller's command and runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from typing import Any

from swarm.warm import read_messages


class Child(BaseException):
    """Raised in a freshly forked child to leave the server's frames before it runs the command."""

    def __init__(self, conn: socket.socket, header: dict[str, Any], fds: list[int]) -> None:
        super().__init__()
        self.conn, self.header, self.fds = conn, header, fds
        self.code: dict[str, tuple[int, int, Any]] = {}


def use_compiled(compiled: dict[str, tuple[int, int, Any]]) -> None:
    """Imports of source files take the code compiled in the warm process when the file is unchanged."""
    from importlib.machinery import SourceFileLoader

    original = SourceFileLoader.get_code

    def get_code(self: SourceFileLoader, fullname: str) -> Any:
        path = self.get_filename(fullname)
        hit = compiled.get(path)
        if hit is not None:
            try:
                st = os.stat(path)
            except OSError:
                hit = None
            else:
                if (st.st_mtime_ns, st.st_size) == hit[:2]:
                    return hit[2]
        return original(self, fullname)

    SourceFileLoader.get_code = get_code  # type: ignore[method-assign]


def _same_swarm(callers: Any, compiled: dict[str, tuple[int, int, Any]]) -> bool:
    """The swarm the caller imports is the one imported here, and none of its files changed since."""
    loaded = sys.modules.get("swarm")
    if not compiled or loaded is None or not callers or os.path.dirname(str(loaded.__file__)) != callers:
        return False
    for path, (mtime, size, _code) in compiled.items():
        try:
            st = os.stat(path)
        except OSError:
            return False
        if (st.st_mtime_ns, st.st_size) != (mtime, size):
            return False
    return True


def run_child(child: Child) -> None:
    """Become the caller's command: its streams, folder, environment and import path; then run it and
    report the exit code when the interpreter is done (after swarm's own exit handlers)."""
    import atexit
    import io
    import threading

    conn, header = child.conn, child.header
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    conn.settimeout(None)
    for target, fd in enumerate(child.fds):
        os.dup2(fd, target)
        os.close(fd)
    encoding, errors = sys.stdout.encoding, sys.stdout.errors
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)),
                                                 encoding=encoding, errors=errors)
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)),
                                                   encoding=encoding, errors=errors, line_buffering=os.isatty(1))
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
                                                   encoding=encoding, errors="backslashreplace",
                                                   line_buffering=True)
    os.chdir(header["cwd"])
    os.umask(int(header["umask"]))
    os.environ.clear()
    os.environ.update(header["env"])
    sys.argv = list(header["argv"])
    sys.path[:] = list(header["path"])
    if not _same_swarm(header.get("swarm"), child.code):
        # The caller's swarm is another one, or its code changed since the warm process read it: swarm is
        # imported afresh (each unchanged module from its compiled copy).
        for name in [n for n in sys.modules if n == "swarm" or n.startswith("swarm.")]:
            del sys.modules[name]
    use_compiled(child.code)
    state = {"code": 1, "done": False}

    def report() -> None:  # registered before the command runs, so after the handlers the command registers
        state["done"] = True
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        # A command that ended at once (swarm.runtime.exit_interrupted) left its code there.
        at_once = getattr(sys.modules.get("swarm.runtime"), "EXIT_CODE", None)
        code = state["code"] if at_once is None else at_once
        try:
            conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
        except OSError:
            pass

    atexit.register(report)

    def listen() -> None:
        for message in read_messages(conn):
            if "signal" in message:
                os.kill(os.getpid(), int(message["signal"]))
        if not state["done"]:  # the caller is gone: die as it did
            os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=listen, daemon=True, name="swarm-warm-caller").start()
    try:
        conn.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")  # the caller now waits for our exit
    except OSError:
        os._exit(1)
    import git  # noqa: F401 - already loaded; find git again on the caller's PATH

    try:
        git.refresh()
    except Exception:  # noqa: BLE001 - swarm's own check says what is wrong with git
        pass
    import swarm.runtime

    swarm.runtime.WARM_START = True  # result.json says which process ran the run
    try:
        from swarm.cli import main as command

        command()
        state["code"] = 0
    except SystemExit as exit_:
        state["code"] = _exit_code(exit_.code)
    except KeyboardInterrupt:  # while loading the command line (the commands handle their own)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("interrupted", file=sys.stderr)
        state["code"] = 130
    except BaseException:  # noqa: BLE001 - printed as the interpreter would, then exit 1
        import traceback

        traceback.print_exc()
        state["code"] = 1
    sys.exit(state["code"])


def _exit_code(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
