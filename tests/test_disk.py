"""A full disk and a read-only data folder, on real file systems: small tmpfs mounts
(as root), so that writes fail where and as they fail in production."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from disks import fill, mounted, page, write_config
from httpserver import HTTPServer, free_port

from watcher.alerts.send import load_channels
from watcher.config import load_config
from watcher.service.runtime import Paths, Runtime
from watcher.store.index import Store, StoreError

ROOT = Path(__file__).parent.parent
HTML = {"Content-Type": "text/html; charset=utf-8"}


# --------------------------------------------------------------------------- full disk


async def test_a_full_disk_counts_as_an_error_and_the_count_reaches_the_store_later(
    http_server: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The disk fills between two checks: the change cannot be stored, each check is an
    error "disk full on <folder>" that counts towards the error alert (kept in memory
    while even the check log cannot be written), and once there is space again the
    count, the check log and the alert reach the store; the earlier capture is intact."""
    http_server.route("/n", body=page("关于开展年度检查工作的通知。"), headers=HTML)
    config_path = tmp_path / "targets.yaml"
    write_config(config_path, http_server.url("/n"), error_after=2)
    config = load_config(config_path)
    disk = tmp_path / "disk"
    with mounted(disk, "size=16m"):
        data = disk / "snapshots"
        paths = Paths(config_path, data, tmp_path / "notifiers")
        channels = load_channels(paths.notifiers)
        with Store(data) as store:
            async with Runtime(config, paths, store, channels=channels, queue_alerts=True) as rt:
                first = await rt.check()
        assert [r.status for r in first] == ["new"]
        with Store(data) as store:  # the WAL folded back: a new write needs new space
            async with Runtime(config, paths, store, channels=channels, queue_alerts=True) as rt:
                store.target_states([("miit", http_server.url("/n"))])  # opened, read
                filler = fill(disk)
                http_server.route("/n", body=page("推动船舶工业高质量发展。" * 200), headers=HTML)
                failed = [(await rt.check())[0] for _ in range(2)]
                assert [r.status for r in failed] == ["error", "error"]
                assert failed[0].error == (
                    f"disk full on {data}: nothing new could be stored; free space there"
                )
                assert store.disk_full
                state = store.target_states([("miit", http_server.url("/n"))])["miit"]
                assert state.consecutive_errors == 2  # counted, though not yet written
                assert "2 check records kept in memory until space returns" in caplog.text
                filler.unlink()
                third = await rt.check()
                assert [r.status for r in third] == ["changed"]
                assert not store.disk_full
        with Store(data, readonly=True) as store:
            checks = store.checks_of("miit")
            assert [c.status for c in reversed(checks)] == ["new", "error", "error", "changed"]
            assert all("disk full on" in (c.error or "") for c in checks[1:3])
            alerts = [m.kind for m in store.outbox.messages()]
            assert store.verify() == []
            assert [c.kind for c in reversed(store.history("miit"))] == ["new", "changed"]
        assert "error" in alerts  # the second failure in a row: the alert, made and kept


# --------------------------------------------------------------------------- read-only


@contextlib.contextmanager
def read_only_copy(data: Path, where: Path) -> Iterator[Path]:
    """``data`` copied to a folder this process cannot write: a tmpfs remounted
    read-only as root (chmod does not stop root), else a folder chmod'ed 0555."""
    if os.geteuid() != 0:
        shutil.copytree(data, where)
        where.chmod(0o555)
        try:
            yield where
        finally:
            where.chmod(0o755)
        return
    with mounted(where, "size=16m"):
        shutil.copytree(data, where, dirs_exist_ok=True)
        remounted = subprocess.run(["mount", "-o", "remount,ro", str(where)], capture_output=True)
        if remounted.returncode != 0:
            pytest.skip(f"cannot remount read-only: {remounted.stderr.decode().strip()}")
        yield where


@pytest.mark.parametrize("command", [["check"], ["run", "--port", "0"], ["serve", "--port", "0"]])
def test_a_read_only_data_folder_is_one_clear_line_and_a_failed_exit(
    http_server: HTTPServer, tmp_path: Path, command: list[str]
) -> None:
    http_server.route("/n", body=page("关于开展年度检查工作的通知。"), headers=HTML)
    config = tmp_path / "targets.yaml"
    write_config(config, http_server.url("/n"))
    base = [sys.executable, "-m", "watcher", "--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    Store(tmp_path / "data").close()  # a store, as a first `watcher check` leaves it
    with read_only_copy(tmp_path / "data", tmp_path / "ro") as data:
        if command[1:]:
            command = [command[0], "--port", str(free_port())]
        done = subprocess.run(
            [*base, "--data", str(data), *command], env=env, capture_output=True, timeout=60
        )
    err = done.stderr.decode()
    assert done.returncode != 0, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error" in line]
    why = "read-only file system" if os.geteuid() == 0 else "permission denied"
    assert lines == [
        f"error: the data folder {data} cannot be written ({why}): make it "
        f"writable for user {os.getuid()}, or point --data (WATCHER_DATA) to a writable folder"
    ], err


def test_a_store_on_a_full_disk_says_so_when_it_cannot_be_opened(tmp_path: Path) -> None:
    """SQLite reports a full disk at open as "disk I/O error" (its shared-memory file):
    the message says what is wrong, and does not advise moving the index aside."""
    with mounted(tmp_path / "disk", "size=16m") as disk:
        data = disk / "snapshots"
        Store(data).close()
        fill(disk)
        with pytest.raises(StoreError) as refused:
            Store(data)
    assert str(refused.value) == (
        f"cannot open the index {data / 'index.sqlite'}: disk full on {data}: nothing new "
        "could be stored; free space there"
    )
