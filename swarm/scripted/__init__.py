"""A scripted model that speaks the Anthropic Messages API on 127.0.0.1.

The offline demo and every test point a real `anthropic` client at this
server (``base_url=server.url``), so the SDK's own request building, retries,
streaming parser and error mapping all run; only the model is fake. By default
it plays the current model, with its refusals and its reply shape
(`swarm.scripted.current`); the script format is in `swarm.scripted.script`.

    transport   HTTP, JSON replies and the SSE stream
    script      which scripted turn answers a request
    current     the current model's rules: 400s, signed thinking, text between tools
    server      ScriptedServer: faults, records, one reply per request

Run standalone with ``python -m swarm.scripted SCRIPT.json [--port N]``.
"""

from __future__ import annotations

import argparse
import sys
import time

from swarm.scripted.script import load_script
from swarm.scripted.server import ScriptedServer

__all__ = ["ScriptedServer", "load_script", "main"]


def main(argv: list[str] | None = None) -> int:
    """Serve a script until interrupted; the first stdout line is the URL."""
    parser = argparse.ArgumentParser(prog="python -m swarm.scripted", description=__doc__.splitlines()[0])
    parser.add_argument("script", help="path to a JSON script")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: any free port)")
    parser.add_argument("--lenient", action="store_true", help="accept any request (not the current model's rules)")
    args = parser.parse_args(argv)
    server = ScriptedServer(load_script(args.script), port=args.port, current=not args.lenient).start()
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
