"""Dedup keys: GUID and URL-id identities, the near-duplicate index, per-kind run counters

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "article_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"],
            name=op.f("fk_article_keys_article_id_articles"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article_keys")),
        sa.UniqueConstraint("kind", "key", name="uq_article_keys_kind_key"),
    )
    op.create_index("ix_article_keys_article_id", "article_keys", ["article_id"])
    op.create_table(
        "article_near_keys",
        sa.Column("key", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("article_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"],
            name=op.f("fk_article_near_keys_article_id_articles"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", "article_id", name=op.f("pk_article_near_keys")),
    )
    with op.batch_alter_table("article_urls") as batch:
        batch.add_column(sa.Column("similarity", sa.Float(), nullable=True))
    with op.batch_alter_table("crawl_runs") as batch:
        for column in ("duplicates_guid", "duplicates_url_id", "duplicates_near"):
            batch.add_column(sa.Column(column, sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("crawl_runs") as batch:
        for column in ("duplicates_guid", "duplicates_url_id", "duplicates_near"):
            batch.drop_column(column)
    with op.batch_alter_table("article_urls") as batch:
        batch.drop_column("similarity")
    op.drop_table("article_near_keys")
    op.drop_index("ix_article_keys_article_id", table_name="article_keys")
    op.drop_table("article_keys")
