"""Token usage and what it costs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_MODEL = "claude-sonnet-5-5"
# USD per million tokens: (input, output). Cache writes cost 1.25x input, cache reads 0.1x.
PRICES: dict[str, tuple[float, float]] = {
    "claude-haiku": (1.0, 5.0),
    "claude-sonnet": (3.0, 15.0),
    "claude-opus": (5.0, 25.0),
    "scripted": (3.0, 15.0),
}


def override_prices(prices: dict[str, tuple[float, float]]) -> None:
    """Put configured prices first, so a more specific prefix from the settings wins."""
    table = {**prices, **{k: v for k, v in PRICES.items() if k not in prices}}
    PRICES.clear()
    PRICES.update(sorted(table.items(), key=lambda item: -len(item[0])))


def price_of(model: str) -> tuple[float, float]:
    """The price per million tokens of a model, matched by the longest name prefix (sonnet when unknown)."""
    for prefix, price in sorted(PRICES.items(), key=lambda item: -len(item[0])):
        if model.startswith(prefix):
            return price
    return PRICES["claude-sonnet"]


@dataclass
class Usage:
    """Tokens used and what they cost; adds up across turns, agents and runs."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cost_usd: float = 0.0

    def add_response(self, usage: Any, model: str) -> "Usage":
        """Add one response's usage; return that turn's own Usage."""
        turn = Usage(
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            # Either field may be None depending on the endpoint.
            cache_read_input_tokens=getattr(usage, "cache_read_input_tokens", None) or 0,
            cache_creation_input_tokens=getattr(usage, "cache_creation_input_tokens", None) or 0,
        )
        price_in, price_out = price_of(model)
        turn.cost_usd = (turn.input_tokens * price_in + turn.output_tokens * price_out
                         + turn.cache_creation_input_tokens * price_in * 1.25
                         + turn.cache_read_input_tokens * price_in * 0.1) / 1_000_000
        self.add(turn)
        return turn

    def add(self, other: "Usage") -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_input_tokens += other.cache_read_input_tokens
        self.cache_creation_input_tokens += other.cache_creation_input_tokens
        self.cost_usd += other.cost_usd

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cost_usd"] = round(self.cost_usd, 6)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Usage":
        data = data or {}
        return cls(**{k: data.get(k, 0) for k in ("input_tokens", "output_tokens", "cache_read_input_tokens",
                                                   "cache_creation_input_tokens", "cost_usd")})
