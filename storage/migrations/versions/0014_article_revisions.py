"""Corrections and re-extraction: an article's revision, its earlier texts, its entry's
updated time; each article's raw page as fetched, compressed, for `newsrelay reextract`

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on articles, as in 0013: a batch rebuild on SQLite would lose the
    # full-text triggers of 0009. Every stored article is its revision 1.
    op.add_column(
        "articles", sa.Column("revision", sa.Integer(), nullable=False, server_default="1")
    )
    op.add_column("articles", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "articles", sa.Column("entry_updated_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "article_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_article_revisions_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article_revisions")),
        sa.UniqueConstraint(
            "article_id", "revision", name="uq_article_revisions_article_id_revision"
        ),
    )
    # Plain ALTER TABLE here too: a rebuild of crawl_runs would set articles.run_id to NULL.
    op.add_column(
        "crawl_runs", sa.Column("revised", sa.Integer(), nullable=False, server_default="0")
    )
    _create_raw_pages()


def _create_raw_pages() -> None:
    op.create_table(
        "raw_pages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=True),
        sa.Column("compression", sa.String(length=8), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("entry_title", sa.Text(), nullable=True),
        sa.Column("entry_language", sa.String(length=16), nullable=True),
        sa.Column("entry_image", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_raw_pages_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_raw_pages")),
        sa.UniqueConstraint("article_id", name=op.f("uq_raw_pages_article_id")),
    )
    op.create_index("ix_raw_pages_fetched_at", "raw_pages", ["fetched_at"])


def downgrade() -> None:
    op.drop_index("ix_raw_pages_fetched_at", table_name="raw_pages")
    op.drop_table("raw_pages")
    op.drop_column("crawl_runs", "revised")
    op.drop_table("article_revisions")
    for name in ("entry_updated_at", "updated_at", "revision"):
        op.drop_column("articles", name)
