"""Posting to WordPress through its REST API (``wp/v2/posts``) with an application password.

The REST root is found as WordPress documents it: the ``Link: <...>; rel="https://api.w.org/"``
header of the site's address, so sites with plain permalinks (``?rest_route=/``) work as well
as ``/wp-json/``. A post's slug is derived from the article (``publisher.payload``); after an
attempt whose answer was lost (the ledger counts attempts before sending), the post is looked
up by that slug before another is created, so a publisher killed between the POST and its
ledger write never makes a second post. A later revision of an article (a correction)
updates the post found by that slug (``POST wp/v2/posts/<id>``) instead of making another.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx

from crawler.destinations import DestinationConfig
from publisher.payload import wordpress_post, wordpress_slug
from publisher.senders import Outcome, failure, unreachable
from storage.deliveries import DeliveryItem

API_REL = "https://api.w.org/"
# Every status a post of ours can have; looking one up needs them all (drafts included).
ANY_STATUS = "publish,future,draft,pending,private"


class RestRootMissing(Exception):
    """The site's answer names no REST API root."""


def rest_url(root: str, route: str, query: dict[str, str] | None = None) -> str:
    """``route`` (``wp/v2/posts``) under the REST ``root``: ``/wp-json/`` or ``?rest_route=/``."""
    parts = urlsplit(root)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    if "rest_route" in params:
        params["rest_route"] = params["rest_route"].rstrip("/") + "/" + route
        return urlunsplit(parts._replace(query=urlencode({**params, **(query or {})})))
    url = urljoin(root if root.endswith("/") else root + "/", route)
    return url + ("?" + urlencode(query) if query else "")


class WordPressSender:
    def __init__(self, destination: DestinationConfig, header: list[str], user_agent: str) -> None:
        assert destination.user is not None and destination.password is not None
        self.destination = destination
        self.header = header
        self.client = httpx.Client(
            timeout=destination.timeout,
            headers={"User-Agent": user_agent},
            auth=httpx.BasicAuth(destination.user, destination.password),
        )
        self.root: str | None = None

    def send(self, item: DeliveryItem, attempt: int) -> Outcome:
        try:
            root = self.root or self._discover()
            revised = item.article.revision > 1
            found = None
            if attempt > 1 or revised:  # an earlier attempt or revision may have made the post
                found = self._find(root, wordpress_slug(self.destination.name, item.article))
                if isinstance(found, Outcome):
                    return found
                if found is not None and not revised:
                    return Outcome(True, 200, remote_id=found)
            post = wordpress_post(self.destination, item.article, self.header)
            route = f"wp/v2/posts/{found}" if found is not None else "wp/v2/posts"
            response = self.client.post(rest_url(root, route), json=post)
        except RestRootMissing as exc:
            return Outcome(False, None, error=str(exc))
        except httpx.HTTPError as exc:
            return unreachable(exc, "WordPress")
        if response.is_success:
            return Outcome(True, response.status_code, remote_id=_post_id(response))
        return failure(response, "WordPress")

    def _discover(self) -> str:
        """The REST root from the site's ``Link`` header (followed through redirects)."""
        response = self.client.get(self.destination.url, follow_redirects=True)
        link = response.links.get(API_REL)
        if not link or not link.get("url"):
            raise RestRootMissing(
                f"{self.destination.url} answered {response.status_code} without a "
                f'Link rel="{API_REL}" header: is it a WordPress site with its REST API on?'
            )
        root = urljoin(str(response.url), link["url"])
        configured, found = urlsplit(self.destination.url), urlsplit(root)
        if (found.scheme, found.hostname) != (configured.scheme, configured.hostname):
            # The application password goes with every request: never to another site, nor
            # in the clear to a site configured as https.
            raise RestRootMissing(
                f"the REST API of {self.destination.url} is at {root}, on another site or "
                "scheme: set url to the site's own address"
            )
        self.root = root
        return root

    def _find(self, root: str, slug: str) -> str | Outcome | None:
        """The id of our post with ``slug``, if an earlier attempt made it."""
        query = {"slug": slug, "status": ANY_STATUS, "context": "edit", "_fields": "id"}
        response = self.client.get(rest_url(root, "wp/v2/posts", query))
        if not response.is_success:
            return failure(response, "WordPress (looking up an earlier attempt)")
        try:
            posts: Any = response.json()
            return str(posts[0]["id"]) if posts else None
        except (ValueError, LookupError, TypeError):  # a page that is no list of posts
            text = " ".join(response.text[:200].split())
            return Outcome(
                False,
                response.status_code,
                error=f"WordPress's answer is no JSON list of posts: {text}",
            )

    def close(self) -> None:
        self.client.close()


def _post_id(response: httpx.Response) -> str | None:
    try:
        post = response.json()
    except ValueError:
        return None
    return str(post["id"]) if isinstance(post, dict) and "id" in post else None
