"""The only place with SQL: the index, blobs, schema and migrations, search,
documents, the outbox tables and the read views the web UI needs."""
