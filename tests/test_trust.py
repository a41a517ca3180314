"""The trust boundary against a hostile scripted agent: nothing it runs reveals a secret to the model or the records.

Each test names its sandbox mode: `auto` (bubblewrap confines the shell; skipped with a reason where the
machine refuses it) or `off` (unconfined, where only the environment allowlist and redaction protect).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import git, swarm, swarm_process, text, tool, turn, write_plan
from swarm.env.sandbox import bwrap_problem

GITHUB_TOKEN = "ghp_4f9ZtQ1mX7vB2nK8sL3pR6wY0cD5eH1jA9uT"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY42"
API_KEY = "sk-test-secret-key-123456"  # what conftest.swarm gives the client
PLANTED_KEY = "-----BEGIN OPENSSH PRIVATE KEY----- planted-7c1e9b"
SIBLING_DATA = "sibling-private-data-5d2a"
SECRETS = (GITHUB_TOKEN, AWS_SECRET, API_KEY)

needs_bwrap = pytest.mark.skipif(bwrap_problem() is not None, reason=f"no sandbox here: {bwrap_problem()}")


def _hostile_setup(make_repo, tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    repo = make_repo({"app.py": "print('hi')\n"})
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text(PLANTED_KEY + "\n")
    # Another run's worktree, as a sibling a hostile agent would look for.
    other = tmp_path / "xdg-cache" / "swarm" / "worktrees" / "other-repo-1234" / "20260101-000000-beef" / "core"
    other.mkdir(parents=True)
    (other / "notes.txt").write_text(SIBLING_DATA + "\n")
    env = {"HOME": str(home), "GITHUB_TOKEN": GITHUB_TOKEN, "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
           "ANTHROPIC_EXTRA": "also-withheld-value-123456789"}
    return repo, env, other


def _probes(home: Path, other: Path, repo: Path) -> list[dict]:
    return [
        tool("bash", command="env | sort"),
        tool("bash", command=f"cat ~/.ssh/id_ed25519 {home}/.ssh/id_ed25519 2>&1; ls -a {home} 2>&1"),
        tool("bash", command=f'ls -a "$SWARM_WORKTREE/.." 2>&1; cat {other}/notes.txt 2>&1'),
        tool("bash", command="for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f; done 2>/dev/null | sort -u"),
        tool("bash", command=f"ls -a {repo}/.swarm 2>&1; cat {repo}/.swarm/runs/*/run.json 2>&1"),
    ]


def _run_hostile(make_repo, scripted, tmp_path: Path, mode: str) -> tuple[list[str], str, Path]:
    repo, env, other = _hostile_setup(make_repo, tmp_path)
    home = Path(env["HOME"])
    server = scripted({"workers": {
        "evil": [turn(*_probes(home, other, repo), delay=0.5), turn(text("Looked around."))],
        "sib": [turn(tool("write", file_path="sib.txt", content=SIBLING_DATA + "\n")), turn(text("Wrote."))]}})
    plan = {"task": "Probe", "subtasks": [{"id": "evil", "instructions": "Look around."},
                                          {"id": "sib", "instructions": "Write a file."}]}
    # A real process: the /proc/*/environ scan must find swarm's own environment as exec'd.
    proc = swarm_process(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json",
                         "--sandbox", mode, server=server, env=env)
    assert proc.returncode == 0, proc.stderr
    second = [r for r in server.requests if r["key"] == "evil" and r["turn"] == 1][0]["body"]
    results = [json.dumps(block["content"]) for block in second["messages"][-1]["content"]]
    records = "".join(p.read_text(errors="replace") for p in (repo / ".swarm").rglob("*") if p.is_file())
    everything = json.dumps([r["body"] for r in server.requests]) + records + proc.stdout + proc.stderr
    return results, everything, repo


@needs_bwrap
def test_sandboxed_hostile_agent_sees_no_secret_no_home_no_sibling_no_records(make_repo, scripted, tmp_path):
    results, everything, repo = _run_hostile(make_repo, scripted, tmp_path, "auto")
    env_dump, home_probe, sibling_probe, proc_probe, records_probe = results
    assert "PATH=" in env_dump and "SWARM_WORKTREE=" in env_dump
    for name in ("GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "ANTHROPIC", "XDG_CACHE_HOME"):
        assert name not in env_dump, name
    assert home_probe.count("No such file") == 2 and home_probe.endswith('\\n.\\n..\\n"'), home_probe
    assert "No such file" in sibling_probe and "sib" not in sibling_probe.replace("sibling", "")
    assert "ANTHROPIC" not in proc_probe and "GITHUB_TOKEN" not in proc_probe
    assert records_probe.startswith('".\\n..\\ncat: ') and '"pid"' not in records_probe, records_probe
    assert SIBLING_DATA not in "".join(results)
    for secret in (*SECRETS, PLANTED_KEY):
        assert secret not in everything, secret
    # The sibling's own write stayed its own: it reached the merge, not the hostile agent.
    assert SIBLING_DATA in git(repo, "show", f"swarm/{json.loads(_latest_result(repo))['run_id']}/sib:sib.txt")


def _latest_result(repo: Path) -> str:
    runs = sorted((repo / ".swarm" / "runs").iterdir())
    return (runs[-1] / "result.json").read_text()


def test_unsandboxed_agent_gets_the_allowlist_and_every_secret_is_redacted(make_repo, scripted, tmp_path):
    results, everything, _ = _run_hostile(make_repo, scripted, tmp_path, "off")
    env_dump, _, _, proc_probe, _ = results
    assert "PATH=" in env_dump
    for name in ("GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "ANTHROPIC", "HOME=" + str(tmp_path / "home")):
        assert name not in env_dump, name
    # Without a PID namespace the scan reads swarm's own environment: the values are redacted on the way out.
    assert "[redacted]" in proc_probe
    for secret in SECRETS:
        assert secret not in everything, secret


def test_pass_env_names_a_variable_and_it_reaches_the_shell(make_repo, scripted, tmp_path):
    repo = make_repo({"app.py": "x = 1\n"})
    server = scripted({"workers": {"one": [turn(tool("bash", command="echo v=$PROJECT_FLAVOUR t=$GITHUB_TOKEN")),
                                           turn(text("Done."))]}})
    plan = {"task": "Env", "subtasks": [{"id": "one", "instructions": "Echo."}]}
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json", server=server,
                 env={"SWARM_PASS_ENV": "PROJECT_FLAVOUR", "PROJECT_FLAVOUR": "vanilla", "GITHUB_TOKEN": GITHUB_TOKEN})
    assert proc.returncode == 0, proc.stderr
    second = [r for r in server.requests if r["key"] == "one" and r["turn"] == 1][0]["body"]
    assert "v=vanilla t=\\n" in json.dumps(second["messages"][-1]["content"])


def test_without_a_sandbox_bash_is_refused_and_the_file_tools_work(make_repo, scripted, tmp_path):
    """A machine with no bubblewrap (PATH without bwrap), sandbox mode auto: no silent unconfined shell."""
    repo = make_repo({"app.py": "x = 1\n"})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("git",):
        os.symlink(next(Path(p) / program for p in os.environ["PATH"].split(os.pathsep)
                        if (Path(p) / program).exists()), bin_dir / program)
    marker = tmp_path / "ran-unconfined"
    server = scripted({"workers": {"one": [
        turn(tool("bash", command=f"touch {marker}"), tool("write", file_path="b.txt", content="by the file tool\n")),
        turn(text("Done."))]}})
    plan = {"task": "Refuse", "subtasks": [{"id": "one", "instructions": "Try bash."}]}
    proc = swarm_process(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json",
                 "--sandbox", "auto", server=server, env={"PATH": str(bin_dir)})
    assert proc.returncode == 0, proc.stderr
    assert "no sandbox" in proc.stderr.splitlines()[0] or any("no sandbox" in line for line in
                                                              proc.stderr.splitlines()[:3]), proc.stderr
    assert not marker.exists()
    second = [r for r in server.requests if r["key"] == "one" and r["turn"] == 1][0]["body"]
    bash_result, write_result = second["messages"][-1]["content"]
    assert bash_result["is_error"] and "--sandbox off" in json.dumps(bash_result["content"])
    assert not write_result.get("is_error")
    result = json.loads(proc.stdout)
    assert git(repo, "show", f"{result['merged_branch']}:b.txt") == "by the file tool"
    required = swarm_process(repo, "run", "--plan", str(tmp_path / "plan.json"), "--sandbox", "require",
                     server=server, env={"PATH": str(bin_dir)})
    assert required.returncode == 2 and len(required.stderr.strip().splitlines()) == 1, required.stderr
    assert "bubblewrap" in required.stderr


def test_redaction_covers_the_terminal_review_and_the_html_report(make_repo, scripted, tmp_path):
    """A secret the agent could only have guessed, written into a file, never shows in review output."""
    repo = make_repo({"app.py": "x = 1\n"})
    server = scripted({"workers": {"one": [
        turn(tool("write", file_path="leak.txt", content=f"token {GITHUB_TOKEN}\n")), turn(text("Wrote."))]}})
    plan = {"task": "Leak", "subtasks": [{"id": "one", "instructions": "Write."}]}
    env = {"GITHUB_TOKEN": GITHUB_TOKEN}
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), server=server, env=env)
    assert proc.returncode == 0, proc.stderr
    review = swarm(repo, "review", "--html", str(tmp_path / "r.html"), env=env)
    assert review.returncode == 0, review.stderr
    shown = swarm(repo, "review", env=env)
    assert "leak.txt" in shown.stdout and "[redacted]" in shown.stdout
    assert GITHUB_TOKEN not in shown.stdout + review.stdout
    assert GITHUB_TOKEN not in (tmp_path / "r.html").read_text()
