"""The only place with SQL: the index, blobs, schema and migrations, search,
documents, the outbox tables and the read views the web UI needs (``views``).
What only SQLite has or needs is in ``sqlite``, the one module a second database
mirrors; every other package calls the store's typed functions."""
