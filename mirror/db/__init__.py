"""State: SQLAlchemy Core tables, Alembic migrations and the query functions services use."""
