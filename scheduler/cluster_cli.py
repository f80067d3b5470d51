"""The cluster's commands: ``newsrelay scheduler``, ``newsrelay worker``, and the cluster parts
of ``crawl --enqueue``, ``status`` and ``health --role``."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click

from crawler.config import Config, ConfigError, SourceConfig
from crawler.services import open_services
from crawler.source_run import CrawlOptions, SourceResult
from scheduler import views
from scheduler.state import State, user_errors
from storage.cluster import (
    MemberRecord,
    RequestState,
    cluster_members,
    request_created,
    request_state,
)
from storage.db import Database, open_database
from storage.records import RunCounters
from storage.runs import close_queued, queue_run_once
from storage.sources import ensure_source

logger = logging.getLogger(__name__)

# A member whose heartbeat is older than this is left out of `status` (and its row deleted).
FORGET_MEMBERS_AFTER_BEATS = 10


def require_cluster(config: Config) -> None:
    """One line when the cluster cannot run here: SQLite, or no Dramatiq installed."""
    if not config.database.url.startswith("postgresql"):
        raise ConfigError(
            "the cluster needs PostgreSQL: database.url is "
            f"{config.database.url.split(':', 1)[0]} (see README, 'The cluster')"
        )
    try:
        import dramatiq  # noqa: F401
    except ImportError:
        raise ConfigError("the cluster needs Dramatiq: pip install 'newsrelay[cluster]'") from None


@click.command()
@click.pass_obj
@user_errors
def scheduler(state: State) -> None:
    """Run a cluster scheduler: the elected one schedules every source and sends each run to
    the workers; the others stand by and take over when it dies."""
    config = state.config
    require_cluster(config)
    from scheduler.leader import ClusterScheduler

    db = state.database()
    try:
        code = ClusterScheduler(config, db).run()
    finally:
        db.dispose()
    sys.exit(code)


@click.command()
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=None,
    help="Runs at once per process (default: fetch.parallel_sources).",
)
@click.pass_context
@user_errors
def worker(ctx: click.Context, processes: int, threads: int | None) -> None:
    """Run cluster worker processes: each crawls the source runs sent over the broker, on one
    reactor and one extraction pool for its whole life."""
    state: State = ctx.obj
    config = state.config
    require_cluster(config)
    threads = threads or config.fetch.parallel_sources
    if processes > 1:
        sys.exit(_supervise(_child_command(ctx, threads), processes))
    from crawler.cluster.worker import ClusterWorker

    db = state.database()
    try:
        # Before Scrapy is imported or any thread started: see crawler.services.
        with open_services(config, db) as services:
            code = ClusterWorker(config, services, threads).run()
    finally:
        db.dispose()
    sys.exit(code)


def _child_command(ctx: click.Context, threads: int) -> list[str]:
    """This command line, for one worker process."""
    root = ctx.find_root()
    args = [sys.argv[0]]
    for name, flag in (
        ("config_path", "--config"),
        ("log_format", "--log-format"),
        ("log_level", "--log-level"),
        ("log_file", "--log-file"),
    ):
        value = root.params.get(name)
        if value is not None:
            args += [flag, str(value)]
    return [*args, "worker", "--processes", "1", "--threads", str(threads)]


def _supervise(command: list[str], processes: int) -> int:
    """Run ``processes`` workers; one that dies is started again (at most once a second);
    SIGTERM/SIGINT are passed on, and the workers waited for."""
    children = [subprocess.Popen(command) for _ in range(processes)]
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    while True:
        for i, child in enumerate(children):
            code = child.poll()
            if code is not None and not stopping:
                click.echo(
                    f"newsrelay: worker pid {child.pid} exited ({code}): restarting", err=True
                )
                children[i] = subprocess.Popen(command)
        if stopping and all(child.poll() is not None for child in children):
            return 0
        time.sleep(1.0)


# -- crawl --enqueue ------------------------------------------------------------------------
def enqueue(
    config: Config,
    sources: Sequence[SourceConfig],
    options: CrawlOptions,
    *,
    wait: bool,
    as_json: bool,
) -> int:
    """Send one run per source to the workers; with ``wait``, print their summaries. The
    exit code: 0 when every run succeeded (or joined a run already going that did)."""
    require_cluster(config)
    from crawler.cluster.broker import RunOrder, open_broker, send

    db = open_database(config.database.url, create=False)
    try:
        broker = open_broker(config.cluster)
        requests: dict[str, str] = {}
        for source in sources:
            request = uuid.uuid4().hex
            request_created(db, request, source.name)
            try:
                send(
                    broker,
                    config.cluster,
                    RunOrder(
                        source.name,
                        datetime.now(UTC),
                        request=request,
                        refetch=options.refetch,
                        due_only=options.due_only,
                    ),
                )
            except Exception as exc:
                raise ConfigError(f"cannot send to the broker: {_first_line(exc)}") from None
            requests[request] = source.name
        broker.close()
        if not wait:
            for request, name in requests.items():
                click.echo(f"queued: {name} (request {request})")
            return 0
        results = [_wait_for(db, request, name) for request, name in requests.items()]
    finally:
        db.dispose()
    views.crawl_summary(results, as_json)
    return 0 if all(r.status in ("ok", "skipped") for r in results) else 1


def _wait_for(db: Database, request: str, source: str) -> SourceResult:
    """The result of the run that answered ``request``, once that run has finished."""
    while True:
        found: RequestState | None = request_state(db, request)
        if found is not None and found.status == "failed":
            return SourceResult(source, None, "failed", RunCounters(), [found.error or ""], 0.0)
        run = found.run if found is not None else None
        if run is not None and run.finished_at is not None:
            errors = [run.error] if run.error else []
            duration = (run.finished_at - run.started_at).total_seconds()
            return SourceResult(source, run.id, run.status, run.counters, errors, duration)
        time.sleep(0.5)


# -- status and health ----------------------------------------------------------------------
def cluster_status(config: Config, db: Database) -> dict[str, Any] | None:
    """``status --json``'s ``cluster`` part, or None when no cluster member ever beat here."""
    every = config.daemon.heartbeat_delta
    members = cluster_members(db, every * FORGET_MEMBERS_AFTER_BEATS)
    if not members:
        return None
    now = datetime.now(UTC)
    schedulers = [m for m in members if m.role == "scheduler" and m.is_fresh(every, now)]
    leader = next((m for m in schedulers if m.leader_since is not None), None)
    workers = [m for m in members if m.role == "worker" and m.is_fresh(every, now)]
    return {
        "leader": _member(leader, since=True) if leader else None,
        "standby": [_member(m) for m in schedulers if m is not leader],
        "workers": [
            {
                **_member(m),
                "name": m.name,
                "heartbeat_at": m.heartbeat_at.isoformat(),
                "crawls": m.crawls,
            }
            for m in workers
        ],
        "queue": _queue(config, sum(m.crawls for m in workers)),
    }


def _member(member: MemberRecord, *, since: bool = False) -> dict[str, Any]:
    fields: dict[str, Any] = {"host": member.host, "pid": member.pid}
    if since and member.leader_since is not None:
        fields["since"] = member.leader_since.isoformat()
    return fields


def _queue(config: Config, in_flight: int) -> dict[str, Any]:
    """Messages ready in the queue (and delayed), and unacknowledged: the runs the workers
    hold. The broker away: its error instead."""
    try:
        from crawler.cluster.broker import open_broker, queue_depth

        broker = open_broker(config.cluster)
        try:
            depth = queue_depth(broker, config.cluster)
        finally:
            broker.close()
    except Exception as exc:
        return {"ready": None, "unacked": in_flight, "error": _first_line(exc)}
    return {**depth, "unacked": in_flight}


def role_health(config: Config, db: Database, role: str) -> tuple[bool, str]:
    """``health --role``: a worker on this host beats; this host's scheduler is the leader
    or a standby that beats."""
    every = config.daemon.heartbeat_delta
    now = datetime.now(UTC)
    host = socket.gethostname()
    mine = [
        m
        for m in cluster_members(db, every * FORGET_MEMBERS_AFTER_BEATS)
        if m.role == role and m.host == host and m.is_fresh(every, now)
    ]
    if not mine:
        return False, f"no {role} on {host} with a fresh heartbeat"
    if role == "scheduler":
        leading = [m for m in mine if m.leader_since is not None]
        what = "leader" if leading else "standby"
        return True, f"scheduler {what} on {host} (pid {(leading or mine)[0].pid})"
    return True, f"{len(mine)} worker(s) on {host}, {sum(m.crawls for m in mine)} crawls in flight"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class ClusterTrigger:
    """``newsrelay serve`` on a cluster's database: the console's "crawl now" becomes a
    queued run and one message to the workers, who adopt the run (the daemon's path, on a
    worker). Whether workers beat is asked at each request."""

    def __init__(self, config: Config, db: Database) -> None:
        self.config = config
        self.db = db
        self.broker: Any = None  # opened at the first request; its connections are per thread

    def __call__(self, name: str) -> int:
        from console.context import CrawlsOff, UnknownSource
        from crawler.cluster.broker import RunOrder, open_broker, send

        try:
            source = self.config.source(name)
        except ConfigError:
            raise UnknownSource(name) from None
        every, now = self.config.daemon.heartbeat_delta, datetime.now(UTC)
        members = cluster_members(self.db, every * FORGET_MEMBERS_AFTER_BEATS)
        if not any(m.role == "worker" and m.is_fresh(every, now) for m in members):
            raise CrawlsOff("no cluster worker beats on this database: nothing would crawl it")
        source_id = ensure_source(self.db, name, source.feeds).source_id
        run_id, new = queue_run_once(self.db, source_id)
        if not new:
            return run_id  # queued or running already: nothing more is sent
        try:
            self.broker = self.broker or open_broker(self.config.cluster)
            order = RunOrder(name, now, due_only=False, run_id=run_id)
            send(self.broker, self.config.cluster, order)
        except Exception as exc:  # pika and Dramatiq connection errors
            close_queued(self.db, run_id, f"not sent: {_first_line(exc)}")
            raise CrawlsOff(f"the broker is unreachable: {_first_line(exc)}") from None
        return run_id


def cluster_trigger(config: Config, db: Database) -> ClusterTrigger | None:
    """A trigger for a PostgreSQL database with Dramatiq installed (a cluster's), else None."""
    if db.dialect != "postgresql":
        return None
    try:
        import dramatiq  # noqa: F401
    except ImportError:
        return None
    return ClusterTrigger(config, db)
