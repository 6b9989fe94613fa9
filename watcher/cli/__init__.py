"""The ``watcher`` command."""
