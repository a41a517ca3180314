"""`python -m swarm` and the `swarm` command.

Loading the command line takes a moment (GitPython even runs `git version` on import): a Ctrl-C in it
exits 130 with one line, like a Ctrl-C in any command (swarm.cli's group handles those).
"""

import signal
import sys


def entry() -> None:
    try:
        from swarm.cli import main
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    main()


if __name__ == "__main__":
    entry()
