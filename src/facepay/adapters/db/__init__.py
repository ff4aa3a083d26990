"""Relational storage (SQLAlchemy Core, SQLite and PostgreSQL): tables, repositories, the unit
of work and Alembic migrations. The domain classes know nothing of it: rows are mapped by hand.
"""
