"""The webhook dispatcher: an asyncio worker that sends what the outbox holds, retrying for hours."""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from livesight.delivery._schedule import (
    DispatcherMetrics,
    OutcomeMetrics,
    check_webhook_url,
    retry_policy,
    schedule_retry,
)
from livesight.delivery._signing import build_payload, rotate_server_webhook_secret, server_webhook_secret, sign
from livesight.errors import ConfigurationError
from livesight.netpolicy import BlockedAddress, NetworkPolicy, guarded_async_client
from livesight.retry import RetryPolicy, parse_retry_after
from livesight.settings import Settings
from livesight.sources.urls import redact, redact_text
from livesight.store import ApiKeyNotFound, AttemptOutcome, DeliveryRecord, Store, new_id, utcnow

log = logging.getLogger(__name__)


class DispatcherState(enum.StrEnum):
    """``new`` → ``running`` (``start``) → ``stopping`` → ``stopped`` (``aclose``)."""

    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(frozen=True)
class _Answer:
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None
    permanent: bool = False


class WebhookDispatcher:
    """Sends the webhook outbox: claims due deliveries, POSTs them signed, records each attempt.

    ``start()`` runs the worker; ``notify()`` wakes it early (``enqueue`` does); ``aclose()`` stops it,
    giving in-flight POSTs ``webhook_shutdown_grace_seconds`` to finish — those still running are
    cancelled and stay leased, so this or another dispatcher sends them again once the lease expires
    (the same happens after a crash). Several dispatchers may share one database.

    Only 2xx counts as delivered; redirects are never followed (a 3xx is a failure); 410 Gone disables
    the endpoint for the owner; a URL the network policy refuses fails at once, without retries; every
    other failure is retried on the :func:`retry_policy` schedule. With ``http_client`` given, each URL is
    also checked with the network policy before the POST (a client of our own checks it in its transport).

    ``policy`` replaces the retry schedule of the settings; ``network_policy`` the settings' network policy;
    ``clock`` (aware UTC now: scheduling, leases, signature timestamps), ``sleep`` and ``rng`` are for tests.
    ``self.metrics`` counts outcomes; ``metrics=`` (e.g. ``livesight.metrics.Metrics``) counts them there too.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        http_client: httpx.AsyncClient | None = None,
        policy: RetryPolicy | None = None,
        network_policy: NetworkPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random | None = None,
        metrics: OutcomeMetrics | None = None,
    ) -> None:
        if settings.webhook_lease_seconds <= settings.webhook_timeout_seconds:
            raise ConfigurationError(
                "LIVESIGHT_WEBHOOK_LEASE_SECONDS must be longer than LIVESIGHT_WEBHOOK_TIMEOUT_SECONDS",
                remediation="A lease shorter than an attempt lets a second dispatcher send the same delivery.",
            )
        self._store = store
        self._settings = settings
        self._policy = policy or retry_policy(settings)
        self._network = network_policy or NetworkPolicy.from_settings(settings)
        self._timeout = settings.webhook_timeout_seconds
        self._own_client = http_client is None
        self._client = http_client or guarded_async_client(
            self._network, timeout=httpx.Timeout(self._timeout), follow_redirects=False, trust_env=False
        )
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._state = DispatcherState.NEW
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._server_secret: str | None = None
        self._external_metrics = metrics
        self.metrics = DispatcherMetrics()

    @property
    def state(self) -> DispatcherState:
        return self._state

    def start(self) -> None:
        """Start the worker (once; call it from a running event loop, e.g. the app's lifespan).

        Reads or creates the server-wide secret first (a few bytes of file I/O), so a bad
        ``LIVESIGHT_WEBHOOK_SECRET`` raises :class:`~livesight.errors.ConfigurationError` here.
        """
        if self._state is not DispatcherState.NEW:
            return
        self._server_secret = server_webhook_secret(self._settings)
        self._state = DispatcherState.RUNNING
        self._loop_task = asyncio.get_running_loop().create_task(self._run(), name="webhook-dispatcher")

    async def secret_for(self, owner: str | None) -> str:
        """The ``whsec_…`` secret that signs ``owner``'s webhooks (the server-wide one for ``None``)."""
        if owner is not None:
            return await self._store.get_webhook_secret(owner)
        if self._server_secret is None:
            self._server_secret = await asyncio.to_thread(server_webhook_secret, self._settings)
        return self._server_secret

    async def rotate_secret(self, owner: str | None) -> str:
        """A new secret for ``owner`` (or the server-wide one); retries already queued are signed with it.

        The server-wide secret can only be rotated when it lives in ``data_dir`` (not when
        ``LIVESIGHT_WEBHOOK_SECRET`` sets it: raises :class:`~livesight.errors.ConfigurationError`).
        """
        if owner is not None:
            return await self._store.rotate_webhook_secret(owner)
        self._server_secret = await asyncio.to_thread(rotate_server_webhook_secret, self._settings)
        return self._server_secret

    def notify(self) -> None:
        """Wake the worker: something was enqueued (or re-sent) and is due now."""
        self._wake.set()

    async def enqueue(
        self,
        owner: str | None,
        url: str,
        event_type: str,
        data: Mapping[str, Any],
        *,
        job_id: str | None = None,
        session_id: str | None = None,
    ) -> DeliveryRecord:
        """Build the body, write the delivery to the outbox, then wake the worker; returns the stored delivery.

        Raises :class:`InvalidWebhookURL` for a URL that is not http(s), and the store's ``JobNotFound`` /
        ``SessionNotFound``.
        """
        check_webhook_url(url)
        now = self._clock()
        body = build_payload(event_type, job_id, data, timestamp=now)
        record = await self._store.enqueue_delivery(
            url=url,
            event_type=event_type,
            body=body,
            owner=owner,
            job_id=job_id,
            session_id=session_id,
            delivery_id=new_id("msg"),
            now=now,
        )
        self.notify()
        return record

    async def aclose(self, grace: float | None = None) -> None:
        """Stop claiming, let in-flight POSTs finish for up to ``grace`` seconds, cancel the rest, close."""
        if self._state in (DispatcherState.STOPPING, DispatcherState.STOPPED):
            return
        grace = self._settings.webhook_shutdown_grace_seconds if grace is None else grace
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        self._state = DispatcherState.STOPPING
        self._wake.set()
        if self._loop_task is not None:
            # Woken, the loop sees the state and returns; a claim it is in the middle of still completes,
            # so rows it leased are sent within the grace period rather than left for the lease to expire.
            await asyncio.wait({self._loop_task}, timeout=grace)
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if self._inflight:
            _, unfinished = await asyncio.wait(set(self._inflight), timeout=max(0.0, deadline - loop.time()))
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        if self._own_client:
            await self._client.aclose()
        self._state = DispatcherState.STOPPED

    async def run_once(self) -> int:
        """Claim what is due now (up to the free slots) and send it; returns how many were sent.

        For tests and one-shot tools; the worker started by :meth:`start` does this continuously.
        """
        claimed = await self._claim()
        tasks = [self._spawn(d) for d in claimed]
        await asyncio.gather(*tasks)
        return len(tasks)

    # -- the worker --------------------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while self._state is DispatcherState.RUNNING:
            try:
                claimed = await self._claim()
                for delivery in claimed:
                    self._spawn(delivery)
                failures = 0
                if claimed:
                    continue
                timeout = await self._idle_timeout()
            except Exception:
                # The database may be down or restarting: keep the worker alive and back off.
                failures += 1
                log.exception("webhook dispatcher: claiming deliveries failed (%d in a row)", failures)
                timeout = RetryPolicy(initial=1.0, maximum=30.0).delay(failures, rng=self._rng)
            await self._wait(timeout)

    async def _claim(self) -> list[DeliveryRecord]:
        free = self._settings.webhook_concurrency - len(self._inflight)
        if free <= 0:
            return []
        return await self._store.claim_due_deliveries(self._clock(), free, self._settings.webhook_lease_seconds)

    def _spawn(self, delivery: DeliveryRecord) -> asyncio.Task[None]:
        task = asyncio.create_task(self._deliver(delivery), name=f"webhook-{delivery.id}")
        self._inflight.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()  # a slot is free

    async def _idle_timeout(self) -> float:
        poll = self._settings.webhook_poll_seconds
        if len(self._inflight) >= self._settings.webhook_concurrency:
            return poll  # a finishing send wakes us
        due = await self._store.next_delivery_due()
        if due is None:
            return poll
        # Something due that we could not claim is held by another dispatcher: do not spin on it.
        return min(poll, max((due - self._clock()).total_seconds(), min(poll, 0.25)))

    async def _wait(self, seconds: float) -> None:
        if not self._wake.is_set():
            waiter = asyncio.ensure_future(self._wake.wait())
            sleeper = asyncio.ensure_future(self._sleep(seconds))
            try:
                await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (waiter, sleeper):
                    task.cancel()
                await asyncio.gather(waiter, sleeper, return_exceptions=True)
        # Whatever set the flag is covered by the claim that follows (enqueue commits before notify).
        self._wake.clear()

    # -- one attempt -------------------------------------------------------------------------------

    async def _deliver(self, delivery: DeliveryRecord) -> None:
        try:
            await self._attempt(delivery)
        except Exception:
            # The lease expires and the delivery is tried again; nothing is lost by logging and moving on.
            log.exception("webhook dispatcher: delivery %s failed unexpectedly", delivery.id)

    async def _attempt(self, delivery: DeliveryRecord) -> None:
        now = self._clock()
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            headers = sign(await self.secret_for(delivery.owner), delivery.id, now, delivery.body)
        except ApiKeyNotFound:
            answer = _Answer(error="the API key that owns this delivery no longer exists", permanent=True)
        else:
            answer = await self._post(delivery, headers)
        duration_ms = round((loop.time() - started) * 1000)
        attempt = delivery.attempt_count + 1
        next_at: datetime | None = None
        error = answer.error
        if answer.status_code is not None and 200 <= answer.status_code < 300:
            outcome = AttemptOutcome.DELIVERED
        elif answer.status_code == 410:
            outcome = AttemptOutcome.DISABLED
        elif answer.permanent:
            outcome = AttemptOutcome.FAILED
        else:
            next_at = schedule_retry(self._policy, attempt, delivery.queued_at, now, answer.retry_after, self._rng)
            if next_at is None:
                outcome = AttemptOutcome.FAILED
                error = f"{error}; gave up after {attempt} attempts"
            else:
                outcome = AttemptOutcome.RETRY
        await self._store.record_attempt(
            delivery.id,
            outcome=outcome,
            status_code=answer.status_code,
            error=error,
            duration_ms=duration_ms,
            next_attempt_at=next_at,
            attempted_at=now,
        )
        self._count(outcome)
        log.info("webhook %s to %s: %s (%s)", delivery.id, redact(delivery.url), outcome.value, error or "ok")

    def _count(self, outcome: AttemptOutcome) -> None:
        self.metrics.count(outcome.value)
        if self._external_metrics is not None:
            self._external_metrics.webhook_deliveries.labels(outcome=outcome.value).inc()

    async def _post(self, delivery: DeliveryRecord, headers: dict[str, str]) -> _Answer:
        try:
            # One deadline for the whole attempt: httpx's timeouts are per read, and a receiver that
            # trickles its answer byte by byte would never trip them.
            async with asyncio.timeout(self._timeout):
                if not self._own_client:
                    await self._network.check_url(delivery.url)
                request = self._client.build_request(
                    "POST", delivery.url, content=delivery.body.encode(), headers=headers
                )
                # The body of the answer is never read: only the status matters, and it may be large.
                response = await self._client.send(request, stream=True, follow_redirects=False)
                await response.aclose()
        except BlockedAddress as exc:
            return _Answer(error=str(exc), permanent=True)
        except (TimeoutError, httpx.TimeoutException):
            return _Answer(error=f"no answer within {self._timeout:g} s")
        except (httpx.HTTPError, OSError) as exc:
            return _Answer(error=redact_text(f"{type(exc).__name__}: {exc}") or type(exc).__name__)
        status = response.status_code
        if 200 <= status < 300:
            return _Answer(status_code=status)
        if status == 410:
            return _Answer(status_code=status, error="410 Gone: the receiver asked for no more deliveries")
        if 300 <= status < 400:
            location = response.headers.get("location", "")
            return _Answer(
                status_code=status,
                error=f"redirect {status} to {redact(location)!r} not followed: webhook receivers must answer 2xx",
            )
        retry_after = parse_retry_after(response.headers.get("retry-after")) if status in (429, 503) else None
        return _Answer(
            status_code=status, error=f"HTTP {status} {response.reason_phrase}".strip(), retry_after=retry_after
        )
