"""The console's JSON shapes: plain dicts from storage's records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.console import ArticleListing, DeliveryState
from storage.export import article_dict
from storage.records import RunRecord, SourceStatus, StoredArticle


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def run_json(source: str, run: RunRecord) -> dict[str, Any]:
    c = run.counters
    return {
        "id": run.id,
        "source": source,
        "status": run.status,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "error": run.error,
        "new": c.new,
        "duplicates": c.duplicates,
        "errors": c.feeds_failed + c.pages_failed,
        "pages_fetched": c.pages_fetched,
        "feeds_not_modified": c.feeds_not_modified,
        "pages_extracted": c.pages_extracted,
        "pages_thin": c.pages_thin,
        "filtered": c.filtered,
    }


def health(status: SourceStatus | None, now: datetime) -> str:
    """ok / failing / backing off / extraction broken / never run."""
    if status is None or status.last_run is None:
        return "never run"
    if status.backoff_until is not None and status.backoff_until > now:
        return "backing off"
    run = status.last_finished or status.last_run  # the one going has no figures yet
    if run.status == "failed" or status.consecutive_failures:
        return "failing"
    c = run.counters
    if c.pages_extracted >= 3 and c.pages_thin * 2 > c.pages_extracted:
        return "extraction broken"
    return "ok"


def listing_json(a: ArticleListing) -> dict[str, Any]:
    return {
        "id": a.id,
        "source": a.source,
        "url": a.url,
        "title": a.title,
        "language": a.language,
        "published": iso(a.published_at),
        "fetched": iso(a.fetched_at),
        "snippet": a.snippet,
        "copies": a.copies,
    }


def article_json(article: StoredArticle, deliveries: list[DeliveryState]) -> dict[str, Any]:
    return {
        **article_dict(article),
        "copies": [
            {"url": d["url"], "kind": d["kind"], "similarity": d["similarity"]}
            for d in article.duplicates
        ],
        "deliveries": [
            {
                "destination": d.destination,
                "state": d.state,
                "attempts": d.attempts,
                "remote_id": d.remote_id,
                "status_code": d.status_code,
                "last_error": d.last_error,
                "delivered_at": iso(d.delivered_at),
            }
            for d in deliveries
        ],
    }
