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
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("language_source", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("language_source")
