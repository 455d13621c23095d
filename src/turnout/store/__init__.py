"""turnout's state store: frozen records in, SQL out; the schema versioned with Alembic."""

from turnout.store.locks import holder_identity
from turnout.store.store import Store

__all__ = ["Store", "holder_identity"]
