"""Tables of what an article was: its earlier revisions (``storage.revisions``) and its page
as fetched (``storage.raw_pages``). Kept apart from ``storage.models`` so that module stays a
readable size; both share its ``Base``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, UTCDateTime


class ArticleRevision(Base):
    """An earlier text of a corrected article, with when it was stored; the article's row
    holds the latest one."""

    __tablename__ = "article_revisions"
    __table_args__ = (
        UniqueConstraint("article_id", "revision", name="uq_article_revisions_article_id_revision"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RawPage(Base):
    """An article's page as fetched, compressed (``storage.raw_pages``), kept for
    ``storage.keep_raw``: ``newsrelay reextract`` extracts it again without fetching it."""

    __tablename__ = "raw_pages"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), unique=True
    )
    url: Mapped[str] = mapped_column(Text)  # the response's (after redirects)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    content_type: Mapped[str | None] = mapped_column(String(255))
    compression: Mapped[str] = mapped_column(String(8))  # zstd | gzip
    body: Mapped[bytes] = mapped_column(LargeBinary)
    # What the feed entry said that extraction uses: its title, language and image.
    entry_title: Mapped[str | None] = mapped_column(Text)
    entry_language: Mapped[str | None] = mapped_column(String(16))
    entry_image: Mapped[str | None] = mapped_column(Text)
