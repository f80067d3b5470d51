"""The one asyncio reactor a process runs its crawls on, with SIGINT/SIGTERM handled.

A Twisted reactor cannot be restarted, so a process starts it once: ``newsrelay crawl`` for
its sources, ``newsrelay run`` for the daemon's whole life.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")


class StoppedAtOnce(Exception):
    """A second SIGINT/SIGTERM stopped the reactor before the work had finished."""


def run_in_reactor(work: Coroutine[Any, Any, T], on_first_signal: Callable[[], Any]) -> T:
    """Run ``work`` on the asyncio reactor until it completes, and return its result.

    The first SIGINT/SIGTERM calls ``on_first_signal`` (close gracefully); a second one stops
    the reactor at once.
    """
    # Imported here: the CLI imports this module, and must not import Scrapy or Twisted before
    # the workers' zygote is forked (crawler.services).
    from scrapy.utils.reactor import install_reactor

    from crawler import settings as default_settings

    install_reactor(default_settings.TWISTED_REACTOR)
    from twisted.internet import reactor as installed_reactor
    from twisted.internet.defer import Deferred
    from twisted.python.failure import Failure

    reactor: Any = installed_reactor
    outcome: dict[str, Any] = {}

    async def main() -> None:
        outcome["result"] = await work

    def finish(result: object) -> None:
        outcome["final"] = result
        reactor.stop()

    def start() -> None:
        Deferred.fromFuture(asyncio.ensure_future(main())).addBoth(finish)

    stops = 0

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stops
        stops += 1
        if stops == 1:
            logger.warning("%s received: closing crawls", signal.Signals(signum).name)
            reactor.callFromThread(lambda: asyncio.ensure_future(on_first_signal()))
        else:
            reactor.callFromThread(reactor.stop)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        reactor.callWhenRunning(start)
        reactor.run(installSignalHandlers=False)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    final = outcome.get("final")
    if isinstance(final, Failure):
        final.raiseException()
    if "result" not in outcome:
        raise StoppedAtOnce("stopped at once by a second signal")
    result: T = outcome["result"]
    return result
