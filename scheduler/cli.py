"""``newsrelay``: the command line. Thin: it parses, calls the packages below, reports.

Exit codes: 0 success, 1 some source failed, 2 a usage, config or database error (one line on
stderr, never a traceback).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from crawler.config import (
    Config,
    ConfigError,
    SourceConfig,
    load_config,
    parse_interval,
    resolve_config_path,
)
from crawler.source_run import CrawlOptions, SourceResult, StoppedAtOnce
from crawler.workers import Pool
from scheduler import __version__
from scheduler.logs import LEVELS, setup_logging
from storage.daemon_state import daemon_state, is_alive
from storage.db import Database, StorageError, open_database
from storage.export import FORMATS, RENDERERS, file_name, write_stream
from storage.publishing import iter_articles, publishing
from storage.records import DaemonRecord, RunCounters, Selection, SourceStatus, StoredArticle
from storage.sources import source_statuses, unvalidated_feeds

F = TypeVar("F", bound=Callable[..., Any])


class State:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    def config_or_defaults(self) -> Config:
        """The config file if one was named or exists; else built-in defaults."""
        if self.config_path or resolve_config_path(None).exists():
            return self.config
        return Config()

    def database(self) -> Database:
        return open_database(self.config.database.url)


def user_errors(func: F) -> F:
    """Turn config and database errors into one line and exit code 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, StorageError) as exc:
            click.echo(f"newsrelay: error: {exc}", err=True)
            sys.exit(2)
        except StoppedAtOnce as exc:
            click.echo(f"newsrelay: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="newsrelay")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Config file (default: $NEWSRELAY_CONFIG, else ./newsrelay.toml).",
)
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    default="info",
    show_default=True,
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write logs to this file (rotated at 10 MB, 5 kept) instead of stderr.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: str | None,
    log_format: str,
    log_level: str,
    log_file: Path | None,
) -> None:
    """newsrelay: collect news articles from feeds into a database, ready to republish."""
    setup_logging(log_level.lower(), log_format, log_file)
    ctx.obj = State(config_path)


# -- crawl ----------------------------------------------------------------------------------
@cli.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_sources", is_flag=True, help="Crawl every configured source.")
@click.option(
    "--refetch",
    is_flag=True,
    help="Fetch feeds unconditionally and pages even when already stored.",
)
@click.option(
    "--due-only",
    is_flag=True,
    help="Skip sources backing off after failures and feeds that asked not to be polled yet "
    "(TTL, Cache-Control max-age, Retry-After), as the daemon does.",
)
@click.pass_obj
@user_errors
def crawl(
    state: State, names: tuple[str, ...], all_sources: bool, refetch: bool, due_only: bool
) -> None:
    """Crawl the named sources (or --all) now, in the foreground."""
    if bool(names) == all_sources:
        raise click.UsageError("name one or more sources, or give --all")
    config = state.config
    sources = list(config.sources) if all_sources else [config.source(n) for n in names]
    if not sources:
        raise click.UsageError("the config has no sources")
    db = state.database()
    pool = Pool(config.fetch.extract_processes)
    try:
        # The extraction workers' zygote, forked before Scrapy is imported or any thread is
        # started (see crawler.workers.Pool). When this crawl will surely have feeds to
        # parse, it imports the extraction stack now, on the other core, while Scrapy is
        # imported here; otherwise only once a feed brings something.
        pool.start_now()
        certain = refetch or any(s.sitemaps or s.listings for s in sources)
        if certain or unvalidated_feeds(db, [(s.name, s.feeds) for s in sources]):
            pool.warm()
        from crawler.crawls import run_crawls

        with _progress(sources) as on_progress:
            results = run_crawls(
                config,
                db,
                sources,
                options=CrawlOptions(refetch=refetch, due_only=due_only),
                on_progress=on_progress,
                pool=pool,
            )
    finally:
        pool.shutdown()
        db.dispose()
    _print_summary(results)
    sys.exit(0 if all(r.status in ("ok", "skipped") for r in results) else 1)


@contextmanager
def _progress(
    sources: list[SourceConfig],
) -> Iterator[Callable[[str, RunCounters], None] | None]:
    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        tasks = {s.name: progress.add_task(f"{s.name}: waiting", total=None) for s in sources}

        def update(name: str, c: RunCounters) -> None:
            description = (
                f"{name}: {c.pages_fetched} pages, {c.new} new, "
                f"{c.duplicates} duplicates, "
                f"{c.feeds_failed + c.pages_failed} failed"
            )
            progress.update(tasks[name], description=description)

        yield update


def _print_summary(results: list[SourceResult]) -> None:
    table = Table(title="crawl summary")
    columns = (
        "source", "status", "new", "duplicates", "already stored", "feeds unchanged", "failed",
        "seconds",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in ("source", "status") else "right")
    table.add_column("why", overflow="fold")
    for r in results:
        table.add_row(
            r.source,
            r.status,
            str(r.counters.new),
            str(r.duplicates),
            str(r.counters.known_skipped),
            str(r.counters.feeds_not_modified),
            str(r.failed),
            f"{r.duration_s:.1f}",
            # Reasons are plain text from the web: "[fetch]" in one is not console markup.
            escape(
                "; ".join(r.errors[:3])
                + (f" (+{len(r.errors) - 3} more)" if len(r.errors) > 3 else "")
            ),
        )
    Console(width=max(120, Console().width)).print(table)


# -- the daemon -----------------------------------------------------------------------------
@cli.command()
@click.option(
    "--once", is_flag=True, help="Crawl every source once, as the daemon would, and exit."
)
@click.pass_obj
@user_errors
def run(state: State, once: bool) -> None:
    """Run the daemon: crawl each source on its schedule until SIGTERM or SIGINT.

    SIGHUP reloads the config. One daemon per database: a second one refuses to start.
    """
    config = state.config
    db = state.database()
    from scheduler.service import Daemon

    try:
        code = Daemon(config, db).run(once=once)
    finally:
        db.dispose()
    sys.exit(code)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
@user_errors
def status(state: State, as_json: bool) -> None:
    """Show the daemon and, per source, its last run, failures and next run."""
    config = state.config
    db = open_database(config.database.url, create=False)
    try:
        daemon = daemon_state(db)
        statuses = source_statuses(db)
    finally:
        db.dispose()
    alive = is_alive(daemon, config.daemon.heartbeat_delta)
    names = [s.name for s in config.sources]
    names += sorted(statuses.keys() - set(names))  # stored sources no longer configured
    configured = {s.name for s in config.sources}
    rows = [_status_row(name, statuses.get(name), alive, name in configured) for name in names]
    if as_json:
        click.echo(json.dumps({"daemon": _daemon_json(daemon, alive), "sources": rows}, indent=2))
        return
    console = Console(width=max(120, Console().width))
    console.print(escape(_daemon_line(daemon, alive)))
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
            _ago(run["started_at"]) if run else "never",
            escape(run["status"] + (f": {run['error']}" if run["error"] else "")) if run else "-",
            str(run["new"]) if run else "-",
            str(run["duplicates"]) if run else "-",
            str(row["consecutive_failures"]),
            _next_run_text(row, alive),
        )
    console.print(table)


@cli.command()
@click.pass_obj
def health(state: State) -> None:
    """Exit 0 while a daemon runs with a fresh heartbeat, else 1 (for Docker HEALTHCHECK)."""
    try:
        config = state.config
        db = open_database(config.database.url, create=False)
        try:
            daemon = daemon_state(db)
        finally:
            db.dispose()
    except (ConfigError, StorageError) as exc:
        click.echo(f"unhealthy: {exc}")
        sys.exit(1)
    alive = is_alive(daemon, config.daemon.heartbeat_delta)
    click.echo(("healthy: " if alive else "unhealthy: ") + _daemon_line(daemon, alive))
    sys.exit(0 if alive else 1)


def _daemon_line(daemon: DaemonRecord | None, alive: bool) -> str:
    if daemon is None:
        return "no daemon has run on this database"
    who = f"pid {daemon.pid} on {daemon.host}, version {daemon.version}"
    if alive:
        return f"daemon running ({who}), last heartbeat {_ago(daemon.heartbeat_at)}"
    if daemon.stopped_at is not None:
        return f"daemon stopped {_ago(daemon.stopped_at)} ({who})"
    return f"daemon not responding: last heartbeat {_ago(daemon.heartbeat_at)} ({who})"


def _daemon_json(daemon: DaemonRecord | None, alive: bool) -> dict[str, Any]:
    if daemon is None:
        return {"running": False}
    return {
        "running": alive,
        "pid": daemon.pid,
        "host": daemon.host,
        "version": daemon.version,
        "config": daemon.config_path,
        "started_at": _iso(daemon.started_at),
        "heartbeat_at": _iso(daemon.heartbeat_at),
        "stopped_at": _iso(daemon.stopped_at),
    }


def _status_row(
    name: str, status: SourceStatus | None, alive: bool, configured: bool
) -> dict[str, Any]:
    run = status.last_run if status else None
    counters = run.counters if run else None
    last_run = None
    if run is not None and counters is not None:
        last_run = {
            "run_id": run.id,
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
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
        "backoff_until": _iso(status.backoff_until) if status else None,
        "next_run": _iso(status.next_run_at) if status and alive and configured else None,
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
        return f"{_in(backoff)} (backing off)"
    return _in(when)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def _ago(moment: datetime | str) -> str:
    seconds = (datetime.now(UTC) - _as_datetime(moment)).total_seconds()
    return f"{_span(seconds)} ago"


def _in(moment: datetime | str) -> str:
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


# -- export ---------------------------------------------------------------------------------
@cli.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (atomically) instead of stdout.",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write one file per article into this directory (stable names).",
)
@click.option("--source", default=None, help="Only this source's articles.")
@click.option(
    "--since",
    default=None,
    metavar="WHEN",
    help="Only articles fetched since WHEN: an ISO date/time or an age like 6h, 2d.",
)
@click.option("--unpublished", is_flag=True, help="Only articles not yet marked published.")
@click.option(
    "--mark-published",
    is_flag=True,
    help="Mark what is exported as published, in the same transaction as the read.",
)
@click.pass_obj
@user_errors
def export(
    state: State,
    fmt: str,
    output: Path | None,
    output_dir: Path | None,
    source: str | None,
    since: str | None,
    unpublished: bool,
    mark_published: bool,
) -> None:
    """Export stored articles for republishing."""
    if output is not None and output_dir is not None:
        raise click.UsageError("give --output or --output-dir, not both")
    if output_dir is not None and fmt == "atom":
        raise click.UsageError("an atom export is one feed: use --output")
    config = state.config
    if source is not None:
        config.source(source)
    selection = Selection(source, _since(since), unpublished or mark_published)
    db = state.database()
    try:
        if mark_published:
            with publishing(db, selection) as articles:
                count = _write_export(fmt, articles, output, output_dir, config)
        else:
            count = _write_export(fmt, iter_articles(db, selection), output, output_dir, config)
    finally:
        db.dispose()
    click.echo(f"exported {count} articles", err=True)


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.now(UTC) - parse_interval(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither an ISO date/time nor an age like 6h", param_hint="--since"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _write_export(
    fmt: str,
    articles: Iterable[StoredArticle],
    output: Path | None,
    output_dir: Path | None,
    config: Config,
) -> int:
    header = config.export.header
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        count = 0
        for article in articles:
            with _output(output_dir / file_name(article, fmt)) as out:
                out.write(RENDERERS[fmt](article, header))
            count += 1
        return count
    with _output(output) as out:
        return write_stream(
            fmt,
            articles,
            out,
            header=header,
            feed_title=config.export.feed_title,
            feed_id=config.export.feed_id,
        )


@contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    # Write beside the target, then rename: a failed export never leaves half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=".export-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yield out
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- extract --------------------------------------------------------------------------------
@cli.command()
@click.argument("target", metavar="URL|FILE")
@click.option("--source", default=None, help="Apply this source's [sources.extract] rules.")
@click.option("--url", "page_url", default=None, help="For a FILE: the address it came from.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_obj
@user_errors
def extract(
    state: State, target: str, source: str | None, page_url: str | None, as_json: bool
) -> None:
    """Show what the page pipeline makes of one page (with a source's rules): the tool for
    writing and checking a site's extraction rules."""
    from crawler.processing import process_page

    config = state.config_or_defaults()
    rules = config.source(source).extract if source else None
    if target.startswith(("http://", "https://")):
        from crawler.crawls import fetch_page

        fetched = fetch_page(config, target)
        if fetched.error or fetched.status is None or fetched.status >= 400:
            reason = fetched.error or f"HTTP {fetched.status}"
            click.echo(f"newsrelay: error: cannot fetch {target}: {reason}", err=True)
            sys.exit(1)
        body, content_type, url = fetched.body, fetched.content_type, fetched.url
    else:
        path = Path(target)
        try:
            body = path.read_bytes()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {target}: {exc.strerror}") from None
        content_type, url = None, page_url or path.resolve().as_uri()
    page = process_page(body, content_type, url, None, False, rules)
    e = page.extracted
    fields = {
        "url": url,
        "title": e.title,
        "published": e.published_at.isoformat() if e.published_at else None,
        "author": e.author,
        "language": e.language,
        "canonical_url": e.canonical_url,
        "text": page.text,
    }
    if as_json:
        click.echo(json.dumps({**fields, "html": page.html}, ensure_ascii=False, indent=2))
        return
    for key, value in fields.items():
        if key != "text":
            click.echo(f"{key}: {value if value is not None else '-'}")
    click.echo("")
    click.echo(page.text or "(no article text found)")
    if not page.text:
        sys.exit(1)


# -- sources, config, db --------------------------------------------------------------------
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
@user_errors
def sources(state: State, as_json: bool) -> None:
    """List the configured sources."""
    config = state.config
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


@cli.command(name="config")
@click.pass_obj
@user_errors
def show_config(state: State) -> None:
    """Print the effective configuration (defaults filled in) as JSON."""
    data = state.config.model_dump(mode="json")
    click.echo(json.dumps({"path": str(state.config.path), **data}, indent=2))


@cli.group()
def db() -> None:
    """Database schema."""


@db.command()
@click.pass_obj
@user_errors
def upgrade(state: State) -> None:
    """Apply pending schema migrations."""
    from storage.db import Database

    database = Database(state.config.database.url)
    try:
        before = database.current_revision()
        database.upgrade()
        click.echo(f"schema: {before or 'empty'} -> {database.current_revision()}")
    except Exception as exc:  # driver errors: report in one line
        raise StorageError(f"upgrade failed: {exc}") from None
    finally:
        database.dispose()


def main() -> None:
    cli(prog_name="newsrelay")


if __name__ == "__main__":
    main()
