"""report.md: what a person reads after a run."""

from __future__ import annotations

from typing import Any

from swarm.plan.spec import Plan
from swarm.run.records import RunRecords


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(plan: Plan, result: dict[str, Any]) -> str:
    """The run report: subtasks, conflicts, findings, contradictions, next steps."""
    lines = [f"# swarm run {result['run_id']}", "", f"**Task:** {plan.task or '(none)'}", "",
             f"State: **{result['state']}** · base `{result['base_commit'][:10]}` · merged branch "
             f"`{result['merged_branch']}` at `{(result.get('merged_commit') or '')[:10]}`", ""]
    usage = result.get("usage", {})
    lines += [f"Tokens: {usage.get('input_tokens', 0)} in, {usage.get('output_tokens', 0)} out, "
              f"{usage.get('cache_read_input_tokens', 0)} cache reads · cost ${usage.get('cost_usd', 0):.4f} · "
              f"{result.get('timings', {}).get('total', 0):.1f}s", ""]
    lines += ["## Subtasks", "", "| subtask | state | merged | files | time | summary |", "|---|---|---|---|---|---|"]
    for st in result["subtasks"]:
        summary = st.get("summary") or st.get("error") or ""
        lines.append(f"| {st['id']} | {st['state']} | {'yes' if st.get('merged') else 'no'} | "
                     f"{len(st.get('files_changed', []))} | {st.get('seconds', 0):.1f}s | {_cell(summary)[:300]} |")
    lines.append("")
    if result.get("conflicts"):
        lines += ["## Conflicts", ""]
        for c in result["conflicts"]:
            state = "resolved" if c.get("resolved") else "not resolved: left out of the merged branch"
            lines.append(f"- `{c['file']}`: {', '.join(c['subtasks'])} ({state})")
        lines.append("")
    if result.get("findings"):
        lines += ["## Findings", ""]
        for f in result["findings"]:
            lines.append(f"- **{f['kind']}** ({', '.join(f.get('subtasks', []))}): {f['message']}")
        lines.append("")
    lines += ["## Contradictions", ""]
    if result.get("contradictions"):
        for c in result["contradictions"]:
            lines.append(f"- [{c.get('status', 'open')}] {c['description']} ({', '.join(c.get('subtasks', []))})"
                         f" — {c.get('resolution', '')}")
    else:
        lines.append("None recorded.")
    lines += ["", "## Files changed", ""]
    for st in result["subtasks"]:
        for path in st.get("files_changed", []):
            lines.append(f"- `{path}` ({st['id']})")
    lines += ["", "## Next", "", f"- `git diff {result['base_commit'][:10]} {result['merged_branch']}` to read the change",
              f"- `swarm status {result['run_id']}` for the states, `swarm clean {result['run_id']}` to remove it", ""]
    return "\n".join(lines)


def write_report(records: RunRecords, plan: Plan, result: dict[str, Any]) -> None:
    records.write_text("report.md", render_markdown(plan, result))
