"""Token usage and what it costs, priced from a `PriceTable` passed in (no global table)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from swarm.model.catalog import DEFAULT_MODEL, Price

__all__ = ["DEFAULT_MODEL", "Usage", "compact_tokens", "cost_of", "token_cell", "token_line"]


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
    def tokens_in(self) -> int:
        """What every display calls "in": the input not read from the cache (fresh input and cache writes).

        Cache reads are shown apart as "cached": they cost a tenth as much, and counting them in "in"
        made the same run read as ten times bigger in one place than in another.
        """
        return self.input_tokens + self.cache_creation_input_tokens

    @property
    def tokens_cached(self) -> int:
        """Input read from the prompt cache."""
        return self.cache_read_input_tokens

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

    def minus(self, other: "Usage") -> "Usage":
        """What is left of this usage without `other` (never below 0): a total's part not told apart."""
        return Usage(*(max(0, a - b) for a, b in ((self.input_tokens, other.input_tokens),
                                                   (self.output_tokens, other.output_tokens),
                                                   (self.cache_read_input_tokens, other.cache_read_input_tokens),
                                                   (self.cache_creation_input_tokens,
                                                    other.cache_creation_input_tokens))),
                     cost_usd=max(0.0, self.cost_usd - other.cost_usd))

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cost_usd"] = round(self.cost_usd, 6)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Usage":
        data = data or {}
        return cls(**{k: data.get(k, 0) for k in ("input_tokens", "output_tokens", "cache_read_input_tokens",
                                                   "cache_creation_input_tokens", "cost_usd")})


def usd(amount: float) -> str:
    """Dollars to the cent, or to a hundredth of a cent below one dollar (a small run's spend is not $0.00), or
    to as many places as a yet smaller amount needs (a ceiling of $0.00003 is not $0.0000)."""
    if amount >= 1:
        return f"${amount:.2f}"
    if amount == 0 or amount >= 0.0001:
        return f"${amount:.4f}"
    return f"${amount:.10f}".rstrip("0")


def compact_tokens(n: int) -> str:
    """A token count for a narrow column: 9999, then 12.3k, then 1.2M."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    return f"{n / 1000:.1f}k" if n >= 10_000 else str(n)


def token_line(usage: Usage) -> str:
    """The tokens of `usage` in every summary line: "12,345 in · 67,890 cached · 1,234 out"."""
    return f"{usage.tokens_in:,} in · {usage.tokens_cached:,} cached · {usage.output_tokens:,} out"


def token_cell(usage: Usage) -> str:
    """The same counts for a table cell: "12.3k/1.2k" (in/out; cached has its own column)."""
    return f"{compact_tokens(usage.tokens_in)}/{compact_tokens(usage.output_tokens)}"
