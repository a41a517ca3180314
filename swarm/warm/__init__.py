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

This package is imported by every `swarm` command before anything else: the caller's side (here) uses the
standard library only; the warm process is swarm.warm.server, its children swarm.warm.child.
`SWARM_WARM_START=0` turns it off (then nothing is left behind and every command starts cold).
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

__all__ = ["client_run", "read_messages", "socket_path", "spawn_server", "wanted"]

COMMANDS = frozenset({"run", "plan", "resume", "continue", "demo"})  # the ones that import the model SDK
# the warm process, on the caller's import path (the caller may run swarm from a checkout, not an install)
SERVER = ("import json, sys; from pathlib import Path; sys.path[:] = json.loads(sys.argv[2]); "
          "from swarm.warm.server import main; main(Path(sys.argv[1]))")
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGWINCH)
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
    own folder, which `python -m` puts first), the code of this package and the installed SDK."""
    cwd = os.getcwd()
    entries = [p for p in sys.path if p not in ("", cwd)]
    sdk = next((Path(p) / "anthropic" for p in entries if (Path(p) / "anthropic").is_dir()), None)
    stamp = []
    for path in (*sorted(Path(__file__).parent.glob("*.py")), sdk):
        try:
            st = os.stat(path) if path is not None else None
        except OSError:
            continue
        if st is not None:
            stamp.append(f"{path}:{st.st_mtime_ns}:{st.st_size}")
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
        here = sys.modules["swarm"].__file__  # the swarm this caller imports: the warm one serves it only if equal
        header = {"argv": [sys.argv[0], *argv], "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask,
                  "path": sys.path, "swarm": os.path.dirname(str(here))}
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
    code = started = None
    for message in read_messages(conn):
        if "pid" in message:
            started = message["pid"]
        if "exit" in message:
            code = int(message["exit"])
    conn.close()
    if code is not None:
        return code
    if started is None:  # no child ever ran the command (the warm process was ending, or could not fork)
        for signum in FORWARDED:
            signal.signal(signum, signal.SIG_DFL if signum != signal.SIGINT else signal.default_int_handler)
        if not forwarded:
            return None
    if forwarded:  # the child died of the signal it was given: so does the caller
        signal.signal(forwarded[-1], signal.SIG_DFL)
        os.kill(os.getpid(), forwarded[-1])
    print("swarm: the command's process ended without an exit status (killed?)", file=sys.stderr)
    return 1


def read_messages(conn: socket.socket) -> Any:
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
        subprocess.Popen([sys.executable, "-c", SERVER, str(path), json.dumps(sys.path)], cwd="/", env=env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
    except OSError:
        pass
