"""The garbage collector's settings for a process that crawls: ``newsrelay crawl`` and the
daemon.

A crawl allocates millions of short-lived objects, nearly all freed by reference counting
anyway. Python's default thresholds (700, 10, 10) run a young collection every 700 net
allocations and a full one, which walks every tracked object alive (the modules, Scrapy, the
config, the scheduler's jobs), every 100 young ones. Two measures:

- ``gc.freeze()`` once start-up is done: what exists then lives as long as the process. Out
  of the collector's sight, full collections no longer walk it (0.55 -> 0.17 s of CPU in a
  1,200-page crawl), and forked processes do not copy its pages by touching it. Whatever
  start-up left as garbage is collected first, or it would stay frozen for good.
- higher thresholds: fewer collections of the objects a crawl makes and frees.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

# One crawl (`newsrelay crawl`): collecting less often cut the main process's time in the
# collector from 0.63 to 0.14 s (1,200 pages).
CRAWL_GC_THRESHOLDS = (50_000, 20, 10)

# The daemon, measured with bench/scale_bench.py (README, "Polls at scale"; 1,000 sources
# polled unchanged every minute). Each poll leaves one Scrapy Crawler graph (~680 objects) of
# cyclic garbage; the crawls in flight at a young collection are promoted with it. Few young
# collections save the most CPU (GC 3.96 -> 1.71 ms per poll with the freeze), and frequent
# older ones keep those graphs from piling up: (50_000, 20, 10) grew RSS 7 % in two minutes,
# (100_000, 50, 20) 32 %, this one 3 %.
DAEMON_GC_THRESHOLDS = (50_000, 5, 2)

Thresholds = tuple[int, int, int]


def settle(thresholds: Thresholds) -> Thresholds:
    """Collect start-up's garbage, freeze what is left, set ``thresholds``; the thresholds
    there were before."""
    gc.collect()
    gc.freeze()
    previous = gc.get_threshold()
    gc.set_threshold(*thresholds)
    return previous


@contextmanager
def settled(thresholds: Thresholds) -> Iterator[None]:
    """:func:`settle` for the duration of the block; the collector as it was after."""
    previous = settle(thresholds)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


def settle_daemon() -> None:
    """The daemon's start-up is done (config, services, scheduler and jobs): settle for its
    whole life, and say so."""
    settle(DAEMON_GC_THRESHOLDS)
    frozen, (young, middle, old) = gc.get_freeze_count(), gc.get_threshold()
    logger.info(
        "garbage collector settled: %d objects frozen, thresholds %d, %d, %d",
        frozen,
        young,
        middle,
        old,
        extra={
            "gc_frozen": frozen,
            "gc_threshold0": young,
            "gc_threshold1": middle,
            "gc_threshold2": old,
        },
    )
