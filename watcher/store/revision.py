"""The index's schema revision, in a module of its own: ``watcher.store.quick``
compares it without loading SQLAlchemy."""

SCHEMA_HEAD = "0014_changes"  # the newest migration's revision; a test keeps it in step
