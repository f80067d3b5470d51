"""``GET /metrics``: the process's own counters (``crawler.metrics``: runs, stored articles,
duplicates, fetch failures and run durations since this process started; a restart starts
them at zero, as Prometheus expects of counters) and gauges read from the database at each
scrape (so they survive restarts and are the same from ``newsrelay serve``): each source's
last success, backoff and extraction health, and each destination's pending deliveries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

import crawler.metrics  # noqa: F401 - registers the process's counters
from console.context import Context
from storage.db import StorageError
from storage.deliveries import delivery_counts
from storage.sources import source_statuses


class StoredGauges(Collector):
    def __init__(self, context: Context) -> None:
        self.context = context

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("newsrelay_database_up", "1 when the database answered the scrape.")
        try:
            gauges = list(self._gauges())
        except StorageError:
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield from gauges

    def _gauges(self) -> Iterator[Metric]:
        statuses = source_statuses(self.context.db)
        now = datetime.now(UTC)
        success = GaugeMetricFamily(
            "newsrelay_source_last_success_timestamp_seconds",
            "When the source's latest run that succeeded ended (Unix time).",
            labels=["source"],
        )
        backoff = GaugeMetricFamily(
            "newsrelay_source_backoff",
            "1 while the source backs off after failed runs, else 0.",
            labels=["source"],
        )
        failures = GaugeMetricFamily(
            "newsrelay_source_consecutive_failures", "Failed runs in a row.", labels=["source"]
        )
        thin = GaugeMetricFamily(
            "newsrelay_extraction_thin_ratio",
            "Share of the pages of the source's latest run whose text was empty or tiny.",
            labels=["source"],
        )
        for name in [s.name for s in self.context.config().sources]:
            status = statuses.get(name)
            run = status.last_finished if status else None  # not one going, with no figures
            if status and status.last_success_at:  # its latest ok run's start
                success.add_metric([name], status.last_success_at.timestamp())
            backing_off = bool(status and status.backoff_until and status.backoff_until > now)
            backoff.add_metric([name], 1.0 if backing_off else 0.0)
            failures.add_metric([name], float(status.consecutive_failures if status else 0))
            if run is not None and run.counters.pages_extracted:
                thin.add_metric([name], run.counters.pages_thin / run.counters.pages_extracted)
        yield from (success, backoff, failures, thin)
        pending = GaugeMetricFamily(
            "newsrelay_deliveries_pending",
            "Deliveries waiting, per destination.",
            labels=["destination"],
        )
        failed = GaugeMetricFamily(
            "newsrelay_deliveries_failed",
            "Deliveries failed for good, per destination.",
            labels=["destination"],
        )
        counts = delivery_counts(self.context.db)
        for destination in self.context.config().destinations:
            found = counts.get(destination.name)
            pending.add_metric([destination.name], float(found.pending if found else 0))
            failed.add_metric([destination.name], float(found.failed if found else 0))
        yield from (pending, failed)


def exposition(stored: CollectorRegistry) -> bytes:
    """The process's metrics, then the database's."""
    return generate_latest(REGISTRY) + generate_latest(stored)


def stored_registry(context: Context) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoredGauges(context))
    return registry
