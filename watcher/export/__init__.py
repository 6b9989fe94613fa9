"""Captures out of watcher in standard formats (WARC)."""
