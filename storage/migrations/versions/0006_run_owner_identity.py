"""Crawl runs: the boot and the start time of the process that runs them

A pid alone does not identify a process: after a reboot, or a long uptime, another process
can have it. With the boot id and the process's start time, a run left 'running' by a dead
process is recognised even when its pid is alive again.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crawl_runs") as batch:
        batch.add_column(sa.Column("boot_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("pid_start", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crawl_runs") as batch:
        batch.drop_column("pid_start")
        batch.drop_column("boot_id")
