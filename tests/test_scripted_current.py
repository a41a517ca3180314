"""The scripted model plays the current model: its 400s, its signed thinking, its stop reasons."""

from __future__ import annotations

import copy
from typing import Any

import anthropic
import pytest

from swarm.scripted import ScriptedServer

MODEL = "claude-sonnet-5-5"
READ = {"name": "read", "description": "Read a file.",
        "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}}}
SCRIPT: dict[str, Any] = {"workers": {
    "core": [{"content": [{"type": "text", "text": "Reading a.py first."},
                          {"type": "tool_use", "name": "read", "input": {"file_path": "a.py"}}]},
             {"content": [{"type": "text", "text": "All done."}]}],
    "cut": [{"content": [{"type": "tool_use", "name": "write",
                          "input": {"file_path": "big.txt", "content": "x" * 200}}], "needs_tokens": 50_000}],
    "pause": [{"content": [{"type": "text", "text": "Still working."}], "stop": "pause_turn"},
              {"content": [{"type": "text", "text": "Finished."}]}],
    "refuse": [{"content": [], "stop": "refusal", "refusal": "not this one"}],
}}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


@pytest.fixture
def client() -> Any:
    with ScriptedServer(SCRIPT) as srv:
        # An explicit timeout lets the SDK send large non-streaming max_tokens (swarm itself streams).
        yield anthropic.Anthropic(api_key="t", base_url=srv.url, max_retries=0, timeout=60), srv


def create(c: anthropic.Anthropic, messages: list[dict[str, Any]], **kw: Any) -> Any:
    return c.messages.create(model=MODEL, max_tokens=kw.pop("max_tokens", 1000), messages=messages,
                             tools=[READ], **kw)


def dumped(reply: Any) -> list[dict[str, Any]]:
    return [b.model_dump(exclude_none=True) for b in reply.content]


@pytest.mark.parametrize("fields, message", [
    ({"thinking": {"type": "disabled"}}, "between_tools"),
    ({"thinking": {"type": "enabled", "budget_tokens": 2000}}, "budget_tokens"),
    ({"thinking": {"type": "between_tools"}, "output_config": {"effort": "max"}}, "'between_tools' is not supported"),
    ({"output_config": {"effort": "extreme"}}, "effort"),
    ({"max_tokens": 200_000}, "128000"),
    ({"tool_choice": {"type": "any"}}, "forced tool use"),
])
def test_requests_the_current_model_refuses(client, fields, message):
    c, _ = client
    with pytest.raises(anthropic.BadRequestError) as info:
        create(c, [user("Subtask: core")], **fields)
    assert message in str(info.value)


def test_text_between_tools_comes_in_signed_thinking_blocks(client):
    c, _ = client
    shown = create(c, [user("Subtask: core")], thinking={"type": "adaptive", "display": "summarized"})
    assert [b.type for b in shown.content] == ["thinking", "thinking", "tool_use"]
    assert shown.content[1].thinking == "Reading a.py first." and shown.content[1].signature
    hidden = create(c, [user("Subtask: core")])  # the default display is omitted: no text, a signature
    assert [b.thinking for b in hidden.content if b.type == "thinking"] == ["", ""]
    minimal = create(c, [user("Subtask: core")], thinking={"type": "between_tools"})
    assert [b.type for b in minimal.content] == ["thinking", "tool_use"]  # no up-front thinking


def test_thinking_blocks_must_come_back_unchanged(client):
    c, _ = client
    first = create(c, [user("Subtask: core")], thinking={"type": "adaptive", "display": "summarized"})
    call = next(b for b in first.content if b.type == "tool_use")
    answer = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "x = 1"}]}
    good = [user("Subtask: core"), {"role": "assistant", "content": dumped(first)}, answer]
    assert create(c, good).stop_reason == "end_turn"

    altered = copy.deepcopy(good)
    altered[1]["content"][1]["thinking"] += " (edited)"
    dropped = copy.deepcopy(good)
    dropped[1]["content"] = [b for b in dropped[1]["content"] if b["type"] != "thinking"]
    for messages, message in ((altered, "invalid signature"), (dropped, "passed back unchanged")):
        with pytest.raises(anthropic.BadRequestError) as info:
            create(c, messages)
        assert message in str(info.value)
    # Tied to the model: another model cannot take the conversation over.
    with pytest.raises(anthropic.BadRequestError):
        c.messages.create(model="claude-opus-5-5", max_tokens=100, messages=good, tools=[READ])


def test_a_scripted_cut_depends_on_max_tokens(client):
    c, _ = client
    with c.messages.stream(model=MODEL, max_tokens=8000, messages=[user("Subtask: cut")], tools=[READ]) as s:
        cut = s.get_final_message()
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 8000
    call = next(b for b in cut.content if b.type == "tool_use")
    assert len(call.input.get("content", "")) < 200  # its input stops halfway
    full = create(c, [user("Subtask: cut")], max_tokens=64_000)
    assert full.stop_reason == "tool_use"
    assert next(b for b in full.content if b.type == "tool_use").input["content"] == "x" * 200


def test_pause_turn_and_refusal(client):
    c, _ = client
    paused = create(c, [user("Subtask: pause")])
    assert paused.stop_reason == "pause_turn"
    resumed = create(c, [user("Subtask: pause"), {"role": "assistant", "content": dumped(paused)}])
    assert resumed.stop_reason == "end_turn" and resumed.content[-1].text == "Finished."
    refused = create(c, [user("Subtask: refuse")])
    assert refused.stop_reason == "refusal"
    assert refused.stop_details.explanation == "not this one"


def test_context_window_limit():
    with ScriptedServer({"context_window": 500}) as srv:
        c = anthropic.Anthropic(api_key="t", base_url=srv.url, max_retries=0)
        assert c.messages.create(model=MODEL, max_tokens=10, messages=[user("short")]).stop_reason == "end_turn"
        with pytest.raises(anthropic.BadRequestError) as info:
            c.messages.create(model=MODEL, max_tokens=10, messages=[user("long " * 1000)])
        assert "prompt is too long" in str(info.value) and "> 500 maximum" in str(info.value)
