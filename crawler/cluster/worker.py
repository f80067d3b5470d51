"""``newsrelay worker``: one long-lived process that runs source runs sent over RabbitMQ.

Boot, in this order: the extraction zygote is forked (crawler.services, before any thread),
the asyncio reactor is installed and started in its own thread, then Dramatiq's consumer and
worker threads start. For the process's whole life: one reactor, one Scrapy runner and one
extraction pool; a message's thread hands its crawl to the reactor and waits.

Per message (:mod:`crawler.cluster.jobs`): the source's lock and its politeness key's lock,
close a run a dead worker left open, skip a duplicate, crawl, record, unlock.

SIGTERM/SIGINT: the crawls in flight are closed as the daemon closes them (their runs are
recorded as interrupted) and their messages go back to the queue; a second signal exits at
once (RabbitMQ delivers the unacknowledged messages again).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any, TypeVar

from crawler.config import Config
from crawler.services import Services
from storage.cluster import member_beat, member_gone
from storage.cluster_locks import AdvisoryLocks
from storage.db import StorageError

logger = logging.getLogger(__name__)
T = TypeVar("T")


class ReactorThread:
    """The asyncio reactor, installed in this process and run in a thread of its own."""

    def __init__(self) -> None:
        from scrapy.utils.reactor import install_reactor

        from crawler import settings as default_settings

        install_reactor(default_settings.TWISTED_REACTOR)
        from twisted.internet import reactor

        self.reactor: Any = reactor
        started: Future[asyncio.AbstractEventLoop] = Future()
        # The loop is the one the reactor runs: asked for from inside it, the public way (a
        # callWhenRunning callback itself runs before the loop does).
        self.reactor.callWhenRunning(
            self.reactor.callLater, 0, lambda: started.set_result(asyncio.get_running_loop())
        )
        self._thread = threading.Thread(target=self._run, name="reactor")
        self._thread.start()
        self.loop = started.result(timeout=30)

    def _run(self) -> None:
        self.reactor.run(installSignalHandlers=False)

    def call(self, work: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``work`` on the reactor and wait for its result (from another thread)."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def stop(self) -> None:
        self.reactor.callFromThread(self.reactor.stop)
        self._thread.join(timeout=30)


class ClusterWorker:
    """One worker process: its reactor, its Scrapy runner, its locks and its heartbeat."""

    def __init__(self, config: Config, services: Services, threads: int) -> None:
        self.config = config
        self.services = services
        self.threads = threads
        self.host = socket.gethostname()
        self.name = f"{self.host}:{os.getpid()}"
        self.started_at = datetime.now(UTC)
        self.locks = AdvisoryLocks(services.db)
        self.stopping = threading.Event()
        self.in_flight = 0
        self._count = threading.Lock()
        self._signals = 0

    def run(self) -> int:
        """Blocking: consume until SIGTERM/SIGINT. The exit code."""
        import dramatiq

        from crawler.cluster.broker import open_broker, queue_name
        from crawler.cluster.jobs import Jobs
        from crawler.crawls import Crawls

        reactor = ReactorThread()
        crawls = reactor.call(_create_crawls(Crawls, self.config, self.services))
        jobs = Jobs(self, reactor, crawls)
        broker = open_broker(self.config.cluster, jobs.handle)
        jobs.broker = broker
        consumer = dramatiq.Worker(
            broker, queues={queue_name(self.config.cluster)}, worker_threads=self.threads
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        self._beat()
        consumer.start()
        logger.info(
            "worker started: name=%s threads=%d queue=%s",
            self.name,
            self.threads,
            queue_name(self.config.cluster),
            extra={"worker": self.name},
        )
        every = self.config.daemon.heartbeat_delta.total_seconds()
        try:
            while not self.stopping.wait(every):
                self._beat()
        finally:
            self._stop(reactor, crawls, consumer)
        return 0

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signals += 1
        if self._signals > 1:
            logger.warning("second %s: exiting at once", signal.Signals(signum).name)
            os._exit(1)  # RabbitMQ delivers this worker's unacknowledged messages again
        logger.warning("%s received: closing crawls", signal.Signals(signum).name)
        self.stopping.set()

    def _stop(self, reactor: ReactorThread, crawls: Any, consumer: Any) -> None:
        from crawler.crawls import stop_crawls

        self.stopping.set()
        timeout = self.config.daemon.stop_timeout_delta.total_seconds()
        logger.info("stopping: %d crawls in flight", self.in_flight)
        closing = asyncio.run_coroutine_threadsafe(stop_crawls(crawls), reactor.loop)
        consumer.stop(timeout=int(timeout * 1000))  # waits for the message threads
        closing.cancel()
        reactor.stop()
        self.locks.close()
        try:
            member_gone(self.services.db, self.name)
        except StorageError as exc:
            logger.error("could not record the worker's stop: %s", exc)
        logger.info("worker stopped", extra={"worker": self.name})

    def _beat(self) -> None:
        try:
            member_beat(
                self.services.db,
                name=self.name,
                role="worker",
                host=self.host,
                pid=os.getpid(),
                started_at=self.started_at,
                crawls=self.in_flight,
            )
        except StorageError as exc:  # the database is away: say so, keep working
            logger.error("heartbeat not written: %s", exc)

    def crawl_started(self) -> None:
        with self._count:
            self.in_flight += 1

    def crawl_ended(self) -> None:
        with self._count:
            self.in_flight -= 1


async def _create_crawls(factory: Any, config: Config, services: Services) -> Any:
    """The process's one Scrapy runner, made on the reactor's thread."""
    return factory.create(config, services)
