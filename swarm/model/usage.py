"""Token usage and what it costs, priced from a `PriceTable` passed in (no global table)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from swarm.model.catalog import DEFAULT_MODEL, Price

__all__ = ["DEFAULT_MODEL", "Usage", "cost_of"]


def cost_of(price: Price | None, *, input_tokens: int = 0, output_tokens: int = 0, cache_read: int = 0,
            cache_write: int = 0) -> float:
    """USD for these tokens; cached input at the cache prices. An unpriced model costs 0 (and was warned about)."""
    if price is None:
        return 0.0
    return (input_tokens * price.input + output_tokens * price.output + cache_write * price.write
            + cache_read * price.read) / 1_000_000


@dataclass
class Usage:
    """Tokens used and what they cost; adds up across turns, agents and runs."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cost_usd: float = 0.0

    def add_response(self, usage: Any, price: Price | None) -> "Usage":
        """Add one response's usage at `price`; return that turn's own Usage."""
        turn = Usage(
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            # Either field may be None depending on the endpoint.
            cache_read_input_tokens=getattr(usage, "cache_read_input_tokens", None) or 0,
            cache_creation_input_tokens=getattr(usage, "cache_creation_input_tokens", None) or 0,
        )
        turn.cost_usd = cost_of(price, input_tokens=turn.input_tokens, output_tokens=turn.output_tokens,
                                cache_read=turn.cache_read_input_tokens,
                                cache_write=turn.cache_creation_input_tokens)
        self.add(turn)
        return turn

    @property
    def context_tokens(self) -> int:
        """The prompt's whole size: fresh, cached and cache-written input together."""
        return self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens

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
