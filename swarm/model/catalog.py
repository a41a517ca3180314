"""The models swarm knows: window, output limit, thinking and effort, and price.

One row per current model (from the models' own pages; see docs/models.md).
A model swarm does not know still works: it gets no `thinking` or `effort`
field unless the user asks for one (so nothing is sent that it may reject), a
conservative output limit, and no price (a warning, and `--max-cost` refuses to
start until the settings give it one).

`request_params` is the one place that turns the `effort`, `thinking` and
`max_tokens` settings into request fields, so the planner, the workers and the
synthesis pass all send what the model accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

DEFAULT_MODEL = "claude-sonnet-5-5"
EFFORTS = ("low", "medium", "high", "xhigh", "max")
THINKING = ("adaptive", "minimal")
# A long turn with thinking needs tens of thousands of output tokens; the request streams, so a large
# limit costs nothing until it is used.
DEFAULT_MAX_TOKENS = 64_000
UNKNOWN_MAX_OUTPUT = 32_000
UNKNOWN_WINDOW = 200_000


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cache_write: float | None = None  # 5-minute cache write; 1.25x input when not given
    cache_read: float | None = None  # 0.1x input when not given

    @property
    def write(self) -> float:
        return self.cache_write if self.cache_write is not None else self.input * 1.25

    @property
    def read(self) -> float:
        return self.cache_read if self.cache_read is not None else self.input * 0.1


@dataclass(frozen=True)
class ModelInfo:
    """What one model accepts and costs."""

    name: str
    window: int
    max_output: int
    price: Price | None
    # "adaptive": adaptive thinking with effort; "extended": budget_tokens only, no effort; None: unknown.
    thinking: str | None = "adaptive"
    # The lowest thinking setting the model accepts: a `thinking` field, or None to leave thinking out.
    minimal_thinking: dict[str, Any] | None = None
    default_effort: str | None = "high"
    # Effort levels at which `minimal_thinking` is rejected.
    minimal_rejects: tuple[str, ...] = ()


KNOWN: dict[str, ModelInfo] = {m.name: m for m in [
    ModelInfo("claude-sonnet-5-5", 1_000_000, 128_000, Price(2.0, 10.0, 2.50, 0.20),
              minimal_thinking={"type": "between_tools"}, minimal_rejects=("xhigh", "max")),
    # Thinking is always on for these: adaptive thinking is their lowest setting.
    ModelInfo("claude-opus-5-5", 1_000_000, 128_000, Price(4.0, 20.0), default_effort="medium",
              minimal_thinking={"type": "adaptive"}),
    ModelInfo("claude-fable-5-2", 1_000_000, 128_000, Price(8.0, 40.0), minimal_thinking={"type": "adaptive"}),
    ModelInfo("claude-fable-5-1", 1_000_000, 128_000, Price(10.0, 50.0), minimal_thinking={"type": "adaptive"}),
    # Extended thinking only: no adaptive thinking, no effort; thinking off is its lowest setting.
    ModelInfo("claude-haiku-4-5", 200_000, 64_000, Price(1.0, 5.0), thinking="extended", default_effort=None),
]}


def model_info(name: str) -> ModelInfo:
    """The row for `name` (a dated snapshot matches its model), or a cautious row for an unknown model."""
    for known, info in KNOWN.items():
        if name == known or name.startswith(known + "-"):
            return info
    return ModelInfo(name, UNKNOWN_WINDOW, UNKNOWN_MAX_OUTPUT, None, thinking=None, default_effort=None)


@dataclass
class PriceTable:
    """Prices by model: the catalog's, with the settings' overrides (matched by longest name prefix) on top."""

    overrides: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def price(self, model: str) -> Price | None:
        matches = [prefix for prefix in self.overrides if model.startswith(prefix)]
        if matches:
            price_in, price_out = self.overrides[max(matches, key=len)]
            return Price(price_in, price_out)
        return model_info(model).price

    def known(self, model: str) -> bool:
        return self.price(model) is not None


def default_max_tokens(model: str) -> int:
    """Room for a long turn with thinking, capped at the model's maximum."""
    return min(DEFAULT_MAX_TOKENS, model_info(model).max_output)


def request_params(model: str, *, effort: str | None = None, thinking: str = "adaptive",
                   max_tokens: int | None = None) -> dict[str, Any]:
    """The `max_tokens`, `thinking` and `output_config` fields of a request to `model`.

    Never a value the model rejects: an effort on a model without effort is left
    out, `minimal` becomes that model's lowest accepted setting (adaptive where
    between-tools thinking is refused at this effort), and nothing is sent to a
    model swarm does not know unless the user set it.
    """
    info = model_info(model)
    limit = min(max_tokens or default_max_tokens(model), info.max_output)
    params: dict[str, Any] = {"max_tokens": limit}
    if info.thinking == "extended":
        if thinking == "adaptive" and limit > 2048:
            # Extended thinking needs a budget below max_tokens; half leaves room for the answer.
            params["thinking"] = {"type": "enabled", "budget_tokens": max(1024, min(32_000, limit // 2))}
        return params
    if info.thinking == "adaptive":
        level = effort or info.default_effort
        if thinking == "minimal" and info.minimal_thinking and level not in info.minimal_rejects:
            params["thinking"] = dict(info.minimal_thinking)
        else:
            # "summarized" returns the text the model writes between tool calls, which a summary may need.
            params["thinking"] = {"type": "adaptive", "display": "summarized"}
        if effort:
            params["output_config"] = {"effort": effort}
        return params
    if effort:  # an unknown model: only what the user asked for
        params["output_config"] = {"effort": effort}
    return params
