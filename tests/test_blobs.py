"""The blob interface, on both homes: files in the data folder and a bucket on a
local S3 server (moto). Content-addressed, stored once, checked on every read;
a missing or tampered blob is named, never handed back as evidence."""

from __future__ import annotations

import pickle
import tracemalloc

import pytest
from blobhomes import BlobHome

from watcher.store.blobs import (
    BlobMissing,
    BlobUnavailable,
    DamagedBlob,
    compress,
    open_blobs,
    sha256,
)

NOTICE = "工业和信息化部关于推动船舶工业高质量发展的通知".encode() * 40


def test_a_blob_comes_back_as_stored_under_its_sha256(blob_home: BlobHome) -> None:
    blobs = open_blobs(blob_home.location)
    digest = blobs.put(NOTICE)
    assert digest == sha256(NOTICE)
    assert blobs.exists(digest) and not blobs.exists(sha256(b"other"))
    assert blobs.get(digest) == NOTICE
    blobs.check(digest)  # no complaint
    assert blob_home.names() == [f"{digest[:2]}/{digest[2:]}.zst"]
    assert len(blob_home.frame(digest)) < len(NOTICE) / 5  # one zstd frame
    assert blobs.where(digest) == blob_home.where(digest)


def test_identical_content_is_stored_once(blob_home: BlobHome) -> None:
    blobs = open_blobs(blob_home.location)
    digest = blobs.put(NOTICE)
    blob_home.replace(digest, compress(NOTICE) + b"")  # a marker: the same bytes again
    first = blob_home.frame(digest)
    assert blobs.put(NOTICE) == digest
    blobs.put_frames({digest: b"never written: the blob is there"})
    assert blob_home.frame(digest) == first and blob_home.names() == [blob_home.names()[0]]


def test_frames_compressed_elsewhere_are_stored_as_given(blob_home: BlobHome) -> None:
    blobs = open_blobs(blob_home.location)
    text = "国防科工局".encode()
    frames = {sha256(NOTICE): compress(NOTICE), sha256(text): compress(text)}
    blobs.put_frames(frames)
    assert blobs.get(sha256(NOTICE)) == NOTICE and blobs.get(sha256(text)) == text
    assert len(blob_home.names()) == 2


def test_a_missing_blob_is_named(blob_home: BlobHome) -> None:
    blobs = open_blobs(blob_home.location)
    digest = blobs.put(NOTICE)
    blob_home.delete(digest)
    for read in (blobs.get, blobs.check):
        with pytest.raises(BlobMissing, match=f"blob {digest} is missing from ") as caught:
            read(digest)
        assert caught.value.digest == digest


def test_other_bytes_under_a_blobs_name_are_damage_not_content(blob_home: BlobHome) -> None:
    blobs = open_blobs(blob_home.location)
    digest = blobs.put(NOTICE)
    blob_home.replace(digest, compress("伪造的通知".encode()))
    expected = (
        f"blob {digest} is damaged: the stored bytes no longer match their SHA-256 "
        f"({blob_home.where(digest)})"
    )
    for read in (blobs.get, blobs.check):
        with pytest.raises(DamagedBlob) as caught:
            read(digest)
        assert str(caught.value) == expected


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda frame: b"not zstd", "not a readable zstd frame"),
        (lambda frame: frame[:-3], "not a readable zstd frame"),
    ],
    ids=["not-zstd", "truncated"],
)
def test_a_broken_frame_is_damage(blob_home: BlobHome, tamper, reason: str) -> None:
    blobs = open_blobs(blob_home.location)
    digest = blobs.put(bytes(range(256)) * 400)
    blob_home.replace(digest, tamper(blob_home.frame(digest)))
    for read in (blobs.get, blobs.check):
        with pytest.raises(DamagedBlob, match=f"blob {digest} is damaged: {reason}"):
            read(digest)


def test_checking_a_big_blob_holds_a_chunk_not_the_blob(blob_home: BlobHome) -> None:
    blobs = open_blobs(blob_home.location)
    # 128 MB that compress to a few KB: what is held is watcher's, not the server's copy;
    # zstd's window (8 MB at most at ZSTD_LEVEL) and a chunk in and out, whatever the size
    big = bytes(range(256)) * 8 * 65536
    digest = blobs.put(big)
    del big
    tracemalloc.start()
    try:
        blobs.check(digest)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24_000_000, f"checking a 128 MB blob took {peak:,} bytes"


def test_blob_errors_survive_the_way_back_from_a_worker_process(tmp_path) -> None:
    for error in (
        BlobMissing("ab" * 32, tmp_path / "x.zst", "blob abab… is missing"),
        DamagedBlob("ab" * 32, "s3://b/ab/ab.zst", "the stored bytes no longer match"),
        BlobUnavailable("ab" * 32, "s3://b/ab/ab.zst", "cannot store blob abab…: timed out"),
    ):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error)
        assert (again.digest, again.path) == (error.digest, error.path)
