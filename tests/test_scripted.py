"""The scripted model server, exercised through the real anthropic SDK."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import anthropic
import pytest

from swarm.scripted import ScriptedServer, load_script

MODEL = "claude-test"

READ_TOOL = {
    "name": "read",
    "description": "Read a file.",
    "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}},
}
PLAN_TOOL = {"name": "submit_plan", "description": "Submit the plan.", "input_schema": {"type": "object"}}
SYNTH_TOOL = {"name": "submit_synthesis", "description": "Submit.", "input_schema": {"type": "object"}}

SCRIPT: dict[str, Any] = {
    "workers": {
        "core": [
            {
                "content": [
                    {"type": "text", "text": "Reading the file"},
                    {"type": "tool_use", "name": "read", "input": {"file_path": "a.py"}},
                ]
            },
            {"content": [{"type": "text", "text": "Renamed x to y in a.py."}]},
        ],
        "quick": [{"content": [{"type": "text", "text": "quick done"}]}],
        **{f"w{i}": [{"content": [{"type": "text", "text": f"w{i} done"}], "delay": 0.3}] for i in range(4)},
    },
    "planner": {"subtasks": [{"id": "core", "description": "Rename x to y"}]},
    "synthesizer": [{"content": [{"type": "text", "text": "Merging."}]}],
    "resolver": [
        {"content": [{"type": "tool_use", "name": "submit_synthesis", "input": {"summary": "kept both"}}]}
    ],
}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def texts(reply: Any) -> list[str]:
    """The text blocks of a reply (the current model puts thinking blocks around them)."""
    return [b.text for b in reply.content if b.type == "text"]


def calls(reply: Any) -> list[Any]:
    return [b for b in reply.content if b.type == "tool_use"]


def thoughts(reply: Any) -> list[str]:
    return [b.thinking for b in reply.content if b.type == "thinking"]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer(SCRIPT) as srv:
        yield srv


def client(server: ScriptedServer, retries: int = 0) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test", base_url=server.url, max_retries=retries)


def test_worker_tool_use_then_end_turn(server: ScriptedServer) -> None:
    c = client(server)
    history: list[dict[str, Any]] = [user("Subtask: core\nRename x to y.")]
    first = c.messages.create(model=MODEL, max_tokens=100, messages=history, tools=[READ_TOOL])
    assert first.stop_reason == "tool_use"
    assert first.model == MODEL
    assert first.id.startswith("msg_")
    # Text between tool calls comes back inside a thinking block, after the up-front thinking.
    assert texts(first) == [] and [b.type for b in first.content] == ["thinking", "thinking", "tool_use"]
    (call,) = calls(first)
    assert call.name == "read" and call.input == {"file_path": "a.py"}
    assert call.id.startswith("toolu_")

    # The second turn is chosen by history length: one assistant message so far.
    history += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "x = 1"}]},
    ]
    second = c.messages.create(model=MODEL, max_tokens=100, messages=history, tools=[READ_TOOL])
    assert second.stop_reason == "end_turn"
    assert texts(second) == ["Renamed x to y in a.py."]
    assert second.usage.input_tokens > first.usage.input_tokens > 0

    # Past the end of the script a worker just says it is done.
    history += [{"role": "assistant", "content": "ok"}, user("more?")]
    third = c.messages.create(model=MODEL, max_tokens=100, messages=history)
    assert third.stop_reason == "end_turn" and texts(third) == ["Done."]

    records = server.requests
    assert [(r["role"], r["key"], r["turn"], r["status"]) for r in records] == [
        ("worker", "core", 0, 200),
        ("worker", "core", 1, 200),
        ("worker", "core", 2, 200),
    ]
    assert records[0]["headers"]["authorization"] == "Bearer test"  # SDK 2.x sends a bearer token
    assert records[0]["end"] >= records[0]["start"]


def test_tool_use_ids_are_unique_across_calls(server: ScriptedServer) -> None:
    c = client(server)
    ids = {
        calls(c.messages.create(model=MODEL, max_tokens=10, messages=[user("Subtask: core")]))[0].id
        for _ in range(3)
    }
    assert len(ids) == 3


def test_unknown_subtask(server: ScriptedServer) -> None:
    reply = client(server).messages.create(model=MODEL, max_tokens=10, messages=[user("Subtask: nope\nhi")])
    assert reply.stop_reason == "end_turn"
    assert texts(reply) == ["No script for subtask nope."]


def test_submit_plan_offered_not_forced(server: ScriptedServer) -> None:
    reply = client(server).messages.create(
        model=MODEL, max_tokens=100, messages=[user("Plan this task: rename x")], tools=[PLAN_TOOL])
    assert reply.stop_reason == "tool_use"
    assert calls(reply)[0].name == "submit_plan"
    assert calls(reply)[0].input == SCRIPT["planner"]
    assert server.requests[0]["role"] == "planner"


def test_forced_tool_choice_is_a_400_as_on_the_current_model(server: ScriptedServer) -> None:
    for choice in ({"type": "tool", "name": "submit_plan"}, {"type": "any"}):
        with pytest.raises(anthropic.BadRequestError) as info:
            client(server).messages.create(model=MODEL, max_tokens=100, messages=[user("Plan this")],
                                           tools=[PLAN_TOOL], tool_choice=choice)  # type: ignore[arg-type]
        assert "forced tool use" in str(info.value)
    # auto is fine
    reply = client(server).messages.create(model=MODEL, max_tokens=100, messages=[user("Plan this")],
                                           tools=[PLAN_TOOL], tool_choice={"type": "auto"})
    assert reply.stop_reason == "tool_use"


def test_lenient_endpoint_accepts_forced_tools_and_returns_blocks_as_scripted() -> None:
    with ScriptedServer(SCRIPT, current=False) as srv:
        reply = client(srv).messages.create(model=MODEL, max_tokens=100, messages=[user("Plan this")],
                                            tools=[PLAN_TOOL], tool_choice={"type": "tool", "name": "submit_plan"})
        assert [b.type for b in reply.content] == ["tool_use"]
        worker = client(srv).messages.create(model=MODEL, max_tokens=10, messages=[user("Subtask: core")])
        assert [b.type for b in worker.content] == ["text", "tool_use"]


def test_synthesizer_and_resolver_routing(server: ScriptedServer) -> None:
    c = client(server)
    synth = c.messages.create(
        model=MODEL, max_tokens=10, tools=[SYNTH_TOOL],
        messages=[{"role": "user", "content": [{"type": "text", "text": "Synthesize the results"}]}],
    )
    assert texts(synth) == ["Merging."] and synth.stop_reason == "end_turn"
    resolve = c.messages.create(
        model=MODEL, max_tokens=10, tools=[SYNTH_TOOL], messages=[user("Resolve conflict in a.py\n<<<")]
    )
    assert calls(resolve)[0].input == {"summary": "kept both"}
    # Past the script, the synthesizer is made to submit an empty synthesis.
    past = c.messages.create(
        model=MODEL, max_tokens=10, tools=[SYNTH_TOOL],
        messages=[user("Synthesize"), {"role": "assistant", "content": "hm"}, user("go on")],
    )
    assert past.stop_reason == "tool_use"
    assert calls(past)[0].name == "submit_synthesis"
    assert calls(past)[0].input == {"summary": "No further changes.", "contradictions": []}
    assert [r["role"] for r in server.requests] == ["synthesizer", "resolver", "synthesizer"]


def test_streaming_final_message(server: ScriptedServer) -> None:
    c = client(server)
    with c.messages.stream(
        model=MODEL, max_tokens=100, messages=[user("Subtask: core\ngo")], tools=[READ_TOOL]
    ) as stream:
        streamed = list(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == []  # the text between tool calls is inside thinking blocks
    assert final.stop_reason == "tool_use"
    assert all(b.signature for b in final.content if b.type == "thinking")
    assert calls(final)[0].name == "read" and calls(final)[0].input == {"file_path": "a.py"}
    assert calls(final)[0].id.startswith("toolu_")
    assert final.usage.output_tokens > 1
    assert server.requests[0]["body"]["stream"] is True

    # create(stream=True) yields the raw event sequence.
    events = c.messages.create(model=MODEL, max_tokens=10, messages=[user("Subtask: quick")], stream=True)
    assert [e.type for e in events] == [
        "message_start", "content_block_start", "content_block_delta", "content_block_stop",  # thinking
        "content_block_start", "content_block_delta", "content_block_stop",  # text
        "message_delta", "message_stop",
    ]


def test_async_streaming_over_one_keep_alive_connection(server: ScriptedServer) -> None:
    asyncio.run(_async_streaming(server))
    assert [r["status"] for r in server.requests] == [200] * 6


async def _async_streaming(server: ScriptedServer) -> None:
    async with anthropic.AsyncAnthropic(api_key="test", base_url=server.url, max_retries=0) as c:
        for _ in range(3):
            async with c.messages.stream(model=MODEL, max_tokens=10, messages=[user("Subtask: core")]) as s:
                final = await s.get_final_message()
            assert calls(final)[0].input == {"file_path": "a.py"}
            plain = await c.messages.create(model=MODEL, max_tokens=10, messages=[user("Subtask: quick")])
            assert texts(plain) == ["quick done"]


def test_thread_refusal(server: ScriptedServer) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client(server, retries=2).messages.create(
            model=MODEL, max_tokens=10, messages=[user("Subtask: core")], extra_body={"thread": {"type": "create"}}
        )
    assert "thread_unsupported_request" in str(info.value)
    assert info.value.error_code == "thread_unsupported_request"
    # error.details.error_code makes the SDK raise its typed subclass.
    assert isinstance(info.value, anthropic.types.ThreadUnsupportedRequestError)
    assert server.thread_refusals == 1
    assert [r["status"] for r in server.requests] == [400]  # a 400 is not retried


def test_threads_accepted_when_allowed() -> None:
    with ScriptedServer(SCRIPT, refuse_threads=False) as srv:
        reply = client(srv).messages.create(
            model=MODEL, max_tokens=10, messages=[user("Subtask: quick")], extra_body={"thread": {"type": "create"}}
        )
        assert texts(reply) == ["quick done"]
        assert srv.thread_refusals == 0


def test_rate_limit_then_success_through_retries(server: ScriptedServer) -> None:
    server.inject(429, retry_after=0.1)
    started = time.monotonic()
    reply = client(server, retries=2).messages.create(model=MODEL, max_tokens=10, messages=[user("Subtask: core")])
    assert reply.stop_reason == "tool_use"
    records = server.requests
    assert [r["status"] for r in records] == [429, 200]
    assert records[0]["role"] == "worker" and records[0]["key"] == "core"
    # The SDK waited for retry-after rather than its own backoff (>= 0.375 s).
    assert 0.1 <= records[1]["start"] - records[0]["end"] < 0.35
    assert time.monotonic() - started < 2


def test_rate_limit_surfaces_without_retries(server: ScriptedServer) -> None:
    server.inject(429, retry_after=3)
    with pytest.raises(anthropic.RateLimitError) as info:
        client(server).messages.create(model=MODEL, max_tokens=10, messages=[user("Subtask: core")])
    assert info.value.response.headers["retry-after"] == "3"
    assert info.value.type == "rate_limit_error"
    server.inject(529)
    with pytest.raises(anthropic.OverloadedError):
        client(server).messages.create(model=MODEL, max_tokens=10, messages=[user("Subtask: core")])


def test_fault_limited_to_one_subtask(server: ScriptedServer) -> None:
    server.inject(500, count=2, subtask="quick")
    c = client(server)
    assert c.messages.create(model=MODEL, max_tokens=10, messages=[user("Subtask: core")]).stop_reason == "tool_use"
    for _ in range(2):
        with pytest.raises(anthropic.InternalServerError):
            c.messages.create(model=MODEL, max_tokens=10, messages=[user("Subtask: quick")])
    assert texts(c.messages.create(model=MODEL, max_tokens=10, messages=[user("Subtask: quick")])) == ["quick done"]
    assert [(r["key"], r["status"]) for r in server.requests] == [
        ("core", 200), ("quick", 500), ("quick", 500), ("quick", 200)
    ]


def test_malformed_script_is_a_500_the_sdk_does_not_retry() -> None:
    with ScriptedServer({"workers": {"bad": ["not a turn"]}}) as srv:
        with pytest.raises(anthropic.InternalServerError) as info:
            client(srv, retries=2).messages.create(model=MODEL, max_tokens=10, messages=[user("Subtask: bad")])
        assert "bad script for worker bad turn 0" in str(info.value)
        assert [r["status"] for r in srv.requests] == [500]


def test_dropped_connection_is_retried(server: ScriptedServer) -> None:
    c = client(server, retries=2)
    # Warm a keep-alive connection first, so the drop hits a pooled connection.
    c.messages.create(model=MODEL, max_tokens=10, messages=[user("Subtask: quick")])
    server.inject(0)
    reply = c.messages.create(model=MODEL, max_tokens=10, messages=[user("Subtask: core")])
    assert calls(reply)[0].name == "read"
    assert [r["status"] for r in server.requests] == [200, 0, 200]


def test_dropped_connection_without_retries_is_a_connection_error(server: ScriptedServer) -> None:
    server.inject(0)
    with pytest.raises(anthropic.APIConnectionError):
        client(server).messages.create(model=MODEL, max_tokens=10, messages=[user("Subtask: core")])


def test_concurrent_workers_overlap(server: ScriptedServer) -> None:
    replies, elapsed = asyncio.run(_four_workers(server))
    assert [texts(r) for r in replies] == [[f"w{i} done"] for i in range(4)]
    assert server.max_concurrent_keys == 4
    assert server.max_in_flight == 4
    assert sorted(server.in_flight_samples()) == [1, 2, 3, 4]
    assert elapsed < 1.0  # four 0.3 s replies, overlapped


async def _four_workers(server: ScriptedServer) -> tuple[list[Any], float]:
    async with anthropic.AsyncAnthropic(api_key="test", base_url=server.url, max_retries=0) as c:
        started = time.monotonic()
        replies = await asyncio.gather(*(
            c.messages.create(model=MODEL, max_tokens=10, messages=[user(f"Subtask: w{i}\nwork")]) for i in range(4)
        ))
        return list(replies), time.monotonic() - started


def test_sequential_requests_do_not_overlap(server: ScriptedServer) -> None:
    async def run() -> None:
        async with anthropic.AsyncAnthropic(api_key="test", base_url=server.url, max_retries=0) as c:
            for i in range(2):
                await c.messages.create(model=MODEL, max_tokens=10, messages=[user(f"Subtask: w{i}")])

    asyncio.run(run())
    assert server.max_concurrent_keys == 1
    assert server.in_flight_samples() == [1, 1]


def test_prompt_cache_simulation(server: ScriptedServer) -> None:
    c = client(server)
    system = [
        {"type": "text", "text": "You are a careful engineer. " * 20, "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Uncached tail."},
    ]
    first = c.messages.create(model=MODEL, max_tokens=10, system=system, messages=[user("Subtask: core")])
    assert first.usage.cache_creation_input_tokens > 0
    assert first.usage.cache_read_input_tokens == 0
    # Same cached prefix, different tail and messages: a cache read.
    system[1]["text"] = "Another tail."
    second = c.messages.create(model=MODEL, max_tokens=10, system=system, messages=[user("Subtask: quick")])
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    # A changed prefix is a new cache entry.
    system[0]["text"] += "!"
    third = c.messages.create(model=MODEL, max_tokens=10, system=system, messages=[user("Subtask: quick")])
    assert third.usage.cache_creation_input_tokens > 0 and third.usage.cache_read_input_tokens == 0
    # No cache_control anywhere: no cache accounting.
    plain = c.messages.create(model=MODEL, max_tokens=10, system="plain", messages=[user("Subtask: quick")])
    assert plain.usage.cache_creation_input_tokens == 0 and plain.usage.cache_read_input_tokens == 0


def test_cache_control_on_tools_counts(server: ScriptedServer) -> None:
    c = client(server)
    tools = [dict(READ_TOOL, cache_control={"type": "ephemeral"})]
    first = c.messages.create(model=MODEL, max_tokens=10, tools=tools, messages=[user("Subtask: quick")])
    second = c.messages.create(model=MODEL, max_tokens=10, tools=tools, messages=[user("Subtask: quick")])
    assert first.usage.cache_creation_input_tokens > 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens


def test_load_script_and_cli(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(SCRIPT))
    assert load_script(path) == SCRIPT
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "swarm.scripted", str(path)],
        cwd=root, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        reply = anthropic.Anthropic(api_key="t", base_url=url, max_retries=0).messages.create(
            model=MODEL, max_tokens=10, messages=[user("Subtask: quick")]
        )
        assert texts(reply) == ["quick done"]
    finally:
        proc.terminate()
        proc.wait(timeout=5)
