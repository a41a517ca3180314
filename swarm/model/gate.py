"""The gate every model call passes: adaptive concurrency, retries and the cost ceiling.

The SDK retries on its own, but it cannot tell the other agents that the
endpoint is overloaded. So workers call the model with the SDK's retries off,
through this gate: on a 429 or 529 the number of requests in flight drops
(halves) and every caller waits out `retry-after`; after a run of successes it
recovers one slot at a time. Whether an error is worth retrying, and how long
`retry-after` says to wait, are the SDK's own rules (`x-should-retry` included),
asked of the client passed in; a failure for good becomes one of
`swarm.model.errors`' user-facing errors. An error that every later call would
meet too (a bad key, an unknown model, no connection) closes the gate: every
call after it fails at once with the same message.

The cost ceiling is enforced here too: before a call, the gate reserves that
call's estimated cost, and refuses it when what is spent plus what is
reserved would pass `max_cost`, so the ceiling is passed by at most the error
of one call's estimate.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any, Awaitable, Callable, TypeVar

import anthropic

from swarm.errors import BudgetExceeded, SwarmError
from swarm.model.errors import ModelAPIError, api_error
from swarm.model.usage import usd

T = TypeVar("T")
Waiting = Callable[[str, float], None]
MAX_WAIT = 60.0


def _should_retry(client: Any, error: anthropic.APIStatusError) -> bool:
    # The SDK's rule: x-should-retry first, then 408, 409, 429 and 5xx.
    return bool(client._should_retry(error.response))  # noqa: SLF001 - the SDK has no public form of it


def _retry_after(client: Any, error: anthropic.APIStatusError) -> float | None:
    wait = client._parse_retry_after_header(error.response.headers)  # noqa: SLF001 - as above
    return None if wait is None or wait <= 0 else min(float(wait), MAX_WAIT)


class ModelGate:
    """Shared by every agent of a run."""

    def __init__(self, limit: int, *, client: Any = None, model: str = "", max_retries: int = 8,
                 max_cost: float | None = None, recover_after: int | None = None,
                 on_event: Callable[..., None] | None = None) -> None:
        if client is None:
            # Only the SDK's retry rules are used from it; it never sends a request.
            client = anthropic.AsyncAnthropic(api_key="unused", base_url="http://127.0.0.1:9")
        self.client = client
        self.model = model
        self.limit = max(1, limit)
        self.current = self.limit
        self.max_retries = max_retries
        self.max_cost = max_cost
        # Recover one slot per `recover_after` successes: slowly, so a busy endpoint is not hit again at once.
        self.recover_after = recover_after or max(4, 2 * self.limit)
        self.on_event = on_event or (lambda *a, **k: None)
        self.in_flight = 0
        self.spent = 0.0
        self.reserved = 0.0
        self.throttles = 0
        self.fatal: SwarmError | None = None
        self._successes = 0
        self._paused_until = 0.0
        self._cond = asyncio.Condition()

    # -- budget ------------------------------------------------------------------------

    def _reserve(self, estimate: float) -> None:
        if self.max_cost is not None and self.spent + self.reserved + estimate > self.max_cost:
            raise BudgetExceeded(f"{BudgetExceeded.PREFIX} of {usd(self.max_cost)} would be passed "
                                 f"(spent ${self.spent:.4f}, ${self.reserved:.4f} in flight, "
                                 f"next call about ${estimate:.4f})")
        self.reserved += estimate

    def charge(self, cost: float) -> None:
        """Record what a finished call cost (the caller knows the usage)."""
        self.spent += cost

    # -- concurrency -------------------------------------------------------------------

    async def _acquire(self, waiting: Waiting | None) -> None:
        async with self._cond:
            while True:
                wait = self._paused_until - time.monotonic()
                if wait <= 0 and self.in_flight < self.current:
                    self.in_flight += 1
                    return
                if wait > 0 and waiting is not None:
                    waiting("rate limited", wait)
                try:
                    await asyncio.wait_for(self._cond.wait(), timeout=wait if wait > 0 else None)
                except TimeoutError:
                    pass

    async def _release(self, *, throttled: float | None = None, ok: bool = False) -> None:
        async with self._cond:
            self.in_flight -= 1
            if throttled is not None:
                self.throttles += 1
                self._successes = 0
                self.current = max(1, self.current // 2)
                self._paused_until = max(self._paused_until, time.monotonic() + throttled)
                self.on_event("throttle", limit=self.current, wait=round(throttled, 3))
            elif ok:
                self._successes += 1
                if self.current < self.limit and self._successes >= self.recover_after:
                    self._successes = 0
                    self.current += 1
                    self.on_event("throttle", limit=self.current, wait=0)
            self._cond.notify_all()

    def _fail(self, error: BaseException, attempt: int) -> SwarmError:
        failure = api_error(error, model=self.model, retries=attempt)
        if isinstance(failure, ModelAPIError) and failure.stops_run and self.fatal is None:
            self.fatal = failure
            self.on_event("api_error", error=str(failure))
        return failure

    async def call(self, make_call: Callable[[], Awaitable[T]], *, estimate: float = 0.0,
                   waiting: Waiting | None = None) -> T:
        """Run one model call through the gate, retrying what the SDK would retry.

        `waiting(reason, seconds)` hears about every wait (a rate limit, a backoff), for the live display.
        """
        attempt = 0
        while True:
            if self.fatal is not None:
                raise self.fatal
            self._reserve(estimate)
            try:
                await self._acquire(waiting)
            except BaseException:
                self.reserved -= estimate
                raise
            try:
                result = await make_call()
            except anthropic.APIStatusError as e:
                self.reserved -= estimate
                if attempt >= self.max_retries or not _should_retry(self.client, e):
                    await self._release()
                    raise self._fail(e, attempt) from None
                wait = _retry_after(self.client, e)
                if wait is None:
                    wait = min(20.0, 0.5 * 2 ** attempt) * (0.75 + random.random() / 2)
                overloaded = e.status_code in (429, 529)
                await self._release(throttled=wait if overloaded else None)
                if waiting is not None:
                    waiting("rate limited" if e.status_code == 429 else "overloaded" if overloaded
                            else f"API error {e.status_code}", wait)
                if not overloaded:
                    await asyncio.sleep(wait)
            except (anthropic.APIConnectionError, anthropic.APITimeoutError) as e:
                self.reserved -= estimate
                await self._release()
                # A refused connection will be refused again: say so after a short try, not after minutes.
                retries = self.max_retries if isinstance(e, anthropic.APITimeoutError) else min(2, self.max_retries)
                if attempt >= retries:
                    raise self._fail(e, attempt) from None
                wait = min(10.0, 0.25 * 2 ** attempt)
                if waiting is not None:
                    waiting("connection failed", wait)
                await asyncio.sleep(wait)
            except BaseException:
                self.reserved -= estimate
                await self._release()
                raise
            else:
                self.reserved -= estimate
                await self._release(ok=True)
                return result
            attempt += 1
            self.on_event("retry", attempt=attempt)
