"""The gate every model call passes: adaptive concurrency, retries and the cost ceiling.

The SDK retries on its own, but it cannot tell the other agents that the
endpoint is overloaded. So workers call the model with the SDK's retries off,
through this gate: on a 429 or 529 the number of requests in flight drops
(halves) and every caller waits out `retry-after`; after a run of successes it
recovers one slot at a time. Transient errors (429, 5xx, 529, dropped
connections, timeouts) are retried while the retry budget lasts; errors that
cannot succeed (400, 401, 403, 404, 413) fail at once with the API's message.

The cost ceiling is enforced here too: before a call, the gate reserves that
call's estimated cost, and refuses it when what is spent plus what is
reserved would pass `max_cost`, so the ceiling is passed by at most the error
of one call's estimate.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Awaitable, Callable, TypeVar

import anthropic

from swarm.errors import BudgetExceeded

T = TypeVar("T")
TRANSIENT_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}


def retry_after_seconds(error: anthropic.APIStatusError) -> float | None:
    headers = error.response.headers if error.response is not None else {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return min(float(value) * scale, 60.0)
            except ValueError:
                return None
    return None


class ModelGate:
    """Shared by every agent of a run."""

    def __init__(self, limit: int, *, max_retries: int = 8, max_cost: float | None = None,
                 recover_after: int | None = None, on_event: Callable[..., None] | None = None) -> None:
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
        self._successes = 0
        self._paused_until = 0.0
        self._cond = asyncio.Condition()

    # -- budget ------------------------------------------------------------------------

    def _reserve(self, estimate: float) -> None:
        if self.max_cost is not None and self.spent + self.reserved + estimate > self.max_cost:
            raise BudgetExceeded(f"the run's cost ceiling of ${self.max_cost:.2f} would be passed "
                                 f"(spent ${self.spent:.4f}, ${self.reserved:.4f} in flight, "
                                 f"next call about ${estimate:.4f})")
        self.reserved += estimate

    def charge(self, cost: float) -> None:
        """Record what a finished call cost (the caller knows the usage)."""
        self.spent += cost

    # -- concurrency -------------------------------------------------------------------

    async def _acquire(self) -> None:
        async with self._cond:
            while True:
                wait = self._paused_until - time.monotonic()
                if wait <= 0 and self.in_flight < self.current:
                    self.in_flight += 1
                    return
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

    async def call(self, make_call: Callable[[], Awaitable[T]], *, estimate: float = 0.0) -> T:
        """Run one model call through the gate, retrying what is worth retrying."""
        attempt = 0
        while True:
            self._reserve(estimate)
            await self._acquire()
            try:
                result = await make_call()
            except anthropic.APIStatusError as e:
                self.reserved -= estimate
                if e.status_code not in TRANSIENT_STATUS or attempt >= self.max_retries:
                    await self._release()
                    raise
                wait = retry_after_seconds(e)
                if wait is None:
                    wait = min(20.0, 0.5 * 2 ** attempt) * (0.75 + random.random() / 2)
                await self._release(throttled=wait if e.status_code in (429, 529) else None)
                if e.status_code not in (429, 529):
                    await asyncio.sleep(wait)
            except (anthropic.APIConnectionError, anthropic.APITimeoutError):
                self.reserved -= estimate
                await self._release()
                if attempt >= self.max_retries:
                    raise
                await asyncio.sleep(min(10.0, 0.25 * 2 ** attempt))
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
