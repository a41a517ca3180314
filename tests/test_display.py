"""What a run shows: the same token counts everywhere, a live table that fits 80 columns, whole lines when piped."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.text import Text

from conftest import read_terminal, swarm, swarm_process, text, tool, turn, write_plan
from swarm.checks import KINDS
from swarm.ui.progress import Progress, checks_phase

FILES = {"m0.py": "A = 0\n", "m1.py": "A = 1\n"}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TOKENS = re.compile(r"([\d,]+) in · ([\d,]+) cached · ([\d,]+) out")


def run_in_terminal(repo: Path, plan: Path, env: dict[str, str], columns: int = 80) -> tuple[str, str, int]:
    """`swarm run --plan` with stderr on a terminal `columns` wide (the live table) and stdout piped."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "swarm", "run", "--plan", str(plan)], cwd=repo,
                            stdout=subprocess.PIPE, stderr=slave, text=True,
                            env={**os.environ, **env, "TERM": "xterm-256color", "COLUMNS": str(columns)})
    os.close(slave)
    screen, out = read_terminal(master, proc, 90)
    return screen, out, proc.returncode


def screen_lines(screen: str) -> list[str]:
    return [ANSI.sub("", part) for line in screen.split("\n") for part in line.split("\r") if ANSI.sub("", part)]


def test_one_run_shows_the_same_tokens_in_the_live_table_status_summary_report_and_runs(make_repo, scripted,
                                                                                          tmp_path):
    repo = make_repo(FILES)
    plan = {"task": "Bump both constants", "test_command": "sleep 1.5; true",
            "subtasks": [{"id": f"m{i}", "title": f"Bump m{i}", "instructions": f"Set A to {i + 5} in m{i}.py.",
                          "files": [f"m{i}.py"]} for i in range(2)]}
    server = scripted({"workers": {f"m{i}": [
        turn(text("Looking."), tool("read", file_path=f"m{i}.py"), delay=0.5),
        turn(tool("edit", file_path=f"m{i}.py", old_string=f"A = {i}", new_string=f"A = {i + 5}"), delay=0.5),
        turn(text(f"Set A to {i + 5}."), delay=0.3),
    ] for i in range(2)}, "synthesizer": [turn(text("Reviewing."), tool("read", file_path="m0.py"), delay=0.8)]})
    env = {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sk-test-secret-key-123456"}
    screen, out, code = run_in_terminal(repo, write_plan(tmp_path / "plan.json", plan), env)
    assert code == 0, screen + out
    rid = re.search(r"run (\d{8}-\d{6}-\w+)", out).group(1)
    result = json.loads((repo / ".swarm" / "runs" / rid / "result.json").read_text())
    usage = result["usage"]
    assert usage["cache_read_input_tokens"] > 0  # the workers and the synthesizer share a cached prefix
    expected = (f"{usage['input_tokens'] + usage['cache_creation_input_tokens']:,} in · "
                f"{usage['cache_read_input_tokens']:,} cached · {usage['output_tokens']:,} out")
    cost = f"${usage['cost_usd']:.4f}"

    # The live table: its last frame (drawn as the run ends) has the run's total, a synthesis row, the checks.
    lines = screen_lines(screen)
    table = [line for line in lines if not re.match(r"\s*\d+\.\d+s ", line)]  # the notes above it are lines
    assert max(len(line) for line in table) <= 80, "\n".join(line for line in table if len(line) > 80)
    totals = [line for line in lines if line.startswith("tokens ") and " cached · " in line]
    assert totals and totals[-1] == f"tokens {expected} · {cost}", totals[-3:]
    assert any(line.startswith("synthesis ") and "running" in line for line in lines)
    assert any(line.startswith("checks: ") and "sleep 1.5; true" in line for line in lines)

    # The summary's last lines, swarm status, the HTML report's header, swarm runs: the same numbers.
    summary = next(line for line in out.splitlines() if line.startswith("merged branch:"))
    assert f"tokens {expected}, {cost};" in summary
    status = swarm(repo, "status").stdout
    assert f"tokens {expected} · {cost}" in status
    assert re.search(r"^\W*synthesis\s", status, re.M)  # the synthesis pass's share of the total, as its own row
    report = tmp_path / "report.html"
    assert swarm(repo, "review", "--html", str(report)).returncode == 0
    assert expected in report.read_text()
    listed = json.loads(swarm(repo, "runs", "--json").stdout)[0]
    assert (f"{listed['tokens_in']:,} in · {listed['tokens_cached']:,} cached · {listed['tokens_out']:,} out"
            == expected)
    assert cost in swarm(repo, "runs").stdout

    # Each subtask's row: the same cells live as in status.
    def row(text_: str, sid: str) -> list[str]:
        found = [line.replace("│", " ").split() for line in text_.splitlines()]
        found = [cells for cells in found if cells[:1] == [sid]]
        return found[-1] if found else []

    for st in result["subtasks"]:
        live = row("\n".join(lines), st["id"])
        shown = row(status, st["id"])
        in_out = f"{st['usage']['input_tokens'] + st['usage']['cache_creation_input_tokens']}/" \
                 f"{st['usage']['output_tokens']}"
        assert in_out in live and in_out in shown, (live, shown)
        assert f"${st['usage']['cost_usd']:.4f}" in live and f"${st['usage']['cost_usd']:.4f}" in shown

    # The synthesis pass's row: the same tokens and cost live, in status and in the summary's table.
    def counts(cells: list[str]) -> list[str]:
        return [c for c in cells if "/" in c or c.startswith("$")]

    live, shown, summed = (counts(row(t, "synthesis")) for t in ("\n".join(lines), status, out))
    assert live and live == shown == summed, (live, shown, summed)


def test_the_live_table_fits_80_columns_with_no_empty_column():
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=80)
    progress = Progress(console, quiet=True)
    progress.begin("run 20261202-101010-ab12", ["core-library-with-a-long-name", "docs", "tests-of-everything"])
    progress.state("core-library-with-a-long-name", "running")
    progress.activity("core-library-with-a-long-name", "turn", usage={
        "input_tokens": 1234, "output_tokens": 5678, "cache_read_input_tokens": 123456,
        "cache_creation_input_tokens": 20000, "cost_usd": 0.1234})
    progress.activity("core-library-with-a-long-name", "tool", name="edit", path="src/core.py")
    progress.state("docs", "running")
    progress.activity("docs", "waiting", reason="rate limited", seconds=12)
    progress.state("tests-of-everything", "incomplete", "ran out of turns after 40 turns; its work is kept")
    progress.activity("resolve-docs", "turn", usage={"input_tokens": 900, "output_tokens": 90, "cost_usd": 0.01})
    progress.phase(checks_phase(KINDS, "pytest -q tests/", ["merged"]))
    console.print(progress.board)
    lines = ANSI.sub("", screen.getvalue()).splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    header = next(line for line in lines if line.startswith("subtask"))
    names = header.split()
    assert names == ["subtask", "state", "turns", "files", "in/out", "cached", "cost", "time", "doing"]
    rows = [line for line in lines[lines.index(header) + 2:] if line and not line.startswith(("total", "tokens",
                                                                                                "checks"))]
    assert [r.split()[0][:4] for r in rows] == ["core", "docs", "test", "synt"]  # the synthesis row last
    # No column is empty: every column has something under its header in some row.
    starts = [header.index(n) for n in names] + [80]
    for i, name in enumerate(names):
        cells = [r[starts[i]:starts[i + 1]].strip() for r in rows]
        assert any(cells), name
    synthesis = rows[-1]
    assert "running" in synthesis and "900/90" in synthesis and "$0.0100" in synthesis and "resolv" in synthesis
    assert lines[-1].startswith("checks: test (running the merged tests: pytest -q tests/), conflict, ")
    assert lines[-1].endswith("…")
    assert "total 3 running · 1 incomplete" in "\n".join(lines)
    assert "tokens 22,134 in · 123,456 cached · 5,768 out · $0.1334" in "\n".join(lines)


LONG_PATH = "src/" + "a_rather_long_folder_name/" * 3 + "and_a_module_whose_name_is_long_too.py"
LONG_TASK = "Add the module at a path so long that it does not fit in eighty columns, nor does this task"


def test_piped_output_keeps_every_line_whole(make_repo, tmp_path):
    repo = make_repo(FILES)
    plan = {"task": LONG_TASK, "subtasks": [
        {"id": "the-subtask-that-writes-the-long-module", "title": "Write the module whose name is very long",
         "command": f"mkdir -p $(dirname {LONG_PATH}) && echo 'X = 1' > {LONG_PATH}"}]}
    run = swarm_process(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)))
    assert run.returncode == 0, run.stderr
    review = swarm_process(repo, "review")
    status = swarm_process(repo, "status")
    for proc in (run, review, status):
        assert proc.returncode == 0, proc.stderr
        assert "…" not in proc.stdout, proc.stdout  # nothing was cut to fit 80 columns
    # The summary and the status name the subtask whole, on one line of their table.
    for out in (run.stdout, status.stdout):
        assert any("the-subtask-that-writes-the-long-module" in line and "done" in line for line in out.splitlines())
    lines = review.stdout.splitlines()
    assert f"task: {LONG_TASK}" in lines
    assert any(line.strip().startswith(LONG_PATH) and "added" in line for line in lines)
    assert any("Write the module whose name is very long" in line for line in lines)
    assert any(line.rstrip().endswith(f"> {LONG_PATH}` exited 0") for line in lines)  # the summary column whole
    # The rules under headings stay a terminal's width, not the pipe's.
    assert max(len(line) for line in lines if "───" in line) <= 120


def test_the_end_of_a_run_suggests_swarm_review_and_apply_not_git(make_repo, tmp_path):
    repo = make_repo(FILES)
    plan = {"task": "Bump", "subtasks": [{"id": "bump", "title": "Bump", "command": "sed -i 's/0/5/' m0.py"}]}
    run = swarm_process(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)))
    assert run.returncode == 0, run.stderr
    rid = re.search(r"run (\d{8}-\d{6}-\w+)", run.stdout).group(1)
    assert f"next: swarm review {rid}" in run.stdout and f"swarm apply {rid}" in run.stdout
    report = (repo / ".swarm" / "runs" / rid / "report.md").read_text()
    following = report.split("## Next")[1]
    assert f"`swarm review {rid}`" in following and f"`swarm apply {rid}`" in following
    for text_ in (run.stdout, run.stderr, following):
        assert not re.search(r"`?git (diff|merge|checkout|cherry-pick)", text_), text_


def test_the_end_of_run_table_keeps_every_number_whole_on_80_columns():
    from rich.console import Console

    from swarm.model.usage import Usage
    from swarm.run.result import RunResult, SubtaskResult
    from swarm.ui.summary import print_summary

    usage = Usage.from_dict({"input_tokens": 1_163_456, "output_tokens": 234_567, "cache_read_input_tokens": 9_876_543,
                             "cost_usd": 12.3456})
    subtasks = [SubtaskResult.from_dict({"id": f"a-very-long-subtask-name-{i}", "state": "incomplete", "merged": True,
                                         "files_changed": ["a.py"] * 12, "turns": 100, "usage": usage.to_dict(),
                                         "seconds": 1234.5}) for i in range(3)]
    result = RunResult("20261202-120501-ab12", "done", subtasks=subtasks, usage=usage, merged_branch="swarm/x/merged",
                       merged_commit="abc", timings={"total": 12.0})
    console = Console(width=80, record=True)
    print_summary(console, result)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [line for line in lines if line.startswith("a-very")]
    assert len(rows) == 3 and all("1.2M/234.6k" in r and "9.9M" in r and "1234.5s" in r and r.endswith("$12.3456")
                                  for r in rows)


def test_the_live_total_counts_the_planner_like_the_final_line():
    from swarm.model.usage import Usage

    screen = io.StringIO()
    progress = Progress(Console(file=screen, force_terminal=True, width=80), quiet=True)
    progress.begin("run r", ["a"])
    planner = Usage.from_dict({"input_tokens": 1000, "output_tokens": 200, "cost_usd": 0.5})
    progress.board.earlier.add(planner)
    progress.activity("a", "turn", usage={"input_tokens": 10, "output_tokens": 2, "cost_usd": 0.01})
    total = progress.board.total()
    assert (total.input_tokens, total.output_tokens, round(total.cost_usd, 4)) == (1010, 202, 0.51)


def test_the_review_header_and_check_marks_fit_80_columns_and_stay_whole_when_piped():
    from swarm.ui.width import Packed

    marks = [Text(f"✓ {name}") for name in ("conflict", "tamper", "scope", "overlap", "duplicate", "symbol", "types",
                                             "config", "link", "names", "parse", "test")]
    narrow = Console(width=80, record=True)
    narrow.print(Packed(marks))
    lines = narrow.export_text().splitlines()
    assert len(lines) == 2 and all(len(line) <= 80 and line.startswith("  ✓ ") for line in lines)
    wide = Console(width=10_000, record=True)
    wide.print(Packed(marks))
    [line] = wide.export_text().splitlines()
    assert line.rstrip() == line and line.count("✓") == 12


def test_the_checks_status_line_names_each_test_run_once():
    assert checks_phase(KINDS, "pytest", ["merged", "merged"]).startswith(
        "checks: test (running the merged tests: pytest)")
    assert checks_phase(KINDS, "pytest", ["merged", "base"]).startswith(
        "checks: test (running the base and the merged tests: pytest)")
