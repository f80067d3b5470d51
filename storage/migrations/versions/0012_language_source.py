"""Articles: where their language came from (declared by the page or feed, or detected)

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: articles stored before this revision do not know where their
    # language came from (it was always the page's declaration, or none).
    # Plain ALTER TABLE, never a batch (SQLite) rebuild: with foreign keys on, a rebuild's
    # DROP TABLE of articles cascades into every table that references it, and drops the
    # search triggers of 0009.
    op.add_column("articles", sa.Column("language_source", sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column("articles", "language_source")  # SQLite 3.35+: no rebuild either
