"""``newsrelay run``: the daemon.

One process, one asyncio loop for its whole life (a Twisted reactor cannot be restarted):
APScheduler's ``AsyncIOScheduler`` fires one job per source, and each job awaits
:func:`crawler.crawls.crawl_sources`, the same function ``newsrelay crawl`` runs, on the
same loop as Scrapy's ``AsyncCrawlerRunner``.

Life: take the database's daemon lock (a second daemon refuses), close the runs a dead
process left open, schedule every source (a run missed while the daemon was down runs soon),
write a heartbeat, and serve until SIGTERM/SIGINT. Stopping pauses the scheduler, closes the
crawls in flight (their runs are recorded as interrupted) within ``daemon.stop_timeout``, and
only then shuts the scheduler down: the other order cancels a job before its spider closes.
SIGHUP reloads the config; a broken one is logged and the running one kept.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
    JobExecutionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from console.app import create_app
from console.context import Context
from console.server import ConsoleThread, bind_daemon_console
from crawler.config import Config, ConfigError, SourceConfig, load_config
from crawler.crawls import Crawls, crawl_sources, stop_crawls
from crawler.gc_policy import settle_daemon
from crawler.reactor import StoppedAtOnce, run_in_reactor
from crawler.run_bookkeeping import preload
from crawler.services import Services
from crawler.source_run import CrawlOptions, SourceResult
from publisher.daemon import DeliveryLoop
from scheduler import __version__
from scheduler.manual_runs import ManualRuns
from scheduler.next_runs import NextRuns
from scheduler.pruning import PruneLoop
from scheduler.schedules import first_run, trigger_for
from storage.daemon_state import daemon_started, daemon_stopped, heartbeat
from storage.db import Database, StorageError
from storage.locks import DaemonLock
from storage.runs import mark_abandoned_runs
from storage.sources import last_run_starts, set_next_runs, unschedule_all_but

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Daemon:
    """The scheduler and the crawls of one ``newsrelay run`` process."""

    def __init__(self, config: Config, services: Services) -> None:
        self.config = config
        self.db = services.db
        self.services = services
        self.crawls = Crawls.create(config, services)
        # Every Crawls made by a reload, so that a stop reaches crawls started before it.
        self._generations: list[Crawls] = [self.crawls]
        self.scheduler: AsyncIOScheduler | None = None
        self.stopping = False
        self._stop_requested = asyncio.Event()
        self.running: dict[str, asyncio.Task[Any]] = {}
        self.next_runs = NextRuns(lambda runs: self.store(set_next_runs, runs))
        self._reloading: set[asyncio.Task[None]] = set()
        self.deliveries = DeliveryLoop(lambda: self.config, services.db)
        self.pruning = PruneLoop(lambda: self.config, services.db)  # storage.keep_articles
        self.console: ConsoleThread | None = None
        self._console_socket: socket.socket | None = None

    # -- entry points ---------------------------------------------------------------------
    def run(self, *, once: bool = False) -> int:
        """Blocking: serve until stopped (or, ``once``, crawl every source once). The exit code."""
        lock = DaemonLock(self.db)
        lock.acquire()
        try:
            if not once and self.config.http.listen:
                self._console_socket = bind_daemon_console(self.config.http)
            closed = mark_abandoned_runs(self.db)
            if closed:
                logger.warning("closed %d runs left open by a process that died", closed)
            # The workers' zygote imports the extraction stack while the daemon starts up.
            self.services.pool.warm()
            return run_in_reactor(self._serve(once), on_first_signal=self.request_stop)
        except StoppedAtOnce:
            # A second signal: no graceful close, but `health` should not wait for the
            # heartbeat to go stale to know (the runs left open are closed at the next start).
            _record_stop(self.db)
            raise
        finally:
            lock.release()

    async def request_stop(self) -> None:
        """SIGTERM/SIGINT: stop gracefully (a second signal stops at once, see run_in_reactor)."""
        self._stop_requested.set()

    # -- serving --------------------------------------------------------------------------
    async def _serve(self, once: bool) -> int:
        loop = asyncio.get_running_loop()
        previous_hup = signal.signal(
            signal.SIGHUP, lambda *_: loop.call_soon_threadsafe(self._reload_soon)
        )
        await self.store(daemon_started, __version__, _path(self.config))
        beating = asyncio.ensure_future(self._heartbeat())
        try:
            if once:
                return await self._once()
            await self._start_scheduler(loop)
            self.deliveries.start()
            self.pruning.start()
            if self._console_socket is not None:
                runs = ManualRuns(self, loop)
                context = Context(lambda: self.config, self.db, runs.trigger)
                self.console = ConsoleThread(create_app(context), self._console_socket)
                self.console.start()
            await self._stop_requested.wait()
            await self._shutdown()
            return 0
        finally:
            beating.cancel()
            self.next_runs.drop()
            signal.signal(signal.SIGHUP, previous_hup)
            await self._record_stop()
            logger.info("daemon stopped")

    async def store(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function(db, ...)`` in the storage thread: the loop never waits for the database."""
        return await self.services.storage.call(function, *args, **kwargs)

    async def _record_stop(self) -> None:
        """The daemon's stop, recorded within ``daemon.stop_timeout`` (a locked database
        cannot hold the exit; ``health`` then sees the heartbeat go stale instead)."""
        timeout = self.config.daemon.stop_timeout_delta.total_seconds()
        try:
            await asyncio.wait_for(self.store(_record_stop), timeout)
        except TimeoutError:
            logger.error("could not record the daemon's stop: timed out")

    async def _once(self) -> int:
        sources = list(self.config.sources)
        logger.info(
            "daemon started for one pass: version=%s config=%s sources=%d",
            __version__,
            _path(self.config),
            len(sources),
            extra=self._identity(),
        )
        work = asyncio.ensure_future(
            crawl_sources(self.crawls, sources, options=CrawlOptions(due_only=True))
        )
        stop = asyncio.ensure_future(self._stop_requested.wait())
        await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not work.done():  # stopped by a signal: as graceful as the daemon's stop
            self.stopping = True
            await self._close_crawls(asyncio.shield(work))
            return 0
        results: list[SourceResult] = work.result()
        return 0 if all(r.status in ("ok", "skipped") for r in results) else 1

    async def _start_scheduler(self, loop: asyncio.AbstractEventLoop) -> None:
        self.scheduler = AsyncIOScheduler(
            event_loop=loop,
            timezone=ZoneInfo(self.config.daemon.timezone),
            # One run per source at a time; runs missed while busy or down collapse into one,
            # however late (the default grace of 1 s would drop them).
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.scheduler.add_listener(
            self._on_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
        )
        await self._schedule(self.config.sources)
        settle_daemon()  # start-up is done: what exists now lives as long as the daemon
        self.scheduler.start()
        next_runs = self._next_runs()
        logger.info(
            "daemon started: version=%s config=%s sources=%d next runs: %s",
            __version__,
            _path(self.config),
            len(self.config.sources),
            ", ".join(f"{name} {_when(when)}" for name, when in sorted(next_runs.items()))
            or "none",
            extra=self._identity(),
        )
        await self.store(set_next_runs, next_runs)

    def _identity(self) -> dict[str, Any]:
        return {"version": __version__, "config": _path(self.config)}

    async def _heartbeat(self) -> None:
        interval = self.config.daemon.heartbeat_delta.total_seconds()
        while True:
            await asyncio.sleep(interval)
            try:
                await self.store(heartbeat)
            except StorageError as exc:  # the database is away: say so, keep trying
                logger.error("heartbeat not written: %s", exc)

    # -- jobs -----------------------------------------------------------------------------
    async def _run_source(self, name: str) -> None:
        """The scheduled job of one source: the same crawl as ``newsrelay crawl --due-only``."""
        if self.stopping:
            return
        try:
            source = self.config.source(name)
        except ConfigError:
            return  # removed by a reload while this run was waiting
        if name in self.running:  # asked for through the console, and still going
            logger.warning("run skipped: source=%s is running", name, extra={"source": name})
            self._record_next_run(name)
            return
        task = asyncio.current_task()
        assert task is not None
        self.running[name] = task
        try:
            self._record_next_run(name)
            results = await crawl_sources(
                self.crawls, [source], options=CrawlOptions(due_only=True)
            )
            if any(result.counters.new or result.counters.revised for result in results):
                self.stored_something()
        finally:
            self.running.pop(name, None)

    def stored_something(self) -> None:
        self.deliveries.poke()

    def _record_next_run(self, name: str) -> None:
        job = self.scheduler.get_job(name) if self.scheduler is not None else None
        self.next_runs.note(name, job.next_run_time if job else None)

    def _on_job_event(self, event: JobEvent) -> None:
        name = event.job_id
        if event.code == EVENT_JOB_ERROR:
            assert isinstance(event, JobExecutionEvent)
            exc = event.exception
            if isinstance(exc, asyncio.CancelledError) and self.stopping:
                return  # cut short by a stop that ran out of time, which says so once
            logger.error(
                "scheduled run raised: source=%s: %s",
                name,
                exc,
                exc_info=(type(exc), exc, exc.__traceback__),
                extra={"source": name},
            )
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            logger.warning(
                "run skipped: the previous run of source=%s is still going",
                name,
                extra={"source": name},
            )
        else:
            logger.warning("run missed: source=%s", name, extra={"source": name})

    # -- schedules ------------------------------------------------------------------------
    async def _schedule(self, sources: Sequence[SourceConfig]) -> None:
        """Add (or replace) the job of each source; its first run catches up on a missed one."""
        assert self.scheduler is not None
        await preload(self.services.storage, sources)  # the sources exist, their states known
        last_runs = await self.store(last_run_starts)
        now = datetime.now(UTC)
        for source in sources:
            trigger, period = trigger_for(source, self.config.daemon, now)
            first = first_run(source, trigger, period, last_runs.get(source.name), now)
            options: dict[str, Any] = {} if first is None else {"next_run_time": first}
            self.scheduler.add_job(
                self._run_source,
                trigger,
                args=[source.name],
                id=source.name,
                name=source.name,
                replace_existing=True,
                **options,
            )

    def _next_runs(self) -> dict[str, datetime | None]:
        assert self.scheduler is not None
        return {job.id: job.next_run_time for job in self.scheduler.get_jobs()}

    # -- reload ---------------------------------------------------------------------------
    def _reload_soon(self) -> None:
        task = asyncio.ensure_future(self.reload())
        self._reloading.add(task)
        task.add_done_callback(self._reloading.discard)

    async def reload(self) -> None:
        """SIGHUP: read the config again; add, remove and reschedule sources."""
        if self.stopping or self.scheduler is None:
            return
        try:
            config = load_config(self.config.path)
        except ConfigError as exc:
            logger.error("config reload failed, keeping the running config: %s", exc)
            return
        if config.database.url != self.config.database.url:
            logger.warning("database.url changed: restart the daemon to use the new database")
            config = config.model_copy(update={"database": self.config.database})
        if config.fetch.extract_processes != self.config.fetch.extract_processes:
            logger.warning("fetch.extract_processes changed: restart the daemon to apply it")
        old = {s.name: s for s in self.config.sources}
        new = {s.name: s for s in config.sources}
        removed = sorted(old.keys() - new.keys())
        added = [new[name] for name in sorted(new.keys() - old.keys())]
        rescheduled = [
            new[name]
            for name in sorted(old.keys() & new.keys())
            if (old[name].interval, old[name].cron) != (new[name].interval, new[name].cron)
        ]
        if config.daemon != self.config.daemon:
            rescheduled = [new[name] for name in sorted(old.keys() & new.keys())]
        for name in removed:
            self.scheduler.remove_job(name)
        self.config = config
        self.crawls.limit.resize(config.fetch.parallel_sources)
        self.crawls.relay.retire()  # its runs in flight end in it, then it closes
        self.crawls = Crawls.create(config, self.services, self.crawls.limit)
        self._generations = [c for c in self._generations if c.relay.busy] + [self.crawls]
        await self._schedule([*added, *rescheduled])
        await self.store(unschedule_all_but, new)
        await self.store(set_next_runs, self._next_runs())
        logger.info(
            "config reloaded: sources=%d added=%s removed=%s rescheduled=%s",
            len(new),
            ",".join(s.name for s in added) or "-",
            ",".join(removed) or "-",
            ",".join(s.name for s in rescheduled) or "-",
            extra={"config": _path(config)},
        )

    # -- stopping -------------------------------------------------------------------------
    async def _shutdown(self) -> None:
        """Pause, close the crawls in flight, shut the scheduler down, end delivery and prune."""
        assert self.scheduler is not None
        self.stopping = True
        self.scheduler.pause()
        running = list(self.running.values())
        logger.info("stopping: %d crawls in flight", len(running))
        await self._close_crawls(asyncio.gather(*running, return_exceptions=True))
        self.scheduler.shutdown(wait=False)
        timeout = self.config.daemon.stop_timeout_delta.total_seconds()
        for thread in (self.deliveries, self.pruning):  # the delivery or batch in flight ends
            await asyncio.to_thread(thread.stop, timeout)
        if self.console is not None:
            await asyncio.to_thread(self.console.stop)

    async def _close_crawls(self, work: asyncio.Future[Any]) -> None:
        """Ask every crawl to close, and wait for ``work`` at most ``daemon.stop_timeout``."""
        timeout = self.config.daemon.stop_timeout_delta.total_seconds()
        stopping = [asyncio.ensure_future(stop_crawls(c)) for c in self._generations]
        _, pending = await asyncio.wait({asyncio.ensure_future(work), *stopping}, timeout=timeout)
        for task in pending:
            task.cancel()
            task.add_done_callback(_retrieved)  # its CancelledError is no news to the log
        if pending:
            logger.warning(
                "crawls still open after %.0fs: stopping anyway (their runs are marked "
                "interrupted at the next start)",
                timeout,
            )


def _retrieved(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _record_stop(db: Database) -> None:
    """The daemon's stop, recorded (or one error line saying why it could not be)."""
    try:
        daemon_stopped(db)
    except StorageError as exc:
        logger.error("could not record the daemon's stop: %s", exc)


def _path(config: Config) -> str | None:
    return str(config.path) if config.path else None


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "-"
