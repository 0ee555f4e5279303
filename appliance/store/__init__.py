"""The store: SQLAlchemy tables (SQLite embedded default), migrations, repositories."""
