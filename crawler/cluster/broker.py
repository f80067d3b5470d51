"""The broker and the one kind of message the cluster sends: "run this source".

Dramatiq acknowledges a message only once its actor has returned, so the runs of a worker
killed mid-crawl are delivered again to another one. Our own middleware list: a few retries
for a crash, and the current message (a busy source's message is sent again unchanged, so
waiting spends none of its retries, and keeps its age: a run older than its source's interval
is dropped by the worker, acknowledged, not dead-lettered, since the next one is on its way).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from crawler.config import ClusterConfig

logger = logging.getLogger(__name__)

ACTOR = "run_source"
# A crash (not a busy source, not a stop) is retried this often, 5 s to 60 s apart: well under
# RabbitMQ's 30-minute consumer timeout, which drops deliveries left unacknowledged longer.
CRASH_RETRIES = 3


def queue_name(cluster: ClusterConfig) -> str:
    return f"{cluster.queue}.runs"


def open_broker(cluster: ClusterConfig, handler: Callable[..., None] | None = None) -> Any:
    """A RabbitMQ broker with the ``run_source`` actor on the deployment's queue; ``handler``
    is what a worker runs per message (senders need none)."""
    import dramatiq
    from dramatiq.brokers.rabbitmq import RabbitmqBroker
    from dramatiq.middleware import CurrentMessage, Retries

    broker = RabbitmqBroker(
        url=cluster.broker,
        confirm_delivery=True,  # a send returns once RabbitMQ has the message
        middleware=[
            Retries(max_retries=CRASH_RETRIES, min_backoff=5_000, max_backoff=60_000),
            CurrentMessage(),
        ],
    )
    dramatiq.Actor(
        handler or _not_here,
        broker=broker,
        actor_name=ACTOR,
        queue_name=queue_name(cluster),
        priority=0,
        options={},
    )
    return broker


def _not_here(*_: Any, **__: Any) -> None:  # pragma: no cover - only workers consume
    raise RuntimeError("run_source runs in newsrelay worker")


@dataclass(frozen=True)
class RunOrder:
    """One source run asked of the workers."""

    source: str
    scheduled_at: datetime
    interval: timedelta | None = None  # scheduled runs: dropped when older than this
    request: str | None = None  # crawl --enqueue: the crawl_requests row to answer
    refetch: bool = False  # crawl --enqueue --refetch
    due_only: bool = True  # a scheduled run; crawl --enqueue only with --due-only
    run_id: int | None = None  # the console's "crawl now": the queued run to adopt

    def kwargs(self) -> dict[str, Any]:
        return {
            "scheduled_at": self.scheduled_at.isoformat(),
            "interval_s": self.interval.total_seconds() if self.interval else None,
            "request": self.request,
            "refetch": self.refetch,
            "due_only": self.due_only,
            "run_id": self.run_id,
        }


def send(broker: Any, cluster: ClusterConfig, order: RunOrder) -> None:
    """Send one run; a scheduled one expires after its interval (the next is then due)."""
    import dramatiq

    options: dict[str, Any] = {}
    if order.interval is not None:
        options["max_age"] = int(order.interval.total_seconds() * 1000)
    message: Any = dramatiq.Message(
        queue_name=queue_name(cluster),
        actor_name=ACTOR,
        args=(order.source,),
        kwargs=order.kwargs(),
        options=options,
    )
    broker.enqueue(message)


def age_ms(message: Any) -> int:
    """How long ago ``message`` was first sent (a resend keeps its first time)."""
    return int(time.time() * 1000) - int(message.message_timestamp)


def too_old(message: Any) -> bool:
    """A scheduled run older than its source's interval: the next one is on its way."""
    max_age = message.options.get("max_age")
    return bool(max_age) and age_ms(message) >= int(max_age)


def send_again(broker: Any, message: Any, delay_ms: int) -> None:
    """Put ``message`` back unchanged (its age and retries kept), to run in ``delay_ms``."""
    broker.enqueue(message.copy(), delay=delay_ms or None)


def queue_depth(broker: Any, cluster: ClusterConfig) -> dict[str, int]:
    """Messages waiting: ready now, and delayed (busy sources, crash retries)."""
    ready, delayed, _dead = broker.get_queue_message_counts(queue_name(cluster))
    return {"ready": int(ready), "delayed": int(delayed)}
