"""One delivery pass: every destination's pending deliveries that are due, in the order their
articles were stored (``newsrelay publish``, and the daemon after each run and on a timer).

A destination whose delivery fails for a reason worth retrying (5xx, timeout, no connection)
is left alone for the rest of the pass: a site that is down delays its own queue only, and is
not sent every pending article in turn. Retries back off exponentially with jitter from the
destination's ``backoff`` (at most an hour apart, ``Retry-After`` honoured) until
``retry_for`` has passed since the first attempt; then, like a 4xx, the delivery has failed
for good and waits for ``publish --retry-failed``.
"""

from __future__ import annotations

import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from crawler.config import Config
from crawler.destinations import DestinationConfig
from publisher.senders import Outcome, Sender, WebhookSender
from publisher.wordpress import WordPressSender
from storage.db import Database
from storage.deliveries import (
    DeliveryCounts,
    DeliveryItem,
    claim,
    delivery_counts,
    due_deliveries,
    record_delivered,
    record_failure,
    retry_failed,
)

logger = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


MAX_BACKOFF = 3600.0  # seconds between two attempts, at most
# A claim lasts as long as an attempt can: three requests (WordPress: find the REST root,
# look for an earlier post, create it), each within the destination's timeout.
LEASE_MARGIN = timedelta(seconds=5)


@dataclass
class DestinationSummary:
    name: str
    delivered: int = 0
    failed: int = 0  # failed for good in this pass
    retrying: int = 0  # failed in this pass, to be tried again
    would_deliver: list[int] = field(default_factory=list)  # --dry-run: the article ids
    paused: str | None = None  # why the pass left this destination early
    counts: DeliveryCounts = field(default_factory=DeliveryCounts)  # after the pass

    @property
    def settled(self) -> bool:
        """Nothing left pending or failed."""
        return self.counts.pending == 0 and self.counts.failed == 0


def publish(
    config: Config,
    db: Database,
    *,
    destination: str | None = None,
    dry_run: bool = False,
    again_failed: bool = False,
    stop: threading.Event | None = None,
) -> list[DestinationSummary]:
    """Deliver what is due now to ``destination`` (or every one); a summary per destination."""
    chosen = [config.destination(destination)] if destination else list(config.destinations)
    stop = stop or threading.Event()

    def one(target: DestinationConfig) -> DestinationSummary:
        if again_failed and not dry_run:
            retry_failed(db, target.name)
        summary = DestinationSummary(target.name)
        sender = make_sender(config, target)
        try:
            _deliver(db, target, sender, summary, dry_run, stop)
        finally:
            sender.close()
        summary.counts = delivery_counts(db).get(target.name, DeliveryCounts())
        return summary

    # One thread per destination: a site that hangs until its timeout holds up no other.
    with ThreadPoolExecutor(max(1, len(chosen)), thread_name_prefix="deliver") as pool:
        return list(pool.map(one, chosen))


def make_sender(config: Config, destination: DestinationConfig) -> Sender:
    header = config.export.header if destination.header is None else destination.header
    kind = WebhookSender if destination.kind == "webhook" else WordPressSender
    return kind(destination, list(header), config.fetch.user_agent)


def _deliver(
    db: Database,
    target: DestinationConfig,
    sender: Sender,
    summary: DestinationSummary,
    dry_run: bool,
    stop: threading.Event,
) -> None:
    after = 0
    lease = timedelta(seconds=3 * target.timeout) + LEASE_MARGIN
    while not stop.is_set():
        items = due_deliveries(db, target.name, _now(), after=after)
        if not items:
            return
        for item in items:
            after = item.article.id
            if stop.is_set():
                return
            if dry_run:
                summary.would_deliver.append(item.article.id)
                continue
            if not claim(db, item.id, _now(), lease):
                continue  # another publisher has it
            outcome = sender.send(item)
            if not _record(db, target, item, outcome, summary):
                summary.paused = outcome.error
                return


def _record(
    db: Database,
    target: DestinationConfig,
    item: DeliveryItem,
    outcome: Outcome,
    summary: DestinationSummary,
) -> bool:
    """Write one attempt's outcome to the ledger and the log; False: leave the destination
    alone for the rest of this pass."""
    attempt = item.attempts + 1
    fields = {
        "destination": target.name,
        "article_id": item.article.id,
        "attempt": attempt,
        "status_code": outcome.status_code,
    }
    if outcome.delivered:
        record_delivered(db, item.id, outcome.remote_id, outcome.status_code)
        summary.delivered += 1
        # The fields follow the message in text logs, and are JSON fields in JSON logs.
        logger.info("delivered", extra={**fields, "remote_id": outcome.remote_id})
        return True
    retry_at = None if outcome.permanent else _retry_at(target, item, outcome, attempt)
    error = outcome.error or "failed"
    if retry_at is None and not outcome.permanent:
        error = f"gave up after {attempt} attempts over {target.retry_for}: {error}"
    record_failure(db, item.id, error=error, status_code=outcome.status_code, retry_at=retry_at)
    when = f"retried at {retry_at.isoformat(timespec='seconds')}" if retry_at else "failed"
    logger.warning(
        "delivery failed: %s (%s)",
        error,
        when,
        extra={**fields, "retry_at": retry_at.isoformat() if retry_at else None},
    )
    if retry_at is None:
        summary.failed += 1
        return outcome.permanent  # a 4xx concerns this article; giving up may be the site
    summary.retrying += 1
    return False


def _retry_at(
    target: DestinationConfig, item: DeliveryItem, outcome: Outcome, attempt: int
) -> datetime | None:
    """When to try again: exponential backoff with jitter, not before Retry-After; None once
    ``retry_for`` has passed since the first attempt."""
    now = _now()
    delay = min(MAX_BACKOFF, target.backoff_seconds * 2 ** (attempt - 1))
    delay *= random.uniform(0.75, 1.25)
    if outcome.retry_after is not None:
        delay = max(delay, min(outcome.retry_after, 86400.0))
    first = item.first_attempt_at or now
    if (now - first).total_seconds() + delay > target.retry_for_seconds:
        return None
    return now + timedelta(seconds=delay)
