"""What a destination receives for one article: the webhook's JSON document, the WordPress
post, and the keys that make a repeat recognisable."""

from __future__ import annotations

import hashlib
import html
import json
import uuid
from datetime import UTC
from typing import Any

from crawler.destinations import DestinationConfig
from storage.export import article_dict
from storage.html_policy import clean_html, safe_url
from storage.records import StoredArticle

_KEYS = uuid.UUID("5b0c7c52-3f43-4b5e-9d0e-6e2a1c8f7a10")  # namespace of idempotency keys


def idempotency_key(destination: str, article: StoredArticle) -> str:
    """The same for every attempt of one article to one destination, different for any other
    pair (and stable if the database is rebuilt: it rests on the article's address)."""
    return str(uuid.uuid5(_KEYS, f"{destination}\n{article.url}"))


def delivery_key(destination: str, article: StoredArticle) -> str:
    """The idempotency key of this revision's delivery: the article's key for its first text,
    then ``<key>:<revision>`` (``...:2`` for the first correction). A receiver that sees a
    key again has a repeat of a delivery it had; one that sees the article's key with a new
    ``:<revision>`` has an update of that article (the body's ``revision`` says the same)."""
    key = idempotency_key(destination, article)
    return key if article.revision == 1 else f"{key}:{article.revision}"


def webhook_body(
    destination: DestinationConfig, article: StoredArticle, header: list[str]
) -> bytes:
    """The article's export fields (``revision`` and ``updated`` among them), the header
    lines, the destination and the key of this revision's delivery (UTF-8)."""
    document: dict[str, Any] = {
        **article_dict(article),
        "header": header,
        "destination": destination.name,
        "idempotency_key": delivery_key(destination.name, article),
    }
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def wordpress_slug(destination: str, article: StoredArticle) -> str:
    """The post's slug: from the article id and its key, so a post can be found again after
    an attempt whose answer was lost, and updated by a later revision (the same for all)."""
    digest = hashlib.sha256(idempotency_key(destination, article).encode()).hexdigest()[:8]
    return f"newsrelay-{article.id}-{digest}"


def wordpress_post(
    destination: DestinationConfig, article: StoredArticle, header: list[str]
) -> dict[str, Any]:
    """The ``wp/v2/posts`` fields: title, content (header lines, source link, sanitized
    body), excerpt (the source link), date, status and slug."""
    url = html.escape(safe_url(article.url))
    link = f'<p class="newsrelay-source"><a href="{url}" rel="noopener noreferrer">{url}</a></p>'
    head = "".join(f'<p class="newsrelay-header">{html.escape(line)}</p>\n' for line in header)
    post: dict[str, Any] = {
        "title": article.title,
        "content": f"{head}{link}\n{clean_html(article.html)}",
        "excerpt": link,
        "status": destination.status,
        "slug": wordpress_slug(destination.name, article),
    }
    if article.published_at is not None:
        published = article.published_at.astimezone(UTC).replace(tzinfo=None)
        post["date_gmt"] = published.isoformat(timespec="seconds")
    return post
