"""``newsrelay scheduler``: the elected scheduler of a cluster.

Any number run; the one holding the database's daemon lock (a PostgreSQL session advisory
lock, the same one ``newsrelay run`` takes, so a daemon and a cluster never share a database)
is the leader. It schedules every source with the daemon's triggers, jitter and catch-up, and
its jobs only send a "run this source" message; it crawls nothing. The others try for the
lock every :data:`ELECTION_EVERY` and take over when the leader dies (PostgreSQL frees a dead
session's locks at once). A leader that loses its lock connection stops scheduling at once.

Every :data:`SWEEP_EVERY` the leader also looks for cluster runs still marked running whose
source lock is free: their worker died; they are closed and their source sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from crawler.cluster.broker import RunOrder, open_broker, send
from crawler.config import Config
from publisher.daemon import DeliveryLoop
from scheduler import __version__
from scheduler.next_runs import NextRuns
from scheduler.pruning import PruneLoop
from scheduler.schedules import first_run, trigger_for
from storage.cluster import close_dead_runs, member_beat, member_gone, running_cluster_sources
from storage.cluster_locks import AdvisoryLocks
from storage.daemon_state import daemon_started, daemon_stopped, heartbeat
from storage.db import Database, StorageError
from storage.locks import AlreadyRunning, DaemonLock
from storage.run_ends import load_sources
from storage.sources import last_run_starts, set_next_runs

logger = logging.getLogger(__name__)

ELECTION_EVERY = 2.0  # seconds between a standby's tries for the lock (takeover well under 10 s)
SWEEP_EVERY = 10.0  # seconds between the leader's looks for runs of dead workers


class ClusterScheduler:
    def __init__(self, config: Config, db: Database) -> None:
        self.config = config
        self.db = db
        self.host = socket.gethostname()
        self.name = f"{self.host}:{os.getpid()}"
        self.started_at = datetime.now(UTC)
        self.lock: DaemonLock | None = None  # held while leader
        self.leader_since: datetime | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self.periods: dict[str, timedelta] = {}
        self.locks = AdvisoryLocks(db)
        self.broker = open_broker(config.cluster)
        # pika's connections belong to one thread: every send goes through this one.
        self._sender = ThreadPoolExecutor(1, thread_name_prefix="send")
        self._database = ThreadPoolExecutor(1, thread_name_prefix="database")
        self._stop = asyncio.Event()
        self.deliveries: DeliveryLoop | None = None  # the leader delivers, as a daemon does
        self.pruning: PruneLoop | None = None  # ... and prunes (storage.keep_articles)
        self.next_runs = NextRuns(lambda runs: self._call(set_next_runs, self.db, runs))

    def run(self) -> int:
        """Blocking: elect, schedule, until SIGTERM/SIGINT. The exit code."""
        return asyncio.run(self._main())

    async def _main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        logger.info("scheduler started: name=%s", self.name, extra={"member": self.name})
        last_sweep = 0.0
        try:
            while not self._stop.is_set():
                await self._elect()
                await self._call(self._beat)
                if self.lock is not None and loop.time() - last_sweep >= SWEEP_EVERY:
                    last_sweep = loop.time()
                    await self._sweep()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), ELECTION_EVERY)
        finally:
            await self._step_down(stopping=True)
            await self._call(member_gone, self.db, self.name)
            self.locks.close()
            self._sender.shutdown(wait=False)
            logger.info("scheduler stopped", extra={"member": self.name})
        return 0

    async def _call(self, function: Any, *args: Any) -> Any:
        """A blocking database call off the loop; a database away is logged, not raised."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._database, function, *args)
        except StorageError as exc:
            logger.error("%s: %s", getattr(function, "__name__", "database"), exc)
            return None

    # -- election -------------------------------------------------------------------------
    async def _elect(self) -> None:
        if self.lock is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(self._database, self.lock.check)
            except StorageError as exc:
                logger.error("leadership lost: %s", exc, extra={"member": self.name})
                await self._step_down()
            return
        lock = DaemonLock(self.db)
        try:
            await asyncio.get_running_loop().run_in_executor(self._database, lock.acquire)
        except AlreadyRunning:
            return  # a standby
        except StorageError as exc:
            logger.error("cannot try for leadership: %s", exc)
            return
        self.lock = lock
        self.leader_since = datetime.now(UTC)
        logger.info("elected leader: name=%s", self.name, extra={"member": self.name})
        await self._call(daemon_started, self.db, __version__, str(self.config.path or ""))
        await self._start_scheduling()
        self.deliveries = DeliveryLoop(lambda: self.config, self.db)
        self.deliveries.start()
        self.pruning = PruneLoop(lambda: self.config, self.db)
        self.pruning.start()

    async def _step_down(self, *, stopping: bool = False) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        self.next_runs.drop()
        if self.deliveries is not None:
            timeout = self.config.daemon.stop_timeout_delta.total_seconds()
            await asyncio.get_running_loop().run_in_executor(None, self.deliveries.stop, timeout)
            self.deliveries = None
        if self.pruning is not None:
            timeout = self.config.daemon.stop_timeout_delta.total_seconds()
            await asyncio.to_thread(self.pruning.stop, timeout)
            self.pruning = None
        if self.lock is not None:
            if stopping:
                await self._call(daemon_stopped, self.db)
            self.lock.release()
            self.lock = None
            self.leader_since = None

    def _beat(self) -> None:
        member_beat(
            self.db,
            name=self.name,
            role="scheduler",
            host=self.host,
            pid=os.getpid(),
            started_at=self.started_at,
            leader_since=self.leader_since,
        )
        if self.lock is not None:
            heartbeat(self.db)

    # -- schedules ------------------------------------------------------------------------
    async def _start_scheduling(self) -> None:
        daemon = self.config.daemon
        scheduler = AsyncIOScheduler(
            event_loop=asyncio.get_running_loop(),
            timezone=daemon.timezone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        last_runs = await self._call(_last_runs, self.db, [s.name for s in self.config.sources])
        now = datetime.now(UTC)
        for source in self.config.sources:
            trigger, period = trigger_for(source, daemon, now)
            self.periods[source.name] = period
            first = first_run(source, trigger, period, (last_runs or {}).get(source.name), now)
            options: dict[str, Any] = {} if first is None else {"next_run_time": first}
            scheduler.add_job(
                self._send_run, trigger, args=[source.name], id=source.name, **options
            )
        scheduler.start()
        self.scheduler = scheduler
        next_runs = {job.id: job.next_run_time for job in scheduler.get_jobs()}
        await self._call(set_next_runs, self.db, next_runs)
        logger.info("scheduling %d sources", len(next_runs), extra={"member": self.name})

    async def _send_run(self, name: str) -> None:
        """A source's job: one message. The broker away: tried again for up to an interval."""
        period = self.periods.get(name) or timedelta(minutes=15)
        order = RunOrder(name, datetime.now(UTC), period)
        deadline = asyncio.get_running_loop().time() + period.total_seconds()
        while not await self._send(order):
            if asyncio.get_running_loop().time() > deadline or self.scheduler is None:
                logger.error("run not sent: source=%s", name, extra={"source": name})
                return
            await asyncio.sleep(1.0)
        job = self.scheduler.get_job(name) if self.scheduler else None
        self.next_runs.note(name, job.next_run_time if job else None)

    async def _send(self, order: RunOrder) -> bool:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._sender, send, self.broker, self.config.cluster, order)
        except Exception as exc:  # pika and Dramatiq connection errors
            logger.warning("broker unreachable: %s", str(exc).splitlines()[0] if str(exc) else exc)
            return False
        return True

    # -- runs of dead workers -------------------------------------------------------------
    async def _sweep(self) -> None:
        for name in await self._call(running_cluster_sources, self.db) or []:
            closed = await self._call(self._close_if_dead, name)
            if closed:
                logger.warning(
                    "closed %d runs of source=%s whose worker died: running it again",
                    closed,
                    name,
                    extra={"source": name},
                )
                period = self.periods.get(name)
                await self._send(RunOrder(name, datetime.now(UTC), period))

    def _close_if_dead(self, name: str) -> int:
        """Holding the source's lock, its runs marked running are dead."""
        if not self.locks.try_lock("source", name):
            return 0  # a worker holds it: the run is alive
        try:
            return close_dead_runs(self.db, name)
        finally:
            self.locks.unlock("source", name)


def _last_runs(db: Database, names: list[str]) -> dict[str, datetime]:
    """The sources exist (made in one transaction, as the daemon's start-up does), and when
    each one's latest run started."""
    load_sources(db, {name: [] for name in names})
    return last_run_starts(db)
