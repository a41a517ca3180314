"""`python -m swarm` and the `swarm` command.

A command that imports the model SDK is handed to the warm process when one is listening (swarm.warm);
otherwise it runs here, and leaves a warm process behind for the next one.

Loading the command line takes a moment (GitPython even runs `git version` on import): a Ctrl-C in it
exits 130 with one line, like a Ctrl-C in any command (swarm.cli's group handles those).
"""

import signal
import sys


def entry() -> None:
    try:
        code = _warm_entry()
    except KeyboardInterrupt:
        _interrupted()
    if code is not None:
        sys.exit(code)
    cold_entry()


def _warm_entry() -> int | None:
    """The command's exit code when the warm process ran it; None: run it here (and leave one behind)."""
    from swarm import warm

    try:
        if not warm.wanted(sys.argv[1:]):
            return None
        code = warm.client_run(sys.argv[1:])
    except OSError:  # no working folder any more, a socket folder gone bad: the command says what is wrong
        return None
    if code is None:
        import atexit

        atexit.register(warm.spawn_server)
    return code


def cold_entry() -> None:
    """The command, run in this process."""
    try:
        from swarm.cli import main
    except KeyboardInterrupt:
        _interrupted()
    main()


def _interrupted() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("interrupted", file=sys.stderr)
    sys.exit(130)


if __name__ == "__main__":
    entry()
