"""The cluster: which worker ran a run, the cluster's members, and runs asked with --enqueue

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crawl_runs") as batch:
        batch.add_column(sa.Column("worker", sa.String(255), nullable=True))
    op.create_table(
        "cluster_members",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leader_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("crawls", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cluster_members")),
    )
    op.create_table(
        "crawl_requests",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crawl_requests")),
    )


def downgrade() -> None:
    op.drop_table("crawl_requests")
    op.drop_table("cluster_members")
    with op.batch_alter_table("crawl_runs") as batch:
        batch.drop_column("worker")
