"""When the SDK retries a request, and how long it waits: the rule lives here and nowhere else.

* **Idempotent methods** (GET, HEAD, OPTIONS, PUT, DELETE) are retried on any connection error or
  timeout and on 408, 429 and every 5xx answer.
* **POST** (which starts jobs and sessions) is retried only when the server certainly did nothing: the
  connection could not be opened (refused, DNS, connect timeout, no free pooled connection), or the
  server answered 429 (rate limited) or 503 (unavailable). A read timeout or a dropped connection after
  the request left is not retried, because the job may already exist.
* Any other 4xx is never retried: sending the same request again gives the same answer.

Waits come from the project's one retry policy (:class:`livesight.retry.RetryPolicy`): exponential backoff
from 0.5 s, doubling, capped at 8 s, ±25 % jitter; a ``Retry-After`` header wins (up to
``livesight.retry.RETRY_AFTER_CEILING``). ``max_retries`` (default 2) bounds the retries after the first try.
"""

from __future__ import annotations

import httpx

from livesight.retry import RetryPolicy, parse_retry_after

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRYABLE_STATUSES = frozenset({408, 429})
POST_RETRYABLE_STATUSES = frozenset({429, 503})

# max_attempts is the client's max_retries, counted by the caller: the policy only supplies the waits.
DEFAULT_POLICY = RetryPolicy(initial=0.5, maximum=8.0, multiplier=2.0, jitter=0.25, max_attempts=None)

# Errors that happen before a single byte of the request left this machine.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Errors no retry can fix: a malformed URL or an unsupported scheme.
_PERMANENT = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL)


def should_retry_status(method: str, status: int) -> bool:
    """Whether an answer with ``status`` to a ``method`` request is worth sending again."""
    if method.upper() in IDEMPOTENT_METHODS:
        return status in RETRYABLE_STATUSES or status >= 500
    return status in POST_RETRYABLE_STATUSES


def should_retry_error(method: str, error: Exception) -> bool:
    """Whether a transport ``error`` on a ``method`` request is worth sending again."""
    if isinstance(error, _PERMANENT) or not isinstance(error, httpx.TransportError):
        return False
    if method.upper() in IDEMPOTENT_METHODS:
        return True
    return isinstance(error, _NOT_SENT)


def retry_delay(retry: int, response: httpx.Response | None = None, policy: RetryPolicy = DEFAULT_POLICY) -> float:
    """Seconds to wait before retry number ``retry`` (1-based), honouring the answer's ``Retry-After``."""
    retry_after = parse_retry_after(response.headers.get("retry-after")) if response is not None else None
    return policy.delay(retry, retry_after)
