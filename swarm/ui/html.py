"""`swarm review --html FILE`: the review as one self-contained HTML page.

No external scripts, styles or fonts: the CSS (pygments' colours included)
is inline and the fonts are the system's. The page holds the summary, the
checks and findings, the contradictions and how each was resolved, the
conflicts, and the diff by subtask and file with every hunk labelled with the
subtask that made it. Code is coloured with pygments, one side of a hunk at a
time so that multi-line strings and comments colour correctly.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_for_filename
from pygments.lexers.special import TextLexer
from pygments.util import ClassNotFound

from swarm.env.allowlist import redact
from swarm.merge.diffs import FilePatch, Hunk, printable
from swarm.model.usage import token_line
from swarm.review.selection import Change, RunReview, Selection, check_rows

COLOURS = ["#0969da", "#8250df", "#1a7f37", "#bc4c00", "#cf222e", "#0a7b83", "#6e40c9", "#9a6700"]
SYNTHESIS_COLOUR = "#57606a"

CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --soft: #f6f8fa;
  --add: #dafbe1; --add-strong: #aceebb; --del: #ffebe9; --del-strong: #ffcecb; --hunk: #ddf4ff; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg); font: 15px/1.5 system-ui, -apple-system, "Segoe UI",
  "Noto Sans", "DejaVu Sans", Helvetica, Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 28px 60px; }
h1 { font-size: 24px; margin: 8px 0 4px; } h2 { font-size: 19px; margin: 30px 0 10px; padding-bottom: 6px;
  border-bottom: 1px solid var(--line); } h3 { font-size: 16px; margin: 22px 0 6px; }
code, .code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono",
  "Liberation Mono", monospace; font-size: 13px; }
.task { font-size: 16px; margin: 2px 0 10px; }
.facts { display: flex; flex-wrap: wrap; gap: 6px 22px; margin: 0; color: var(--muted); }
.facts b { color: var(--fg); font-weight: 600; }
nav { position: sticky; top: 0; background: var(--bg); border-bottom: 1px solid var(--line); padding: 8px 0;
  z-index: 2; display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; }
nav a { color: #0969da; text-decoration: none; } nav a:hover { text-decoration: underline; }
.badge { display: inline-block; color: #fff; border-radius: 10px; padding: 0 8px; font-size: 12px;
  font-weight: 600; line-height: 19px; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.state { font-weight: 600; } .state.done, .ok { color: #1a7f37; } .state.failed, .bad { color: #cf222e; }
.warn { color: #9a6700; }
.checks { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 6px 0 10px; } .check { white-space: nowrap; }
table.subtasks { border-collapse: collapse; width: 100%; } table.subtasks th, table.subtasks td {
  text-align: left; padding: 5px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
table.subtasks td.num { text-align: right; white-space: nowrap; } .add-n { color: #1a7f37; } .del-n { color: #cf222e; }
ul.items { list-style: none; padding: 0; margin: 0; } ul.items li { border: 1px solid var(--line);
  border-left: 4px solid #d4a72c; border-radius: 6px; padding: 8px 12px; margin: 8px 0; background: var(--soft); }
ul.items li.fixed { border-left-color: #1a7f37; } ul.items li.open, ul.items li.conflict { border-left-color: #cf222e; }
.kind { font-weight: 700; margin-right: 6px; } .meta { color: var(--muted); font-size: 13px; }
.none { color: var(--muted); font-style: italic; }
article.change { margin-top: 26px; } article.change.conflicted > h3 { color: #cf222e; }
.flag { font-size: 13px; font-weight: 600; margin-left: 8px; padding: 1px 8px; border-radius: 10px; }
.flag.conflict { background: #cf222e; color: #fff; } .flag.dropped { background: #fff1c2; color: #7d4e00; }
.summary { margin: 4px 0 10px; color: var(--muted); white-space: pre-wrap; }
details.file { border: 1px solid var(--line); border-radius: 6px; margin: 10px 0; overflow: hidden; }
details.file.conflicted { border-color: #cf222e; box-shadow: 0 0 0 1px #cf222e; }
details.file > summary { background: var(--soft); padding: 6px 12px; cursor: pointer;
  border-bottom: 1px solid var(--line); }
table.diff { border-collapse: collapse; width: 100%; table-layout: fixed; }
table.diff td { padding: 0 8px; vertical-align: top; }
table.diff td.ln { width: 52px; color: var(--muted); text-align: right; user-select: none; font-size: 12px;
  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
table.diff td.code { white-space: pre-wrap; overflow-wrap: anywhere; }
tr.add td { background: var(--add); } tr.add td.ln { background: var(--add-strong); }
tr.del td { background: var(--del); } tr.del td.ln { background: var(--del-strong); }
tr.hunk td { background: var(--hunk); color: var(--muted); padding: 4px 8px; }
tr.note td { color: var(--muted); font-style: italic; padding: 6px 12px; }
.dropped { opacity: .45; } .dropped tr.hunk td { text-decoration: line-through; }
.sign { user-select: none; display: inline-block; width: 1.1em; color: var(--muted); }
footer { margin-top: 40px; color: var(--muted); font-size: 13px; }
"""


def _colour(review: RunReview, owner: str) -> str:
    if owner == "synthesis":
        return SYNTHESIS_COLOUR
    return COLOURS[review.owners.index(owner) % len(COLOURS)] if owner in review.owners else COLOURS[0]


def _badge(review: RunReview, owner: str) -> str:
    return f'<span class="badge" style="background:{_colour(review, owner)}">{html.escape(owner)}</span>'


def _e(value: Any) -> str:
    return html.escape(redact(printable(str(value))))


def _side(lexer: Any, lines: list[str]) -> list[str]:
    """Coloured HTML for consecutive lines of one side of a hunk (escaped text when the lexer disagrees)."""
    if not lines:
        return []
    source = "".join(redact(printable(line).rstrip("\n")) + "\n" for line in lines)
    coloured = highlight(source, lexer, HtmlFormatter(nowrap=True)).split("\n")
    if len(coloured) >= len(lines):
        return coloured[:len(lines)]
    return [html.escape(redact(printable(line)).rstrip("\n")) for line in lines]


def _lexer(path: str) -> Any:
    try:
        return get_lexer_for_filename(path, stripnl=False, stripall=False, ensurenl=False)
    except ClassNotFound:
        return TextLexer(stripnl=False)


def _hunk_rows(review: RunReview, owner: str, fp: FilePatch, hunk: Hunk) -> str:
    lexer = _lexer(fp.path)
    old = _side(lexer, [line[1:] for line in hunk.lines if line[:1] in (" ", "-")])
    new = _side(lexer, [line[1:] for line in hunk.lines if line[:1] in (" ", "+")])
    rows = [f'<tr class="hunk"><td class="ln"></td><td class="ln"></td><td class="code">{_badge(review, owner)} '
            f'{_e(hunk.header.rstrip())}</td></tr>']
    o, n, oi, ni = hunk.old_start, hunk.new_start, 0, 0
    for line in hunk.lines:
        sign = line[:1]
        if sign == "\\":
            rows.append(f'<tr class="note"><td colspan="3">{_e(line[1:].strip())}</td></tr>')
        elif sign == "-":
            rows.append(f'<tr class="del"><td class="ln">{o}</td><td class="ln"></td><td class="code">'
                        f'<span class="sign">-</span>{old[oi]}</td></tr>')
            o, oi = o + 1, oi + 1
        elif sign == "+":
            rows.append(f'<tr class="add"><td class="ln"></td><td class="ln">{n}</td><td class="code">'
                        f'<span class="sign">+</span>{new[ni]}</td></tr>')
            n, ni = n + 1, ni + 1
        else:
            rows.append(f'<tr><td class="ln">{o}</td><td class="ln">{n}</td><td class="code">'
                        f'<span class="sign"> </span>{new[ni]}</td></tr>')
            o, n, oi, ni = o + 1, n + 1, oi + 1, ni + 1
    return "".join(rows)


def _file(review: RunReview, change: Change, fp: FilePatch, selection: Selection | None) -> str:
    conflicted = fp.path in {c["file"] for c in change.conflicts}
    name = _e(fp.path) + (f" <span class=\"meta\">(from {_e(fp.old_path)})</span>" if fp.old_path else "")
    cls = "file conflicted" if conflicted else "file"
    flag = ' <span class="flag conflict">conflict</span>' if conflicted else ""
    body = []
    if not fp.hunks:
        kept = selection is None or selection.keeps_file(change.owner, fp.path)
        what = "binary file" if fp.binary else f"file {fp.kind}"
        body.append(f'<tbody class="{"" if kept else "dropped"}"><tr class="note"><td colspan="3">'
                    f'{_badge(review, change.owner)} {what}</td></tr></tbody>')
    for hunk in fp.hunks:
        kept = selection is None or selection.keeps_hunk(change.owner, fp.path, hunk.index)
        body.append(f'<tbody class="{"" if kept else "dropped"}">{_hunk_rows(review, change.owner, fp, hunk)}</tbody>')
    return (f'<details open class="{cls}"><summary><code>{name}</code> <span class="meta">{fp.kind}</span> '
            f'<span class="add-n">+{fp.added}</span> <span class="del-n">−{fp.removed}</span>{flag}</summary>'
            f'<table class="diff"><colgroup><col style="width:52px"><col style="width:52px"><col></colgroup>'
            f'{"".join(body)}</table></details>')


def _items(entries: list[str], empty: str) -> str:
    return f'<ul class="items">{"".join(entries)}</ul>' if entries else f'<p class="none">{empty}</p>'


def render_html(review: RunReview, selection: Selection | None = None,
                reviewed: dict[str, Any] | None = None,
                transcripts: dict[str, list[dict[str, Any]]] | None = None) -> str:
    """The review page as one string of HTML (`reviewed` is review.json, whose re-run checks win).

    `transcripts` (a subtask id -> its transcript records) adds each agent's transcript, collapsed.
    """
    r = review.result
    usage, timings = r.usage, r.timings
    changes = {c.owner: c for c in review.changes}
    facts = [("state", _e(r.state)), ("base", f"<code>{review.base[:10]}</code>"),
             ("merged", f"<code>{_e(r.merged_branch)}</code> ({review.tip[:10]})"),
             ("tokens", _e(token_line(usage))),
             ("cost", f"${usage.cost_usd:.4f}"), ("time", f"{timings.get('total', 0):.1f}s")]
    if reviewed:
        facts.append(("reviewed", f"<code>{_e(reviewed.get('reviewed_branch', ''))}</code>: "
                                  f"{_e(reviewed.get('description', ''))}"))
    rows = []
    for st in r.subtasks:
        change = changes.get(st.id)
        if change is None:
            inside = '<span class="meta">no</span>'
        elif selection is not None and not selection.keeps_owner(st.id):
            inside = '<span class="warn">dropped</span>'
        elif change.merged or selection is not None:
            inside = "yes"
        else:
            inside = '<span class="bad">no: conflict</span>'
        summary = (st.summary or st.error or "").strip()
        added = sum(f.added for f in change.files) if change else 0
        removed = sum(f.removed for f in change.files) if change else 0
        rows.append(f'<tr><td>{_badge(review, st.id)}</td><td>{_e(changes[st.id].title if change else "")}'
                    f'</td><td class="state {_e(st.state)}">{_e(st.state)}</td><td>{inside}</td>'
                    f'<td class="num">{len(st.files_changed)}</td><td class="num"><span class="add-n">'
                    f'+{added}</span> <span class="del-n">−{removed}</span></td><td class="num">'
                    f'{st.seconds:.1f}s</td><td>{_e(summary)}</td></tr>')
    rerun = bool(reviewed and reviewed.get("checks_rerun"))
    findings = (reviewed or {}).get("findings") or [] if rerun else r.findings
    finding_items = [f'<li class="{_e(f.get("kind", ""))}"><span class="kind">{_e(f.get("kind", "finding"))}</span>'
                     f'{" ".join(_badge(review, s) for s in f.get("subtasks", []))} <span class="meta">'
                     f'{_e(", ".join(f.get("files", [])))}</span><div>{_e(f.get("message", ""))}</div></li>'
                     for f in findings]
    checks = check_rows((reviewed or {}).get("checks") if rerun else r.checks)
    marks = {"pass": ("ok", "✓"), "fail": ("bad", "✗"), "error": ("bad", "!")}
    check_line = " ".join(f'<span class="check {marks.get(status, ("meta", "–"))[0]}" title="{_e(detail)}">'
                          f'{marks.get(status, ("meta", "–"))[1]} {_e(name)}</span>'
                          for name, status, detail in checks)
    if checks:
        check_line = (f'<p class="checks">{check_line}'
                      f'{" <span class=meta>(re-run on the reviewed result)</span>" if rerun else ""}</p>')
    contradictions = [f'<li class="{_e(c.get("status", "open"))}"><span class="kind">{_e(c.get("status", "open"))}'
                      f'</span>{" ".join(_badge(review, s) for s in c.get("subtasks", []))}'
                      f'<div>{_e(c.get("description", ""))}</div><div class="meta">Resolution: '
                      f'{_e(c.get("resolution") or "(none)")}</div></li>' for c in r.contradictions]
    conflicts = [f'<li class="conflict"><span class="kind bad">conflict</span><code>{_e(c["file"])}</code> '
                 f'{" and ".join(_badge(review, s) for s in c["subtasks"])} <span class="meta">'
                 f'{"resolved" if c.get("resolved") else _e(c["subtasks"][-1]) + " left out of the merged result"}'
                 f'</span></li>' for c in r.conflicts]
    articles = []
    for change in review.changes:
        dropped = selection is not None and not selection.keeps_owner(change.owner)
        flags = ""
        if change.conflicts:
            others = sorted({s for c in change.conflicts for s in c["subtasks"] if s != change.owner})
            flags += f'<span class="flag conflict">left out: conflicts with {_e(", ".join(others))}</span>'
        if dropped:
            flags += '<span class="flag dropped">dropped in review</span>'
        cls = "change conflicted" if change.conflicts else "change"
        files = "".join(_file(review, change, fp, selection) for fp in change.files) or \
            '<p class="none">no file changed</p>'
        articles.append(f'<article class="{cls}{" dropped" if dropped else ""}" id="change-{_e(change.owner)}">'
                        f'<h3>{_badge(review, change.owner)} {_e(change.title)}{flags}</h3>'
                        f'<p class="summary">{_e(change.summary)}</p>{files}</article>')
    from swarm.ui import transcript as tr

    told = [f'<details class="transcript" id="transcript-{_e(sid)}"><summary>{_badge(review, sid)} '
            f'<span class="meta">{len(entries)} record(s)</span></summary>{tr.render_html(tr.parse(entries))}'
            f'</details>' for sid, entries in (transcripts or {}).items() if entries]
    nav = " ".join(f'<a href="#change-{_e(c.owner)}">{_badge(review, c.owner)}</a>' for c in review.changes)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>swarm review — run {_e(review.run_id)}</title>
<style>{CSS}{HtmlFormatter(style="default").get_style_defs(".code")}
tr:not(.add):not(.del):not(.hunk) > td.code {{ background: transparent; }}</style></head>
<body><main>
<header><h1>swarm review · run {_e(review.run_id)}</h1>
<p class="task">{_e(r.task or "")}</p>
<div class="facts">{"".join(f"<span>{k} <b>{v}</b></span>" for k, v in facts)}</div></header>
<nav><a href="#summary">Summary</a><a href="#findings">Findings</a><a href="#contradictions">Contradictions</a>
<a href="#changes">Changes</a> {nav}</nav>
<section id="summary"><h2>Subtasks</h2><table class="subtasks"><thead><tr><th>subtask</th><th>title</th>
<th>state</th><th>in result</th><th>files</th><th>lines</th><th>time</th><th>summary</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table></section>
<section id="findings"><h2>Checks and findings</h2>{check_line}
{_items(finding_items + conflicts, "No findings.")}</section>
<section id="contradictions"><h2>Contradictions and resolutions</h2>
{_items(contradictions, "No contradictions recorded.")}</section>
<section id="changes"><h2>Changes by subtask</h2>{"".join(articles) or '<p class="none">The run changed nothing.</p>'}
</section>
{f'<section id="transcripts"><h2>Transcripts</h2>{"".join(told)}</section>' if told else ""}
<footer>swarm review of run {_e(review.run_id)} · generated {datetime.now().strftime("%Y-%m-%d %H:%M")}</footer>
</main></body></html>
"""
