"""Retention: tombstones of deleted articles (their dedup keys), and the indexes deleting
articles needs

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
        "article_tombstones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article_tombstones")),
    )
    op.create_index(
        "ix_article_tombstones_deleted_at", "article_tombstones", ["deleted_at"]
    )
    op.create_table(
        "tombstone_keys",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("tombstone_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tombstone_id"],
            ["article_tombstones.id"],
            name=op.f("fk_tombstone_keys_tombstone_id_article_tombstones"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("kind", "key", "tombstone_id", name=op.f("pk_tombstone_keys")),
    )
    op.create_index("ix_tombstone_keys_tombstone_id", "tombstone_keys", ["tombstone_id"])
    # Without these, deleting an article scans article_near_keys (its foreign key's cascade,
    # and reading its bands for the tombstone), and finding who else shows an image file
    # scans articles.
    op.create_index("ix_article_near_keys_article_id", "article_near_keys", ["article_id"])
    op.create_index("ix_articles_image_path", "articles", ["image_path"])


def downgrade() -> None:
    op.drop_index("ix_articles_image_path", table_name="articles")
    op.drop_index("ix_article_near_keys_article_id", table_name="article_near_keys")
    op.drop_index("ix_tombstone_keys_tombstone_id", table_name="tombstone_keys")
    op.drop_table("tombstone_keys")
    op.drop_index("ix_article_tombstones_deleted_at", table_name="article_tombstones")
    op.drop_table("article_tombstones")
