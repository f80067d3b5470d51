"""``[[destinations]]``: where stored articles are delivered (a webhook, a WordPress site).

Each destination has its own queue in the delivery ledger (``storage.deliveries``); an article
enters the queues of the destinations whose ``sources`` take its source when it is stored.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from crawler.config_types import HttpUrl, Interval, Strict
from crawler.dates import parse_interval

# Keys that only one kind of destination takes.
_ONLY_FOR = {
    "secret": "webhook",
    "user": "wordpress",
    "password": "wordpress",
    "status": "wordpress",
}


class DestinationConfig(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    kind: Literal["webhook", "wordpress"]
    url: HttpUrl
    # webhook: HMAC-SHA256 of the body, sent as X-Newsrelay-Signature: sha256=<hex>.
    secret: Annotated[str, Field(min_length=1)] | None = Field(default=None, repr=False)
    # wordpress: a user and one of its application passwords; the posts' status.
    user: Annotated[str, Field(min_length=1)] | None = None
    password: Annotated[str, Field(min_length=1)] | None = Field(default=None, repr=False)
    status: Literal["draft", "publish", "pending", "private"] = "draft"
    # The sources delivered here (default: every source).
    sources: list[str] = Field(default_factory=list)
    # Lines above the body (default: [export] header).
    header: list[str] | None = None
    # Seconds one delivery may take.
    timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    # A delivery that keeps failing (5xx, timeout, no connection) is retried this long, the
    # first time after `backoff`, then twice as long each time (at most an hour apart).
    retry_for: Interval = "1d"
    backoff: Interval = "30s"

    @model_validator(mode="after")
    def _keys_of_its_kind(self) -> DestinationConfig:
        for key, kind in _ONLY_FOR.items():
            if key in self.model_fields_set and self.kind != kind:
                raise ValueError(f"{key} is only for kind = {kind!r}")
        if self.kind == "wordpress" and not (self.user and self.password):
            raise ValueError("a wordpress destination needs user and password")
        return self

    def takes(self, source: str) -> bool:
        return not self.sources or source in self.sources

    @property
    def retry_for_seconds(self) -> float:
        return parse_interval(self.retry_for).total_seconds()

    @property
    def backoff_seconds(self) -> float:
        return parse_interval(self.backoff).total_seconds()
