"""Storage: SQLAlchemy tables, the engine, the queries services need, and migrations."""
