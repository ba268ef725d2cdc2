"""The Ray runner (``LIVESIGHT_RUNNER=ray``, ``pip install 'livesight[ray]'``): runs placed on a Ray cluster.

Every source URL gets one detached actor (:class:`SourceWorker`, named after the URL), so the jobs and sessions
watching one stream share one decode, as in one process. The actor declares ``LIVESIGHT_RAY_CPUS_PER_SOURCE``
CPUs, so Ray packs sources onto nodes by what they cost. Inside, the actor runs an ordinary
:class:`~livesight.runs.worker.Worker` built from settings alone — the ``LIVESIGHT_*`` environment the placing
API process passes as the actor's ``runtime_env`` — and the store: it claims the runs placed on it, renews their
leases, and acts on cancels and session ends written to the store by any replica.

An actor lost with its node is restarted by Ray on another one (``max_restarts=-1``); the new incarnation claims
its predecessor's runs at once and resumes them after their last recorded chunk, the outage stored as a gap. A
run that is placed nowhere — its placer died, or Ray was unreachable — is placed again by any API replica once
its lease runs out (:meth:`RayRunner.reconcile`). An actor with no run for ``LIVESIGHT_RAY_IDLE_SECONDS``
ends itself, freeing its CPUs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import os
import threading
import time
from typing import Any, Literal

from livesight.errors import ConfigurationError
from livesight.logs import configure_logging
from livesight.runs.manager import new_worker_id
from livesight.runs.worker import RunKind, Worker, open_worker
from livesight.settings import Settings, load_settings
from livesight.store import ClaimScope, Store

log = logging.getLogger(__name__)

Answer = Literal["taken", "refused", "closing"]
_PASSED_ENV = ("LIVESIGHT_", "OPENAI_", "AWS_", "HF_")  # what a worker's settings and clients read
_PLACE_ATTEMPTS = 20


def source_actor_name(source_url: str) -> str:
    """The actor of ``source_url``: one per URL in the namespace, whichever replica places a run on it."""
    return "source-" + hashlib.sha256(source_url.encode()).hexdigest()[:24]


def worker_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The settings a source's actor is started with: this process's ``LIVESIGHT_*`` variables and the
    credentials its clients read (model endpoint, S3, Hugging Face)."""
    env = dict(os.environ if environ is None else environ)
    return {k: v for k, v in env.items() if k.startswith(_PASSED_ENV) and k != "LIVESIGHT_RUNNER"}


class SourceWorker:
    """The body of a source's Ray actor: a :class:`Worker` for one source URL, on its own event loop thread.

    Ray calls the methods from its own threads (a threaded actor); each hands its work to the worker's loop.
    """

    def __init__(self, source_url: str, name: str) -> None:
        self.source_url = source_url
        self.name = name
        self.worker_id = f"ray:{name}:{new_worker_id()}"
        self._loop = asyncio.new_event_loop()
        self._worker: Worker | None = None
        self._closing = False
        self._busy_at = time.monotonic()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="livesight-worker", daemon=True)
        self._thread.start()
        ready.result()  # a worker that cannot start (its database unreachable…) fails the actor's creation

    # -- called by Ray ---------------------------------------------------------------------------
    def take(self, kind: RunKind, run_id: str, from_worker: str | None) -> Answer:
        """Run ``run_id`` here; ``closing`` when this actor is ending (ask its successor)."""
        return asyncio.run_coroutine_threadsafe(self._take(kind, run_id, from_worker), self._loop).result()

    def held(self) -> list[str]:
        return [] if self._worker is None else self._worker.held()

    def where(self) -> dict[str, Any]:
        """Where this actor runs (its node and process), for operators and tests."""
        import ray

        return {"node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid(), "worker_id": self.worker_id}

    # -- its loop --------------------------------------------------------------------------------
    async def _take(self, kind: RunKind, run_id: str, from_worker: str | None) -> Answer:
        if self._closing or self._worker is None:
            return "closing"
        self._busy_at = time.monotonic()
        return "taken" if await self._worker.take(kind, run_id, from_worker) else "refused"

    def _serve(self, ready: concurrent.futures.Future[None]) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main(ready))
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            else:
                log.exception("source worker %s stopped", self.name)

    async def _main(self, ready: concurrent.futures.Future[None]) -> None:
        configure_logging()  # the actor's own process: its log is the worker's .err file in Ray's log directory
        settings = load_settings()
        scope = ClaimScope(source_url=self.source_url)
        async with open_worker(
            settings, worker_id=self.worker_id, scope=scope, predecessors=f"ray:{self.name}:"
        ) as worker:
            await worker.start()  # an incarnation restarted by Ray claims its predecessor's runs at once
            self._worker = worker
            ready.set_result(None)
            log.info("source worker %s (%s) started for %d run(s)", self.name, self.worker_id, len(worker.held()))
            await self._until_idle(worker, settings.ray_idle_seconds)
            self._closing = True
        self._end_actor()

    async def _until_idle(self, worker: Worker, idle_seconds: float) -> None:
        while True:
            await asyncio.sleep(min(1.0, max(idle_seconds, 0.1)))
            if worker.held():
                self._busy_at = time.monotonic()
            elif time.monotonic() - self._busy_at >= idle_seconds:
                return

    def _end_actor(self) -> None:
        import ray

        log.info("source worker %s: no run for a while, ending", self.name)
        with contextlib.suppress(Exception):  # outside Ray (a test of the class itself) there is no actor
            ray.kill(ray.get_runtime_context().current_actor, no_restart=True)


class RayRunner:
    """Places runs on a Ray cluster, one :class:`SourceWorker` actor per source URL; holds no run itself."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.worker_id = f"placer:{new_worker_id()}"
        self._remote: Any = None
        self._task: asyncio.Task[None] | None = None
        self._draining = False

    async def start(self) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigurationError(
                "LIVESIGHT_RUNNER=ray needs Ray.", remediation="pip install 'livesight[ray]'"
            ) from None
        await asyncio.to_thread(self._connect, ray)
        self._remote = ray.remote(SourceWorker)
        await self.reconcile()
        self._task = asyncio.get_running_loop().create_task(self._reconcile_loop(), name="ray:reconcile")

    def _connect(self, ray: Any) -> None:
        if ray.is_initialized():
            return
        ray.init(
            address=self.settings.ray_address,
            namespace=self.settings.ray_namespace,
            _node_ip_address=self.settings.ray_node_ip,
            log_to_driver=False,
            configure_logging=False,
        )
        log.info("Ray runner: joined %s", self.settings.ray_address or "a local Ray instance")

    async def place(self, kind: RunKind, run_id: str, source_url: str) -> None:
        """Hand the run just created (leased to this placer) to its source's actor, created if none runs. A
        run this fails to place is placed again by :meth:`reconcile` once its lease runs out."""
        await self._hand(kind, run_id, source_url, self.worker_id)

    async def _hand(self, kind: RunKind, run_id: str, source_url: str, from_worker: str | None) -> None:
        from ray.exceptions import RayActorError

        for _ in range(_PLACE_ATTEMPTS):
            if self._draining:
                return
            try:
                actor = await asyncio.to_thread(self._actor, source_url)
                answer: Answer = await actor.take.remote(kind, run_id, from_worker)
            except RayActorError:
                answer = "closing"  # it died or ended between the lookup and the call: ask its successor
            if answer != "closing":
                if answer == "refused":
                    log.info("%s %s: not taken (it ended, or another worker holds it)", kind, run_id)
                return
            await asyncio.sleep(0.25)  # the actor is ending: its name is free in a moment
        log.warning("%s %s: no actor took it; it is placed again when its lease runs out", kind, run_id)

    def _actor(self, source_url: str) -> Any:
        return self._remote.options(
            name=source_actor_name(source_url),
            namespace=self.settings.ray_namespace,
            get_if_exists=True,
            lifetime="detached",  # outlives the replica that created it: the runs do not depend on it
            max_restarts=-1,
            max_task_retries=-1,
            max_concurrency=16,
            num_cpus=self.settings.ray_cpus_per_source,
            runtime_env={"env_vars": worker_environment()},
        ).remote(source_url, source_actor_name(source_url))

    async def reconcile(self) -> int:
        """Place every live run that no worker holds (its lease ran out); returns how many were found."""
        runs = await self.store.unheld_runs()
        for run in runs:
            await self._hand(run.kind, run.run_id, run.source_url, None)
        return len(runs)

    async def _reconcile_loop(self) -> None:
        while not self._draining:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            try:
                await self.reconcile()
            except Exception:  # the database or Ray may be restarting: try again next round
                log.exception("Ray runner: placing unheld runs failed")

    async def stop_here(self, run_id: str, within: float) -> None:
        """Nothing runs here: the actor holding ``run_id`` acts on the store within a second."""

    def jobs_running(self) -> int:
        return 0

    def drain(self) -> None:
        self._draining = True

    async def aclose(self) -> None:
        self._draining = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # The actors are detached: they, and the runs, go on without this replica.
        import ray

        if ray.is_initialized():
            await asyncio.to_thread(ray.shutdown)
