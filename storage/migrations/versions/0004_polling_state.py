"""Polling state: per-feed next poll bound, per-source backoff, 304 and not-due counters

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(
            sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("backoff_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("next_poll_after", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("crawl_runs") as batch:
        for column in ("feeds_not_modified", "feeds_not_due"):
            batch.add_column(sa.Column(column, sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("crawl_runs") as batch:
        for column in ("feeds_not_modified", "feeds_not_due"):
            batch.drop_column(column)
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("next_poll_after")
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("backoff_until")
        batch.drop_column("consecutive_failures")
