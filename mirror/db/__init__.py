"""State: SQLAlchemy Core tables, Alembic migrations and the queries, one module per table
(``project_rows``, ``file_rows``, ``page_rows``, ... ; ``targets`` for the TUF queue and the
published targets, ``access`` for tokens and sessions, ``locks`` for the publish lock).
Nothing outside ``mirror.db`` writes SQL: the layers above call these functions."""
