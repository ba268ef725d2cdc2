"""What the API asks of runs: create a job or a session, cancel or end it — each a change to the store, then
a word to the runner that places it. The API process itself holds no run state: whichever replica received a
request, the worker holding the run (this process, another replica, a Ray actor) acts on the row.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from livesight.delivery.broker import Bus, Message, until_ended
from livesight.errors import LiveSightError
from livesight.judges import Judge
from livesight.runs.runner import Runner
from livesight.runs.specs import DigestSpec, MonitorSpec, model_name
from livesight.settings import Settings
from livesight.sources.probe import RecentProbes
from livesight.store import Store
from livesight.store.records import JobRecord, SessionRecord

_CANCEL_WAIT = 15.0  # seconds a cancel waits for the job to end before answering
ENDED_SESSION = ("FINISHED", "FAILED")

DeliveryModeName = Literal["webhook", "sse", "polling"]


class MaxJobsReached(LiveSightError):
    code = "MAX_JOBS_REACHED"
    remediation = "Cancel a running job (DELETE /api/jobs/{job_id}) or raise LIVESIGHT_MAX_JOBS."


class _Service:
    def __init__(self, settings: Settings, store: Store, bus: Bus, runner: Runner, judge: Callable[[], Judge]) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.runner = runner
        self.judge = judge


class JobService(_Service):
    """Live-monitor and digest jobs, as the API sees them."""

    def __init__(self, settings: Settings, store: Store, bus: Bus, runner: Runner, judge: Callable[[], Judge]) -> None:
        super().__init__(settings, store, bus, runner, judge)
        #: Streams ``POST /api/prepare-stream`` found live a moment ago: the next job on them skips its probe.
        self.probes = RecentProbes()

    async def create(self, spec: MonitorSpec, owner: str | None, delivery_mode: DeliveryModeName) -> JobRecord:
        return await self._create("live-monitor", spec, spec.condition, owner, delivery_mode)

    async def create_digest(self, spec: DigestSpec, owner: str | None, delivery_mode: DeliveryModeName) -> JobRecord:
        return await self._create("live-digest", spec, None, owner, delivery_mode)

    async def _create(
        self,
        job_type: str,
        spec: MonitorSpec | DigestSpec,
        condition: str | None,
        owner: str | None,
        delivery_mode: DeliveryModeName,
    ) -> JobRecord:
        # Counted in the store: the key's jobs may run on any replica.
        if await self.store.count_live_jobs(owner) >= self.settings.max_jobs:
            raise MaxJobsReached(f"This key already runs {self.settings.max_jobs} jobs.")
        judge = self.judge()  # raises JudgeNotConfigured before anything is created
        # Created leased to the runner (the local worker, or the placer while it asks Ray): if the process dies
        # before the run starts, the lease runs out and another replica places it.
        job = await self.store.create_job(
            job_type,
            spec.stream_url,
            condition,
            delivery_mode,
            spec.webhook_url,
            {**spec.config(), "model": model_name(judge)},
            owner,
            worker_id=self.runner.worker_id,
            lease_seconds=self.settings.lease_seconds,
        )
        await self.runner.place("job", job.id, job.stream_url)
        return job

    async def cancel(self, job_id: str, owner: str | None = None) -> bool:
        """Ask for the job to stop, whichever worker runs it (a change to its row, which the worker acts on
        within a second), and wait a bounded time until the store shows it ended. ``False``: it had ended."""
        if not await self.store.request_job_stop(job_id, owner):
            return False
        await self.runner.stop_here(job_id, _CANCEL_WAIT)  # it runs in this process: act now, not at the next poll

        async def ended() -> bool:
            job = await self.store.get_job(job_id)
            return job is None or job.status not in ("pending", "running")

        await until_ended(self.bus, job_id, ended, _CANCEL_WAIT)
        return True


class SessionService(_Service):
    """Livestream sessions, as the API sees them."""

    async def start(
        self,
        *,
        source_url: str,
        name: str,
        rapid_review_query: str | None,
        stream_id: str | None,
        owner: str | None,
        webhook_url: str | None = None,
    ) -> SessionRecord:
        if rapid_review_query:
            self.judge()  # raises JudgeNotConfigured before anything is created
        stream = await self.store.create_stream(name, source_url, owner=owner, stream_id=stream_id)
        config = {"webhook_url": webhook_url, "chunk_seconds": self.settings.chunk_seconds}
        session = await self.store.create_session(
            stream.id,
            name,
            source_url,
            rapid_review_query,
            config,
            owner,
            worker_id=self.runner.worker_id,
            lease_seconds=self.settings.lease_seconds,
        )
        await self.runner.place("session", session.id, session.source_url)
        return session

    async def end(self, session: SessionRecord) -> Literal["ended", "already_ended"]:
        """``ended`` when this call ended it, ``already_ended`` when it had ended (or was ending).

        Ending is the status ENDING in the store, which the worker running the session acts on (within a
        second, whichever replica received the request); this waits a bounded time until the store shows
        it ended — the last chunk is recorded and analysed before FINISHED.
        """
        if session.status in ENDED_SESSION or session.status == "ENDING":
            return "already_ended"
        changed = await self.store.set_session_status_if(session.id, ("INITIALIZING", "ACTIVE"), "ENDING")
        if not changed:
            return "already_ended"
        current = await self.store.get_session(session.id)
        if current is not None and (current.lease_until is None or current.lease_until <= datetime.now(UTC)):
            # No live worker holds it: nothing would finish it before a claim, so finish it here, and tell
            # whoever follows it (SSE clients on any replica) as its worker would have.
            await self.store.set_session_status_if(session.id, "ENDING", "FINISHED", ended_at=datetime.now(UTC))
            final = {"session_id": session.id, "stream_id": session.stream_id, "status": "FINISHED", "error": None}
            self.bus.publish(session.id, Message("ended", final, terminal=True))
            return "ended"
        within = self.settings.model_timeout_seconds + 10
        await self.runner.stop_here(session.id, within)  # it runs in this process: act now

        async def ended() -> bool:
            row = await self.store.get_session(session.id)
            return row is None or row.status in ENDED_SESSION

        await until_ended(self.bus, session.id, ended, within)
        return "ended"
