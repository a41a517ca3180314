"""Facts about the swarm process itself, for the records: which process ran a run, how it started, what
memory it took."""

from __future__ import annotations

import os
from typing import Any, Coroutine, NoReturn, TypeVar

__all__ = ["exit_interrupted", "process_facts", "run_interruptible"]

T = TypeVar("T")

WARM_START = False  # True in a command forked by the warm process (swarm.warm sets it)
EXIT_CODE: int | None = None  # the code exit_interrupted ends the process with (a warm start reports it)


def process_facts() -> dict[str, Any]:
    """The process running now: its pid, whether the warm process served it, its peak resident memory so far."""
    import resource

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"pid": os.getpid(), "warm_start": WARM_START, "peak_rss_mb": round(peak_kb / 1024, 1)}


def exit_interrupted(code: int = 130) -> NoReturn:
    """End the process with `code` after a Ctrl-C, now: the exit handlers run (a warm start's report among
    them), the interpreter's own finalization does not. A second Ctrl-C landing while the interpreter
    finalizes could otherwise still end the process by the signal (a shell sees -2, not 130)."""
    import atexit
    import sys

    global EXIT_CODE
    EXIT_CODE = code
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    atexit._run_exitfuncs()
    os._exit(code)


def run_interruptible(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(coro)`, where the first Ctrl-C cancels `coro` (which winds down and keeps its work) and
    any later one is ignored. asyncio's own handler raises KeyboardInterrupt wherever a second Ctrl-C lands
    (in a weakref callback, halfway through writing the records), which could turn exit 130 into a
    traceback or a death by signal. Raises KeyboardInterrupt if `coro` ends cancelled by a Ctrl-C."""
    import asyncio
    import signal
    import threading

    with asyncio.Runner() as runner:
        loop = runner.get_loop()
        task = loop.create_task(coro)
        pressed: list[int] = []

        def on_sigint(_signum: int, _frame: Any) -> None:
            if not pressed:
                loop.call_soon_threadsafe(task.cancel)
            pressed.append(1)

        ours = (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
        if ours:
            signal.signal(signal.SIGINT, on_sigint)
        try:
            return loop.run_until_complete(task)
        except asyncio.CancelledError:
            if pressed:
                raise KeyboardInterrupt from None
            raise
        finally:
            if ours:  # after a Ctrl-C the command is ending: later ones change nothing
                signal.signal(signal.SIGINT, signal.SIG_IGN if pressed else signal.default_int_handler)
