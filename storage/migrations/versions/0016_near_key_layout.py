"""The band index laid out for local writes: article_near_keys WITHOUT ROWID on SQLite (the
rows are the primary key's B-tree), and article_near_keys_recent, where SQLite stages new
articles' bands before storage.near_index moves them on a key range at a time

Revision ID: 0016
Revises: 0015

Plain statements, no batch mode: on SQLite the table is rebuilt by hand (create, copy, drop,
rename), which touches nothing that refers to articles.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _band_table(name: str, *, with_rowid: bool) -> None:
    """article_near_keys' columns and constraints, under ``name``."""
    final = name.removesuffix("_rebuilt")
    op.create_table(
        name,
        sa.Column("key", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("article_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=f"fk_{final}_article_id_articles",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", "article_id", name=f"pk_{final}"),
        sqlite_with_rowid=with_rowid,
    )


def _rebuild_sqlite(*, with_rowid: bool) -> None:
    """article_near_keys again, WITHOUT ROWID or not, its rows copied in key order."""
    op.drop_index("ix_article_near_keys_article_id", table_name="article_near_keys")
    _band_table("article_near_keys_rebuilt", with_rowid=with_rowid)
    op.execute(
        "INSERT INTO article_near_keys_rebuilt (key, article_id)"
        " SELECT key, article_id FROM article_near_keys ORDER BY key, article_id"
    )
    op.drop_table("article_near_keys")
    op.rename_table("article_near_keys_rebuilt", "article_near_keys")
    op.create_index("ix_article_near_keys_article_id", "article_near_keys", ["article_id"])


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(with_rowid=False)
    _band_table("article_near_keys_recent", with_rowid=False)
    op.create_index(
        "ix_article_near_keys_recent_article_id", "article_near_keys_recent", ["article_id"]
    )


def downgrade() -> None:
    # The staged bands join the others first: none is lost.
    conflict = "OR IGNORE" if op.get_bind().dialect.name == "sqlite" else ""
    suffix = "" if conflict else " ON CONFLICT DO NOTHING"
    op.execute(
        f"INSERT {conflict} INTO article_near_keys (key, article_id)"
        f" SELECT key, article_id FROM article_near_keys_recent{suffix}"
    )
    op.drop_index("ix_article_near_keys_recent_article_id", table_name="article_near_keys_recent")
    op.drop_table("article_near_keys_recent")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(with_rowid=True)
