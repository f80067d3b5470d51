"""Images: an article's lead image, with its caption and credit, and its kept file

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


# image_path: the file kept by [images] download, relative to its directory.
_COLUMNS = ("image", "image_caption", "image_credit", "image_path")


def upgrade() -> None:
    # Plain ALTER TABLE ... ADD/DROP COLUMN on every backend (SQLite has both since 3.35):
    # Alembic's batch mode would rebuild the table on SQLite to drop one, and a rebuilt
    # table loses the full-text triggers of 0009.
    for name in _COLUMNS:
        op.add_column("articles", sa.Column(name, sa.Text(), nullable=True))


def downgrade() -> None:
    for name in reversed(_COLUMNS):
        op.drop_column("articles", name)
