"""Editorial filters: the entries a filter dropped (never fetched again), and a run counter

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "filtered_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("rules", sa.String(length=32), nullable=False, server_default=""),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("filtered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_filtered_entries_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["crawl_runs.id"],
            name=op.f("fk_filtered_entries_run_id_crawl_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_filtered_entries")),
        sa.UniqueConstraint("source_id", "url", name="uq_filtered_entries_source_id_url"),
    )
    # Plain ALTER TABLE, never a batch (SQLite) rebuild: with foreign keys on, a rebuild's
    # DROP TABLE cascades into the rows that reference the table, and drops its triggers.
    op.add_column(
        "crawl_runs", sa.Column("filtered", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    op.drop_column("crawl_runs", "filtered")  # SQLite 3.35+: no rebuild either
    op.drop_table("filtered_entries")
