"""The delivery ledger: which article goes to which destination, and how that went.

A row is written in the transaction that stores the article (``storage.articles._save``), so
no article is stored without its deliveries queued, whichever process stored it. A publisher
*claims* a row before each attempt (the attempt is counted and the row leased for the
attempt's timeout), so two publishers never send one row at once, and a publisher killed
between sending and recording leaves a row whose attempts say "maybe sent": its next attempt
looks first (WordPress) or repeats the same idempotency key (webhooks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import Article, Delivery, Source, UTCDateTime, utcnow
from storage.publishing import stored_articles
from storage.records import StoredArticle


@dataclass(frozen=True)
class DeliveryItem:
    """One pending delivery, with its article as exported."""

    id: int
    destination: str
    article: StoredArticle


@dataclass(frozen=True)
class DeliveryCounts:
    pending: int = 0
    delivered: int = 0
    failed: int = 0
    oldest_pending: datetime | None = None  # when the oldest pending article was queued
    next_attempt: datetime | None = None  # the earliest retry of a pending one that failed


def delivery_rows(
    article_id: int, destinations: Sequence[str], when: datetime
) -> list[dict[str, object]]:
    """Ledger rows queuing a new article for ``destinations``."""
    return [
        {
            "article_id": article_id,
            "destination": name,
            "state": "pending",
            "attempts": 0,
            "queued_at": when,
        }
        for name in destinations
    ]


def requeue(session: Session, article_id: int, when: datetime) -> None:
    """Queue a stored article again for every destination it was queued for: its new
    revision (``storage.revisions``) is due now, with a new retry window. The post id of a
    WordPress destination is kept; a lease in flight is kept too, and the attempt it covers
    (of the earlier text) records nothing, since the row's attempts start again (``_set``)."""
    session.execute(
        update(Delivery)
        .where(Delivery.article_id == article_id)
        .values(
            state="pending",
            attempts=0,
            queued_at=when,
            next_attempt_at=None,
            first_attempt_at=None,
            last_error=None,
            delivered_at=None,
        )
    )


def queue_since(
    db: Database,
    destination: str,
    sources: Sequence[str],
    since: datetime,
    *,
    dry_run: bool = False,
) -> int:
    """Queue for ``destination`` the articles stored since ``since`` (of ``sources``, or of
    every source) that it has no row for; how many were (or, dry, would be) queued."""
    chosen = (
        select(
            Article.id,
            literal(destination),
            literal("pending"),
            literal(0),
            literal(utcnow(), UTCDateTime()),
        )
        .join(Source, Source.id == Article.source_id)
        .where(Article.fetched_at >= since)
        .where(
            ~exists().where(Delivery.article_id == Article.id, Delivery.destination == destination)
        )
        .order_by(Article.id)
    )
    if sources:
        chosen = chosen.where(Source.name.in_(sorted(sources)))
    if dry_run:
        with db.reading() as session:
            return session.scalar(select(func.count()).select_from(chosen.subquery())) or 0
    columns = ["article_id", "destination", "state", "attempts", "queued_at"]
    with db.transaction() as session:
        # Two `publish --since` at once: the second finds the first's rows, not an error.
        table_insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
        statement = table_insert(Delivery).from_select(columns, chosen).on_conflict_do_nothing()
        result = session.execute(statement)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _due(destination: str, now: datetime) -> list[ColumnElement[bool]]:
    return [
        Delivery.destination == destination,
        Delivery.state == "pending",
        or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
    ]


def due_deliveries(
    db: Database, destination: str, now: datetime, *, limit: int = 50, after: int = 0
) -> list[DeliveryItem]:
    """Pending deliveries of ``destination`` due at ``now``, in the order their articles were
    stored (article ids above ``after``)."""
    with db.reading() as session:
        rows = session.execute(
            select(Delivery, Article, Source.name)
            .join(Article, Article.id == Delivery.article_id)
            .join(Source, Source.id == Article.source_id)
            .where(*_due(destination, now), Delivery.article_id > after)
            .order_by(Delivery.article_id)
            .limit(limit)
        ).all()
        articles = stored_articles(session, [(article, name) for _, article, name in rows])
        return [
            DeliveryItem(d.id, d.destination, article)
            for (d, _, _), article in zip(rows, articles, strict=True)
        ]


@dataclass(frozen=True)
class Claim:
    """A row taken for one attempt: which attempt this is, and when the first one was."""

    delivery_id: int
    attempt: int
    first_attempt_at: datetime


def claim(db: Database, delivery_id: int, now: datetime, lease: timedelta) -> Claim | None:
    """Take a pending row for one attempt (counted now, before anything is sent); None if it
    is no longer pending or another publisher holds it. The attempt number is the row's own,
    read in the same statement, never an earlier read's."""
    with db.transaction() as session:
        row = session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.state == "pending",
                or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
            )
            .values(
                attempts=Delivery.attempts + 1,
                lease_until=now + lease,
                last_attempt_at=now,
                first_attempt_at=func.coalesce(Delivery.first_attempt_at, now),
            )
            .returning(Delivery.attempts, Delivery.first_attempt_at)
        ).first()
    if row is None:
        return None
    return Claim(delivery_id, row.attempts, row.first_attempt_at or now)


def record_delivered(
    db: Database, claimed: Claim, remote_id: str | None, status_code: int | None
) -> bool:
    """The claimed attempt succeeded; False if the claim had been lost (written nothing)."""
    return _set(
        db,
        claimed,
        state="delivered",
        remote_id=remote_id,
        status_code=status_code,
        last_error=None,
        delivered_at=utcnow(),
        lease_until=None,
    )


def record_failure(
    db: Database,
    claimed: Claim,
    *,
    error: str,
    status_code: int | None,
    retry_at: datetime | None,
) -> bool:
    """The claimed attempt failed: retried at ``retry_at``, or failed for good when that is
    None; False if the claim had been lost (written nothing)."""
    return _set(
        db,
        claimed,
        state="pending" if retry_at is not None else "failed",
        status_code=status_code,
        last_error=error,
        next_attempt_at=retry_at,
        lease_until=None,
    )


def _set(db: Database, claimed: Claim, **values: object) -> bool:
    """Write an attempt's outcome only while the row is still that attempt's: a publisher
    whose lease ran out never overwrites what a later attempt recorded."""
    with db.transaction() as session:
        result = session.execute(
            update(Delivery)
            .where(
                Delivery.id == claimed.delivery_id,
                Delivery.state == "pending",
                Delivery.attempts == claimed.attempt,
            )
            .values(**values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def retry_failed(db: Database, destination: str) -> int:
    """Put ``destination``'s failed deliveries back in its queue, with a new retry window."""
    with db.transaction() as session:
        result = session.execute(
            update(Delivery)
            .where(Delivery.destination == destination, Delivery.state == "failed")
            .values(state="pending", next_attempt_at=None, first_attempt_at=None)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def delivery_counts(db: Database, destination: str | None = None) -> dict[str, DeliveryCounts]:
    """Per destination in the ledger (or just ``destination``): pending, delivered and
    failed, the oldest pending."""
    pending = Delivery.state == "pending"
    only = [Delivery.destination == destination] if destination else []
    with db.reading() as session:
        rows = session.execute(
            select(
                Delivery.destination,
                func.count().filter(pending),
                func.count().filter(Delivery.state == "delivered"),
                func.count().filter(Delivery.state == "failed"),
                func.min(Delivery.queued_at).filter(pending),
                func.min(Delivery.next_attempt_at).filter(and_(pending, Delivery.attempts > 0)),
            )
            .where(*only)
            .group_by(Delivery.destination)
        ).all()
    return {name: DeliveryCounts(p, d, f, oldest, retry) for name, p, d, f, oldest, retry in rows}


def failed_deliveries(db: Database, destination: str, limit: int = 5) -> list[tuple[int, str]]:
    """(article id, last error) of ``destination``'s failed deliveries, the oldest first."""
    with db.reading() as session:
        rows = session.execute(
            select(Delivery.article_id, Delivery.last_error)
            .where(Delivery.destination == destination, Delivery.state == "failed")
            .order_by(Delivery.article_id)
            .limit(limit)
        ).all()
    return [(article_id, error or "") for article_id, error in rows]


def paused_until(db: Database, destination: str, now: datetime) -> datetime | None:
    """When the destination's latest attempt failed and is to be retried later: until then
    the destination is left alone (a site that is down or asked to wait is not sent the next
    article instead)."""
    with db.reading() as session:
        latest = session.execute(
            select(Delivery.state, Delivery.next_attempt_at)
            .where(Delivery.destination == destination, Delivery.last_attempt_at.is_not(None))
            .order_by(Delivery.last_attempt_at.desc())
            .limit(1)
        ).first()
    if latest is None or latest.state != "pending" or latest.next_attempt_at is None:
        return None
    return latest.next_attempt_at if latest.next_attempt_at > now else None
