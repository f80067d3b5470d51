"""Benchmark the cluster: one ``newsrelay scheduler`` and 1, 2, 3 ``newsrelay worker``
processes crawling the sources of a local news site over RabbitMQ and PostgreSQL.

The site (pages of ``bench/render.py``, served by ``tests/localsite.py`` from a child process)
has ``--host-keys`` outlets, each on its own loopback address, with ``--sources /
--host-keys`` sources apiece: one RSS feed of ``--articles`` article pages per source. Each
outlet's sources share one ``host_key``, so the cluster crawls at most one of them at a time.

For each worker count, on a fresh PostgreSQL schema and a fresh queue prefix: ``db upgrade``,
the workers start (each ``worker --processes 1 --threads T``, its own process) and beat, then
the scheduler starts, and two windows are measured:

1. first crawl: from the scheduler's start until every source has finished a run (its first
   run fetches its feed and extracts its articles; sources crawled early are polled again
   meanwhile, so the window mixes some polls in, shown in the "first / polls" column);
2. unchanged polls: after ``--settle`` seconds, the next ``--window`` seconds, when feeds
   answer 304 and nothing is extracted.

Then SIGTERM to every process, the schema dropped and the queues deleted.

    python bench/cluster_bench.py [--sources 300] [--host-keys 30] [--workers 1,2,3]
        [--threads 8] [--interval 30] [--window 90] [--workdir DIR] [--json OUT]

What each figure counts is printed under the tables (see ``NOTES``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import render
from bench.crawl_bench import machine
from bench.layout import Entry, Feed, SiteSpec, build
from bench.newssite import loopback_hosts, stop_child
from tests.localsite import LocalSite

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

NEWSRELAY = Path(sys.executable).parent / "newsrelay"
POSTGRES_URL = os.environ.get(
    "NEWSRELAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BROKER_URL = os.environ.get("NEWSRELAY_BENCH_BROKER", "amqp://guest:guest@127.0.0.1:5672/")
CLK_TCK = os.sysconf("SC_CLK_TCK")
STOP_TIMEOUT_S = 10  # [daemon] stop_timeout of the bench's config
WATCH_EVERY_S = 3.0  # how often pg_stat_activity is looked at for other clients

# Written into the workdir and put first on the members' PYTHONPATH as ``sitecustomize``:
# counts this process's AMQP publishes, acks and nacks into ``$NEWSRELAY_BENCH_COUNTS.<pid>``
# (no thread is started, so the worker still forks its zygote from a one-thread process; one
# pwrite per call). Dramatiq's RabbitMQ broker sends and acknowledges through pika's
# BlockingChannel: a publish (confirm_delivery on) waits for the broker's confirm, a round
# trip; an ack or nack is one-way.
HOOK = '''"""Written by bench/cluster_bench.py: counts AMQP publishes, acks and nacks."""
import os
import threading


def _install():
    prefix = os.environ.get("NEWSRELAY_BENCH_COUNTS")
    if not prefix:
        return
    try:
        from pika.adapters.blocking_connection import BlockingChannel
    except ImportError:
        return
    lock = threading.Lock()
    state = {"pid": 0, "fd": -1, "counts": [0, 0, 0]}

    def bump(i):
        with lock:
            if state["pid"] != os.getpid():
                state["pid"] = os.getpid()
                state["counts"] = [0, 0, 0]
                state["fd"] = os.open(
                    f"{prefix}.{state['pid']}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644
                )
            state["counts"][i] += 1
            line = "%d %d %d\\n" % tuple(state["counts"])
            os.pwrite(state["fd"], line.ljust(48).encode(), 0)

    def counting(name, i):
        original = getattr(BlockingChannel, name)

        def wrapper(self, *args, **kwargs):
            bump(i)
            return original(self, *args, **kwargs)

        wrapper.__name__ = name
        wrapper.__doc__ = original.__doc__
        setattr(BlockingChannel, name, wrapper)

    counting("basic_publish", 0)
    counting("basic_ack", 1)
    counting("basic_nack", 2)


_install()
'''

NOTES = """\
- runs/min: `crawl_runs` rows whose `finished_at` falls in the window, per minute of window.
  demand = sources x 60 / interval; a cluster that keeps up runs about that many.
  first / polls: runs that fetched article pages / runs that fetched none (feeds 304).
- CPU: user+sys of the scheduler and worker process trees (the workers' extraction zygote
  and extraction processes included), from /proc/<pid>/stat (utime+stime+cutime+cstime,
  summed over each tree) read at the window's start and end, while every process runs.
  Start-up is outside the windows. PostgreSQL, RabbitMQ and the site server are not in it.
- sources/core @15 min: 900 s / (CPU s per run), on paper: the sources that one core, kept
  100 % busy by one worker, would poll every 15 minutes at this window's cost per run.
- PG xacts/run: delta of xact_commit + xact_rollback in pg_stat_database for the bench's
  database over the window (the bench's own queries subtracted), divided by runs. An upper
  bound of newsrelay's transactions: other clients of the same database count too, and the
  server publishes a backend's counts up to ~10 s late. Marked * when another client had a
  session on the database meanwhile (pg_stat_activity, looked at every few seconds; the
  members are told apart by their PGAPPNAME); `--own-database` makes the figure exact. Each
  transaction is at least one round trip (usually 3+: BEGIN, statements, COMMIT).
- AMQP publishes/run: basic_publish calls of the scheduler and the workers, counted in the
  processes (a sitecustomize hook, see HOOK). Each waits for the broker's confirm: one
  round trip. They are the scheduler's sends, the workers' re-sends of busy sources' messages
  (source or host key locked), and Dramatiq moving delayed messages back to the main queue.
  acks/run: deliveries the workers acknowledged or rejected (one-way frames).
- PG / RabbitMQ server CPU: every postgres / beam.smp process tree on the machine over the
  window (shared servers: an upper bound), per run.
- queues at end: messages in the run queue (ready), its delay queue (not yet fetched by a
  worker) and its dead-letter queue (dead: retries spent) at the window's end.
- age-limit drops, collapsed, postponed: log lines of the workers in the window (a message
  older than its interval dropped by the worker; a duplicate run skipped; database away).
"""


# -- the site -------------------------------------------------------------------------------
def _serve_site(groups: int, per_group: int, articles: int, seed: int, conn: Connection) -> None:
    """Child process: serve the site; send its sources; answer "report" and "stop"."""
    try:
        sites = [LocalSite(host) for host in loopback_hosts(groups)]
        per_outlet = per_group * articles
        spec = SiteSpec(groups, 1, int(groups * per_outlet * 1.7) + groups, seed).resolved()
        news = build(replace(spec, bases=tuple(s.base for s in sites)))
        kinds: dict[tuple[int, str], str] = {}
        sources = []
        for outlet, site in zip(news.outlets, sites, strict=True):
            if len(outlet.stories) < per_outlet:
                raise RuntimeError(f"outlet {outlet.index} has too few stories")
            site.add("/robots.txt", render.robots(outlet), content_type="text/plain")
            kinds[(outlet.index, "/robots.txt")] = "robots"
            for j in range(per_group):
                name = f"s{outlet.index * per_group + j + 1:04d}"
                stories = outlet.stories[j * articles : (j + 1) * articles]
                for story in stories:
                    site.add(story.path, render.article(story, seed), gzip=outlet.gzip)
                    kinds[(outlet.index, story.path)] = "article"
                feed = Feed(outlet, "top", "rss", f"/feeds/{name}.xml")
                feed.entries = [Entry(story, story.url) for story in stories]
                body, content_type = render.feed(feed, seed)
                url = site.add(feed.path, body, content_type=content_type, gzip=outlet.gzip)
                kinds[(outlet.index, feed.path)] = "feed"
                sources.append((name, url, f"bench-host-{outlet.index + 1:02d}"))
        for site in sites:
            site.start()
    except Exception as exc:
        conn.send(("error", repr(exc)))
        return
    conn.send(("ready", sources))
    seen = [0] * len(sites)
    try:
        while True:
            try:
                command = conn.recv()
            except EOFError:
                break
            if command == "stop":
                break
            served: Counter[str] = Counter()
            for i, site in enumerate(sites):
                new = site.requests[seen[i] :]
                seen[i] += len(new)
                for r in new:
                    kind = kinds.get((i, urlsplit(r.path).path), "missing")
                    served[f"{kind} {r.status}"] += 1
            usage = resource.getrusage(resource.RUSAGE_SELF)
            conn.send((dict(served), usage.ru_utime + usage.ru_stime))
    finally:
        for site in sites:
            site.stop()


class Site:
    """The site in a child process; ``report()``: requests served since, by kind and status,
    and the server's CPU time meanwhile."""

    def __init__(self, groups: int, per_group: int, articles: int, seed: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_serve_site, args=(groups, per_group, articles, seed, child), daemon=True
        )
        self._process.start()
        child.close()
        self._cpu = 0.0
        if not self._conn.poll(120):
            self.stop()
            raise RuntimeError("the site did not start within 120 s")
        reply = self._conn.recv()
        if reply[0] != "ready":
            self.stop()
            raise RuntimeError(f"the site failed to start: {reply[1]}")
        self.sources: list[tuple[str, str, str]] = reply[1]  # name, feed URL, host key

    def report(self) -> dict[str, Any]:
        self._conn.send("report")
        served, cpu = self._conn.recv()
        report = {"served": served, "cpu_s": round(cpu - self._cpu, 2)}
        self._cpu = cpu
        return report

    def stop(self) -> None:
        stop_child(self._conn, self._process)


# -- PostgreSQL, RabbitMQ -------------------------------------------------------------------
def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


class Database:
    """The bench's own connection (autocommit): it counts its own transactions, so that they
    can be taken off pg_stat_database's."""

    def __init__(self, url: str, application: str) -> None:
        import psycopg

        self.conn = psycopg.connect(_dsn(url), autocommit=True)
        self.transactions = 0
        self.application = application  # the members' PGAPPNAME
        self.foreign: set[tuple[int, datetime]] = set()

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        self.transactions += 1
        return self.conn.execute(sql, params).fetchall()

    def xacts(self) -> int:
        """xact_commit + xact_rollback of this database (this query's own not yet in)."""
        with contextlib.suppress(Exception):  # PostgreSQL 15+: this session's counts, now
            self.query("SELECT pg_stat_force_next_flush()")
        [(value,)] = self.query(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        )
        return int(value)

    def watch(self) -> None:
        """Note the other clients' sessions on this database (not the members', not ours)."""
        rows = self.query(
            "SELECT pid, backend_start FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
            "AND application_name IS DISTINCT FROM %s",
            self.application,
        )
        self.foreign.update((int(pid), start) for pid, start in rows)

    def close(self) -> None:
        self.conn.close()


@contextlib.contextmanager
def schema(url: str, own_database: bool) -> Any:
    """A fresh schema of the database at ``url`` (or of a new database of the same server);
    the URL that selects it, and the schema's name. Dropped after."""
    import psycopg

    name = f"newsrelay_bench_{uuid.uuid4().hex[:12]}"
    server, database = url, None
    if own_database:
        with psycopg.connect(_dsn(server), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        database, url = name, urlsplit(server)._replace(path=f"/{name}").geturl()
    try:
        with psycopg.connect(_dsn(url), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        separator = "&" if "?" in url else "?"
        try:
            yield f"{url}{separator}options=-csearch_path%3D{name}", name
        finally:
            with psycopg.connect(_dsn(url), autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        if database is not None:
            with psycopg.connect(_dsn(server), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')


def queue_names(prefix: str) -> list[str]:
    return [f"{prefix}.runs", f"{prefix}.runs.DQ", f"{prefix}.runs.XQ"]


def broker_call(url: str, work: Any) -> Any:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return work(connection)
    finally:
        connection.close()


def queue_depths(url: str, prefix: str) -> dict[str, int] | None:
    """Messages in the run queue (ready), its delay queue (not yet fetched by a worker) and
    its dead-letter queue (failed: retries spent); None: broker away."""

    def count(connection: Any) -> dict[str, int]:
        depths = {}
        for label, name in zip(("ready", "delayed", "dead"), queue_names(prefix), strict=True):
            channel = connection.channel()
            try:
                depths[label] = channel.queue_declare(name, passive=True).method.message_count
                channel.close()
            except Exception:  # no such queue: the broker closed the channel
                depths[label] = 0
        return depths

    try:
        depths: dict[str, int] = broker_call(url, count)
    except Exception:
        return None
    return depths


def delete_queues(url: str, prefix: str) -> None:
    def delete(connection: Any) -> None:
        channel = connection.channel()
        for name in queue_names(prefix):
            channel.queue_delete(name)

    with contextlib.suppress(Exception):
        broker_call(url, delete)


# -- CPU from /proc -------------------------------------------------------------------------
def process_table() -> dict[int, tuple[int, str, float]]:
    """pid -> (ppid, comm, CPU s of the process and of its children it has reaped)."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            data = Path(f"/proc/{entry.name}/stat").read_bytes()
        except OSError:
            continue
        close = data.rindex(b")")
        comm = data[data.index(b"(") + 1 : close].decode(errors="replace")
        fields = data[close + 2 :].split()
        ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        table[int(entry.name)] = (int(fields[1]), comm, ticks / CLK_TCK)
    return table


def tree_cpu(table: dict[int, tuple[int, str, float]], roots: list[int]) -> float:
    """CPU s of the processes ``roots`` and all their descendants alive now (the dead ones
    are in their parents' cutime/cstime once reaped)."""
    children: dict[int, list[int]] = defaultdict(list)
    for pid, (ppid, _, _) in table.items():
        children[ppid].append(pid)
    total, stack = 0.0, [pid for pid in roots if pid in table]
    while stack:
        pid = stack.pop()
        total += table[pid][2]
        stack.extend(children[pid])
    return total


def server_roots(table: dict[int, tuple[int, str, float]], comm: str) -> list[int]:
    """The topmost processes named ``comm`` (the postmaster; RabbitMQ's Erlang VM)."""
    return [
        pid
        for pid, (ppid, name, _) in table.items()
        if name == comm and table.get(ppid, (0, "", 0.0))[1] != comm
    ]


# -- the cluster's processes ----------------------------------------------------------------
@dataclass
class Member:
    role: str  # scheduler | worker
    label: str
    process: subprocess.Popen[bytes]
    log: Path
    counts: str  # the hook's file prefix

    def records(self, since: datetime | None = None) -> list[dict[str, Any]]:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        out = []
        for line in text[: text.rfind("\n") + 1].splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                record = json.loads(line)
                if since is None or datetime.fromisoformat(record["ts"]) >= since:
                    out.append(record)
        return out

    def published(self) -> tuple[int, int, int]:
        """(publishes, acks, nacks) of this member's processes so far."""
        totals = [0, 0, 0]
        directory, _, prefix = self.counts.rpartition("/")
        for path in Path(directory).glob(f"{prefix}.*"):
            with contextlib.suppress(OSError, ValueError):
                for i, value in enumerate(path.read_text().split()[:3]):
                    totals[i] += int(value)
        return totals[0], totals[1], totals[2]


@dataclass
class Sample:
    at: datetime
    cpu: dict[str, float]  # label -> CPU s of its tree
    postgres_cpu: float
    rabbitmq_cpu: float
    xacts: int
    own_xacts: int
    foreign: frozenset[tuple[int, datetime]]
    amqp: dict[str, tuple[int, int, int]]
    site: dict[str, Any] = field(default_factory=dict)


class Cluster:
    def __init__(self, config: Path, workdir: Path, hook_dir: Path, application: str) -> None:
        self.config = config
        self.workdir = workdir
        self.members: list[Member] = []
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("NEWSRELAY_DATABASE_URL", "NEWSRELAY_CONFIG")
        }
        self.env["PGAPPNAME"] = application  # libpq's application_name: tells their sessions
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(hook_dir), *filter(None, [os.environ.get("PYTHONPATH")])]
        )

    def start(self, role: str, label: str, *args: str) -> Member:
        log = self.workdir / f"{label}.log"
        counts = str(self.workdir / "counts" / label)
        command = [str(NEWSRELAY), "--config", str(self.config), "--log-format", "json"]
        with log.open("wb") as err:
            process = subprocess.Popen(
                [*command, role, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env={**self.env, "NEWSRELAY_BENCH_COUNTS": counts},
                start_new_session=True,  # its own process group, for the final sweep
            )
        member = Member(role, label, process, log, counts)
        self.members.append(member)
        return member

    def check_alive(self) -> None:
        for member in self.members:
            if member.process.poll() is not None:
                tail = member.log.read_text(errors="replace").strip().splitlines()[-3:]
                raise RuntimeError(
                    f"{member.label} exited ({member.process.returncode}): " + " | ".join(tail)
                )

    def stop(self) -> None:
        """SIGTERM to every member, wait; SIGKILL to what is left of their process groups."""
        for member in self.members:
            if member.process.poll() is None:
                member.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S + 20
        for member in self.members:
            with contextlib.suppress(subprocess.TimeoutExpired):
                member.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for member in self.members:
            if member.process.poll() is None:
                print(f"  {member.label} did not stop: killed", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(member.process.pid, signal.SIGKILL)
            member.process.wait()


def write_config(
    path: Path, db_url: str, queue: str, sources: list[tuple[str, str, str]], interval: int
) -> None:
    lines = [
        f'[database]\nurl = "{db_url}"\n',
        "[fetch]\nallow_private_networks = true\ntimeout = 10\n",
        f'[daemon]\nheartbeat = "2s"\njitter = 0.0\nstop_timeout = "{STOP_TIMEOUT_S}s"\n',
        f'[cluster]\nbroker = "{BROKER_URL}"\nqueue = "{queue}"\n',
    ]
    for name, feed, key in sources:
        lines.append(
            f'[[sources]]\nname = "{name}"\nfeeds = ["{feed}"]\nhost_key = "{key}"\n'
            f'interval = "{interval}s"\n'
        )
    path.write_text("\n".join(lines), encoding="utf-8")


def wait_for(
    what: str,
    predicate: Any,
    cluster: Cluster,
    timeout: float,
    every: float,
    db: Database | None = None,
) -> bool:
    """Poll ``predicate`` every ``every`` s (and, with ``db``, note other clients' sessions
    every few seconds) until it holds: True; or until ``timeout``: False."""
    deadline = time.monotonic() + timeout
    watched = 0.0
    while time.monotonic() < deadline:
        cluster.check_alive()
        if db is not None and time.monotonic() - watched >= WATCH_EVERY_S:
            db.watch()
            watched = time.monotonic()
        if predicate():
            return True
        time.sleep(every)
    if what:
        print(f"  timed out after {timeout:.0f} s waiting for {what}", file=sys.stderr)
    return False


def take_sample(cluster: Cluster, db: Database, site: Site) -> Sample:
    db.watch()
    xacts = db.xacts()
    own = db.transactions  # the two queries of xacts() included: their commits come after
    table = process_table()
    cpu = {m.label: tree_cpu(table, [m.process.pid]) for m in cluster.members}
    return Sample(
        at=datetime.now(UTC),
        cpu=cpu,
        postgres_cpu=tree_cpu(table, server_roots(table, "postgres")),
        rabbitmq_cpu=tree_cpu(table, server_roots(table, "beam.smp")),
        xacts=xacts,
        own_xacts=own,
        foreign=frozenset(db.foreign),
        amqp={m.label: m.published() for m in cluster.members},
        site=site.report(),
    )


def window(
    name: str,
    start: Sample,
    end: Sample,
    cluster: Cluster,
    db: Database,
    prefix: str,
    scheduler_cpu_from: float | None = None,
) -> dict[str, Any]:
    """The figures of one window between two samples."""
    seconds = (end.at - start.at).total_seconds()
    rows = db.query(
        "SELECT status, pages_fetched, feeds_not_modified, new, worker, error, "
        "extract(epoch FROM finished_at - started_at) FROM crawl_runs "
        "WHERE finished_at > %s AND finished_at <= %s",
        start.at,
        end.at,
    )
    runs = len(rows)
    first = sum(1 for r in rows if r[1] > 0)
    statuses = Counter(r[0] for r in rows)
    errors = Counter(r[5].splitlines()[0][:120] for r in rows if r[5])
    cpu = {}
    for member in cluster.members:
        before = start.cpu.get(member.label, 0.0)
        if member.role == "scheduler" and scheduler_cpu_from is not None:
            before = scheduler_cpu_from
        cpu[member.label] = end.cpu.get(member.label, 0.0) - before
    cpu_total = sum(cpu.values())
    amqp = [0, 0, 0]
    amqp_by_role: Counter[str] = Counter()
    for member in cluster.members:
        a, b = end.amqp[member.label], start.amqp.get(member.label, (0, 0, 0))
        for i in range(3):
            amqp[i] += a[i] - b[i]
        amqp_by_role[member.role] += a[0] - b[0]
    xacts = (end.xacts - start.xacts) - (end.own_xacts - start.own_xacts)
    logs: Counter[str] = Counter()
    for member in cluster.members:
        for record in member.records(since=start.at):
            if datetime.fromisoformat(record["ts"]) > end.at:
                continue
            msg = record.get("msg", "")
            if msg.startswith("run dropped"):
                logs["age_limit_drops"] += 1
            elif msg.startswith("run collapsed"):
                logs["collapsed"] += 1
            elif msg.startswith("run postponed"):
                logs["postponed"] += 1
            if record.get("level") in ("error", "critical"):
                logs["error_lines"] += 1

    def per_run(value: float) -> float | None:
        return value / runs if runs else None

    cpu_per_run = per_run(cpu_total)
    durations = [float(r[6]) for r in rows if r[6] is not None]
    return {
        "phase": name,
        "seconds": round(seconds, 1),
        "runs": runs,
        "first_crawls": first,
        "polls": runs - first,
        "runs_per_min": runs * 60 / seconds if seconds else None,
        "statuses": dict(statuses),
        "errors": dict(errors.most_common(3)),
        "new_articles": sum(r[3] for r in rows),
        "run_wall_median_s": statistics.median(durations) if durations else None,
        "runs_per_worker": dict(Counter(r[4] for r in rows)),
        "cpu_s": cpu,
        "cpu_total_s": cpu_total,
        "cpu_per_run_s": cpu_per_run,
        "sources_per_core_15min": 900 / cpu_per_run if cpu_per_run else None,
        "pg_xacts": xacts,
        "pg_xacts_per_run": per_run(xacts),
        "pg_other_sessions": len(end.foreign),
        "amqp_publishes": amqp[0],
        "amqp_publishes_by_role": dict(amqp_by_role),
        "amqp_publishes_per_run": per_run(amqp[0]),
        "amqp_acks_per_run": per_run(amqp[1] + amqp[2]),
        "amqp_nacks": amqp[2],
        "postgres_cpu_per_run_s": per_run(end.postgres_cpu - start.postgres_cpu),
        "rabbitmq_cpu_per_run_s": per_run(end.rabbitmq_cpu - start.rabbitmq_cpu),
        "queues_at_end": queue_depths(BROKER_URL, prefix),
        "site": end.site,
        **dict(logs),
    }


def measure_workers(
    args: argparse.Namespace, workers: int, site: Site, workdir: Path, hook_dir: Path
) -> list[dict[str, Any]]:
    """One configuration: ``workers`` worker processes and a scheduler, on a fresh schema."""
    run_dir = workdir / f"workers-{workers}"
    (run_dir / "counts").mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    prefix = f"nrbench_{tag}_w{workers}"
    application = f"newsrelay-bench-{tag}"
    sources = site.sources
    total = len(sources)
    results = []
    with schema(args.postgres, args.own_database) as (url, schema_name):
        config = run_dir / "newsrelay.toml"
        write_config(config, url, prefix, sources, args.interval)
        cluster = Cluster(config, run_dir, hook_dir, application)
        upgrade = subprocess.run(
            [str(NEWSRELAY), "--config", str(config), "db", "upgrade"],
            capture_output=True,
            text=True,
            env=cluster.env,
            check=False,
        )
        if upgrade.returncode != 0:
            raise RuntimeError(f"db upgrade failed: {upgrade.stderr.strip()[-400:]}")
        db = Database(url, application)
        try:
            for n in range(workers):
                cluster.start(
                    "worker", f"worker{n + 1}", "--processes", "1", "--threads", str(args.threads)
                )

            def beating() -> bool:
                rows = db.query("SELECT count(*) FROM cluster_members WHERE role = 'worker'")
                return bool(rows[0][0] >= workers)

            if not wait_for("the workers' heartbeats", beating, cluster, 120, 0.5):
                raise RuntimeError("the workers did not start")
            print(
                f"  {workers} worker(s) up; starting the scheduler ({schema_name}, {prefix})",
                file=sys.stderr,
            )
            site.report()
            db.foreign.clear()
            start = take_sample(cluster, db, site)
            scheduler = cluster.start("scheduler", "scheduler")

            def scheduling() -> bool:
                return any(r["msg"].startswith("scheduling ") for r in scheduler.records())

            wait_for("the scheduler", scheduling, cluster, 120, 0.2)
            scheduler_from = tree_cpu(process_table(), [scheduler.process.pid])

            def all_crawled() -> bool:
                rows = db.query(
                    "SELECT count(DISTINCT source_id) FROM crawl_runs WHERE finished_at IS NOT NULL"
                )
                return bool(rows[0][0] >= total)

            done = wait_for(
                "every source's first run", all_crawled, cluster, args.first_timeout, 1, db
            )
            end = take_sample(cluster, db, site)
            first = window("first crawl", start, end, cluster, db, prefix, scheduler_from)
            first["complete"] = done
            results.append(first)
            print(
                f"  first crawl: {first['runs']} runs in {first['seconds']:.0f} s", file=sys.stderr
            )
            time.sleep(args.settle)
            db.foreign.clear()
            start = take_sample(cluster, db, site)
            wait_for("", lambda: False, cluster, args.window, 1, db)  # sleeps, watching
            end = take_sample(cluster, db, site)
            polls = window("unchanged polls", start, end, cluster, db, prefix)
            results.append(polls)
            print(f"  polls: {polls['runs']} runs in {polls['seconds']:.0f} s", file=sys.stderr)
        finally:
            cluster.stop()
            db.close()
            delete_queues(BROKER_URL, prefix)
    for result in results:
        result["workers"] = workers
        result["threads"] = args.threads
    return results


# -- report ---------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def render_report(results: dict[str, Any]) -> str:
    m, a = results["machine"], results["args"]
    demand = a["sources"] * 60 / a["interval"]
    out = [
        "## newsrelay cluster benchmark",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GiB RAM, Python "
        f"{m['python']}, load average at start {m['load_at_start']}. "
        f"PostgreSQL {results['postgres_version']}, RabbitMQ via {results['broker']}.",
        f"Packages: {', '.join(f'{k} {v}' for k, v in results['packages'].items())}.",
        "",
        f"Database: {'a database of its own' if a['own_database'] else 'a schema of ' + a['db']}"
        ", made for each worker count. "
        f"{a['sources']} sources (one RSS feed of {a['articles']} article pages each) on "
        f"{a['host_keys']} host keys, interval {a['interval']} s, jitter 0: demand "
        f"{demand:.0f} runs/min. Workers: separate `newsrelay worker --processes 1 --threads "
        f"{a['threads']}` processes, plus one `newsrelay scheduler`.",
        "",
    ]
    header = (
        "| workers | window | runs | first / polls | runs/min | CPU s | CPU ms/run "
        "| sources/core @15 min | PG xacts/run (upper bound) | AMQP publishes/run "
        "| AMQP acks/run |"
    )
    for phase in ("first crawl", "unchanged polls"):
        out += [f"### {phase}", "", header, "|" + "---|" * 11]
        for r in (r for r in results["windows"] if r["phase"] == phase):
            incomplete = "" if r.get("complete", True) else " (timed out)"
            out.append(
                f"| {r['workers']} x {r['threads']} threads | {r['seconds']:.0f} s{incomplete} "
                f"| {r['runs']} | {r['first_crawls']} / {r['polls']} "
                f"| {_fmt(r['runs_per_min'])} | {_fmt(r['cpu_total_s'], 1)} "
                f"| {_fmt(_ms(r['cpu_per_run_s']))} | {_fmt(r['sources_per_core_15min'])} "
                f"| {_fmt(r['pg_xacts_per_run'], 1)}{'*' if r['pg_other_sessions'] else ''} "
                f"| {_fmt(r['amqp_publishes_per_run'], 2)} "
                f"| {_fmt(r['amqp_acks_per_run'], 2)} |"
            )
        out.append("")
    if any(r["pg_other_sessions"] for r in results["windows"]):
        out += [
            "\\* other clients had sessions on the database during the window (see details): "
            "their transactions are in this figure. `--own-database` leaves them out.",
            "",
        ]
    out += ["### details", ""]
    for r in results["windows"]:
        split = ", ".join(f"{k} {v:.1f}" for k, v in r["cpu_s"].items())
        served = ", ".join(f"{k}: {v}" for k, v in sorted(r["site"]["served"].items()))
        out += [
            f"- {r['workers']} worker(s), {r['phase']}: statuses {r['statuses']}; "
            f"new articles {r['new_articles']}; median run wall "
            f"{_fmt(r['run_wall_median_s'], 2)} s; runs per worker "
            f"{sorted(r['runs_per_worker'].values(), reverse=True)}; CPU s by process tree: "
            f"{split}; AMQP publishes {r['amqp_publishes_by_role']} (nacks {r['amqp_nacks']}); "
            f"age-limit drops {r.get('age_limit_drops', 0)}, collapsed {r.get('collapsed', 0)}, "
            f"postponed {r.get('postponed', 0)}, error log lines {r.get('error_lines', 0)}; "
            f"queues at end {r['queues_at_end']}; other clients' sessions on the "
            f"database {r['pg_other_sessions']}; PostgreSQL server CPU "
            f"{_fmt(_ms(r['postgres_cpu_per_run_s']))} ms/run, RabbitMQ server CPU "
            f"{_fmt(_ms(r['rabbitmq_cpu_per_run_s']))} ms/run (shared servers: upper bounds); "
            f"site served {served}; site server CPU {r['site']['cpu_s']} s."
        ]
        if r["errors"]:
            out.append(f"  run errors: {r['errors']}")
    out += ["", "### what the figures count", "", NOTES]
    return "\n".join(out)


def _ms(seconds: float | None) -> float | None:
    return seconds * 1000 if seconds is not None else None


def versions(url: str) -> tuple[str, dict[str, str]]:
    import psycopg

    with psycopg.connect(_dsn(url), autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    packages = {}
    for name in ("scrapy", "trafilatura", "sqlalchemy", "psycopg", "dramatiq", "pika"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            packages[name] = metadata.version(name)
    return (str(row[0]) if row else "?"), packages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=300)
    parser.add_argument("--host-keys", type=int, default=30, help="and outlets (addresses)")
    parser.add_argument("--articles", type=int, default=3, help="article pages per feed")
    parser.add_argument("--workers", default="1,2,3", help="worker counts, comma-separated")
    parser.add_argument("--threads", type=int, default=8, help="--threads of each worker")
    parser.add_argument("--interval", type=int, default=30, help="every source's, seconds")
    parser.add_argument(
        "--window", type=int, default=90, help="unchanged-poll window, s (x --interval)"
    )
    parser.add_argument("--settle", type=float, default=10, help="seconds before that window")
    parser.add_argument("--first-timeout", type=float, default=150, help="first-crawl window cap")
    parser.add_argument("--seed", type=int, default=1729)
    parser.add_argument("--postgres", default=POSTGRES_URL, help="a database to make schemas in")
    parser.add_argument(
        "--own-database",
        action="store_true",
        help="make the schemas in a database of their own, created and dropped by the bench, "
        "so that no other client's transactions count in the PG figures",
    )
    parser.add_argument("--workdir", type=Path, help="kept after the run (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    if args.sources % args.host_keys:
        parser.error("--sources must be a multiple of --host-keys")
    if args.window % args.interval:
        print(
            "note: a --window that is not a multiple of --interval counts an uneven number of "
            "rounds of runs",
            file=sys.stderr,
        )
    worker_counts = [int(n) for n in args.workers.split(",")]

    # SIGTERM unwinds like Ctrl-C: processes stopped, schemas dropped, queues deleted.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    keep = args.workdir is not None
    workdir = args.workdir.resolve() if keep else Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    hook_dir = workdir / "hook"
    hook_dir.mkdir(exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(HOOK, encoding="utf-8")
    postgres_version, packages = versions(args.postgres)
    results: dict[str, Any] = {
        "machine": machine(),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        | {"postgres": None, "db": urlsplit(args.postgres).path.lstrip("/")},
        "postgres_version": postgres_version,
        "broker": BROKER_URL.split("@")[-1],
        "packages": packages,
        "windows": [],
    }
    started = time.monotonic()
    site = Site(args.host_keys, args.sources // args.host_keys, args.articles, args.seed)
    try:
        for workers in worker_counts:
            print(f"{workers} worker(s), {time.monotonic() - started:.0f} s in", file=sys.stderr)
            results["windows"] += measure_workers(args, workers, site, workdir, hook_dir)
    finally:
        site.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    results["total_s"] = round(time.monotonic() - started)
    print(render_report(results))
    print(f"\n(bench took {results['total_s']} s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
