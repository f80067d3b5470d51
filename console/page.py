"""The console's web page: server-rendered HTML, no build step. Every piece of crawled text is
escaped (titles, snippets, texts, URLs; links only http(s)), and a Content-Security-Policy
with a per-response nonce lets no script run but the page's own. The "crawl now" buttons
send the token the operator types once into the page (kept in the tab's sessionStorage);
no token is ever written into the HTML."""

from __future__ import annotations

import html
import secrets
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from console.api import Ctx, Id, articles, daemon_health, runs, sources
from storage.console import article_detail
from storage.html_policy import safe_url

router = APIRouter(include_in_schema=False)

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222;max-width:80rem}
table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
.ok{color:#176f2c}.failing,.extraction-broken{color:#b3261e}.backing-off{color:#9a6700}
.side{display:flex;gap:2rem}.side>div{flex:1}.muted{color:#666;font-size:.9em}
[dir=auto]{unicode-bidi:plaintext}
"""

SCRIPT = """
const box = document.getElementById('token');
box.value = sessionStorage.getItem('newsrelay-token') || '';
box.addEventListener('change', () => sessionStorage.setItem('newsrelay-token', box.value));
for (const button of document.querySelectorAll('button[data-source]')) {
  button.addEventListener('click', async () => {
    const name = button.dataset.source;
    const answer = await fetch('/api/sources/' + encodeURIComponent(name) + '/crawl', {
      method: 'POST', headers: {'Authorization': 'Bearer ' + box.value}});
    const said = document.getElementById('said');
    if (answer.status === 202) {
      const body = await answer.json();
      said.textContent = 'run ' + body.run_id + ' of ' + name + ' started';
      setTimeout(() => location.reload(), 1500);
    } else {
      said.textContent = 'crawl of ' + name + ' refused: ' + answer.status;
    }
  });
}
"""


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def link(url: str, text: str | None = None) -> str:
    """A link to a crawled address, only if it is http(s); its text escaped either way."""
    safe = safe_url(url)
    shown = e(text if text is not None else url)
    if not safe.startswith(("http://", "https://")):
        return shown
    return f'<a href="{e(safe)}" rel="noopener noreferrer nofollow">{shown}</a>'


def document(title: str, body: str, nonce: str) -> HTMLResponse:
    page = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{STYLE}</style></head><body>{body}"
        f'<script nonce="{nonce}">{SCRIPT}</script></body></html>'
    )
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )
    headers = {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff"}
    return HTMLResponse(page, headers=headers)


def _token_box() -> str:
    return (
        '<p><label>API token (for "crawl now"; kept in this tab only) '
        '<input id="token" type="password" autocomplete="off"></label> '
        '<span id="said" class="muted"></span></p>'
    )


def _sources_table(items: list[dict[str, Any]]) -> str:
    rows = "".join(
        f'<tr id="source-{e(s["name"])}"><td>{e(s["name"])}</td>'
        f'<td class="{e(s["health"].replace(" ", "-"))}">{e(s["health"])}</td>'
        f"<td>{e((s['last_run'] or {}).get('status', '-'))}</td>"
        f"<td>{e((s['last_run'] or {}).get('started_at', '-'))}</td>"
        f"<td>{e(s['consecutive_failures'])}</td><td>{e(s['next_run'] or '-')}</td>"
        f'<td><button data-source="{e(s["name"])}">crawl now</button></td></tr>'
        for s in items
    )
    head = "<tr><th>source</th><th>health</th><th>last run</th><th>started</th>"
    head += "<th>failures</th><th>next run</th><th></th></tr>"
    return f'<h2>Sources</h2><table id="sources">{head}{rows}</table>'


def _runs_table(items: list[dict[str, Any]]) -> str:
    rows = "".join(
        f'<tr data-run="{e(r["id"])}"><td>{e(r["id"])}</td><td>{e(r["source"])}</td>'
        f'<td class="status">{e(r["status"])}</td><td>{e(r["started_at"])}</td>'
        f"<td>{e(r['new'])}</td><td>{e(r['duplicates'])}</td><td>{e(r['errors'])}</td>"
        f"<td>{e(r['filtered'])}</td>"
        f'<td dir="auto">{e(r["error"] or "")}</td></tr>'
        for r in items
    )
    head = "<tr><th>run</th><th>source</th><th>status</th><th>started</th><th>new</th>"
    head += "<th>duplicates</th><th>errors</th><th>filtered</th><th>why</th></tr>"
    return f'<h2>Recent runs</h2><table id="runs">{head}{rows}</table>'


def _articles_list(items: list[dict[str, Any]], q: str | None) -> str:
    form = (
        '<form method="get" action="/"><input type="search" name="q" '
        f'value="{e(q or "")}" placeholder="search titles and texts" dir="auto"> '
        '<button type="submit">search</button></form>'
    )
    rows = "".join(
        f'<tr class="article"><td><a href="/articles/{e(a["id"])}" dir="auto">'
        f"{e(a['title'] or '(no title)')}</a>"
        f'<div class="muted" dir="auto">{e(a["snippet"][:200])}</div></td>'
        f"<td>{e(a['source'])}</td><td>{e(a['language'] or '')}</td>"
        f"<td>{e(a['published'] or '')}</td><td>{e(a['copies'])}</td></tr>"
        for a in items
    )
    head = "<tr><th>article</th><th>source</th><th>lang</th><th>published</th><th>copies</th></tr>"
    title = f"Articles matching {e(q)}" if q else "Recent articles"
    found = f'<table id="articles">{head}{rows}</table>' if items else "<p>No article.</p>"
    return f"<h2>{title}</h2>{form}{found}"


@router.get("/", response_class=HTMLResponse)
def home(request: Request, ctx: Ctx, q: str | None = Query(None, max_length=200)) -> HTMLResponse:
    alive, state = daemon_health(ctx)
    daemon = state["daemon"] or {}
    line = (
        f"daemon running (pid {e(daemon.get('pid'))} on {e(daemon.get('host'))})"
        if alive
        else "no daemon running on this database"
    )
    body = (
        f"<h1>newsrelay</h1><p id='daemon'>{line} &middot; {e(_now())}</p>{_token_box()}"
        + _sources_table(sources(ctx)["items"])
        + _articles_list(articles(ctx, q=q, limit=30)["items"], q)
        + _runs_table(runs(ctx, limit=20)["items"])
    )
    return document("newsrelay", body, secrets.token_urlsafe(16))


@router.get("/articles/{article_id}", response_class=HTMLResponse)
def article_page(article_id: Id, ctx: Ctx) -> HTMLResponse:
    found = article_detail(ctx.db, article_id)
    if found is None:
        raise HTTPException(404, f"no article {article_id}")
    article, deliveries = found
    text = "".join(f'<p dir="auto">{e(p)}</p>' for p in article.text.split("\n") if p.strip())
    copies = "".join(
        f"<li>{link(d['url'])} <span class='muted'>{e(d['kind'])}"
        + (f", similarity {d['similarity']:.2f}" if d["similarity"] is not None else "")
        + "</span></li>"
        for d in article.duplicates
    )
    sent = "".join(f"<li>{e(d.destination)}: {e(d.state)}</li>" for d in deliveries)
    body = (
        f'<p><a href="/">&larr; newsrelay</a></p><h1 dir="auto">{e(article.title)}</h1>'
        f"<p class='muted'>{e(article.source)} &middot; {link(article.url)} &middot; "
        f"{e(article.published_at)}</p>{_token_box()}"
        f'<div class="side"><div id="text"><h2>Text</h2>{text}</div>'
        f'<div id="copies"><h2>Recognised copies</h2><ul>{copies or "<li>none</li>"}</ul>'
        f"<h2>Deliveries</h2><ul>{sent or '<li>none</li>'}</ul></div></div>"
    )
    return document(article.title, body, secrets.token_urlsafe(16))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
