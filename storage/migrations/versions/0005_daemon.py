"""Daemon: heartbeat row, next run per source, run owner and extraction-health counters

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daemon_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("config_path", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_daemon_state"),
    )
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("crawl_runs") as batch:
        for column in ("pages_extracted", "pages_thin"):
            batch.add_column(sa.Column(column, sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("host", sa.String(255), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crawl_runs") as batch:
        for column in ("pid", "host", "pages_thin", "pages_extracted"):
            batch.drop_column(column)
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("next_run_at")
    op.drop_table("daemon_state")
