"""Alembic migrations of the index; run by ``watcher.store.index`` when it opens."""
