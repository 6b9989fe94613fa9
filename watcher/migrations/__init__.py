"""Alembic migrations of the index; run by ``watcher.store`` when it opens."""
