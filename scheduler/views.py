"""What the command line shows: one function per view, a table for people or JSON for tools.

The views take plain records (``crawler.source_run.SourceResult``, ``storage.records``) and
print them; they read nothing themselves. Reasons in tables are text from the web, so they are
escaped: ``[fetch]`` in one is not console markup.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from crawler.config import Config
from crawler.extracted import Page
from crawler.source_run import SourceResult
from storage.records import DaemonRecord, RunCounters, SourceStatus


def _console() -> Console:
    return Console(width=max(120, Console().width))


# -- crawl ----------------------------------------------------------------------------------
@contextmanager
def crawl_progress(names: Sequence[str]) -> Iterator[Callable[[str, RunCounters], None] | None]:
    """A live line per source on a terminal's stderr (nothing when not a terminal)."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        tasks = {name: progress.add_task(f"{name}: waiting", total=None) for name in names}

        def update(name: str, c: RunCounters) -> None:
            description = (
                f"{name}: {c.pages_fetched} pages, {c.new} new, {c.duplicates} duplicates, "
                f"{c.feeds_failed + c.pages_failed} failed"
            )
            progress.update(tasks[name], description=description)

        yield update


def crawl_summary(results: Sequence[SourceResult], as_json: bool) -> None:
    """One row per source: what its run stored, skipped and failed, and why."""
    if as_json:
        rows = [{**r.summary(), "reasons": r.errors} for r in results]
        click.echo(json.dumps({"sources": rows}, indent=2, ensure_ascii=False))
        return
    table = Table(title="crawl summary")
    columns = (
        "source", "status", "new", "duplicates", "already stored", "filtered", "feeds unchanged",
        "failed", "seconds",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in ("source", "status") else "right")
    table.add_column("why", overflow="fold")
    for r in results:
        more = f" (+{len(r.errors) - 3} more)" if len(r.errors) > 3 else ""
        table.add_row(
            r.source,
            r.status,
            str(r.counters.new),
            str(r.duplicates),
            str(r.counters.known_skipped),
            str(r.counters.filtered),
            str(r.counters.feeds_not_modified),
            str(r.failed),
            f"{r.duration_s:.1f}",
            escape("; ".join(r.errors[:3]) + more),
        )
    _console().print(table)


# -- status and health ----------------------------------------------------------------------
def status_view(
    config: Config,
    daemon: DaemonRecord | None,
    alive: bool,
    statuses: dict[str, SourceStatus],
    as_json: bool,
    cluster: dict[str, Any] | None = None,
    deliveries: list[dict[str, Any]] | None = None,
) -> None:
    """The daemon's line (and the cluster's members), then per source: its last run,
    failures and next run; then each destination's delivery queue."""
    names = [s.name for s in config.sources]
    names += sorted(statuses.keys() - set(names))  # stored sources no longer configured
    configured = {s.name for s in config.sources}
    rows = [_status_row(name, statuses.get(name), alive, name in configured) for name in names]
    if as_json:
        shown: dict[str, Any] = {"daemon": _daemon_json(daemon, alive)}
        if cluster is not None:
            shown["cluster"] = cluster
        shown["sources"] = rows
        if deliveries:
            shown["destinations"] = deliveries
        click.echo(json.dumps(shown, indent=2))
        return
    console = _console()
    console.print(escape(daemon_line(daemon, alive)))
    if cluster is not None:
        console.print(cluster_table(cluster))
    table = Table()
    for column in ("source", "last run", "result"):
        table.add_column(column, overflow="fold")
    for column in ("new", "duplicates", "failures"):
        table.add_column(column, justify="right")
    table.add_column("next run")
    for row in rows:
        run = row["last_run"]
        table.add_row(
            row["source"],
            ago(run["started_at"]) if run else "never",
            escape(run["status"] + (f": {run['error']}" if run["error"] else "")) if run else "-",
            str(run["new"]) if run else "-",
            str(run["duplicates"]) if run else "-",
            str(row["consecutive_failures"]),
            _next_run_text(row, alive),
        )
    console.print(table)
    if deliveries:
        console.print(deliveries_table(deliveries))


def deliveries_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="deliveries")
    table.add_column("destination")
    for column in ("pending", "delivered", "failed"):
        table.add_column(column, justify="right")
    table.add_column("oldest pending")
    table.add_column("next retry")
    table.add_column("failed for good, why", overflow="fold")
    for row in rows:
        oldest, retry = row["oldest_pending_queued_at"], row["next_retry_at"]
        why = "; ".join(f"article {article}: {error}" for article, error in row["failures"])
        table.add_row(
            row["destination"] + ("" if row["configured"] else " (not configured)"),
            str(row["pending"]),
            str(row["delivered"]),
            str(row["failed"]),
            ago(oldest) if oldest else "-",
            until(retry) if retry else "-",
            escape(why or "-"),
        )
    return table


def daemon_line(daemon: DaemonRecord | None, alive: bool) -> str:
    """One line: whether a daemon runs on this database, who, and its last heartbeat."""
    if daemon is None:
        return "no daemon has run on this database"
    who = f"pid {daemon.pid} on {daemon.host}, version {daemon.version}"
    if alive:
        return f"daemon running ({who}), last heartbeat {ago(daemon.heartbeat_at)}"
    if daemon.stopped_at is not None:
        return f"daemon stopped {ago(daemon.stopped_at)} ({who})"
    return f"daemon not responding: last heartbeat {ago(daemon.heartbeat_at)} ({who})"


def _daemon_json(daemon: DaemonRecord | None, alive: bool) -> dict[str, Any]:
    if daemon is None:
        return {"running": False}
    return {
        "running": alive,
        "pid": daemon.pid,
        "host": daemon.host,
        "version": daemon.version,
        "config": daemon.config_path,
        "started_at": iso(daemon.started_at),
        "heartbeat_at": iso(daemon.heartbeat_at),
        "stopped_at": iso(daemon.stopped_at),
    }


def _status_row(
    name: str, status: SourceStatus | None, alive: bool, configured: bool
) -> dict[str, Any]:
    run = status.last_run if status else None
    last_run = None
    if run is not None:
        counters = run.counters
        last_run = {
            "run_id": run.id,
            "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at),
            "status": run.status,
            "new": counters.new,
            "duplicates": counters.duplicates,
            "errors": counters.feeds_failed + counters.pages_failed,
            "pages_fetched": counters.pages_fetched,
            "feeds_not_modified": counters.feeds_not_modified,
            "error": (run.error or "").split("; ")[0] or None,
        }
    return {
        "source": name,
        "configured": configured,
        "last_run": last_run,
        "consecutive_failures": status.consecutive_failures if status else 0,
        "backoff_until": iso(status.backoff_until) if status else None,
        "next_run": iso(status.next_run_at) if status and alive and configured else None,
    }


def _next_run_text(row: dict[str, Any], alive: bool) -> str:
    if not row["configured"]:
        return "not configured"
    if not alive:
        return "daemon not running"
    when = row["next_run"]
    backoff = row["backoff_until"]
    if when is None:
        return "-"
    if backoff and _as_datetime(backoff) > _as_datetime(when):
        return f"{until(backoff)} (backing off)"
    return until(when)


# -- sources and extraction -----------------------------------------------------------------
def sources_view(config: Config, as_json: bool) -> None:
    """The configured sources: schedule and start points."""
    if as_json:
        click.echo(json.dumps([s.model_dump() for s in config.sources], indent=2))
        return
    table = Table(title=f"sources in {config.path}")
    table.add_column("name")
    table.add_column("schedule")
    table.add_column("feeds, sitemaps, listings", overflow="fold")
    for s in config.sources:
        schedule = f"every {s.interval}" if s.interval else (f"cron {s.cron}" if s.cron else "-")
        starts = (
            [f"feed {url}" for url in s.feeds]
            + [f"sitemap {url}" for url in s.sitemaps]
            + [f"listing {listing.url}" for listing in s.listings]
        )
        table.add_row(s.name, schedule, "\n".join(starts))
    Console().print(table)


def extraction_view(url: str, page: Page, as_json: bool) -> None:
    """What the page pipeline made of one page: its fields (and the filter that would drop
    it), then its text."""
    e = page.extracted
    fields = {
        "url": url,
        "title": page.title,
        "published": e.published_at.isoformat() if e.published_at else None,
        "author": e.author,
        "language": page.language,
        "language_source": page.language_source,
        "canonical_url": e.canonical_url,
        "image": e.image.url if e.image else None,
        "image_caption": e.image.caption if e.image else None,
        "image_credit": e.image.credit if e.image else None,
        "filtered": page.filtered,
        "text": page.text,
    }
    # A source's learnt template applied: how many of its paragraphs it dropped.
    dropped = page.template_dropped if page.paragraphs else None
    if as_json:
        everything = {**fields, "template_dropped": dropped, "html": page.html}
        click.echo(json.dumps(everything, ensure_ascii=False, indent=2))
        return
    for key, value in fields.items():
        if key != "text":
            click.echo(f"{key}: {value if value is not None else '-'}")
    if dropped is not None:
        click.echo(f"template: {dropped} paragraphs dropped")
    click.echo("")
    click.echo(page.text or "(no article text found)")


# -- time -----------------------------------------------------------------------------------
def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def ago(moment: datetime | str) -> str:
    """``3m ago``."""
    seconds = (datetime.now(UTC) - _as_datetime(moment)).total_seconds()
    return f"{_span(seconds)} ago"


def until(moment: datetime | str) -> str:
    """``in 3m``, or ``now`` once it has passed."""
    seconds = (_as_datetime(moment) - datetime.now(UTC)).total_seconds()
    return f"in {_span(seconds)}" if seconds > 0 else "now"


def _as_datetime(moment: datetime | str) -> datetime:
    return datetime.fromisoformat(moment) if isinstance(moment, str) else moment


def _span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def cluster_table(cluster: dict[str, Any]) -> Table:
    """The cluster's members, one row each, and the queue's depth in the title."""
    queue = cluster["queue"]
    depth = (
        f"queue: {queue['ready']} ready, {queue.get('delayed', 0)} delayed, "
        f"{queue['unacked']} unacked"
        if queue.get("ready") is not None
        else f"queue: broker unreachable ({queue.get('error')})"
    )
    table = Table(title=f"cluster ({depth})")
    for column in ("role", "host", "pid", "since / heartbeat", "crawls"):
        table.add_column(column)
    leader = cluster["leader"]
    if leader is not None:
        table.add_row(
            "leader", leader["host"], str(leader["pid"]), ago_iso(leader.get("since")), "-"
        )
    else:
        table.add_row("leader", "none", "-", "-", "-")
    for member in cluster["standby"]:
        table.add_row("standby", member["host"], str(member["pid"]), "-", "-")
    for member in cluster["workers"]:
        table.add_row(
            "worker",
            member["host"],
            str(member["pid"]),
            ago_iso(member["heartbeat_at"]),
            str(member["crawls"]),
        )
    return table


def ago_iso(moment: str | None) -> str:
    return ago(datetime.fromisoformat(moment)) if moment else "-"
