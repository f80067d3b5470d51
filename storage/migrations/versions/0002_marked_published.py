"""articles.marked_published_at: what `export --mark-published` has handed out

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("marked_published_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_articles_marked_published_at", ["marked_published_at"])


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.drop_index("ix_articles_marked_published_at")
        batch.drop_column("marked_published_at")
