"""Warm start: a background process with the model SDK already imported forks each model command.

Importing the `anthropic` SDK takes one to two seconds on a small machine (thousands of modules), and
every `swarm run`, `plan`, `resume`, `continue` and `demo` paid it before its first model request. After
such a command, swarm leaves one process behind per interpreter and installation (it exits after
`SWARM_WARM_IDLE` seconds without a command, 900 by default): it imports the SDK, click, rich and GitPython
once and waits on a socket in a private folder (`$XDG_RUNTIME_DIR/swarm`, else `/tmp/swarm-<uid>`, mode
0700, checked). The next such command connects, hands over its arguments, working folder, environment,
umask and standard streams (the file descriptors themselves), and the warm process forks a child that runs
the command exactly as a fresh process would: swarm's own modules imported afresh from the caller's
`sys.path`, the caller's environment (secrets are never kept in the warm process: it gets them per command),
the caller's terminal. The caller waits, passes on the signals it gets (Ctrl-C, SIGTERM, SIGHUP, window
size) and exits with the child's code; if the caller is killed, the child kills itself at once, as the
command would have died (a killed run is resumable, as always).

This module is imported by every `swarm` command before anything else, so it uses the standard library
only. `SWARM_WARM_START=0` turns it off (then nothing is left behind and every command starts cold).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["client_run", "socket_path", "spawn_server", "wanted"]

COMMANDS = frozenset({"run", "plan", "resume", "continue", "demo"})  # the ones that import the model SDK
PRELOAD = ("anthropic", "anthropic.lib.tools", "anthropic.lib.tools.agent_toolset", "click", "rich.console",
           "rich.live", "rich.table", "git", "unidiff", "asyncio", "concurrent.futures", "subprocess")
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGWINCH)
IDLE_SECONDS = 900.0
def wanted(argv: list[str]) -> bool:
    """A command that imports the model SDK, with the warm start not turned off."""
    if os.environ.get("SWARM_WARM_START", "1").strip().lower() in ("0", "off", "false", "no"):
        return False
    args = iter(argv)
    for arg in args:
        if arg == "-C":
            next(args, None)
        elif not arg.startswith("-"):
            return arg in COMMANDS
    return False


# -- where it listens ------------------------------------------------------------------


def _key() -> str:
    """What the warm process must share with the caller: interpreter, flags, import path (but the caller's
    own folder, which `python -m` puts first), this file and the installed SDK."""
    cwd = os.getcwd()
    entries = [p for p in sys.path if p not in ("", cwd)]
    stamp = []
    for path in (Path(__file__), *(Path(p) / "anthropic" for p in entries)):
        try:
            st = path.stat()
        except OSError:
            continue
        stamp.append(f"{path}:{st.st_mtime_ns}:{st.st_size}")
        if path.name == "anthropic":
            break
    text = "\n".join([sys.executable, sys.version, repr(sys.flags), *entries, *stamp])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _private_dir(path: Path) -> Path | None:
    """`path`, made if missing: a real folder of ours that no one else can enter, or None."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return path


def socket_path() -> Path | None:
    """The socket of the warm process for this interpreter and installation (None: no safe place)."""
    key = _key()
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    fallback = Path(tempfile.gettempdir()) / f"swarm-{os.getuid()}"
    folder = Path(runtime) / "swarm" if runtime else fallback
    name = f"w-{key}.sock"
    if len(str(folder / name)) > 100:  # a unix socket's path has at most 107 bytes
        folder, name = fallback, f"w-{hashlib.sha256(f'{runtime}/{key}'.encode()).hexdigest()[:20]}.sock"
    safe = _private_dir(folder)
    return None if safe is None else safe / name


# -- the caller's side -------------------------------------------------------------------


def client_run(argv: list[str]) -> int | None:
    """Run `swarm ARGV` in a child of the warm process and return its exit code; None when no warm process
    answers (the caller then runs the command itself)."""
    path = socket_path()
    if path is None or not path.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
        umask = os.umask(0o022)
        os.umask(umask)
        header = {"argv": [sys.argv[0], *argv], "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask,
                  "path": sys.path}
        socket.send_fds(conn, [json.dumps(header).encode() + b"\n"], [0, 1, 2])
    except OSError:
        conn.close()
        return None
    forwarded: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        forwarded.append(signum)
        try:
            conn.sendall(json.dumps({"signal": signum}).encode() + b"\n")
        except OSError:
            pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    code = None
    for message in _lines(conn):
        if "exit" in message:
            code = int(message["exit"])
    conn.close()
    if code is not None:
        return code
    if forwarded:  # the child died of the signal it was given: so does the caller
        signal.signal(forwarded[-1], signal.SIG_DFL)
        os.kill(os.getpid(), forwarded[-1])
    print("swarm: the command's process ended without an exit status (killed?)", file=sys.stderr)
    return 1


def _lines(conn: socket.socket) -> Any:
    """The JSON messages on `conn`, one per line, until it closes."""
    buffer = b""
    while True:
        try:
            chunk = conn.recv(65536)
        except OSError:
            return
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                yield json.loads(line)
            except ValueError:
                continue


def spawn_server() -> None:
    """Leave a warm process behind for the next command (at the exit of one that started cold). It holds no
    secret: the model's credentials come with each command."""
    import subprocess

    path = socket_path()
    if path is None:
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    try:
        subprocess.Popen([sys.executable, "-m", "swarm.warm", str(path), json.dumps(sys.path)], cwd="/", env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
    except OSError:
        pass


# -- the warm process --------------------------------------------------------------------


class _Child(BaseException):
    """Raised in a freshly forked child to leave the server's frames before it runs the command."""

    def __init__(self, conn: socket.socket, header: dict[str, Any], fds: list[int]) -> None:
        super().__init__()
        self.conn, self.header, self.fds = conn, header, fds
        self.code: dict[str, tuple[int, int, Any]] = {}


def _compile_swarm() -> dict[str, tuple[int, int, Any]]:
    """swarm's modules compiled once, by path, with the modification time and size they were read at. The
    children import swarm afresh (its code may change between commands), but a module whose source is
    unchanged takes its code from here: no compilation where no `.pyc` is kept (PYTHONDONTWRITEBYTECODE,
    a read-only checkout), no reading of one where it is."""
    root = Path(__file__).parent  # as the finder spells it: the children's imports look up the same paths
    compiled = {}
    for path in root.rglob("*.py"):
        try:
            st = path.stat()
            compiled[str(path)] = (st.st_mtime_ns, st.st_size, compile(path.read_bytes(), str(path), "exec",
                                                                       dont_inherit=True))
        except (OSError, SyntaxError, ValueError):
            continue
    return compiled


def _use_compiled(compiled: dict[str, tuple[int, int, Any]]) -> None:
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
    code = _compile_swarm()
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
    forked: _Child | None = None
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
                forked = _Child(conn, header, fds)
                break
            conn.close()
            for fd in fds:
                os.close(fd)
    finally:
        if forked is None:  # the server ending (idle, SIGTERM): its socket goes, unless a newer one's is there
            try:
                if os.stat(path).st_ino == mine:
                    path.unlink()
            except OSError:
                pass
    server.close()
    os.close(lock)
    assert forked is not None
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


def run_child(child: _Child) -> None:
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
    for name in [n for n in sys.modules if n == "swarm" or n.startswith("swarm.")]:
        del sys.modules[name]  # swarm itself is imported afresh: the caller's code, read with its environment
    _use_compiled(child.code)
    state = {"code": 1, "done": False}

    def report() -> None:  # registered first, so it runs last
        state["done"] = True
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        try:
            conn.sendall(json.dumps({"exit": state["code"]}).encode() + b"\n")
        except OSError:
            pass

    atexit.register(report)

    def listen() -> None:
        for message in _lines(conn):
            if "signal" in message:
                os.kill(os.getpid(), int(message["signal"]))
        if not state["done"]:  # the caller is gone: die as it did
            os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=listen, daemon=True, name="swarm-warm-caller").start()
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


def main() -> None:
    path, entries = Path(sys.argv[1]), json.loads(sys.argv[2])
    sys.path[:] = [p for p in entries if p]
    try:
        idle = float(os.environ.get("SWARM_WARM_IDLE") or IDLE_SECONDS)
    except ValueError:
        idle = IDLE_SECONDS
    try:
        serve(path, idle)
    except _Child as child:
        run_child(child)


if __name__ == "__main__":
    main()
