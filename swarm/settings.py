"""Every setting swarm has: its name, parser, default and help, in one table (`SETTINGS`).

swarm.config reads the values from their sources (files, SWARM_* variables,
flags); this module only says what each setting is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ON_FAILURE = ("best-effort", "fail-fast", "retry")


def _at_least(cast: Callable[[Any], Any], minimum: float) -> Callable[[Any], Any]:
    """A parser of numbers (`cast`: int or float) no smaller than `minimum`; true/false are no numbers."""
    def parse(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError
        number = cast(value)
        if number < minimum:
            raise ValueError
        return number
    return parse


_int = _at_least(int, 1)
_count = _at_least(int, 0)
_usd = _at_least(float, 0)


def _cost(value: Any) -> float | None:
    if value in (None, "", "none", "off"):
        return None
    number = float(value)
    if number <= 0:
        raise ValueError
    return number


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in options:
            raise ValueError
        return text
    return parse


def _sandbox(value: Any) -> str:
    text = str(value).strip().lower()
    if value is False or text in ("0", "off", "no", "false", "none"):
        return "off"
    if value is True or text in ("1", "on", "yes", "true", "require", "required"):
        return "require"
    if text == "auto":
        return "auto"
    raise ValueError


def _bool(value: Any) -> bool:
    text = str(value).strip().lower()
    if value is True or text in ("1", "on", "yes", "true"):
        return True
    if value is False or text in ("0", "off", "no", "false", "none"):
        return False
    raise ValueError


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError
    number = float(value)
    if not 0 < number <= 7 * 86400:
        raise ValueError
    return number


def _names(value: Any) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [str(item).strip() for item in items if str(item).strip()]
    if not all(n.replace("_", "").isalnum() for n in names):
        raise ValueError
    return names


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        raise ValueError
    return value or None


def _prices(value: Any) -> dict[str, tuple[float, float]]:
    """`{"claude-sonnet": [3, 15]}` (TOML) or `claude-sonnet=3:15,claude-opus=5:25` (a variable): USD per
    million input and output tokens, by model name prefix."""
    if isinstance(value, str):
        value = {k.strip(): v.split(":") for k, _, v in (item.partition("=") for item in value.split(",")) if k.strip()}
    if not isinstance(value, dict):
        raise ValueError
    prices = {}
    for model, pair in value.items():
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError
        price_in, price_out = float(pair[0]), float(pair[1])
        if price_in < 0 or price_out < 0:
            raise ValueError
        prices[str(model)] = (price_in, price_out)
    return prices


def _optional_int(value: Any) -> int | None:
    if value in (None, "", "none", "default"):
        return None
    return _int(value)


def _effort(value: Any) -> str | None:
    from swarm.model.catalog import EFFORTS

    if value in (None, "", "default"):
        return None
    return _choice(EFFORTS)(value)


def _fraction(value: Any) -> float:
    number = float(value)
    if not 0.05 <= number <= 0.95:
        raise ValueError
    return number


def _path(value: Any) -> str | None:
    return str(Path(_text(value) or "").expanduser()) if value else None


@dataclass(frozen=True)
class Setting:
    """One setting: its parser, default, and what it is for."""

    name: str
    parse: Callable[[Any], Any]
    default: Any
    expects: str
    help: str

    @property
    def env(self) -> str:
        return "SWARM_" + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _default_model() -> str:
    from swarm.model.catalog import DEFAULT_MODEL

    return DEFAULT_MODEL


SETTINGS: dict[str, Setting] = {s.name: s for s in [
    Setting("model", _text, None, "a model name", "model for the planner and the agents"),
    Setting("concurrency", _int, 8, "a whole number >= 1", "agents in flight at once"),
    Setting("max_turns", _int, 100, "a whole number >= 1",
            "model turns per subtask; one that runs out is incomplete (its work kept, not merged)"),
    Setting("max_tokens", _optional_int, None, "a whole number >= 1",
            "output tokens per model turn (default: the model's, tens of thousands, capped at its maximum)"),
    Setting("effort", _effort, None, "low, medium, high, xhigh or max", "thinking depth (default: the model's)"),
    Setting("thinking", _choice(("adaptive", "minimal")), "adaptive", "adaptive or minimal",
            "adaptive thinking, or the lowest setting the model accepts"),
    Setting("context_window", _optional_int, None, "a number of tokens",
            "the model's context window, when the endpoint's is smaller than the model's own"),
    Setting("context_threshold", _fraction, 0.5, "a fraction between 0.05 and 0.95",
            "share of the context window past which old tool results are cleared"),
    Setting("worktrees", _path, None, "a folder", "where worktrees live (default: the user cache folder)"),
    Setting("worktree_pool", _bool, True, "true or false",
            "keep subtask worktrees in a pool and reuse them across subtasks and runs (installed dependencies "
            "survive)"),
    Setting("pool_disk_mb", _optional_int, None, "a number of MB",
            "the most disk the worktree pool may keep; a slot given back past it is removed"),
    Setting("sparse", _choice(("auto", "on", "off")), "auto", "auto, on or off",
            "check out only each subtask's scope (auto: in repositories tracking more than sparse_threshold files)"),
    Setting("sparse_threshold", _int, 5000, "a whole number >= 1", "tracked files past which `sparse = auto` "
            "checks out only each subtask's scope"),
    Setting("sandbox", _sandbox, "auto", "auto, require or off",
            "confine the agents' shell with bubblewrap: auto (where it works), require, off"),
    Setting("secrets", _names, [], "names of environment variables",
            "variables kept from the agents' tools and redacted from records"),
    Setting("pass_env", _names, [], "names of environment variables",
            "variables passed to the agents' tools as they are (all others but PATH, LANG, LC_*, TERM, TZ "
            "are withheld)"),
    Setting("network", _bool, False, "true or false", "let the sandboxed shell reach the network"),
    Setting("command_timeout", _seconds, 1800.0, "seconds > 0", "how long a `command` subtask may run"),
    Setting("on_failure", _choice(ON_FAILURE), "best-effort", "best-effort, fail-fast or retry",
            "what a failed subtask does to the run"),
    Setting("retries", _count, 2, "a whole number >= 0", "extra attempts per subtask with on_failure = retry"),
    Setting("max_cost", _cost, None, "a number of USD > 0", "stop the run before its cost passes this"),
    Setting("confirm_above_usd", _usd, 1.0, "a number of USD >= 0",
            "on a terminal, `swarm run` asks before agents spend more than this estimate (0: never asks)"),
    Setting("test_command", _text, None, "a shell command", "the project's test command, for the checks"),
    Setting("executor", _choice(("local", "ray")), "local", "local or ray",
            "where subtasks' workspaces live: this machine, or a Ray cluster (pip install 'swarm[ray]')"),
    Setting("ray_address", _text, None, "a Ray address (host:port)",
            "the Ray cluster for executor = ray (default: RAY_ADDRESS, else a new local instance)"),
    Setting("prices", _prices, {}, "model prefix = [input, output] USD per million tokens",
            "prices on top of the built-in table (docs/models.md), for cost and --max-cost"),
]}


def default_help(name: str) -> str:
    """The `(default ...)` part of a flag's help: settings decide; SETTINGS holds the built-in value."""
    value = _default_model() if name == "model" and SETTINGS[name].default is None else SETTINGS[name].default
    return f"(default from settings; built in: {'none' if value is None else value})"
