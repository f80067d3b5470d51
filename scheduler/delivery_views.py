"""What ``newsrelay publish`` and the deliveries part of ``newsrelay status`` print."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.table import Table

from crawler.config import Config
from scheduler.views import _console, iso, until
from storage.deliveries import DeliveryCounts

if TYPE_CHECKING:  # publisher.run imports httpx: not for `status`
    from publisher.run import DestinationSummary


def deliveries_json(
    config: Config,
    counts: dict[str, DeliveryCounts],
    failures: dict[str, list[tuple[int, str]]],
) -> list[dict[str, Any]]:
    """Per destination (configured, or still in the ledger): its queue, and why the first
    deliveries that failed for good failed."""
    kinds = {d.name: d.kind for d in config.destinations}
    names = [d.name for d in config.destinations] + sorted(counts.keys() - kinds.keys())
    rows = []
    for name in names:
        c = counts.get(name, DeliveryCounts())
        rows.append(
            {
                "destination": name,
                "kind": kinds.get(name),
                "configured": name in kinds,
                "pending": c.pending,
                "delivered": c.delivered,
                "failed": c.failed,
                "oldest_pending_queued_at": iso(c.oldest_pending),
                "next_retry_at": iso(c.next_attempt),
                "failures": [[article, error] for article, error in failures.get(name, [])],
            }
        )
    return rows


def publish_summary(
    summaries: Sequence[DestinationSummary],
    queued: dict[str, int],
    failures: dict[str, list[tuple[int, str]]],
    *,
    dry_run: bool,
    as_json: bool,
) -> None:
    """One row per destination: what this pass delivered, what is left and when it is
    retried, and why the failed ones failed."""
    rows = [_summary_row(s, queued.get(s.name, 0), failures.get(s.name, [])) for s in summaries]
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, "destinations": rows}, indent=2))
        return
    title = "publish (dry run: nothing sent)" if dry_run else "publish"
    table = Table(title=title)
    table.add_column("destination")
    columns = ("queued", "would deliver" if dry_run else "delivered", "pending", "failed")
    for column in columns:
        table.add_column(column, justify="right")
    table.add_column("next retry / why", overflow="fold")
    for row in rows:
        done = len(row["would_deliver"]) if dry_run else row["delivered"]
        why = [f"retried {until(row['next_retry_at'])}"] if row["next_retry_at"] else []
        why += [f"article {a}: {e}" for a, e in row["failures"]]
        table.add_row(
            row["destination"],
            str(row["queued"]),
            str(done),
            str(row["pending"]),
            str(row["failed"]),
            escape("; ".join(why) or "-"),
        )
    _console().print(table)


def _summary_row(
    s: DestinationSummary, queued: int, failures: list[tuple[int, str]]
) -> dict[str, Any]:
    return {
        "destination": s.name,
        "queued": queued,
        "delivered": s.delivered,
        "would_deliver": s.would_deliver,
        "failed_now": s.failed,
        "retrying_now": s.retrying,
        "pending": s.counts.pending,
        "failed": s.counts.failed,
        "next_retry_at": iso(s.counts.next_attempt),
        "paused": s.paused,
        "failures": [[article, error] for article, error in failures],
    }
