"""report.md: what a person reads after a run."""

from __future__ import annotations

from swarm.plan.spec import Plan
from swarm.run.records import RunRecords
from swarm.run.result import RunResult


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(plan: Plan, result: RunResult) -> str:
    """The run report: subtasks, conflicts, findings, contradictions, next steps."""
    lines = [f"# swarm run {result.run_id}", "", f"**Task:** {plan.task or '(none)'}", "",
             f"State: **{result.state}** · base `{result.base_commit[:10]}` · merged branch "
             f"`{result.merged_branch}` at `{(result.merged_commit or '')[:10]}`", ""]
    usage = result.usage
    lines += [f"Tokens: {usage.input_tokens} in, {usage.output_tokens} out, "
              f"{usage.cache_read_input_tokens} cache reads · cost ${usage.cost_usd:.4f} · "
              f"{result.timings.get('total', 0):.1f}s", ""]
    lines += ["## Subtasks", "", "| subtask | state | merged | files | time | summary |", "|---|---|---|---|---|---|"]
    for st in result.subtasks:
        summary = st.summary or st.error or ""
        lines.append(f"| {st.id} | {st.state} | {'yes' if st.merged else 'no'} | "
                     f"{len(st.files_changed)} | {st.seconds:.1f}s | {_cell(summary)[:300]} |")
    lines.append("")
    if result.conflicts:
        lines += ["## Conflicts", ""]
        for c in result.conflicts:
            state = "resolved" if c.get("resolved") else "not resolved: left out of the merged branch"
            lines.append(f"- `{c['file']}`: {', '.join(c['subtasks'])} ({state})")
        lines.append("")
    if result.findings:
        lines += ["## Findings", ""]
        for f in result.findings:
            lines.append(f"- **{f['kind']}** ({', '.join(f.get('subtasks', []))}): {f['message']}")
        lines.append("")
    unrun = {k: c for k, c in (result.checks or {}).items() if c.get("status") in ("skipped", "error")}
    if unrun:
        lines += ["## Checks not run", ""]
        lines += [f"- **{k}** ({c['status']}): {c.get('reason') or c.get('error') or ''}" for k, c in unrun.items()]
        lines.append("")
    lines += ["## Contradictions", ""]
    if result.contradictions:
        for c in result.contradictions:
            round_ = f" (round {c['round']})" if c.get("round") else ""
            lines.append(f"- [{c.get('status', 'open')}]{round_} {c['description']} ({', '.join(c.get('subtasks', []))})"
                         f" — {c.get('resolution', '')}")
    else:
        lines.append("None recorded.")
    lines += ["", "## Files changed", ""]
    for st in result.subtasks:
        for path in st.files_changed:
            lines.append(f"- `{path}` ({st.id})")
    lines += ["", "## Next", "", f"- `swarm review {result.run_id}` to read the change, each hunk with its subtask "
              "(`--drop ID` leaves one out, `--html FILE` writes a page)",
              f"- `swarm apply {result.run_id}` to bring it into the current branch as one commit "
              "(`--branch NAME` for a new branch)",
              f"- `swarm status {result.run_id}` for the states, `swarm clean {result.run_id}` to remove it", ""]
    return "\n".join(lines)


def write_report(records: RunRecords, plan: Plan, result: RunResult) -> None:
    records.write_text("report.md", render_markdown(plan, result))
