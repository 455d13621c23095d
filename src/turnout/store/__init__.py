"""turnout's state store (SQLAlchemy 2; schema versioned with Alembic)."""

from turnout.store.store import Store, holder_identity

__all__ = ["Store", "holder_identity"]
