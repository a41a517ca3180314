"""What a person reads at the end of a run, and a plan before it runs."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from swarm.model.usage import Usage, compact_tokens, token_cell, token_line, usd
from swarm.plan.spec import Plan
from swarm.review.gate import state_label
from swarm.run.result import RunResult
from swarm.ui.safe import safe


def print_summary(console: Console, result: RunResult) -> None:
    """The table of subtasks, errors and conflicts, and the merged branch with the run's totals."""
    rows = [[safe(st.id), safe(st.state), "yes" if st.merged else "no", str(len(st.files_changed)),
             str(st.turns), token_cell(st.usage), compact_tokens(st.usage.tokens_cached),
             f"{st.seconds:.1f}s", f"${st.usage.cost_usd:.4f}"] for st in result.subtasks]
    # What the subtasks' rows leave of the total is the synthesis pass's (and the planner's, when one ran):
    # a row of its own, so the rows add up to the total line below.
    told = Usage()
    for st in result.subtasks:
        told.add(st.usage)
    rest = result.usage.minus(told)
    if rest.tokens:
        rows.append(["synthesis" + (", planner" if result.timings.get("plan") else ""), "", "", "", "",
                     token_cell(rest), compact_tokens(rest.tokens_cached), "", f"${rest.cost_usd:.4f}"])
    # Light borders and numbers never cut: on 80 columns only the names give way (with an ellipsis).
    table = Table(title=f"run {safe(result.run_id)}: {safe(state_label(result))}", title_justify="left",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    numeric = ("files", "turns", "in/out", "cached", "time", "cost")
    for i, column in enumerate(("subtask", "state", "merged", *numeric)):
        if column in numeric or column == "merged":
            width = max([len(column), *(len(row[i]) for row in rows)])
            table.add_column(column, justify="right" if column in numeric else "left", no_wrap=True,
                             min_width=width)
        else:
            table.add_column(column, overflow="ellipsis", min_width=6)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for st in result.subtasks:
        if st.error:
            console.print(f"[red]{safe(st.id)}[/red]: {safe(st.error)}")
    for c in result.conflicts:
        console.print(f"[red]conflict[/red] in {safe(c['file'])} between {safe(', '.join(c['subtasks']))}: "
                      f"{safe(c['subtasks'][-1])} left out of the merged branch")
    merged = result.merged_branch
    usage = result.usage
    console.print(f"merged branch: [bold]{merged}[/bold] ({(result.merged_commit or '')[:10]}); "
                  f"tokens {token_line(usage)}, ${usage.cost_usd:.4f}; "
                  f"{result.timings.get('total', 0):.1f}s")
    console.print(f"next: {next_step(result)}")


def next_step(result: RunResult) -> str:
    """The commands that work next: a run stopped before its end is resumed (nothing is merged to apply yet)."""
    rid = result.run_id
    if result.stopped_by_ceiling:
        return f"`swarm resume {rid} --max-cost <higher>` (than {usd(result.max_cost or 0)})"
    if result.state == "interrupted":
        return f"`swarm resume {rid}`"
    return f"swarm review {rid}   ·   swarm apply {rid} (or --branch NAME)"


def print_plan(console: Console, plan: Plan, model: str, prices: Any = None,
               sizes: dict[str, int] | None = None) -> None:
    """The plan by layer, with a rough forecast of model calls and cost."""
    from swarm.plan.planner import estimate

    forecast = estimate(plan, model, prices=prices, sizes=sizes)
    table = Table(title=f"plan: {safe(plan.task)}", title_justify="left")
    for column in ("layer", "subtask", "title", "files", "depends on"):
        table.add_column(column)
    for depth, layer in enumerate(forecast["layers"]):
        for sid in layer:
            sub = plan.get(sid)
            table.add_row(str(depth), safe(sid), safe(sub.title or (f"$ {sub.command}" if sub.command else "")),
                          safe(", ".join(sub.files) or "-"), safe(", ".join(sub.depends_on) or "-"))
    console.print(table)
    if plan.shared:
        lines = plan.shared.strip().splitlines() or [""]
        console.print(f"shared contract: {safe(lines[0])}")
        for line in lines[1:]:  # its own lines, each behind a gutter (never a literal \n, never unmarked)
            console.print(f"  │ {safe(line)}")
    if sizes is not None:
        console.print(f"the agents' scopes: {forecast['scope_files']} file(s), {forecast['scope_bytes']:,} bytes")
    console.print(f"estimate (rough): {forecast['agents']} agent(s), {forecast['commands']} command(s), "
                  f"about {forecast['model_calls']} model calls, {forecast['input_tokens']:,} input and "
                  f"{forecast['output_tokens']:,} output tokens, "
                  + (f"about ${forecast['cost_usd']:.2f} with {model}" if forecast["cost_usd"] is not None
                     else f"cost unknown (no price for {model}; see the prices setting)"))
