"""From a task to a Plan: the model planner and fork-join splitting.

The planner makes one request that offers a single tool, `submit_plan`, and
asks for it in the prompt (current models refuse a forced tool). It sees the task, a bounded view of the repository (tree with sizes,
a README excerpt, where the task's identifiers appear) and the plan rules. An
invalid plan gets one repair round with the errors fed back.
"""

from __future__ import annotations

import re
from typing import Any

from anthropic import AsyncAnthropic

from swarm.agent.loop import AgentSettings
from swarm.errors import InvalidPlan, PlanError
from swarm.git.repo import GitRepo, tracked_sizes  # noqa: F401  (tracked_sizes: also imported from here)
from swarm.model.catalog import PriceTable, model_info, request_params
from swarm.model.gate import ModelGate
from swarm.model.usage import Usage, cost_of
from swarm.plan.scopes import claimed, each, scope_overlaps
from swarm.plan.spec import Plan, Subtask, plan_from_dict
from swarm.agent.prompts import render

SUBTASK_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
        "title": {"type": "string"},
        "instructions": {"type": "string"},
        "files": {"type": "array", "items": {"type": "string"}},
        "depends_on": {"type": "array", "items": {"type": "string"}},
        "command": {"type": "string"},
    },
    "required": ["id", "title"],
}
SUBMIT_PLAN = {
    "name": "submit_plan",
    "description": "Submit the plan: subtasks (a DAG through depends_on), the shared contract and the test command.",
    "input_schema": {
        "type": "object",
        "properties": {
            "subtasks": {"type": "array", "items": SUBTASK_SCHEMA, "minItems": 1},
            "shared": {"type": "string"},
            "test_command": {"type": "string"},
        },
        "required": ["subtasks"],
    },
}
TREE_LIMIT = 300
IDENT_RE = re.compile(r"`([^`]+)`|\b([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+"  # dotted.names
                      r"|_?[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+"  # snake_case and UPPER_CASE
                      r"|[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*)\b")  # CamelCase


def _grouped(files: list[tuple[str, int]], depth: int) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for path, size in files:
        parts = path.split("/")
        key = "/".join(parts[:depth]) + ("/" if len(parts) > depth else "")
        groups.setdefault(key, []).append(size)
    return groups


def repo_tree(repo: GitRepo, commit: str, limit: int = TREE_LIMIT) -> str:
    """Tracked files with sizes; when there are too many, folders are summarized."""
    files = tracked_sizes(repo, commit)
    if len(files) <= limit:
        return "\n".join(f"{path} {size}" for path, size in files)
    groups = _grouped(files, 1)
    for depth in range(2, 7):  # the deepest view that still fits
        deeper = _grouped(files, depth)
        if len(deeper) > limit:
            break
        groups = deeper
    lines = [f"{key} ({len(sizes)} files, {sum(sizes)} bytes)" if key.endswith("/") else f"{key} {sizes[0]}"
             for key, sizes in sorted(groups.items())]
    return "\n".join(lines[:limit]) + (f"\n... {len(lines) - limit} more" if len(lines) > limit else "")


def readme_excerpt(repo: GitRepo, commit: str, lines: int = 40) -> str:
    for name in ("README.md", "README.rst", "README.txt", "README"):
        text = repo.git("show", f"{commit}:{name}", check=False)
        if text:
            return "\n".join(text.splitlines()[:lines])
    return "(no README)"


def identifier_hits(repo: GitRepo, commit: str, task: str, limit: int = 40) -> str:
    """A quick `git grep` for what looks like identifiers in the task."""
    words = []
    for quoted, bare in IDENT_RE.findall(task):
        word = quoted or bare
        if word and word not in words and len(word) > 2:
            words.append(word)
    if not words:
        return "(no identifiers in the task)"
    lines = []
    for word in words[:6]:
        out = repo.git("grep", "-n", "-F", "-I", "-e", word, commit, "--", check=False)
        hits = [h.split(":", 1)[1] if h.startswith(commit) else h for h in out.splitlines()]
        lines.append(f"{word}: {len(hits)} hit(s)")
        lines += ["  " + h[:160] for h in hits[:limit // max(1, len(words[:6]))]]
    return "\n".join(lines)


def _tracked(repo: GitRepo, commit: str) -> list[str]:
    return repo.git("ls-tree", "-r", "--name-only", "--full-tree", commit).splitlines()


class Planner:
    """Asks the model for a plan through the `submit_plan` tool (offered, never forced).

    Current models refuse forced tool use, so the prompt asks for the call: an
    answer in text is asked once more, an invalid plan gets one repair round
    with the errors fed back, and either failing twice is a `PlanError` that says
    what to do instead.
    """

    def __init__(self, client: AsyncAnthropic, model: str, *, max_subtasks: int = 8,
                 settings: AgentSettings | None = None, prices: PriceTable | None = None,
                 gate: ModelGate | None = None) -> None:
        self.client = client.with_options(max_retries=0)  # the gate retries, by the SDK's rules
        self.model = model
        self.max_subtasks = max_subtasks
        self.settings = settings or AgentSettings()
        self.price = (prices or PriceTable()).price(model)
        self.gate = gate or ModelGate(1, client=client, model=model)
        self.usage = Usage()

    def prompt(self, repo: GitRepo, commit: str, task: str) -> str:
        return render("planner", task=task, repo_name=repo.root.name, tree=repo_tree(repo, commit),
                      readme=readme_excerpt(repo, commit), grep=identifier_hits(repo, commit, task),
                      max_subtasks=self.max_subtasks)

    async def _ask(self, messages: list[dict[str, Any]]) -> Any:
        """One streamed turn, continued while paused, asked again with more room when cut in the call."""
        max_tokens = self.settings.max_tokens
        while True:
            params = request_params(self.model, effort=self.settings.effort, thinking=self.settings.thinking,
                                    max_tokens=max_tokens)

            async def call() -> Any:
                async with self.client.messages.stream(model=self.model, messages=messages, tools=[SUBMIT_PLAN],
                                                       **params) as stream:
                    return await stream.get_final_message()

            response = await self.gate.call(call)
            self.usage.add_response(response.usage, self.price)
            if response.stop_reason == "max_tokens" and params["max_tokens"] < model_info(self.model).max_output:
                max_tokens = model_info(self.model).max_output
                continue
            if response.stop_reason == "refusal":
                details = getattr(response, "stop_details", None)
                reason = getattr(details, "explanation", None) or "no reason given"
                raise PlanError(f"the model refused to plan this task ({reason}); write the plan yourself and "
                                "run it with --plan")
            messages.append({"role": "assistant",
                             "content": [b.model_dump(exclude_none=True) for b in response.content]})
            if response.stop_reason != "pause_turn":
                return response

    async def plan(self, repo: GitRepo, commit: str, task: str) -> Plan:
        messages: list[dict[str, Any]] = [{"role": "user", "content": self.prompt(repo, commit, task)}]
        tracked = _tracked(repo, commit)
        asked_again = repaired = False
        while True:
            response = await self._ask(messages)
            call = next((b for b in response.content if b.type == "tool_use" and b.name == "submit_plan"), None)
            if call is None or response.stop_reason == "max_tokens":
                said = " ".join(b.text for b in response.content if b.type == "text").strip()
                if asked_again:
                    raise PlanError("the planner answered without calling submit_plan twice"
                                    + (f" (it said: {said[:200]!r})" if said else "")
                                    + "; write the plan yourself (see `swarm plan --help`) and run it with --plan")
                asked_again = True
                messages.append({"role": "user", "content": render("planner_again").strip()})
                continue
            data = dict(call.input) if isinstance(call.input, dict) else {}
            data["task"] = task
            try:
                plan = plan_from_dict(data, source="the planned plan")
                problems = scope_overlaps(plan, tracked)
                if problems:
                    raise PlanError("the planned plan is invalid:\n  - " + "\n  - ".join(problems))
                return plan
            except PlanError as e:
                errors = str(e)
            if repaired:
                raise InvalidPlan(f"the planner's plan was still invalid after one repair round: {errors}\n"
                                  "Write the plan yourself (`swarm plan TASK -o plan.json` writes it even so) and "
                                  "run it with --plan.", data)
            repaired = True
            messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                                          "is_error": True,
                                                          "content": f"{errors}\nFix these problems and call "
                                                                     "submit_plan again with the whole plan."}]})


def fork_join(repo: GitRepo, commit: str, task: str, pattern: str, chunks: int) -> Plan:
    """The same instruction applied to N groups of the files matching `pattern`, balanced by size."""
    files = each(pattern, tracked_sizes(repo, commit))
    if not files:
        raise PlanError(f"no tracked file matches {pattern!r}")
    chunks = max(1, min(chunks, len(files)))
    groups: list[list[str]] = [[] for _ in range(chunks)]
    loads = [0] * chunks
    for path, size in sorted(files, key=lambda f: (-f[1], f[0])):  # largest first onto the lightest group
        k = loads.index(min(loads))
        groups[k].append(path)
        loads[k] += max(size, 1)
    subtasks = []
    for k, group in enumerate(groups, 1):
        group.sort()
        listing = "\n".join(f"- {p}" for p in group)
        subtasks.append(Subtask(id=f"chunk-{k}", title=f"{task[:60]} ({len(group)} files)",
                                instructions=f"{task}\n\nApply this to exactly these files, and only these:\n{listing}",
                                files=group))
    return Plan(task=task, subtasks=subtasks,
                shared=f"Every subtask applies the same instruction to its own files (matching {pattern}): "
                       f"{task}\nStay consistent with the siblings: same names, same style, same structure.")


def estimate(plan: Plan, model: str, *, prices: PriceTable | None = None,
             sizes: dict[str, int] | None = None, max_turns: int = 100) -> dict[str, Any]:
    """A rough forecast of model calls and cost, for --dry-run (cost None when the model has no price).

    With `sizes` (the base's tracked files and their bytes) each agent's share follows its scope: it
    reads its files once (about 4 bytes a token) and carries them in its context from then on, and
    takes more turns the more files it has. Without, every agent is guessed at 10 turns of 12k tokens.
    """
    price = (prices or PriceTable()).price(model)
    agents = [s for s in plan.subtasks if not s.command]
    calls = input_tokens = output_tokens = 0
    scope_files = scope_bytes = 0
    for sub in agents:
        if sizes is None:
            turns, context = 10, 12_000
        else:
            # An unscoped agent reads what it needs: the 20 largest files at the most, as a guess.
            mine = claimed(sub.files, sizes) if sub.files else set(sorted(sizes, key=sizes.get)[-20:])
            nbytes = sum(sizes[p] for p in mine if p in sizes)
            scope_files, scope_bytes = scope_files + len(mine), scope_bytes + nbytes
            turns = min(max_turns, 4 + 2 * len(mine))
            context = 8_000 + nbytes // 8  # the prompt prefix, plus half the scope on average over the turns
        calls += turns
        input_tokens += turns * context
        output_tokens += turns * 600
    # The shared prefix and the growing history are mostly read from the cache.
    cost = cost_of(price, input_tokens=input_tokens // 2, cache_read=input_tokens // 2, output_tokens=output_tokens)
    return {"agents": len(agents), "commands": len(plan.subtasks) - len(agents), "model_calls": calls,
            "input_tokens": input_tokens, "output_tokens": output_tokens, "scope_files": scope_files,
            "scope_bytes": scope_bytes, "cost_usd": round(cost, 2) if price is not None else None,
            "layers": plan.layers()}
