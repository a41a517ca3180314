"""`swarm doctor`: what the sandbox and the environment allowlist do on this machine, checked live."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import click

from swarm.cli.context import Context
from swarm.config import load_config
from swarm.env.allowlist import pass_env_names, tool_env, withheld_values
from swarm.env.sandbox import Sandbox, bwrap_problem, sandbox_mode, sandbox_note, worktrees_base
from swarm.env.shell import run_shell
from swarm.errors import SwarmError
from swarm.ui.safe import safe

# Run inside the sandbox: each line is one fact, printed as "name=value".
_PROBE = r"""
echo "home_entries=$(ls -A "$REAL_HOME" 2>/dev/null | tr '\n' ' ')"
echo "processes=$(ls /proc | grep -c '^[0-9]')"
echo "root_write=$( (touch /swarm-doctor-probe 2>/dev/null && rm -f /swarm-doctor-probe && echo yes) || echo no)"
echo "network=$( (exec 3<>/dev/tcp/1.1.1.1/53) 2>/dev/null && echo yes || echo no)"
"""


def _bwrap_version() -> str:
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return "not installed"
    try:
        out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    return f"{out or 'bwrap'} at {bwrap}"


def _probe(home: Path) -> dict[str, str]:
    """Run the probe in a throwaway folder laid out like a worktree; return its facts."""
    with tempfile.TemporaryDirectory(prefix="swarm-doctor-", dir=os.environ.get("TMPDIR")) as folder:
        env = tool_env({"REAL_HOME": str(home)})
        result = asyncio.run(run_shell(_PROBE, Path(folder), env, 30, sandbox=Sandbox(Path(folder))))
    facts = {}
    for line in result.output.splitlines():
        key, _, value = line.partition("=")
        facts[key.strip()] = value.strip()
    return facts


@click.command()
@click.pass_obj
def doctor(obj: Context) -> None:
    """Say what an agent's tools can see and do here: the sandbox, checked live, and the environment."""
    try:
        repo = obj.repo()
        config = load_config(repo.root)
        where = f"worktrees of {repo.root} under {repo.worktrees_home()}"
    except SwarmError:
        repo, config, where = None, load_config(Path(obj.repo_path)), "no repository here"
    os.environ["SWARM_SANDBOX"] = config.get("sandbox")
    os.environ["SWARM_NETWORK"] = "true" if config.get("network") else "false"
    if config.get("pass_env"):
        os.environ["SWARM_PASS_ENV"] = ",".join(config.get("pass_env"))
    say = obj.out.print
    say(f"sandbox setting: {sandbox_mode()} (from {config.source('sandbox')})")
    say(f"bubblewrap: {safe(_bwrap_version())}: {safe(bwrap_problem() or 'works here')}")
    say(f"an agent's bash: {safe(sandbox_note())}")
    if sandbox_mode() != "off" and bwrap_problem() is None:
        layout = Sandbox(Path(tempfile.gettempdir()) / "worktree")
        for line in layout.describe()[2:]:
            say(f"  - {safe(line)}")
        facts = _probe(layout.home)
        # Only the toolchain folders shown again may appear in the home, nothing else of the user's.
        expected = {p.relative_to(layout.home).parts[0] for p in layout.shown_again() if layout.home in p.parents}
        seen = set(facts.get("home_entries", "?").split())
        checks = [(f"the user's home shows nothing but {', '.join(sorted(expected)) or 'nothing'}", seen <= expected),
                  (f"only the sandbox's own processes are visible ({facts.get('processes', '?')})",
                   facts.get("processes", "99").isdigit() and int(facts.get("processes", "99")) <= 5),
                  ("the system is read-only", facts.get("root_write") == "no"),
                  ("no network" if not config.get("network") else "network reachable",
                   facts.get("network") == ("yes" if config.get("network") else "no"))]
        for text, ok in checks:
            say(f"  {'[green]✓[/green]' if ok else '[red]✗[/red]'} checked: {text}")
    say(f"where worktrees live: {safe(where if repo else worktrees_base())}")
    passed = pass_env_names()
    say("environment of every tool: PATH, LANG, LC_*, TERM, TZ, a private HOME and TMPDIR, SWARM_WORKTREE/"
        f"SUBTASK/PORT, the worktree env, and pass_env: {safe(', '.join(passed) or '(none)')}")
    withheld = sorted(set(os.environ) - set(tool_env()))
    say(f"withheld here: {len(withheld)} variable(s): {safe(', '.join(withheld) or '(none)')}")
    say(f"redacted wherever they appear (tool output, records, review, report): {len(withheld_values())} value(s) "
        "that look like secrets")
