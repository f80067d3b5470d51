"""Everything that touches the database: models, engine and sessions, queries, exports.

Only this package imports SQLAlchemy.
"""
