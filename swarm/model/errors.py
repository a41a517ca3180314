"""API errors as user messages: one line that says what to do, never a traceback.

    SwarmError
    └── ModelAPIError           the model API failed a call for good (retries spent or pointless)
        ├── ModelAuthError      401/403: the key; the whole run stops at once (exit 2)
        ├── ModelNotFound       404: the model name; the whole run stops (exit 2)
        ├── ModelUnreachable    no connection: the base URL; the whole run stops
        ├── ModelOverloaded     429/529 past the retry budget: fewer agents, later
        └── ModelRequestError   the request itself was refused (400, 413, a 5xx marked do-not-retry)
            └── PromptTooLong   the conversation no longer fits the model's window

`api_error` is the one place that maps an SDK exception onto this tree.
"""

from __future__ import annotations

import re

import anthropic

from swarm.errors import SwarmError

_TOO_LONG = re.compile(r"prompt is too long(?:: (\d+) tokens > (\d+))?", re.IGNORECASE)


class ModelAPIError(SwarmError):
    """A model call failed for good."""

    #: Whether every other call of the run would fail the same way, so the run stops at once.
    stops_run = False


class ModelAuthError(ModelAPIError):
    exit_code = 2
    stops_run = True


class ModelNotFound(ModelAPIError):
    exit_code = 2
    stops_run = True


class ModelUnreachable(ModelAPIError):
    stops_run = True


class ModelOverloaded(ModelAPIError):
    pass


class ModelRequestError(ModelAPIError):
    pass


class PromptTooLong(ModelRequestError):
    """The prompt passed the window; `limit` is the window when the API said it."""

    def __init__(self, message: str, limit: int | None = None) -> None:
        super().__init__(message)
        self.limit = limit


def _api_message(error: anthropic.APIStatusError) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    inner = body.get("error") if isinstance(body.get("error"), dict) else {}
    return str(inner.get("message") or error.message).splitlines()[0][:300]


def api_error(error: BaseException, *, model: str, retries: int = 0) -> SwarmError:
    """The user-facing error for an SDK exception (already-swarm errors pass through)."""
    if isinstance(error, SwarmError):
        return error
    if isinstance(error, anthropic.APIStatusError):
        status, text = error.status_code, _api_message(error)
        if status == 401:
            return ModelAuthError(f"the model API refused the key (401: {text}); set a valid ANTHROPIC_API_KEY "
                                  "(or ANTHROPIC_AUTH_TOKEN) and run again")
        if status == 403:
            return ModelAuthError(f"the key may not use this (403: {text}); check the key's permissions for "
                                  f"model {model}, or set another ANTHROPIC_API_KEY")
        if status == 404:
            return ModelNotFound(f"model {model!r} was not found at the endpoint (404: {text}); "
                                 "choose another with --model")
        if status in (429, 529):
            kind = "rate limited" if status == 429 else "overloaded"
            return ModelOverloaded(f"the model API is still {kind} after {retries} retries ({status}); try again "
                                   "later, with a lower --concurrency")
        match = _TOO_LONG.search(text)
        if status in (400, 413) and match:
            return PromptTooLong(f"the conversation no longer fits the model's context window ({text})",
                                 int(match.group(2)) if match.group(2) else None)
        return ModelRequestError(f"the model API refused the request ({status}: {text})")
    if isinstance(error, anthropic.APITimeoutError):
        return ModelOverloaded(f"the model API did not answer in time after {retries} retries; try again later, "
                               "with a lower --concurrency")
    if isinstance(error, anthropic.APIConnectionError):
        url = str(error.request.url.copy_with(path="/", query=None)) if error.request is not None else "the endpoint"
        return ModelUnreachable(f"cannot reach the model API at {url}; check ANTHROPIC_BASE_URL "
                                "(unset it for the Anthropic API) and your network")
    return SwarmError(f"model call failed: {error}")
