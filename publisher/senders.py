"""Sending one article to one destination over HTTP (httpx), and what the answer means.

2xx is delivered. 408, 429, 5xx, a timeout or a connection error are worth trying again
(``Retry-After`` honoured); any other answer is a permanent failure with its reason.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Protocol

import httpx

from crawler.destinations import DestinationConfig
from publisher.payload import delivery_key, webhook_body
from storage.deliveries import DeliveryItem

RETRYABLE = {408, 429}
# Answers that say the destination is wrong (a revoked password, a moved or removed address),
# not this article: retried like a site that is down, so the queue waits for the fix.
DESTINATION_WRONG = {401, 403, 404, 405, 410}


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status_code: int | None = None
    remote_id: str | None = None
    error: str | None = None
    permanent: bool = False  # a failure not worth retrying by itself
    retry_after: float | None = None  # seconds, from the answer's Retry-After


class Sender(Protocol):
    def send(self, item: DeliveryItem, attempt: int) -> Outcome: ...

    def close(self) -> None: ...


def failure(response: httpx.Response, what: str) -> Outcome:
    """A non-2xx answer, classified."""
    code = response.status_code
    reason = response.reason_phrase or "error"
    detail = " ".join(response.text[:200].split())
    if response.is_redirect:
        detail = f"redirected to {response.headers.get('location', '?')}: set url to that"
    error = f"{what} answered {code} {reason}" + (f": {detail}" if detail else "")
    retryable = code in RETRYABLE or code in DESTINATION_WRONG or code >= 500 or code < 400
    return Outcome(
        False,
        code,
        error=error,
        permanent=not retryable,
        retry_after=retry_after(response.headers.get("retry-after")) if retryable else None,
    )


def unreachable(exc: httpx.HTTPError, what: str) -> Outcome:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "unreachable"
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return Outcome(False, None, error=f"{what} {kind}: {detail}")


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


class WebhookSender:
    """POST one JSON document per article, signed with the destination's secret."""

    def __init__(self, destination: DestinationConfig, header: list[str], user_agent: str) -> None:
        self.destination = destination
        self.header = header
        self.client = httpx.Client(timeout=destination.timeout, headers={"User-Agent": user_agent})

    def send(self, item: DeliveryItem, attempt: int) -> Outcome:
        body = webhook_body(self.destination, item.article, self.header)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": delivery_key(self.destination.name, item.article),
        }
        if self.destination.secret:
            digest = hmac.new(self.destination.secret.encode(), body, hashlib.sha256)
            headers["X-Newsrelay-Signature"] = f"sha256={digest.hexdigest()}"
        try:
            response = self.client.post(self.destination.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return unreachable(exc, "the webhook")
        if response.is_success:
            return Outcome(True, response.status_code)
        return failure(response, "the webhook")

    def close(self) -> None:
        self.client.close()
