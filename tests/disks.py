"""Small real file systems for tests: a tmpfs mounted (as root) where a test needs a
full or a read-only disk, and a page and config to fill them with."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml


def page(text: str) -> bytes:
    return (
        "<html><head><meta charset='utf-8'><title>通知公告</title></head><body>"
        f"<div id='con'><p>{text}</p></div></body></html>"
    ).encode()


@contextlib.contextmanager
def mounted(where: Path, options: str) -> Iterator[Path]:
    """A tmpfs at ``where`` (needs root and a kernel that lets this process mount)."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the file system has no byte left; returns it."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    probe = folder / "probe"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError) as refused:
            os.write(fd, b"x" * 8192)
    finally:
        os.close(fd)
        probe.unlink()
    assert refused.value.errno == errno.ENOSPC
    return filler


def write_config(
    path: Path, url: str, target: dict[str, object] | None = None, **settings: object
) -> None:
    """One target, ``miit``, at ``url`` (``target``: more of its options)."""
    doc = {
        "settings": {"host_delay": 0, "base_url": "http://127.0.0.1:8080", **settings},
        "keywords": {"shipbuilding": ["船舶"]},
        "targets": [{"name": "miit", "url": url, "retries": 0, "timeout": "5s", **(target or {})}],
    }
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
