"""Source templates: paragraph fingerprints seen on a source's pages (its boilerplate)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_templates",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_source_templates_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", "key", name=op.f("pk_source_templates")),
    )
    op.create_index(
        "ix_source_templates_source_id_last_seen",
        "source_templates",
        ["source_id", "last_seen"],
    )


def downgrade() -> None:
    op.drop_index("ix_source_templates_source_id_last_seen", table_name="source_templates")
    op.drop_table("source_templates")
