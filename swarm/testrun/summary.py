"""What `swarm test` prints at the end: a row per shard, the totals, and the failed tests ready to re-run."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from swarm.testrun.results import TestReport

_SHOWN = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


def totals_line(totals: dict[str, int]) -> str:
    """pytest's way: '12 passed, 1 failed, 0 errors, 2 skipped' (zero xfailed/xpassed left out)."""
    parts = [f"{totals.get('passed', 0)} passed", f"{totals.get('failed', 0)} failed",
             f"{totals.get('error', 0)} errors", f"{totals.get('skipped', 0)} skipped"]
    parts += [f"{totals[k]} {k}" for k in ("xfailed", "xpassed") if totals.get(k)]
    return ", ".join(parts)


def print_summary(console: Console, reports: list[TestReport]) -> None:
    shown = [k for k in _SHOWN if k in _SHOWN[:4] or any(r.totals[k] for r in reports)]
    table = Table(title=f"swarm test on {reports[0].commit[:10]}", title_justify="left", box=None,
                  pad_edge=False, header_style="bold")
    table.add_column("shard", no_wrap=True)
    for column in (*shown, "time"):
        table.add_column("errors" if column == "error" else column, justify="right", no_wrap=True)
    for report in reports:
        for shard in report.shards:
            totals = shard.totals()
            table.add_row(escape(shard.name), *(str(totals[k]) if report.counted else "-" for k in shown),
                          f"{shard.seconds:.1f}s")
    console.print(table)
    for report in reports:
        head = f"{escape(report.label)}: " if report.label else ""
        for shard in report.shards:
            if shard.error:
                console.print(f"[red]{escape(shard.name)}[/red]: {escape(shard.error)}; its output: {shard.log}")
                lines = shard.log.read_text(errors="replace").splitlines()[-12:] if shard.log.exists() else []
                for line in lines:
                    console.print(f"    {escape(line)}", highlight=False)
        for note in report.notes:
            console.print(f"[yellow]note[/yellow]: {escape(note)}")
        times = ", ".join(f"{s.seconds:.1f}s" for s in report.shards)
        state = "[green]ok[/green]" if report.ok else "[red]FAILED[/red]"
        counted = totals_line(report.totals) if report.counted else "exit codes only"
        console.print(f"{head}{state}: {counted} in {report.seconds:.1f}s ({len(report.shards)} shard(s): {times})")
        failed = report.failed
        if failed:
            console.print(f"{head}{len(failed)} failed:")
            for test_id in failed:
                console.print(f"  {escape(test_id)}", highlight=False)
            if report.rerun_command:
                console.print(f"re-run them: {escape(report.rerun_command)}", highlight=False)
        if report.counted and not report.cases and not any(s.error for s in report.shards):
            console.print(f"{head}[red]no tests ran[/red]: check the command selects some (logs in {report.records})")
