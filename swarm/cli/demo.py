"""`swarm demo`: the whole pipeline offline on a bundled sample project."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from swarm.cli.context import Context


@click.command()
@click.option("--dir", "target", type=click.Path(file_okay=False), default=None,
              help="Where to put the sample project (default: a new temporary folder).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print result.json on stdout.")
@click.pass_obj
def demo(obj: Context, target: str | None, concurrency: int, as_json: bool) -> None:
    """Run the whole pipeline offline on a bundled sample project.

    The sample (a small Python package with its tests) is copied to a new git
    repository and refactored by five parallel subtasks. Without
    ANTHROPIC_API_KEY, the model is a scripted model served on 127.0.0.1
    through the Messages API, so the real client path runs with no network.
    """
    from swarm.demo import run_demo
    from swarm.run.execute import exit_code_of

    result = run_demo(out=obj.out, err=obj.err, target=Path(target) if target else None,
                      concurrency=concurrency, as_json=as_json)
    sys.exit(exit_code_of(result))
