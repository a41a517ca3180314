"""Commands after a run: review, apply, watch, and the settings (config)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click
from rich.console import Group
from rich.table import Table

from swarm.ui.progress import Progress
from swarm.run.records import RunRecords, resolve_run
from swarm.cli.context import Context, need_output_folder
from swarm.ui.safe import safe


@click.command()
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option("--subtask", "subtasks", multiple=True, metavar="ID",
              help="Show (or with -i, walk) only this subtask's changes. Repeatable.")
@click.option("--file", "files", multiple=True, metavar="PATH",
              help="Show (or with -i, walk) only changes to PATH: a file, a folder or a glob. Repeatable.")
@click.option("--drop", multiple=True, metavar="ID|PATH",
              help="Leave out a subtask's changes, or a file's (a path, folder or glob). Repeatable.")
@click.option("--keep", multiple=True, metavar="ID|PATH",
              help="Keep only these subtasks or files (a subtask left out by a conflict can be kept). "
                   "`resolver:FILE` takes the resolver's refused attempt at a conflicted FILE, `hand:FILE` your "
                   "own resolution from `--resolve FILE` (the left-out subtask comes in with either). Repeatable.")
@click.option("--resolve", "resolve_file", metavar="FILE",
              help="Resolve an open conflict in FILE by hand: makes (or finds) a worktree holding the merged "
                   "result with the left-out subtask merged in and FILE's conflict markers, and prints its path; "
                   "edit FILE there, then `swarm review --keep hand:FILE`.")
@click.option("-i", "--interactive", is_flag=True,
              help="Walk the hunks one by one, like `git add -p`: y keep, n drop, q stop (the rest is kept).")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the review as one self-contained HTML page.")
@click.option("--reset", is_flag=True, help="Forget the review: `swarm apply` takes the merged result again.")
@click.option("--test", "run_tests", is_flag=True,
              help="When choosing, re-run the plan's test command on the reviewed result too (the other checks "
                   "always re-run).")
@click.option("--no-pager", is_flag=True, help="Print straight to the terminal instead of through a pager.")
@click.pass_obj
def review(obj: Context, run_id: str | None, subtasks: tuple[str, ...], files: tuple[str, ...],
           drop: tuple[str, ...], keep: tuple[str, ...], resolve_file: str | None, interactive: bool,
           html_file: str | None, reset: bool, run_tests: bool, no_pager: bool) -> None:
    """Review RUN (default: the latest): findings and checks, then the merged diff by subtask and file.

    Every hunk is labelled with the subtask that made it ("synthesis" for the
    consistency edits made after the merge); subtasks left out by a conflict
    are shown in red. --drop, --keep and -i choose what to keep: the reviewed
    result is rebuilt from the kept parts as swarm/<run>/reviewed (your branch
    is not touched) and `swarm apply` takes it. Each choosing review starts
    from the whole merged result.

    \b
      swarm review                       read it (through a pager on a terminal)
      swarm review --drop docs           everything but subtask docs
      swarm review --drop 'tests/**'     everything but the tests
      swarm review -i --subtask core     decide hunk by hunk for subtask core
      swarm review --html review.html    a page to read in a browser

    \b
    An open conflict (a subtask left out because it changed the same lines):
      swarm review --keep resolver:FILE  take the resolver's refused attempt at FILE
      swarm review --resolve FILE        a worktree with FILE's conflict markers; edit FILE there, then
      swarm review --keep hand:FILE      take your resolution into the reviewed result
    """
    from swarm.errors import SelectionError
    from swarm.review.rebuild import build_reviewed, load_reviewed, reset_review
    from swarm.ui.html import render_html
    from swarm.review.resolve import attempt_diff, is_taking, prepare_hand, take
    from swarm.review.selection import Selection, load_review, select, warnings
    from swarm.ui.terminal import render_review, walk

    if html_file:
        need_output_folder(html_file, "--html")
    clash = sorted(set(drop) & set(keep))
    if clash:
        raise SelectionError(f"--drop and --keep both name {', '.join(clash)}: the two contradict; "
                             "give each subtask or file to one of them")
    repo = obj.repo()
    rid = resolve_run(repo.root, run_id)
    records = RunRecords(repo.root, rid)
    if reset:
        had = reset_review(repo, records)
        obj.out.print(f"review of {rid} forgotten; `swarm apply` takes the merged result" if had
                      else f"run {rid} had no review")
        if not (drop or keep or interactive or html_file):
            return
    rv = load_review(repo, records)
    if resolve_file:
        folder, made = prepare_hand(repo, rv, resolve_file)
        click.echo(str(folder))  # alone on stdout: `cd "$(swarm review --resolve FILE)"`
        obj.err.print(f"{'made this worktree' if made else 'this worktree was already there'}: edit "
                      f"{safe(resolve_file)} there (its conflict markers are at the merged result), then "
                      f"`swarm review {rid} --keep hand:{safe(resolve_file)}` takes it into the reviewed result "
                      f"and `swarm apply {rid}` applies that")
        return
    unknown = [s for s in subtasks if s not in rv.owners]
    if unknown:
        raise SelectionError(f"--subtask {', '.join(unknown)}: not a subtask with changes in run {rid}; "
                             f"those are: {', '.join(rv.owners) or '(none)'}")
    reviewed = load_reviewed(repo, records)
    choosing = bool(drop or keep or interactive)
    selection: Selection | None = Selection.from_dict(reviewed) if reviewed else None
    if choosing:
        taken = [take(repo, rv, k).to_dict() for k in keep if is_taking(k)]
        chosen = select(rv, list(drop), [k for k in keep if not is_taking(k)], taken)
        if interactive:
            def ask(prompt: str) -> str:
                try:
                    return str(click.prompt(prompt, default="", show_default=False, prompt_suffix=""))
                except click.Abort as abort:
                    if isinstance(abort.__context__, KeyboardInterrupt):
                        raise KeyboardInterrupt from None  # Ctrl-C: build nothing, change nothing (git add -p)
                    return "q"  # end of input: stop, keeping what was not answered
            chosen = walk(obj.out, rv, chosen, ask, subtasks=subtasks, files=files)
        selection = chosen
        built = build_reviewed(repo, records, rv, chosen, tests=run_tests)
        reviewed = load_reviewed(repo, records)
        obj.out.print(f"reviewed {rid}: {safe(built.description)}")
        for note in warnings(rv, chosen):
            obj.err.print(f"[yellow]note[/yellow]: {safe(note)}")
        if built.findings is None:
            obj.out.print("checks: not available; the findings shown are those of the merged result")
        else:
            obj.out.print(f"checks re-run on the reviewed result: {len(built.findings)} finding(s)"
                          + "".join(f"\n  [yellow]![/yellow] {safe(f['kind'])}: {safe(f['message'])}"
                                    for f in built.findings))
        obj.out.print(f"result: [bold]{built.branch}[/bold] ({built.commit[:10]}); "
                      f"next: `git diff {rv.base[:10]} {built.branch}` or `swarm apply {rid}`")
    if html_file:

        told = {s.id: records.transcript_entries(s.id) for s in rv.result.subtasks}
        Path(html_file).write_text(render_html(rv, selection, reviewed, told), encoding="utf-8")
        obj.out.print(f"wrote {html_file}")
    if not choosing and not html_file:
        view = render_review(rv, selection=selection, subtasks=subtasks, files=files, reviewed=reviewed)
        attempts = _attempts(rv, lambda c: attempt_diff(repo, rv, c))
        if obj.out.is_terminal and not no_pager:
            os.environ.setdefault("LESS", "FRX")  # colours through less, as git does
            with obj.out.pager(styles=True):
                obj.out.print(Group(view, *attempts))
        else:
            obj.out.print(Group(view, *attempts))


def _attempts(rv: Any, diff: Callable[[dict[str, Any]], str]) -> list[Any]:
    """Each refused resolver attempt: why it was refused, where it is kept, its diff from the merged result."""
    from rich.rule import Rule
    from rich.text import Text

    from swarm.ui.safe import safe_line

    refused = [c for c in rv.result.conflicts if not c.get("resolved") and c.get("rejected")]
    if not refused:
        return []
    out: list[Any] = [Rule("the resolver's refused attempts", align="left", style="bold red")]
    for c in refused:
        path = str(c["file"])
        reason = str(c["rejected"]).removeprefix(f"{path}: ")
        out.append(Text(f"  {safe_line(path)}: refused: {safe_line(reason)}", style="bold"))
        if c.get("attempt_branch"):
            out.append(Text(f"    kept on {c['attempt_branch']}; `swarm review {rv.run_id} --keep resolver:{path}` "
                            f"takes it, `swarm review {rv.run_id} --resolve {path}` resolves it by hand", style="dim"))
        for line in diff(c).splitlines():
            style = {"+": "green", "-": "red", "@": "cyan"}.get(line[:1], "")
            out.append(Text("    " + safe_line(line), style=style))
    return out


@click.command("apply")
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option("--stage", is_flag=True, help="Only stage the result in your index and working tree; commit yourself.")
@click.option("-m", "--message", metavar="MESSAGE", default=None,
              help="Subject of the commit (default: the task); the body lists the subtasks.")
@click.option("--branch", "new_branch", metavar="NAME", default=None,
              help="Put the result as one commit on a new branch NAME from HEAD; your branch and files stay.")
@click.option("--pr", is_flag=True, help="With --branch: push it and open a pull request (needs `gh`).")
@click.option("--force", is_flag=True, help="Apply despite blocking findings; the commit message lists them.")
@click.pass_obj
def apply_command(obj: Context, run_id: str | None, stage: bool, message: str | None, new_branch: str | None,
                  pr: bool, force: bool) -> None:
    """Bring RUN's reviewed result (or its merged result, if not reviewed) onto your current branch.

    One commit, in your name, whose message lists the subtasks; or with
    --stage, the change left staged; or with --branch NAME, one commit on a
    new branch and your checkout left alone (--pr then pushes it and opens a
    pull request whose body is the run's report). Refused, with nothing
    changed, while blocking findings remain (symbol, test, config, link,
    parse, names, tamper, an unresolved conflict) unless --force; overlap,
    scope and duplicate findings are listed and do not block. Refused too
    when your uncommitted changes touch the same files, or when your branch
    moved and its changes conflict with the run's. Commit hooks do not run:
    use --stage, then `git commit`.
    """
    from swarm.review.apply import apply_run

    if pr and not new_branch:
        raise click.UsageError("--pr needs --branch NAME: the branch to push and open the pull request from")
    if new_branch and stage:
        raise click.UsageError("--branch makes a commit; --stage leaves one uncommitted: choose one")
    repo = obj.repo()
    rid = resolve_run(repo.root, run_id)
    records = RunRecords(repo.root, rid)
    if pr:
        from swarm.review.pr import need_gh

        need_gh()
    done = apply_run(repo, records, stage=stage, message=message, force=force, new_branch=new_branch)
    for line in done.gate.lines("advisory"):
        obj.err.print(f"[yellow]note[/yellow]: {safe(line)}")
    if done.forced and done.gate.blocking:
        obj.err.print(f"[red]applied with --force despite {len(done.gate.blocking)} blocking finding(s)[/red]:"
                      + "".join(f"\n  ! {safe(line)}" for line in done.gate.lines("blocking")))
    what = f"{len(done.files)} file(s) from the {done.source} result ({safe(', '.join(done.kept))})"
    if done.new_branch:
        obj.out.print(f"applied {rid} to new branch {safe(done.new_branch)} as {done.commit[:10]}: {what}; "
                      "your branch and working tree are unchanged")
        if pr:
            from swarm.review.pr import open_pull_request

            subject = repo.git("log", "-1", "--format=%s", done.commit or "")
            opened = open_pull_request(repo, records, done.new_branch, subject)
            obj.out.print(f"pushed {safe(opened.branch)} to {safe(opened.remote)}; pull request: {safe(opened.url)}")
    elif done.commit:
        where = (done.branch or "HEAD").removeprefix("refs/heads/")
        obj.out.print(f"applied {rid} to {where} as {done.commit[:10]}: {what}")
    else:
        where = (done.branch or "HEAD").removeprefix("refs/heads/")
        obj.out.print(f"staged {rid} on {where}: {what}; `git diff --cached` to read it, `git commit` to keep it")
    obj.out.print(f"next: `swarm clean {rid}` removes its worktrees and branches")


@click.command()
@click.argument("run_id", metavar="[RUN]", required=False)
@click.pass_obj
def watch(obj: Context, run_id: str | None) -> None:
    """Follow RUN (default: the latest) from another terminal until it ends; with no run going, the next one.

    Shows each subtask's state, turns, last tool, tokens and cost as the run
    records them, and the files each agent changes as it changes them (files
    git ignores are left out). Ends with the run; Ctrl-C stops watching only.
    Without RUN, and no run of this repository going, it waits for the next
    one to begin and follows that. Exit 0 when the run ended done, 1 when it
    failed or was interrupted.
    """
    import time

    from swarm.run.records import list_runs
    from swarm.run.status import run_status
    from swarm.ui.watch import RunWatcher, wait_for_run

    repo = obj.repo()
    known = list_runs(repo.root)
    going = bool(known) and run_status(RunRecords(repo.root, known[-1])).result.state == "running"
    if run_id is None and not going:
        obj.err.print(f"no swarm run going in {safe(str(repo.root))}; waiting for the next one "
                      "(`swarm run` in another terminal; Ctrl-C stops)")
        rid = wait_for_run(repo.root, set(known)) or ""
        obj.err.print(f"following run {rid}")
    else:
        rid = resolve_run(repo.root, run_id)
    with Progress(obj.out, clock=time.time) as progress:
        state = RunWatcher(repo, RunRecords(repo.root, rid), progress).run()
    obj.out.print(progress.board)
    if state is None:
        obj.err.print(f"stopped watching; run {rid} goes on (`swarm status {rid}`)")
        return
    obj.out.print(f"run {rid} {safe(state)}; next: `swarm review {rid}`, then `swarm apply {rid}` "
                  "(or `--branch NAME`)")
    sys.exit(0 if state == "done" else 1)


def _settings_epilog() -> str:
    from swarm.config import SETTINGS

    import textwrap

    # One column for the names, the longest included, and the help wrapped beside it (80 columns).
    width = 2 + max(len(name) for name in SETTINGS) + 2
    lines = ["\b", "Settings (SWARM_<NAME> in the environment, e.g. SWARM_MAX_COST):"]
    for s in SETTINGS.values():
        lines += textwrap.wrap(f"{s.help} ({s.expects})", width=78, initial_indent=f"  {s.name}".ljust(width),
                               subsequent_indent=" " * width)
    return "\n".join(lines)


@click.command("config", epilog=_settings_epilog())
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON: value and source of each.")
@click.pass_obj
def config_command(obj: Context, as_json: bool) -> None:
    """Print the effective settings and where each came from.

    Each source overrides the one before: the default, your own
    $XDG_CONFIG_HOME/swarm/config.toml (~/.config/swarm/config.toml), [tool.swarm]
    in pyproject.toml, .swarm/config.toml, SWARM_<NAME> variables, then the
    flags of a command (e.g. `swarm run --max-cost`).
    """
    from swarm.config import load_config

    config = load_config(obj.repo().root)
    if as_json:
        click.echo(json.dumps({name: {"value": value, "source": source} for name, value, source in config.items()},
                              indent=2))
        return
    table = Table(title="swarm settings", title_justify="left", box=None, pad_edge=False, header_style="bold")
    table.add_column("setting", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("from", no_wrap=True)
    for name, value, source in config.items():
        if isinstance(value, list):
            shown = ", ".join(value) or "(none)"
        else:
            shown = "(not set)" if value is None else str(value)
        table.add_row(name, shown, source)
    obj.out.print(table)
    obj.out.print("[dim]each setting NAME is also read from SWARM_NAME (e.g. SWARM_MAX_COST); "
                  "`swarm config --help` says what each does[/dim]")
