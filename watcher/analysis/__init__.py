"""Bytes to the text of record: decoding, extraction, attachments, notice metadata.

The CPU-heavy part of a check; it runs in worker processes.
"""
