"""Plans: a task split into subtasks that form a DAG.

A plan is read from `.json` or `.toml` (the plan-file form of DESIGN.md),
validated as a whole so the user sees every problem at once, and saved back
as plain JSON in the run's records.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from swarm.errors import PlanError

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
SUBTASK_KEYS = {"id", "title", "instructions", "files", "depends_on", "command"}
PLAN_KEYS = {"task", "test_command", "shared", "subtasks"}


@dataclass
class Subtask:
    """One unit of work: a model agent with `instructions`, or a shell `command`."""

    id: str
    title: str = ""
    instructions: str = ""
    files: list[str] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    command: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.command is None:
            del data["command"]
        return data


@dataclass
class Plan:
    """A task and its subtasks, in the order the user wrote them."""

    task: str
    subtasks: list[Subtask]
    shared: str = ""
    test_command: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"task": self.task}
        if self.test_command:
            data["test_command"] = self.test_command
        data["shared"] = self.shared
        data["subtasks"] = [s.to_dict() for s in self.subtasks]
        return data

    def get(self, subtask_id: str) -> Subtask:
        for subtask in self.subtasks:
            if subtask.id == subtask_id:
                return subtask
        raise KeyError(subtask_id)

    def layers(self) -> list[list[str]]:
        """Subtask ids grouped by depth in the DAG: each layer depends only on earlier ones."""
        depth: dict[str, int] = {}

        def visit(sid: str) -> int:
            if sid not in depth:
                deps = self.get(sid).depends_on
                depth[sid] = 1 + max((visit(d) for d in deps), default=-1)
            return depth[sid]

        for subtask in self.subtasks:
            visit(subtask.id)
        layers: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for subtask in self.subtasks:
            layers[depth[subtask.id]].append(subtask.id)
        return layers


def _as_str_list(value: Any, where: str, problems: list[str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where} must be a list of strings")
        return []
    return list(value)


def plan_from_dict(data: Any, *, source: str = "plan") -> Plan:
    """Build and validate a Plan; raise PlanError listing every problem found."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise PlanError(f"{source}: a plan must be an object with 'task' and 'subtasks'")
    unknown = set(data) - PLAN_KEYS
    if unknown:
        problems.append(f"unknown top-level keys: {', '.join(sorted(unknown))}")
    task = data.get("task", "")
    if not isinstance(task, str):
        problems.append("'task' must be a string")
        task = ""
    raw_subtasks = data.get("subtasks")
    if not isinstance(raw_subtasks, list) or not raw_subtasks:
        raise PlanError(f"{source}: 'subtasks' must be a non-empty list")

    subtasks: list[Subtask] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_subtasks):
        where = f"subtask #{index + 1}"
        if not isinstance(raw, dict):
            problems.append(f"{where} must be an object")
            continue
        sid = raw.get("id")
        if not isinstance(sid, str) or not ID_RE.match(sid):
            problems.append(f"{where}: id {sid!r} must match [a-z0-9][a-z0-9-]*")
            continue
        where = f"subtask {sid!r}"
        if sid in seen:
            problems.append(f"duplicate subtask id {sid!r}")
        seen.add(sid)
        extra = set(raw) - SUBTASK_KEYS
        if extra:
            problems.append(f"{where}: unknown keys {', '.join(sorted(extra))}")
        command = raw.get("command")
        if command is not None and (not isinstance(command, str) or not command.strip()):
            problems.append(f"{where}: 'command' must be a non-empty string")
            command = None
        instructions = raw.get("instructions", "")
        if not isinstance(instructions, str):
            problems.append(f"{where}: 'instructions' must be a string")
            instructions = ""
        if command is None and not instructions.strip() and not str(raw.get("title", "")).strip():
            problems.append(f"{where}: needs 'instructions' (or a 'command')")
        subtasks.append(
            Subtask(
                id=sid,
                title=str(raw.get("title", "")),
                instructions=instructions,
                files=_as_str_list(raw.get("files"), f"{where}: 'files'", problems),
                depends_on=_as_str_list(raw.get("depends_on"), f"{where}: 'depends_on'", problems),
                command=command,
            )
        )

    for subtask in subtasks:
        for dep in subtask.depends_on:
            if dep == subtask.id:
                problems.append(f"subtask {subtask.id!r} depends on itself")
            elif dep not in seen:
                problems.append(f"subtask {subtask.id!r} depends on unknown subtask {dep!r}")
    # Every problem at once, a cycle among them (its search skips unknown and self-dependencies, told above);
    # a line two subtasks of one duplicate id share is told once.
    cycle = _find_cycle(subtasks)
    if cycle:
        problems.append("dependency cycle: " + " -> ".join(cycle))
    if problems:
        raise PlanError(f"{source} is invalid:\n  - " + "\n  - ".join(dict.fromkeys(problems)))

    test_command = data.get("test_command") or None
    if test_command is not None and not isinstance(test_command, str):
        raise PlanError(f"{source} is invalid: 'test_command' must be a string")
    shared = data.get("shared", "")
    return Plan(task=task, subtasks=subtasks, shared=shared if isinstance(shared, str) else json.dumps(shared),
                test_command=test_command)


def _find_cycle(subtasks: list[Subtask]) -> list[str] | None:
    ids = {s.id for s in subtasks}
    deps = {s.id: [d for d in s.depends_on if d in ids and d != s.id] for s in subtasks}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = finished
    stack: list[str] = []

    def visit(sid: str) -> list[str] | None:
        state[sid] = 1
        stack.append(sid)
        for dep in deps.get(sid, []):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[sid] = 2
        return None

    for sid in deps:
        if sid not in state:
            found = visit(sid)
            if found:
                return found
    return None


PLAN_SUFFIXES = (".json", ".toml")


def load_plan(path: str | Path) -> Plan:
    """Read a plan file (`.json` or `.toml`, UTF-8); any other file is a PlanError saying what to do."""
    path = Path(path)
    if path.suffix.lower() not in PLAN_SUFFIXES:
        raise PlanError(f"{path}: a plan file must end in .json or .toml, not {path.suffix or 'no extension'!r}; "
                        "rename it (`swarm plan TASK -o plan.json` writes one)")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise PlanError(f"cannot read plan file {path}: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PlanError(f"{path} is not UTF-8 text (byte {e.start} is 0x{raw[e.start]:02x}); "
                        "save it as UTF-8 and run again") from None
    text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as e:
        raise PlanError(f"{path} is not valid {path.suffix.lstrip('.').upper()}: {e}") from None
    return plan_from_dict(data, source=str(path))


def save_plan(plan: Plan, path: str | Path) -> None:
    """Write a plan as JSON (the records' form)."""
    Path(path).write_text(json.dumps(plan.to_dict(), indent=2) + "\n", encoding="utf-8")


def _toml_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def dump_plan(plan: Plan | dict[str, Any], *, toml: bool = False) -> str:
    """The plan (or a plan's raw data, even an invalid one) as the text of a plan file, JSON or TOML."""
    data = plan if isinstance(plan, dict) else plan.to_dict()
    if toml and not all(isinstance(s, dict) for s in data.get("subtasks") or []):
        toml = False  # nothing TOML can say; JSON keeps it as it is, for the user to fix
    if not toml:
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    lines = [f"{key} = {_toml_value(data[key])}" for key in ("task", "test_command", "shared") if data.get(key)]
    for subtask in data.get("subtasks") or []:
        lines += ["", "[[subtasks]]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in subtask.items() if value not in (None, "", [])]
    return "\n".join(lines) + "\n"
