"""When each source runs: its APScheduler trigger (interval or cron, with jitter) and the time
of its first run after a start (catching up on a run missed while the daemon was down).
Pure functions of the config, the clock and the last run."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crawler.config import DaemonConfig, SourceConfig

# A run missed while the daemon was down starts within this long after start-up (spread at
# random, so that a restart does not start every source in the same second).
CATCH_UP_SPREAD = timedelta(seconds=5)


def trigger_for(
    source: SourceConfig, daemon: DaemonConfig, now: datetime
) -> tuple[BaseTrigger, timedelta]:
    """The source's trigger, with its jitter, and the time between two of its runs."""
    fraction = daemon.jitter
    if source.cron:
        cron = CronTrigger.from_crontab(source.cron, timezone=ZoneInfo(daemon.timezone))
        first = cron.get_next_fire_time(None, now)
        second = cron.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
        period = (second - first) if first and second else timedelta(0)
        cron.jitter = int(period.total_seconds() * fraction) or None
        return cron, period
    period = source.interval_delta or daemon.default_interval_delta
    jitter = int(period.total_seconds() * fraction) or None
    trigger = IntervalTrigger(seconds=period.total_seconds(), jitter=jitter)
    return trigger, period


def first_run(
    source: SourceConfig,
    trigger: BaseTrigger,
    period: timedelta,
    last: datetime | None,
    now: datetime,
) -> datetime | None:
    """When a source's job first runs: soon if it never ran or a run was missed while the
    daemon was down, else one period after its last run (None: the trigger's next time)."""
    # Catch-up runs are spread so they do not all start at once, but by no more than a
    # quarter of the period: a source polled every 10 s must not wait 5 s more.
    soon = now + min(CATCH_UP_SPREAD, period / 4) * random.random()
    if last is None:
        return soon
    if source.cron:
        missed = trigger.get_next_fire_time(None, last + timedelta(seconds=1))
        return soon if missed is not None and missed <= now else None
    due = last + period
    return soon if due <= now else due
