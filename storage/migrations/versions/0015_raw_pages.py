"""Raw pages: each stored article's page as fetched, compressed, for `newsrelay reextract`

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
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
