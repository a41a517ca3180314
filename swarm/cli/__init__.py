"""The command line: parse, build objects, call the library, print. Nothing else.

The group is the one error boundary: a `SwarmError` from any command becomes
one line on stderr with the error's exit code (2 for bad input), and Ctrl-C
exits 130.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

import click

from swarm.cli.context import Context
from swarm.errors import SwarmError

# No auto_envvar_prefix: the documented SWARM_<SETTING> variables are read by swarm.config, and no
# undocumented SWARM_<COMMAND>_<FLAG> variable changes a command behind the user's back.
CONTEXT = {"help_option_names": ["-h", "--help"]}


class SwarmGroup(click.Group):
    """The group whose `invoke` turns swarm's errors into click's, for every command below it."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SwarmError as error:
            exc = click.ClickException(str(error))
            exc.exit_code = error.exit_code
            raise exc from None
        except KeyboardInterrupt:
            # The run has already stopped and kept its work: a second Ctrl-C (while this exits, or while
            # threads wind down) must not turn exit 130 into a traceback or click's "Aborted!" (exit 1).
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=SwarmGroup, context_settings=CONTEXT)
@click.option("-C", "repo_path", default=".", metavar="PATH", help="Run as if started in PATH (the repository).")
@click.version_option(package_name="swarm")
@click.pass_context
def main(ctx: click.Context, repo_path: str) -> None:
    """swarm splits a coding task into subtasks, runs one agent per subtask in its own git
    worktree, concurrently, and merges their work into one branch for you to review.

    \b
    Typical use:
      swarm run --plan plan.json     run a plan file (see `swarm run --help`)
      swarm status                   states of the latest run (`swarm watch` follows it live)
      swarm review                   findings, then the diff by subtask (--drop, --keep, -i, --html)
      swarm apply                    the reviewed result onto your branch, as one commit
      swarm clean <run>              remove its worktrees and branches
      swarm demo                     the whole pipeline offline on a sample project
    """
    ctx.obj = Context(repo_path)


def _register() -> None:
    from swarm.cli.demo import demo
    from swarm.cli.doctor import doctor
    from swarm.cli.followup import continue_command
    from swarm.cli.history import runs, show
    from swarm.cli.review import apply_command, config_command, review, watch
    from swarm.cli.run import plan_command, resume, run
    from swarm.cli.status import clean, status
    from swarm.cli.testcmd import test_command

    for command in (run, plan_command, resume, status, clean, demo, review, apply_command, watch,
                    config_command, test_command, runs, show, continue_command, doctor):
        main.add_command(command)


_register()
