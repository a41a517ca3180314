"""swarm against the current model's behaviour: the real CLI, the scripted model in its default (current) mode.

The scripted model refuses forced tool use and `thinking: disabled`, signs its thinking
blocks and refuses them altered, and puts text between tool calls inside thinking
blocks, so every run here also proves that swarm sends what the model accepts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from conftest import git, swarm, text, tool, turn, write_plan

FILES = {"README.md": "# sample\n", "src/app.py": "def main():\n    return 1\n"}


def one(sid: str = "w", files: list[str] | None = None) -> dict:
    return {"task": "t", "subtasks": [{"id": sid, "title": "work", "instructions": "do the work",
                                       "files": files or ["**"]}]}


def result_of(proc: subprocess.CompletedProcess) -> dict:
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout)


def worker_requests(server, key: str = "w") -> list[dict]:
    return [r for r in server.requests if r["role"] == "worker" and r["key"] == key]


def test_run_task_with_the_planner_completes(make_repo, scripted):
    repo = make_repo(FILES)
    plan = {"subtasks": [{"id": "docs", "title": "Docs", "instructions": "Write docs.", "files": ["docs/**"]}]}
    # The planner first answers in text; swarm asks once more and then gets the call.
    server = scripted({"planner": ["Here is my plan: one subtask for the docs.", plan],
                       "workers": {"docs": [turn(text("Writing the page."), tool("write", file_path="docs/a.md",
                                                                                 content="# A\n")),
                                            turn(text("Wrote docs/a.md."))]}})
    proc = swarm(repo, "run", "Write the docs", "--json", server=server)
    assert proc.returncode == 0, proc.stderr
    result = result_of(proc)
    assert result["state"] == "done"
    assert git(repo, "show", f"{result['merged_branch']}:docs/a.md") == "# A"
    planner = [r for r in server.requests if r["role"] == "planner"]
    assert [r["status"] for r in planner] == [200, 200]
    assert all("tool_choice" not in r["body"] for r in server.requests)
    assert all(r["body"].get("stream") is True for r in server.requests)  # long turns stream
    # The summary is the final text; the text between tool calls came inside thinking blocks.
    assert result["subtasks"][0]["summary"] == "Wrote docs/a.md."


def test_planner_that_never_calls_the_tool_is_a_clear_error(make_repo, scripted):
    repo = make_repo(FILES)
    server = scripted({"planner": ["I would split it in two.", "Still just text."]})
    proc = swarm(repo, "run", "Write the docs", server=server)
    assert proc.returncode == 2
    assert "without calling submit_plan" in proc.stderr and "--plan" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len([r for r in server.requests if r["role"] == "planner"]) == 2


def test_turn_cut_at_max_tokens_is_asked_again_and_its_call_runs(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    big = "".join(f"line {i}\n" for i in range(2000))
    server = scripted({"workers": {"w": [
        turn(text("Writing the whole file at once."), tool("write", file_path="out.txt", content=big)),
        turn(text("Wrote out.txt."))]}})
    server.script["workers"]["w"][0]["needs_tokens"] = 100_000  # more than the default limit allows
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", one())), "--json", server=server)
    assert proc.returncode == 0, proc.stderr
    result = result_of(proc)
    assert result["subtasks"][0]["state"] == "done"
    assert git(repo, "show", f"{result['merged_branch']}:out.txt") == big.rstrip("\n")
    first_turn = [r["body"]["max_tokens"] for r in worker_requests(server) if r["turn"] == 0]
    # The cut reply was never run: the same turn again with the model's largest output.
    assert first_turn == [64_000, 128_000]


def test_call_cut_even_at_the_largest_output_is_not_run(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    server = scripted({"workers": {"w": [
        {"content": [tool("write", file_path="half.txt", content="x" * 400)], "stop": "max_tokens"},
        turn(tool("write", file_path="part1.txt", content="x" * 200)),
        turn(text("Wrote it in parts."))]}})
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", one())), "--json",
                 "--max-tokens", "128000", server=server)
    assert proc.returncode == 0, proc.stderr
    result = result_of(proc)
    assert result["subtasks"][0]["files_changed"] == ["part1.txt"]
    told = worker_requests(server)[1]["body"]["messages"][-1]["content"]
    assert told[0]["is_error"] and "cut off at the output limit" in told[0]["content"]


def test_pause_turn_is_sent_back_and_continued(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    server = scripted({"workers": {"w": [
        {"content": [text("Working on a long step.")], "stop": "pause_turn"},
        turn(tool("write", file_path="paused.txt", content="after the pause\n")),
        turn(text("Done after a pause."))]}})
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", one())), "--json", server=server)
    assert proc.returncode == 0, proc.stderr
    result = result_of(proc)
    assert result["subtasks"][0]["state"] == "done"
    assert git(repo, "show", f"{result['merged_branch']}:paused.txt") == "after the pause"
    second = worker_requests(server)[1]["body"]["messages"]
    assert second[-1]["role"] == "assistant"  # the paused turn went back as it was, to be continued


def test_refusal_fails_the_subtask_and_says_so(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    server = scripted({"workers": {"w": [
        {"content": [], "stop": "refusal", "refusal": "this touches a protected area"}]}})
    plan = write_plan(tmp_path / "p.json", one())
    proc = swarm(repo, "run", "--plan", str(plan), "--json", server=server)
    assert proc.returncode == 1
    sub = result_of(proc)["subtasks"][0]
    assert sub["state"] == "failed" and not sub["merged"]
    assert "the model refused" in sub["error"] and "protected area" in sub["error"]
    plain = swarm(repo, "run", "--plan", str(plan), server=scripted(server.script))
    assert plain.returncode == 1 and "the model refused" in plain.stdout + plain.stderr


def test_many_large_reads_under_a_small_context_window(make_repo, scripted, tmp_path):
    files = {f"data/f{i}.txt": "".join(f"{i:02d} row {j} " + "x" * 60 + "\n" for j in range(300)) for i in range(10)}
    repo = make_repo({**FILES, **files})
    window = 24_000  # tokens; the ten reads alone are about 55,000
    reads = [turn(text(f"Reading file {i}."), tool("read", file_path=f"data/f{i}.txt")) for i in range(10)]
    server = scripted({"context_window": window, "workers": {"w": [
        *reads, turn(tool("write", file_path="report.txt", content="read 10 files\n")),
        turn(text("Read all ten files and wrote report.txt."))]}})
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", one())), "--json", server=server)
    assert proc.returncode == 0, proc.stderr
    result = result_of(proc)
    assert result["subtasks"][0]["state"] == "done"
    assert git(repo, "show", f"{result['merged_branch']}:report.txt") == "read 10 files"
    sent = worker_requests(server)
    # The window was learned from one "prompt is too long"; from then on the conversation stayed inside it.
    refused = [r for r in sent if r["status"] == 400]
    assert len(refused) <= 1 and all("prompt is too long" in r["error"] for r in refused)
    last = sent[-1]["body"]["messages"]
    assert any("cleared to keep the conversation inside the context window" in json.dumps(m) for m in last)
    # Every tool call's name and arguments are still there.
    calls = [b for m in last if m["role"] == "assistant" for b in m["content"] if b["type"] == "tool_use"]
    assert [c["input"]["file_path"] for c in calls if c["name"] == "read"] == [f"data/f{i}.txt" for i in range(10)]


def test_a_large_file_read_is_cut_with_a_note(make_repo, scripted, tmp_path):
    big = "".join(f"line {i} " + "y" * 90 + "\n" for i in range(2000))  # about 200 KB
    repo = make_repo({**FILES, "big.txt": big})
    server = scripted({"workers": {"w": [turn(tool("read", file_path="big.txt")), turn(text("Read it."))]}})
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", one())), "--json", server=server)
    assert proc.returncode == 0, proc.stderr
    result_block = worker_requests(server)[1]["body"]["messages"][2]["content"][0]
    content = result_block["content"]
    assert len(content) < 70 * 1024
    if result_block.get("is_error"):  # the SDK's read refuses a file this big itself (anthropic 2.16 on)
        assert "view_range" in content and "big.txt" in content
    else:  # older SDKs read it whole: swarm cuts it, saying how to read the rest
        assert "view_range=[" in content and content.startswith("line 0 ")


def test_a_long_subtask_completes_with_default_settings(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    steps = [turn(text(f"Step {i}."), tool("write", file_path=f"steps/s{i:02d}.txt", content=f"{i}\n"))
             for i in range(70)]
    server = scripted({"workers": {"w": [*steps, turn(text("Wrote 70 steps."))]}})
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", one())), "--json", server=server,
                 timeout=300)
    assert proc.returncode == 0, proc.stderr
    sub = result_of(proc)["subtasks"][0]
    assert sub["state"] == "done" and sub["merged"] and len(sub["files_changed"]) == 70
    first = worker_requests(server)[0]["body"]["messages"][0]["content"]
    text_of_first = first if isinstance(first, str) else first[0]["text"]
    assert text_of_first.startswith("Subtask: w") and "100 turns" in text_of_first


def test_out_of_turns_is_incomplete_kept_out_of_the_merge_and_keepable(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    steps = [turn(tool("write", file_path=f"n{i}.txt", content=f"{i}\n")) for i in range(10)]
    server = scripted({"workers": {"w": [*steps, turn(text("never reached"))]}})
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", one())), "--json",
                 "--max-turns", "6", server=server)
    assert proc.returncode == 1
    result = result_of(proc)
    sub = result["subtasks"][0]
    assert sub["state"] == "incomplete" and not sub["merged"]
    assert git(repo, "show", f"{sub['branch']}:n5.txt") == "5"  # its work is committed on its branch
    sent = worker_requests(server)
    assert len(sent) == 7  # six turns, then one last turn to sum up
    assert "1 turn left" in json.dumps(sent[5]["body"]["messages"][-1]) or \
        "turns left" in json.dumps(sent[1]["body"]["messages"][-1])
    assert "used all 6 turns" in json.dumps(sent[6]["body"]["messages"][-1])
    assert "n0.txt" not in git(repo, "ls-tree", "-r", "--name-only", result["merged_branch"])
    shown = swarm(repo, "review")
    assert shown.returncode == 0, shown.stderr
    assert "incomplete" in shown.stdout and "n0.txt" in shown.stdout
    kept = swarm(repo, "review", "--keep", "w")
    assert kept.returncode == 0, kept.stderr
    applied = swarm(repo, "apply")
    assert applied.returncode == 0, applied.stderr
    assert (repo / "n0.txt").read_text() == "0\n"  # kept by the user, its work reaches the branch


def test_every_request_401_stops_with_one_line_about_the_key(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    server = scripted({"planner": {"subtasks": [{"id": "a", "instructions": "x"}]}})
    server.inject(401, count=1000)
    proc = swarm(repo, "run", "Do the thing", server=server)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "ANTHROPIC_API_KEY" in proc.stderr.strip().splitlines()[-1]
    assert len(server.requests) == 1  # a bad key is not retried

    plan = {"task": "t", "subtasks": [{"id": f"s{i}", "instructions": "x", "files": [f"s{i}.txt"]} for i in range(4)]}
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", plan)), "--concurrency", "1",
                 server=server)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "ANTHROPIC_API_KEY" in proc.stderr.strip().splitlines()[-1]
    assert len(server.requests) == 2  # the whole run stopped at the first 401


def test_unreachable_endpoint_and_unknown_model_say_what_to_do(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    plan = write_plan(tmp_path / "p.json", one())
    proc = swarm(repo, "run", "--plan", str(plan), env={"ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
                                                        "ANTHROPIC_API_KEY": "sk-test"})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "ANTHROPIC_BASE_URL" in proc.stderr.strip().splitlines()[-1]
    server = scripted({})
    server.inject(404, count=10)
    proc = swarm(repo, "run", "--plan", str(plan), "--model", "claude-nope", server=server)
    assert proc.returncode == 2 and "--model" in proc.stderr.strip().splitlines()[-1]


def test_max_cost_needs_a_price(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    plan = write_plan(tmp_path / "p.json", one())
    server = scripted({"workers": {"w": [turn(text("ok"))]}})
    proc = swarm(repo, "run", "--plan", str(plan), "--model", "claude-unknown-9", "--max-cost", "1", server=server)
    assert proc.returncode == 2 and "price" in proc.stderr and server.requests == []
    proc = swarm(repo, "run", "--plan", str(plan), "--model", "claude-unknown-9", server=server)
    assert proc.returncode == 0, proc.stderr
    assert "no price for model claude-unknown-9" in proc.stderr


def test_thinking_and_effort_settings_reach_the_request(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    plan = write_plan(tmp_path / "p.json", one())
    server = scripted({"workers": {"w": [turn(text("ok"))]}})
    proc = swarm(repo, "run", "--plan", str(plan), "--thinking", "minimal", "--effort", "low", server=server)
    assert proc.returncode == 0, proc.stderr
    body = worker_requests(server)[-1]["body"]
    assert body["thinking"] == {"type": "between_tools"} and body["output_config"] == {"effort": "low"}
    # At max effort between_tools would be refused: minimal falls back to adaptive.
    proc = swarm(repo, "run", "--plan", str(plan), "--thinking", "minimal", "--effort", "max", server=server)
    assert proc.returncode == 0, proc.stderr
    assert worker_requests(server)[-1]["body"]["thinking"]["type"] == "adaptive"


def test_rate_limit_wait_is_shown(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    server = scripted({"workers": {"w": [turn(text("ok"))]}})
    server.inject(429, retry_after=1, subtask="w")
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", one())), server=server)
    assert proc.returncode == 0, proc.stderr
    assert "waiting: rate limited (retry in 1s)" in proc.stderr


def test_ctrl_c_then_resume_continues_from_the_work_in_progress(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    steps = [turn(tool("write", file_path=f"p{i}.txt", content=f"{i}\n"), delay=0.3) for i in range(8)]
    server = scripted({"workers": {"w": [*steps, turn(text("All eight written."))]}})
    env = dict(os.environ, ANTHROPIC_BASE_URL=server.url, ANTHROPIC_API_KEY="sk-test")
    proc = subprocess.Popen([sys.executable, "-m", "swarm", "run", "--plan",
                             str(write_plan(tmp_path / "p.json", one())), "--json"],
                            cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(worker_requests(server)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    wip = json.loads(out)["subtasks"][0]
    assert wip["state"] == "cancelled" and wip["commit"] != wip["start_commit"]

    resumed = swarm(repo, "resume", server=server)
    assert resumed.returncode == 0, resumed.stderr
    final = json.loads(next((repo / ".swarm/runs").iterdir()).joinpath("result.json").read_text())
    sub = final["subtasks"][0]
    assert sub["state"] == "done" and sub["merged"]
    # The agent was told what it did, and started from its own commit, not from the base.
    restart = [r for r in worker_requests(server) if r["turn"] == 0][-1]
    assert "You worked on this subtask before" in json.dumps(restart["body"]["messages"][0])
    assert git(repo, "merge-base", "--is-ancestor", wip["commit"], sub["branch"]) == ""
    assert sorted(sub["files_changed"]) == [f"p{i}.txt" for i in range(8)]
    unreachable = git(repo, "fsck", "--unreachable", "--no-reflogs")
    commits = [line.split()[2] for line in unreachable.splitlines() if line.startswith("unreachable commit")]
    # (An earlier merged result may be left behind; no agent's commit is.)
    agents = [c for c in commits if git(repo, "log", "-1", "--format=%s", c).startswith("swarm(w)")]
    assert agents == []


def test_an_error_marked_do_not_retry_is_not_retried(make_repo, scripted, tmp_path):
    repo = make_repo(FILES)
    server = scripted({"workers": {"w": [turn(text("ok"))]}})
    server.inject(500, subtask="w", headers={"x-should-retry": "false"})
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", one())), "--json", server=server)
    assert proc.returncode == 1
    sub = result_of(proc)["subtasks"][0]
    assert sub["state"] == "failed" and "500" in sub["error"]
    assert [r["status"] for r in worker_requests(server)] == [500]
    # Without the header a 500 is transient: retried, and the subtask finishes.
    server.inject(500, subtask="w")
    proc = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "p.json", one())), "--json", server=server)
    assert proc.returncode == 0, proc.stderr
    assert [r["status"] for r in worker_requests(server)][1:] == [500, 200]
