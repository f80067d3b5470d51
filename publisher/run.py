"""One delivery pass: every destination's pending deliveries that are due, in the order their
articles were stored (``newsrelay publish``, and the daemon after each run and on a timer).

A destination whose delivery fails for a reason worth retrying (5xx, 408, 429, a timeout, no
connection, or an answer that says the destination itself is wrong: 401, 403, 404, 405, 410,
a redirect) is left alone until that delivery's retry time, in this pass and the next ones:
a site that is down delays its own queue only, and is not sent every pending article in
turn. Retries back off with jitter from the destination's ``backoff``, each gap about as long
as the time since the first attempt (at most an hour, ``Retry-After`` honoured), until
``retry_for`` has passed; then, like any other 4xx (a problem of this article), the delivery
has failed for good and waits for ``publish --retry-failed``.
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
    Claim,
    DeliveryCounts,
    DeliveryItem,
    claim,
    delivery_counts,
    due_deliveries,
    paused_until,
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
        summary.counts = delivery_counts(db, target.name).get(target.name, DeliveryCounts())
        return summary

    # One thread per destination: a site that hangs until its timeout holds up no other.
    with ThreadPoolExecutor(max(1, len(chosen)), thread_name_prefix="deliver") as pool:
        try:
            return list(pool.map(one, chosen))
        except BaseException:  # Ctrl-C: the threads stop after the delivery in flight
            stop.set()
            raise


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
    paused = paused_until(db, target.name, _now())
    if paused is not None and not dry_run:
        summary.paused = (
            f"its last attempt failed: resumes at {paused.isoformat(timespec='seconds')}"
        )
        return
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
            claimed = claim(db, item.id, _now(), lease)
            if claimed is None:
                continue  # another publisher has it
            outcome = _send(sender, item, claimed.attempt)
            if not _record(db, target, item, claimed, outcome, summary):
                summary.paused = outcome.error
                return


def _send(sender: Sender, item: DeliveryItem, attempt: int) -> Outcome:
    """The sender's answer; a fault of ours (a bug, an answer we cannot read) is a failure to
    retry, recorded like any other, never a row left leased with nothing said."""
    try:
        return sender.send(item, attempt)
    except Exception as exc:
        logger.exception("delivery of article %d crashed", item.article.id)
        return Outcome(False, error=f"newsrelay failed sending it: {exc!r}"[:500])


def _record(
    db: Database,
    target: DestinationConfig,
    item: DeliveryItem,
    claimed: Claim,
    outcome: Outcome,
    summary: DestinationSummary,
) -> bool:
    """Write one attempt's outcome to the ledger and the log; False: leave the destination
    alone until its retry time."""
    fields = {
        "destination": target.name,
        "article_id": item.article.id,
        "attempt": claimed.attempt,
        "status_code": outcome.status_code,
    }
    if outcome.delivered:
        if not record_delivered(db, claimed, outcome.remote_id, outcome.status_code):
            logger.warning("delivered, but another publisher had taken the row over", extra=fields)
        summary.delivered += 1
        # The fields follow the message in text logs, and are JSON fields in JSON logs.
        logger.info("delivered", extra={**fields, "remote_id": outcome.remote_id})
        return True
    retry_at = None if outcome.permanent else _retry_at(target, claimed, outcome)
    error = outcome.error or "failed"
    if retry_at is None and not outcome.permanent:
        error = f"gave up after {claimed.attempt} attempts over {target.retry_for}: {error}"
    written = record_failure(
        db, claimed, error=error, status_code=outcome.status_code, retry_at=retry_at
    )
    when = f"retried at {retry_at.isoformat(timespec='seconds')}" if retry_at else "failed"
    logger.warning(
        "delivery failed: %s (%s)",
        error,
        when if written else "not recorded: another publisher had taken the row over",
        extra={**fields, "retry_at": retry_at.isoformat() if retry_at else None},
    )
    if retry_at is None:
        summary.failed += 1
        return outcome.permanent  # a 4xx concerns this article; giving up may be the site
    summary.retrying += 1
    return False


def _retry_at(target: DestinationConfig, claimed: Claim, outcome: Outcome) -> datetime | None:
    """When to try again: as long after now as the first attempt was before it (so the gaps
    double), at least ``backoff``, at most an hour, +/-25 % jitter, and not before the
    answer's Retry-After; None once ``retry_for`` has passed since the first attempt."""
    now = _now()
    elapsed = (now - claimed.first_attempt_at).total_seconds()
    delay = max(target.backoff_seconds, elapsed) * random.uniform(0.75, 1.25)
    delay = min(MAX_BACKOFF, delay)
    if outcome.retry_after is not None:
        delay = max(delay, min(outcome.retry_after, 86400.0))
    if elapsed + delay > target.retry_for_seconds:
        return None
    return now + timedelta(seconds=delay)
