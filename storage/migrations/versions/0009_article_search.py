"""Full-text search over articles' title and text: FTS5 on SQLite, a tsvector on PostgreSQL

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Arabic and Persian spellings of one letter are indexed as one (ي and ى as ی, ك as ک), as
# storage.console folds the query: "ايران" finds "ایران".
def _fold(expression: str) -> str:
    for arabic, persian in (("\u064a", "\u06cc"), ("\u0649", "\u06cc"), ("\u0643", "\u06a9")):
        expression = f"replace({expression}, '{arabic}', '{persian}')"
    return expression


def _row(prefix: str) -> str:
    return f"{prefix}.id, {_fold(prefix + '.title')}, {_fold(prefix + '.text')}"


# unicode61 splits on anything that is not a letter or digit in any script (Persian, Arabic
# included) and drops diacritics; kept in step with `articles` by triggers. The index holds
# the folded text, so a row leaves it ('delete') with its folded values too.
SQLITE_UP = [
    "CREATE VIRTUAL TABLE articles_fts USING fts5(title, text, content='articles', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN "
    f"INSERT INTO articles_fts(rowid, title, text) VALUES ({_row('new')}); END",
    "CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN "
    "INSERT INTO articles_fts(articles_fts, rowid, title, text) "
    f"VALUES ('delete', {_row('old')}); END",
    "CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, text ON articles BEGIN "
    "INSERT INTO articles_fts(articles_fts, rowid, title, text) "
    f"VALUES ('delete', {_row('old')}); "
    f"INSERT INTO articles_fts(rowid, title, text) VALUES ({_row('new')}); END",
    f"INSERT INTO articles_fts(rowid, title, text) SELECT {_row('articles')} FROM articles",
]
SQLITE_DOWN = [
    "DROP TRIGGER articles_fts_update",
    "DROP TRIGGER articles_fts_delete",
    "DROP TRIGGER articles_fts_insert",
    "DROP TABLE articles_fts",
]
# 'simple': no stemming and no stop words, the same for every language.
POSTGRES_UP = [
    "ALTER TABLE articles ADD COLUMN search tsvector GENERATED ALWAYS AS "
    # Only the first 200,000 characters: PostgreSQL refuses a tsvector over 1 MB, and a
    # refused row would fail its whole batch of articles.
    "(to_tsvector('simple', translate(left(coalesce(title, '') || ' ' || coalesce(text, ''), "
    "200000), '\u064a\u0649\u0643', '\u06cc\u06cc\u06a9'))) STORED",
    "CREATE INDEX ix_articles_search ON articles USING gin (search)",
]
POSTGRES_DOWN = ["DROP INDEX ix_articles_search", "ALTER TABLE articles DROP COLUMN search"]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _run(SQLITE_UP if dialect == "sqlite" else POSTGRES_UP if dialect == "postgresql" else [])


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _run(SQLITE_DOWN if dialect == "sqlite" else POSTGRES_DOWN if dialect == "postgresql" else [])
