"""Alerts: decide a check's events, compose them into messages, send them through the outbox."""
