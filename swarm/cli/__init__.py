"""The command line: parse, build objects, call the library, print. Nothing else.

The group is the one error boundary: a `SwarmError` from any command becomes
one line on stderr with the error's exit code (2 for bad input), and Ctrl-C
exits 130.
"""

from __future__ import annotations

import atexit
import gc
import signal
import sys
from typing import Any

import click

from swarm.cli.context import Context
from swarm.env.reaper import use_pidfd_reaper
from swarm.errors import SwarmError

use_pidfd_reaper()  # children reaped by pidfds on the loop, not a thread each (swarm.env.reaper)
# At exit, before the interpreter's last garbage collection: with the model SDK's thousands of classes
# loaded, that collection took a third of a second after every command; frozen, it takes milliseconds.
atexit.register(gc.freeze)

# No auto_envvar_prefix: the documented SWARM_<SETTING> variables are read by swarm.config, and no
# undocumented SWARM_<COMMAND>_<FLAG> variable changes a command behind the user's back.
CONTEXT = {"help_option_names": ["-h", "--help"]}


# The order of a day's use, not the alphabet's: `swarm --help` reads from top to bottom.
ORDER = ("run", "plan", "watch", "status", "runs", "show", "review", "continue", "apply", "resume", "clean",
         "config", "test", "demo", "doctor")


def first_sentence(text: str) -> str:
    """A command's summary for the list: its first sentence whole (click would cut it at the width)."""
    paragraph = " ".join(text.strip().split("\n\n")[0].split())
    end = paragraph.find(". ")
    return paragraph if end < 0 else paragraph[: end + 1]


class SwarmGroup(click.Group):
    """The group whose `invoke` turns swarm's errors into click's, for every command below it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.short_help or first_sentence(command.help or "")))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)  # wrapped onto more lines when long, never cut

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
            from swarm.runtime import exit_interrupted

            exit_interrupted(130)


@click.group(cls=SwarmGroup, context_settings=CONTEXT)
@click.option("-C", "repo_path", default=".", metavar="PATH", help="Run as if started in PATH (the repository).")
@click.version_option(package_name="swarm")
@click.pass_context
def main(ctx: click.Context, repo_path: str) -> None:
    """swarm splits a coding task into subtasks, runs one agent per subtask in its own git
    worktree, concurrently, and merges their work into one branch for you to review.

    \b
    Typical use:
      swarm run "TASK"               plan TASK, run the agents, merge and check (--plan FILE: your plan)
      swarm watch                    follow it live from another terminal (`swarm status`: once)
      swarm review                   findings, then the diff by subtask (--drop, --keep, -i, --html)
      swarm show SUBTASK             what one agent did; `swarm continue SUBTASK TEXT` tells it more
      swarm apply                    the reviewed result onto your branch, as one commit (--branch NAME)
      swarm clean                    remove the latest run's worktrees and branches
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
