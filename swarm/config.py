"""Settings and where each value came from.

Sources, each overriding the one before:

    built-in default
    $XDG_CONFIG_HOME/swarm/config.toml      (yours, for every repository; ~/.config when unset)
    pyproject.toml, table [tool.swarm]     (shared with the project, committed)
    .swarm/config.toml                      (this checkout only; .swarm/ is not committed)
    SWARM_<NAME> environment variables      (SWARM_MAX_COST, SWARM_SECRETS=A,B, ...)
    command-line flags                      (`Config.with_flags`)

`load_config(root)` reads all but the flags; `swarm config` prints the
effective values and their sources. Unknown keys and bad values are errors that
name the file or variable, so a typo never goes unnoticed.
"""

from __future__ import annotations

import copy
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from swarm.errors import ConfigError
from swarm.settings import ON_FAILURE, SETTINGS, Setting, _default_model, default_help

if TYPE_CHECKING:
    from swarm.env.policy import EnvPolicy

__all__ = ["ON_FAILURE", "SETTINGS", "Config", "RunOptions", "Setting", "default_help", "load_config", "run_options"]


@dataclass
class Config:
    """Effective settings: `get(name)` is the value, `source(name)` says where it came from."""

    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        if name not in SETTINGS:
            raise KeyError(f"no setting {name!r}; settings: {', '.join(SETTINGS)}")
        if name == "model" and self.values.get(name) is None:
            return _default_model()
        return self.values.get(name, SETTINGS[name].default)

    def source(self, name: str) -> str:
        if name not in SETTINGS:
            raise KeyError(name)
        return self.sources.get(name, "default")

    def items(self) -> Iterator[tuple[str, Any, str]]:
        """(name, value, source) of every setting, in a stable order."""
        for name in SETTINGS:
            yield name, self.get(name), self.source(name)

    def set(self, name: str, raw: Any, source: str) -> None:
        """Parse `raw` for setting `name` and record it as coming from `source`."""
        setting = SETTINGS[name]
        try:
            self.values[name] = setting.parse(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: {name} = {raw!r} is not valid; expected {setting.expects}") from None
        self.sources[name] = source

    def with_flags(self, **flags: Any) -> "Config":
        """A copy with command-line values on top; flags left as None are not given."""
        merged = Config(dict(self.values), dict(self.sources))
        for name, value in flags.items():
            if value is not None and name in SETTINGS:
                merged.set(name, value, f"flag {SETTINGS[name].flag}")
        return merged


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}; fix it or remove it") from None
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None


def _apply_table(config: Config, table: Any, source: str) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{source} must be a table of settings")
    for key, raw in table.items():
        name = key.replace("-", "_")
        if name == "worktree":
            continue  # the worktree recipe, a table of its own (swarm.env.recipe)
        if name not in SETTINGS:
            raise ConfigError(f"{source}: unknown setting {key!r}; known settings: {', '.join(SETTINGS)}")
        config.set(name, raw, source)


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    """The user's own settings file, below every repository's: $XDG_CONFIG_HOME/swarm/config.toml."""
    env = os.environ if env is None else env
    home = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(home) / "swarm" / "config.toml"


def load_config(repo_root: Path, env: Mapping[str, str] | None = None) -> Config:
    """The settings of the repository at `repo_root`: files, then SWARM_* variables (flags come later)."""
    env = os.environ if env is None else env
    config = Config()
    user = user_config_path(env)
    if user.is_file():
        data = _read_toml(user)
        _apply_table(config, data.get("swarm", data) if set(data) == {"swarm"} else data, str(user))
    pyproject = repo_root / "pyproject.toml"
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("swarm")
        if table is not None:
            _apply_table(config, table, "pyproject.toml [tool.swarm]")
    local = repo_root / ".swarm" / "config.toml"
    if local.is_file():
        data = _read_toml(local)
        _apply_table(config, data.get("swarm", data) if set(data) == {"swarm"} else data, ".swarm/config.toml")
    for name, setting in SETTINGS.items():
        if setting.env in env and env[setting.env] != "":
            config.set(name, env[setting.env], f"env {setting.env}")
    return config


def _setting(name: str) -> Any:
    return field(default_factory=lambda: copy.copy(SETTINGS[name].default))


@dataclass
class RunOptions:
    """Knobs of one run, built from the settings and flags by `run_options`.

    The fields named like a setting take their default from SETTINGS; the others have no setting.
    """

    concurrency: int = _setting("concurrency")
    model: str = field(default_factory=_default_model)
    base: str = "HEAD"
    max_turns: int = _setting("max_turns")
    max_tokens: int | None = _setting("max_tokens")
    effort: str | None = _setting("effort")
    thinking: str = _setting("thinking")
    context_window: int | None = _setting("context_window")
    context_threshold: float = _setting("context_threshold")
    prices: dict[str, Any] = field(default_factory=dict)
    command_timeout: float = _setting("command_timeout")
    checkout_concurrency: int = 4
    max_output_tokens: int | None = None
    on_failure: str = _setting("on_failure")
    retries: int = _setting("retries")
    max_cost: float | None = _setting("max_cost")
    synthesis: bool = True
    synthesis_rounds: int = 2
    resolve_conflicts: bool = True
    test_command: str | None = _setting("test_command")
    # Read by the tools, the records' redaction and the worktree paths: passed as values, never via os.environ.
    executor: str = _setting("executor")
    ray_address: str | None = _setting("ray_address")
    secrets: list[str] = _setting("secrets")
    pass_env: list[str] = _setting("pass_env")
    network: bool = _setting("network")
    sandbox: str = _setting("sandbox")
    worktrees: str | None = _setting("worktrees")
    worktree_pool: bool = _setting("worktree_pool")
    pool_disk_mb: int | None = _setting("pool_disk_mb")
    sparse: str = _setting("sparse")
    sparse_threshold: int = _setting("sparse_threshold")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunOptions":
        """Options saved by an earlier session (run.json), ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def env_policy(self) -> "EnvPolicy":
        """What the run's tools may see, for swarm.env.policy.use_policy."""
        from swarm.env.policy import EnvPolicy

        return EnvPolicy(sandbox=self.sandbox, network=self.network, pass_env=tuple(self.pass_env),
                         secrets=tuple(dict.fromkeys([*self.secrets, *EnvPolicy.from_environ().secrets])),
                         worktrees=self.worktrees)

    @property
    def sandboxed(self) -> bool:
        """Whether shell commands go through the sandbox (where one works): every mode but `off`."""
        return self.sandbox != "off"


# Settings a resumed run takes from its earlier session; the rest always come from the current settings.
_SESSION_SETTINGS = ("model", "concurrency", "max_turns", "on_failure", "retries", "max_cost", "max_tokens", "effort",
                     "thinking", "context_window", "context_threshold", "command_timeout")


def _writable_folder(path: Path, source: str) -> Path:
    """`path` as a folder swarm can write in (made if missing), or a ConfigError naming the setting's source."""
    where = f"{source}: worktrees = {str(path)!r}"
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{where} is a file, not a folder; point it at a folder swarm may write in")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{where} cannot be made ({e.strerror}); point it at a folder swarm may write in") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{where} is not writable; point it at a folder swarm may write in")
    return path


def run_options(repo_root: Path, base: dict[str, Any] | None = None, **flags: Any) -> RunOptions:
    """RunOptions from the settings (files, SWARM_* variables) or an earlier session's (resume), then flags.

    Secrets, sandbox and worktrees always come from the current settings; they travel as values in the
    options (to the tools, the records' redaction and the worktree paths), never through os.environ.
    """
    from swarm.env.sandbox import bwrap_problem
    from swarm.model.catalog import PriceTable

    config = load_config(repo_root).with_flags(**{k: v for k, v in flags.items() if k in SETTINGS})
    options = RunOptions.from_dict(base or {})
    if base is None:
        for name in _SESSION_SETTINGS:
            setattr(options, name, config.get(name))
    for name, value in flags.items():
        if value is not None and hasattr(options, name):
            setattr(options, name, config.get(name) if name in SETTINGS else value)
    options.executor = config.get("executor")
    options.ray_address = config.get("ray_address")
    options.secrets = list(config.get("secrets"))
    options.pass_env = list(config.get("pass_env"))
    options.network = bool(config.get("network"))
    if config.get("worktrees"):
        options.worktrees = str(_writable_folder(Path(config.get("worktrees")), config.source("worktrees")))
    options.sandbox = config.get("sandbox")
    options.worktree_pool = bool(config.get("worktree_pool"))
    options.pool_disk_mb = config.get("pool_disk_mb")
    options.sparse = config.get("sparse")
    options.sparse_threshold = config.get("sparse_threshold")
    if options.sandbox == "require" and bwrap_problem():
        raise ConfigError(f"sandbox = require, but {bwrap_problem()}, so the agents' shell cannot be confined; "
                          "`swarm doctor` says more")
    options.test_command = config.get("test_command")
    if config.get("prices"):
        options.prices = {**options.prices, **config.get("prices")}
    if options.max_cost is not None and not PriceTable(options.prices).known(options.model):
        raise ConfigError(f"--max-cost needs a price for model {options.model}, and swarm has none; add one to "
                          f"the settings, e.g. prices = {{\"{options.model}\" = [3, 15]}} (USD per million input "
                          "and output tokens) in .swarm/config.toml")
    return options


def agent_settings(options: RunOptions) -> Any:
    """The agents' request settings of a run (swarm.agent.loop.AgentSettings)."""
    from swarm.agent.loop import AgentSettings

    return AgentSettings(max_turns=options.max_turns, max_tokens=options.max_tokens, effort=options.effort,
                         thinking=options.thinking, max_output_tokens=options.max_output_tokens,
                         context_window=options.context_window, context_threshold=options.context_threshold)


def price_table(options: RunOptions) -> Any:
    """The run's prices: the built-in table with the settings' overrides (swarm.model.catalog.PriceTable)."""
    from swarm.model.catalog import PriceTable

    return PriceTable({k: (float(v[0]), float(v[1])) for k, v in options.prices.items()})
